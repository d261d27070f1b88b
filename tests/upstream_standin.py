"""A loopback stand-in for the raw-file host `make schemas` downloads from.

It serves `<base>/<owner>/<repo>/<tag>/<path>` from a directory in the team mirror's layout
(`../shared/upstream`, or a cache `make schemas` filled), using that directory's
`SOURCES.tsv`, which names each file's repository, tag and path. It knows nothing of the
project's own file list, so a test fetching through it checks that list against the
mirror's independent record.

The mirror holds Emissary's CRD chart only as rendered output (`# Source:
<chart>/templates/<file>` sections). For that chart the stand-in serves the chart's
Chart.yaml and values.yaml from the mirror and, for each template, the static documents
rendered from it: rendering those again gives the same bytes, which is what a real chart
at that tag gives. Helper templates (`templates/_*`) render to nothing and are served empty.

Two files of the JupyterHub chart are recorded as the published chart ships them, not as
the repository holds them: a Chart.yaml whose placeholder version was set, and a
values.schema.yaml converted to JSON. For those the stand-in serves the repository form
(the placeholder version chartpress leaves at the tag; the schema as YAML), so a fetch
must redo the publishing step to reproduce the recorded bytes.

Run as a script (for .ci/run): `python tests/upstream_standin.py MIRROR URL_FILE` writes
the base URL to URL_FILE and serves until terminated.
"""

from __future__ import annotations

import csv
import http.server
import json
import re
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

_SOURCE = re.compile(r"^---\n# Source: [^/\n]+/(templates/[^\n]+)\n", re.MULTILINE)
_RENDERED = " (helm template"
_CONVERTED = " (converted to JSON"
_VERSION_SET = " (version placeholder set"
#: The version zero-to-jupyterhub's repository keeps in Chart.yaml between releases.
PLACEHOLDER = b"version: 0.0.1-set.by.chartpress"


def _unpublished(path: str, local: Path) -> bytes:
    """The repository form of a file the mirror records as published."""
    if _CONVERTED in path:
        return yaml.safe_dump(json.loads(local.read_text()), sort_keys=False).encode()
    return re.sub(rb"^version:.*$", PLACEHOLDER, local.read_bytes(), count=1, flags=re.M)


def _templates(rendered: str) -> dict[str, bytes]:
    """templates/<file> -> the static documents that file rendered to, in order."""
    marks = list(_SOURCE.finditer(rendered))
    docs: dict[str, list[str]] = {}
    for mark, after in zip(marks, [*marks[1:], None], strict=True):
        end = after.start() if after else len(rendered)
        docs.setdefault(mark.group(1), []).append(rendered[mark.end() : end])
    return {name: "---\n".join(parts).encode() for name, parts in docs.items()}


def table(mirror: Path) -> dict[str, bytes]:
    """URL path (`owner/repo/tag/path`) -> bytes, for every raw file the mirror records."""
    with (mirror / "SOURCES.tsv").open() as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    files: dict[str, bytes] = {}
    charts: list[tuple[str, Path]] = []
    unpublished: dict[str, bytes] = {}
    for row in rows:
        prefix = f"{row['repository']}/{row['tag']}"
        local = mirror / row["file"]
        raw = row["path"].split(" ")[0]
        if _RENDERED in row["path"]:
            charts.append((f"{prefix}/{raw}", local))
        elif (_CONVERTED in row["path"] or _VERSION_SET in row["path"]) and local.exists():
            unpublished[f"{prefix}/{raw}"] = _unpublished(row["path"], local)
        elif " " not in row["path"] and local.exists():  # annotated rows are not raw files
            files[f"{prefix}/{row['path']}"] = local.read_bytes()
    # The repository's own file, where the mirror has it (chart-sources/), wins over one
    # reconstructed from a published or rendered form.
    for path, body in unpublished.items():
        files.setdefault(path, body)
    for chart, rendered in charts:
        for name, body in _templates(rendered.read_text()).items():
            files.setdefault(f"{chart}/{name}", body)
    return files


@dataclass
class Standin:
    """A running stand-in; `requests` records every path asked for (in arrival order)."""

    files: dict[str, bytes]
    #: Answer this many requests with 503 before serving (to exercise retries).
    fail_first: int = 0
    requests: list[str] = field(default_factory=list)
    url: str = ""
    _server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> Standin:
        standin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.lstrip("/")
                with lock:
                    standin.requests.append(path)
                    failing = standin.fail_first > 0
                    standin.fail_first -= failing
                body = standin.lookup(path)
                if failing or body is None:
                    self.send_error(503 if failing else 404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        lock = threading.Lock()
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def lookup(self, path: str) -> bytes | None:
        if path in self.files:
            return self.files[path]
        if "/templates/_" in path:  # helpers render to nothing
            chart = path.split("/templates/_")[0]
            if any(p.startswith(f"{chart}/templates/") for p in self.files):
                return b""
        return None

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Standin:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    mirror, url_file = Path(argv[0]), Path(argv[1])
    standin = Standin(table(mirror)).start()
    url_file.write_text(standin.url + "\n")
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
