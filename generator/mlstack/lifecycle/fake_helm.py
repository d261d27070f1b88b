"""A stand-in `helm` for the install simulation (`make bench-install`), stdlib only.

Run as a script (`python -S fake_helm.py ARGS`) so it starts in milliseconds. It answers
exactly the helm commands the installer issues, keeping release state as JSON files in
$FAKE_HELM_STATE, which the simulated API server (simulate.py) reads: `upgrade` sleeps
for the release's scaled helm time (what `--wait=watcher` takes on a real cluster) and
then records the release as deployed with the manifest the simulation prepared.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

STATE = Path(os.environ.get("FAKE_HELM_STATE", "."))


def _flag(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        if arg in names and i + 1 < len(args):
            return args[i + 1]
    return None


def _release(name: str) -> dict[str, object] | None:
    path = STATE / "releases" / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def main(args: list[str]) -> int:
    plan = json.loads((STATE / "plan.json").read_text())
    if args[:1] == ["version"]:
        print("v4.1.4")
        return 0
    if args[:2] == ["dependency", "build"]:
        return 0
    if args[:1] == ["list"]:
        name = (_flag(args, "--filter") or "").strip("^$")
        rel = _release(name)
        listing = (
            [] if rel is None else [{"name": name, "status": rel["status"], "chart": rel["chart"]}]
        )
        print(json.dumps(listing))
        return 0
    if args[:2] == ["get", "values"]:
        rel = _release(args[2])
        print(json.dumps(rel["values"] if rel else None))
        return 0
    if args[:2] == ["get", "manifest"]:
        rel = _release(args[2])
        if rel is None:
            print(f"Error: release: not found: {args[2]}", file=sys.stderr)
            return 1
        print(plan["releases"][args[2]]["manifest"])
        return 0
    if args[:2] == ["upgrade", "--install"]:
        name = args[2]
        spec = plan["releases"][name]
        started = time.time()
        time.sleep(spec["helm_seconds"] * plan["scale"])
        if spec.get("fail"):
            print(f"Error: UPGRADE FAILED: simulated failure of {name}", file=sys.stderr)
            return 1
        previous = _release(name)
        revision = int(previous["revision"]) + 1 if previous else 1  # type: ignore[call-overload]
        record = {
            "status": "deployed",
            "chart": spec["chart"],
            "values": spec["values"],
            "revision": revision,
            "started_at": started,
            "installed_at": time.time(),
        }
        (STATE / "releases").mkdir(exist_ok=True)
        tmp = STATE / "releases" / f".{name}.tmp"
        tmp.write_text(json.dumps(record))
        tmp.replace(STATE / "releases" / f"{name}.json")
        return 0
    if args[:1] == ["history"]:
        rel = _release(args[1])
        rows = (
            []
            if rel is None
            else [
                {"revision": r, "status": "deployed"}
                for r in range(1, int(rel["revision"]) + 1)  # type: ignore[call-overload]
            ]
        )
        print(json.dumps(rows))
        return 0
    if args[:1] in (["uninstall"], ["rollback"]):
        (STATE / "undone").mkdir(exist_ok=True)
        (STATE / "undone" / args[1]).write_text(" ".join(args))
        if args[0] == "uninstall":
            (STATE / "releases" / f"{args[1]}.json").unlink(missing_ok=True)
        return 0
    print(f"Error: fake helm does not simulate: helm {' '.join(args)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
