"""`make setup` on machines that lack something: one line saying what, never a traceback.

Each case runs the real Makefile and scripts: an interpreter that reports an old Python,
a package index behind a proxy that does not answer, a PATH without Node.js.
"""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from mlstack import REPO_ROOT

pytestmark = pytest.mark.slow


def _setup(env: dict[str, str], *args: str) -> list[str]:
    """stderr lines of a failing `make setup`, without make's own closing line."""
    proc = subprocess.run(
        ["make", "--no-print-directory", "setup", *args],
        cwd=REPO_ROOT,
        env={k: v for k, v in env.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    return [line for line in proc.stderr.splitlines() if not line.startswith("make: ***")]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_old_python_is_one_line(tmp_path: Path) -> None:
    old = tmp_path / "python3.9"
    old.write_text('#!/bin/sh\n[ "$1" = --version ] && echo "Python 3.9.18" && exit 0\nexit 1\n')
    old.chmod(0o755)
    lines = _setup(dict(os.environ), f"PYTHON={old}", f"VENV={tmp_path / 'venv'}")
    assert lines == [
        f"error: {old} is Python 3.9; mlstack needs 3.11+: install it and run "
        "make PYTHON=python3.11 setup"
    ]
    assert not (tmp_path / "venv").exists()


def test_package_index_behind_a_dead_proxy_is_one_line(tmp_path: Path) -> None:
    proxy = f"http://127.0.0.1:{_closed_port()}"
    env = {k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS"}  # only the proxy
    env.update(
        PIP_CONFIG_FILE=os.devnull,  # the machine's own index settings would bypass the proxy
        PIP_INDEX_URL="https://pypi.org/simple",
        PIP_RETRIES="0",
        PIP_TIMEOUT="3",
        HTTPS_PROXY=proxy,
        https_proxy=proxy,
    )
    venv = tmp_path / "venv"
    lines = _setup(env, f"VENV={venv}")
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: pip could not install the pinned packages (")
    assert "setuptools" in lines[0]  # pip's own first ERROR line: the first thing it missed
    assert f"full log {venv}/pip.log" in lines[0] and "HTTPS_PROXY" in lines[0]
    assert not list(venv.glob(".installed*"))  # the next run tries again


def test_no_node_is_one_line(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        for tool in Path(folder).iterdir():
            if tool.name not in {"node", "nodejs", "npm", "npx", "corepack"}:
                link = bin_dir / tool.name
                if not link.exists():
                    link.symlink_to(tool)
    env = {**os.environ, "PATH": str(bin_dir)}
    stamp = tmp_path / "venv-stamp"  # an up-to-date stamp: make never (re)installs a venv,
    stamp.touch()  # so the repository's own .venv is left alone
    lines = _setup(env, f"VENV={tmp_path / 'venv'}", f"VENV_STAMP={stamp}")
    assert lines == [
        "error: no node on PATH: cdk8s synthesizes the charts with Node.js 20+: install it "
        "(Debian/Ubuntu: apt-get install nodejs npm)"
    ]
    assert not (tmp_path / "venv").exists()
