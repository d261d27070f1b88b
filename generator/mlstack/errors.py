"""The one exception type users see.

Expected failures (bad values, version mismatch, missing tool) raise `UserError`; the CLI
prints its message as a single line and exits non-zero, never a traceback. The message
says what is wrong, where (file, key, release) and what to do.
"""


class UserError(Exception):
    """A failure the user can fix; `str(err)` is the whole message."""
