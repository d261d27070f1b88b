"""Command line: `python -m mlstack <command>`.

Expected failures are `UserError`s and print as one line on stderr with exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mlstack import environments
from mlstack.errors import UserError


def _cmd_generate(args: argparse.Namespace) -> int:
    from mlstack import generate, registry

    started = time.perf_counter()
    changed = generate.generate(Path(args.charts_dir), Path(args.values_dir))
    took = time.perf_counter() - started
    what = ", ".join(changed) if changed else "no changes"
    print(f"generate: {len(registry.COMPONENTS)} charts in {took:.2f}s ({what})")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from mlstack import render

    names = sorted(environments.ENVIRONMENTS) if args.env == "all" else [args.env]
    envs = [environments.get(name) for name in names]
    if args.generate:  # one process for generate + render: jsii start-up is paid once
        _cmd_generate(args)
    worst = 0
    for env in envs:
        worst = max(
            worst,
            render.main(
                env,
                Path(args.out),
                args.schema_dir,
                charts_dir=Path(args.charts_dir),
                values_dir=Path(args.values_dir),
            ),
        )
    return worst


def _cmd_lint(args: argparse.Namespace) -> int:
    from mlstack import render

    return render.lint(args.env or sorted(environments.ENVIRONMENTS))


def _cmd_bump(args: argparse.Namespace) -> int:
    from mlstack.lib import releases

    new = releases.bump(args.chart, args.part, args.message)
    print(f"{args.chart}: {new} (run `make generate` to write the chart)")
    return 0


def _cmd_envs(args: argparse.Namespace) -> int:
    from mlstack import registry

    if args.names:
        print(" ".join(sorted(environments.ENVIRONMENTS)))
        return 0
    envs = list(environments.ENVIRONMENTS.values())
    print("component".ljust(24) + "".join(e.name.ljust(10) for e in envs))
    for c in registry.COMPONENTS:
        marks = "".join(("yes" if c.id in e.components else "-").ljust(10) for e in envs)
        print(c.id.ljust(24) + marks)
    return 0


def _cmd_schemas(args: argparse.Namespace) -> int:
    from mlstack.lib import fetch

    count = fetch.fetch(Path(args.dest))
    print(f"schemas: {count} upstream files in {args.dest}")
    return 0


def _cmd_cluster(args: argparse.Namespace) -> int:
    from mlstack.lifecycle import cluster

    action = cluster.create if args.action == "create" else cluster.delete
    return action(args.env, dry_run=args.dry_run)


def _cmd_install(args: argparse.Namespace) -> int:
    from mlstack.lifecycle import install

    return install.main(args.env, dry_run=args.dry_run, start=args.start, timeout=args.timeout)


def _cmd_uninstall(args: argparse.Namespace) -> int:
    from mlstack.lifecycle import uninstall

    return uninstall.main(args.env, dry_run=args.dry_run, purge=args.purge, timeout=args.timeout)


def _cmd_smoke(args: argparse.Namespace) -> int:
    from mlstack.lifecycle import smoke

    return smoke.main(args.env, dry_run=args.dry_run, ingress=args.ingress, timeout=args.timeout)


def _cmd_keep_crds(args: argparse.Namespace) -> int:
    from mlstack.lifecycle import plan

    sys.stdout.write(plan.keep_crds(sys.stdin.read()))
    return 0


def _lifecycle_args(p: argparse.ArgumentParser, timeout: str = "10m") -> None:
    p.add_argument("--env", default=environments.DEFAULT_ENV)
    p.add_argument("--dry-run", action="store_true", help="print the commands; needs no cluster")
    p.add_argument("--timeout", default=timeout, help="per release / wait, e.g. 300s, 10m")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlstack", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write every chart under charts/")
    g.add_argument("--charts-dir", default=str(_repo() / "charts"))
    g.add_argument("--values-dir", default=str(_repo() / "values"))
    g.set_defaults(func=_cmd_generate)
    r = sub.add_parser("render", help="helm template + validate every release of an env")
    r.add_argument("--env", default=environments.DEFAULT_ENV, help="an environment or 'all'")
    r.add_argument("--generate", action="store_true", help="run generate first")
    r.add_argument("--out", default=str(_repo() / "build"))
    r.add_argument("--schema-dir", default=None, help="upstream schemas (else $MLSTACK_SCHEMA_DIR)")
    r.add_argument("--charts-dir", default=str(_repo() / "charts"))
    r.add_argument("--values-dir", default=str(_repo() / "values"))
    r.set_defaults(func=_cmd_render)
    lint = sub.add_parser("lint", help="helm lint --strict every chart with each env's values")
    lint.add_argument("--env", action="append")
    lint.set_defaults(func=_cmd_lint)
    b = sub.add_parser("bump", help="add a new version of a chart to chart-versions.yaml")
    b.add_argument("chart")
    b.add_argument("--part", choices=("major", "minor", "patch"), default="patch")
    b.add_argument("-m", "--message", required=True, help="what changed (one line)")
    b.set_defaults(func=_cmd_bump)
    e = sub.add_parser("envs", help="print the environment x component matrix")
    e.add_argument("--names", action="store_true", help="only the environment names")
    e.set_defaults(func=_cmd_envs)
    s = sub.add_parser("schemas", help="download the upstream schemas (needs network)")
    s.add_argument("--dest", default=str(_repo() / ".cache" / "upstream"))
    s.set_defaults(func=_cmd_schemas)
    c = sub.add_parser("cluster", help="create (or reuse) / delete the env's cluster")
    c.add_argument("action", choices=("create", "delete"))
    c.add_argument("env")
    c.add_argument("--dry-run", action="store_true", help="print the commands only")
    c.set_defaults(func=_cmd_cluster)
    i = sub.add_parser("install", help="install the env's releases in order, with readiness gates")
    _lifecycle_args(i)
    i.add_argument("--from", dest="start", default=None, help="resume at this release")
    i.set_defaults(func=_cmd_install)
    u = sub.add_parser("uninstall", help="uninstall the env's releases in reverse order")
    _lifecycle_args(u)
    u.add_argument("--purge", action="store_true", help="also delete the releases' CRDs")
    u.set_defaults(func=_cmd_uninstall)
    sm = sub.add_parser("smoke", help="call every enabled sample model through the ingress")
    _lifecycle_args(sm, timeout="5m")
    sm.add_argument("--ingress", default=None, help="host[:port] instead of the detected one")
    sm.set_defaults(func=_cmd_smoke)
    k = sub.add_parser("keep-crds", help="helm post-renderer: mark CRDs resource-policy keep")
    k.set_defaults(func=_cmd_keep_crds)
    return p


def _repo() -> Path:
    from mlstack import REPO_ROOT

    return REPO_ROOT


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except UserError as err:
        for line in str(err).splitlines() or [""]:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
