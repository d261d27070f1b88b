"""Command line: `python -m mlstack <command>`.

Expected failures are `UserError`s and print as one line on stderr with exit code 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

from mlstack import environments, errors
from mlstack.errors import UserError
from mlstack.lib import argcheck


def _cmd_generate(args: argparse.Namespace, hold: Any = None) -> int:
    from mlstack import generate, registry

    started = time.perf_counter()
    charts = Path(getattr(args, "charts_dir", None) or _repo() / "charts")
    values = Path(getattr(args, "values_dir", None) or _repo() / "values")
    changed = generate.generate(charts, values, hold=hold)
    took = time.perf_counter() - started
    what = ", ".join(changed) if changed else "no changes"
    print(f"generate: {len(registry.COMPONENTS)} charts in {took:.2f}s ({what})")
    return 0


def _env_names(wanted: list[str] | str | None, values_dir: Path) -> list[str]:
    """The environments a command acts on: 'all' or nothing means every env folder."""
    if not wanted or wanted == "all":
        return environments.names(values_dir)
    return [wanted] if isinstance(wanted, str) else list(wanted)


def _resolve(name: str, args: argparse.Namespace, *, local: bool = False) -> Any:
    from mlstack import resolve

    return resolve.resolve(name, Path(args.values_dir), local=local)


def _cmd_render(args: argparse.Namespace) -> int:
    """Render (after generate with --generate) as one command: build/<env> of every env and
    generate's trees are written together, or, when any env fails or a signal arrives,
    none of them (generate's step is undone)."""
    from mlstack import render
    from mlstack.lib import atomic

    values_dir, charts_dir, out = Path(args.values_dir), Path(args.charts_dir), Path(args.out)
    names = _env_names(args.env, values_dir)
    for name in names:  # an unknown env fails before generate writes anything
        environments.load(name, values_dir)
    with atomic.lock(charts_dir, values_dir):  # build/<env> is locked once staged
        held, builds = atomic.Transaction(), atomic.Transaction()
        try:
            if args.generate:  # one process for generate + render: jsii start-up is paid once
                _cmd_generate(args, held)
            worst = 0
            for name in names:
                resolved = _resolve(name, args)
                worst = max(worst, render.main(resolved, out, args.schema_dir, charts_dir, builds))
        except BaseException:
            builds.abort()
            held.undo()
            raise
        if worst:
            builds.abort()
            if held.kept:
                held.undo()
                print(
                    "render: refused, so generate's changes were undone: charts/ and "
                    "values/ are as they were"
                )
            return worst
        builds.commit()
        held.release()
    return worst


def _cmd_lint(args: argparse.Namespace) -> int:
    from mlstack import render

    names = _env_names(args.env, Path(args.values_dir))
    return render.lint([_resolve(n, args) for n in names], Path(args.charts_dir))


def _cmd_images(args: argparse.Namespace) -> int:
    from mlstack import imagelist

    return imagelist.main(_resolve(args.env, args))


def _cmd_policy(args: argparse.Namespace) -> int:
    from mlstack import policy

    names = _env_names(args.env, Path(args.values_dir))
    return policy.main([_resolve(n, args) for n in names])


def _cmd_bump(args: argparse.Namespace) -> int:
    from mlstack.lib import releases

    new = releases.bump(args.chart, args.part, args.message)
    print(f"{args.chart}: {new} (run `make generate` to write the chart)")
    return 0


def _cmd_envs(args: argparse.Namespace) -> int:
    from mlstack import registry, resolve

    values_dir = Path(args.values_dir)
    names = environments.names(values_dir)
    if args.names:
        print(" ".join(names))
        return 0
    envs = [resolve.resolve(n, values_dir) for n in names]
    rows: dict[str, list[str]] = {
        "cluster": [r.env.cluster for r in envs],
        "kubernetes": [f"{r.env.kubernetes} ({r.minors[0]}-{r.minors[-1]})" for r in envs],
        "loadBalancer": [r.env.load_balancer for r in envs],
        "domain": [r.env.domain for r in envs],
        "tls": [r.env.tls.mode for r in envs],
        "auth": ["on" if r.env.auth.enabled else "-" for r in envs],
        "seldon": [r.env.seldon for r in envs],
    }
    components = registry.COMPONENTS
    reasons = [c.reason() for c in components]
    # One width per environment column, shared by both tables ("yes" fits in each).
    widths = [2 + max(len(n), *(len(row[i]) for row in rows.values())) for i, n in enumerate(names)]

    def columns(cells: list[str]) -> str:
        return "".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True))

    settings = 2 + max(len(key) for key in [*rows, "environment"])
    print(("environment".ljust(settings) + columns(names)).rstrip())
    for key, row in rows.items():
        print((key.ljust(settings) + columns(row)).rstrip())
    print()
    # Why a release is on, from its data/components.yaml row: `always`; the environment.yaml
    # settings that switch it on; `default` (on unless `components:` says false); the
    # `components:` key that switches it (alone: off unless switched on).
    release = 2 + max(len(c.id) for c in components)
    why = 2 + max(len(r) for r in [*reasons, "on by (environment.yaml)"])
    head = "release".ljust(release) + "on by (environment.yaml)".ljust(why)
    print((head + columns(names)).rstrip())
    for c, reason in zip(components, reasons, strict=True):
        marks = columns(["yes" if c.id in r.ids else "-" for r in envs])
        print((c.id.ljust(release) + reason.ljust(why) + marks).rstrip())
    return 0


def _cmd_schemas(args: argparse.Namespace) -> int:
    from mlstack.lib import fetch

    tty = sys.stderr.isatty()

    def progress(done: int, total: int, name: str) -> None:
        # A terminal gets one updating line; a log every tenth of the way.
        if tty:
            end = "\n" if done == total else ""
            print(f"\rschemas: {done}/{total} files", end=end, file=sys.stderr, flush=True)
        elif done == total or done * 10 // total != (done - 1) * 10 // total:
            print(f"schemas: {done}/{total} files ({name})", file=sys.stderr, flush=True)

    sums = fetch.read_sums()
    summary = fetch.fetch(
        Path(args.dest), args.url, sums=sums, record=args.record_sums, progress=progress
    )
    if summary.recorded:
        fetch.write_sums(sums)
        print(f"schemas: recorded {len(summary.recorded)} new sums in {fetch.SUMS}: review, commit")
    if summary.fetched:
        print(
            f"schemas: fetched {summary.fetched} of {summary.total} upstream files into {args.dest}"
        )
    else:
        print(f"schemas: {summary.total} upstream files in {args.dest} match the pinned versions")
    return 0


def _cmd_deps(args: argparse.Namespace) -> int:
    from mlstack import deps
    from mlstack.lib import fetch, schemas

    charts_dir = Path(args.charts_dir)
    explicit = args.schema_dir or os.environ.get(schemas.ENV_VAR)
    schema_dir = Path(explicit).resolve() if explicit else None
    chosen = "source" if args.record_sums or args.sources_only else deps.mode(schema_dir)
    if chosen == "registry":
        done = deps.from_registry(charts_dir)
        print(f"deps: helm dependency build of {len(done)} wrapper charts (chart registries)")
        return 0
    cache = Path(args.cache)
    report = deps.from_source(
        charts_dir,
        schema_dir,
        args.url,
        record=args.record_sums,
        source_cache=cache / "upstream",
        cache=cache / "deps",
        build_charts=not args.sources_only,
    )
    if args.sources_only:
        print(f"deps: chart sources of every wrapper verified ({report.origin})")
        return 0
    for line in deps.summary_lines(report.built):
        print(line)
    if report.recorded:
        print(f"deps: recorded {report.recorded} new sums in {fetch.SUMS}: review, commit")
    built = sum(r.fresh for r in report.built)
    print(
        f"deps: {len(report.built)} upstream charts from source ({report.origin}), every file "
        f"sha256-pinned; {built} built, {len(report.built) - built} from {args.cache}/deps; "
        "helm dependency list: all ok"
    )
    return 0


def _oci(args: argparse.Namespace) -> Any:
    """GitOps OCI mode: the registry (project.yaml unless given) and `make publish`'s
    record of digests, when it exists and names that registry."""
    from mlstack import project, publish
    from mlstack.gitops.plan import OciCharts

    if not args.oci:
        return None
    publisher = project.load()
    registry_url = args.oci_registry or publisher.registry
    return OciCharts(
        registry=registry_url,
        issuer=publisher.signing.issuer,
        subject=publisher.signing.subject,
        digests=publish.recorded_digests(Path(args.published), registry_url, Path(args.charts_dir)),
        key_secret=args.cosign_secret or None,
    )


def _settings(args: argparse.Namespace, default_url: str = "") -> Any:
    from mlstack.gitops.plan import Settings

    return Settings(
        repo_url=args.repo_url or default_url,
        revision=args.revision or getattr(args, "branch", "") or "",
        path=args.path,
        argocd_namespace=args.argocd_namespace,
        argocd_project=args.argocd_project,
        destination_server=args.destination_server,
        flux_namespace=args.flux_namespace,
        oci=_oci(args),
        fleet=args.fleet,
        clusters=tuple(args.clusters.split()) if args.clusters else (),
        domain=args.domain or "",
    )


def _gitops_tree(args: argparse.Namespace, settings: Any) -> Any:
    from mlstack.gitops import tree
    from mlstack.lib import schemas

    return tree.tree(
        _resolve(args.env, args),
        settings,
        schemas.schema_dir(args.schema_dir),
        charts_dir=Path(args.charts_dir),
    )


def _cmd_gitops(args: argparse.Namespace) -> int:
    from mlstack.gitops import owned

    settings = _settings(args)
    tree = _gitops_tree(args, settings)
    out = Path(args.out)
    changes = owned.write(out, settings.path or ".", tree.files, tree.scopes)
    print(
        f"gitops {args.env}: {len(tree.releases)} releases, {len(tree.files)} files -> "
        f"{out}/{settings.at('envs', args.env)}/ ({changes.summary()}); "
        f"generated and validated in {tree.seconds:.2f}s"
    )
    return 0


def _cmd_gitops_sync(args: argparse.Namespace) -> int:
    from mlstack.gitops import sync

    if not args.repo:
        raise UserError("no GitOps repository: set GITOPS_REPO=<url or path>")
    env = environments.load(args.env, Path(args.values_dir))
    settings = _settings(args, default_url=args.repo)
    tree = _gitops_tree(args, settings)
    checkout = Path(args.checkout) if args.checkout else None
    outcome = sync.sync(env, settings, tree, args.repo, args.branch, checkout)
    took = f"(generate {tree.seconds:.2f}s, sync {outcome.seconds:.2f}s)"
    if outcome.commit is None:
        print(f"gitops-sync {env.name}: {args.repo} ({args.branch}) is up to date {took}")
    else:
        subject = (outcome.message or "").splitlines()[0]
        print(
            f"gitops-sync {env.name}: pushed {outcome.commit[:12]} to {args.repo} "
            f"({args.branch}): {subject}; {outcome.changes.summary()} {took}"
        )
    return 0


def _cmd_package(args: argparse.Namespace) -> int:
    from mlstack import package

    if args.bench:
        print(package.bench(Path(args.charts_dir), args.bench))
        return 0
    return package.main(Path(args.charts_dir), Path(args.dist), args.url, args.strict)


def _cmd_publish(args: argparse.Namespace) -> int:
    from mlstack import project, publish

    registry_url = args.registry or project.load().registry
    if args.package:
        from mlstack import package

        package.main(Path(args.charts_dir), Path(args.dist), None, False)
    record = Path(args.record) if args.record else None
    publish.publish(Path(args.dist), registry_url, args.dry_run, args.key, not args.no_sign, record)
    return 0


def _gitops_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", type=argcheck.env_name, default=environments.DEFAULT_ENV)
    p.add_argument("--repo-url", default="", help="Git URL Argo CD and Flux pull from")
    p.add_argument(
        "--revision", default="", type=argcheck.revision, help="branch, tag or commit they follow"
    )
    p.add_argument("--path", default="mlstack", help="directory of the layout in the repo")
    p.add_argument("--argocd-namespace", default="argocd")
    p.add_argument("--argocd-project", default="default")
    p.add_argument("--destination-server", default="https://kubernetes.default.svc")
    p.add_argument("--flux-namespace", default="flux-system")
    p.add_argument("--schema-dir", default=None, help="upstream schemas (else $MLSTACK_SCHEMA_DIR)")
    p.add_argument("--oci", action="store_true", help="pull published OCI charts, not Git copies")
    p.add_argument(
        "--oci-registry",
        type=argcheck.oci_url,
        help="oci://host/path (default: project.yaml)",
    )
    p.add_argument("--published", default=str(_repo() / "build" / "published.yaml"),
                   help="`make publish` record of digests to pin")  # fmt: skip
    p.add_argument("--cosign-secret", default="", help="Flux verifies with this public key Secret")
    p.add_argument("--fleet", action="store_true", help="also write fleet manifests")
    p.add_argument("--clusters", default="", help="Flux fleet: space-separated cluster names")
    p.add_argument(
        "--domain",
        default=None,
        type=argcheck.domain,
        help="domain: auto envs: the domain the synced clusters serve under",
    )
    p.add_argument("--charts-dir", type=argcheck.path, default=str(_repo() / "charts"))
    p.add_argument("--values-dir", type=argcheck.path, default=str(_repo() / "values"))
    _generate_first(p)


def _generate_first(p: argparse.ArgumentParser) -> None:
    """`--generate`: run generate once the command's arguments are checked, so a bad
    argument stops the command before anything is written (make's targets pass it instead
    of depending on `make generate`, which ran before any argument was looked at)."""
    p.add_argument("--generate", action="store_true", help="run generate first")


def _cmd_cluster(args: argparse.Namespace) -> int:
    from mlstack.lifecycle import cluster

    env = environments.load(args.env, Path(args.values_dir))
    action = cluster.create if args.action == "create" else cluster.delete
    return action(env, dry_run=args.dry_run, values_dir=Path(args.values_dir))


def _lifecycle(args: argparse.Namespace, command: str, **options: Any) -> int:
    """install / uninstall / smoke: the env resolved with this machine's local overlays."""
    module = importlib.import_module(f"mlstack.lifecycle.{command}")
    resolved = _resolve(args.env, args, local=True)
    return int(module.main(resolved, dry_run=args.dry_run, timeout=args.timeout, **options))


def _cmd_install(args: argparse.Namespace) -> int:
    return _lifecycle(
        args,
        "install",
        start=args.start,
        charts_dir=Path(args.charts_dir),
        parallel=args.parallel,
        force=args.force,
    )


def _cmd_uninstall(args: argparse.Namespace) -> int:
    return _lifecycle(args, "uninstall", purge=args.purge)


def _cmd_smoke(args: argparse.Namespace) -> int:
    return _lifecycle(args, "smoke", ingress=args.ingress)


def _cmd_benchmark(args: argparse.Namespace) -> int:
    from mlstack import bench

    compare = ["--compare", args.compare] if args.compare else []
    return bench.main(["--root", args.root, "--runs", str(args.runs), *compare])


def _lifecycle_args(p: argparse.ArgumentParser, timeout: str = "10m") -> None:
    p.add_argument("--env", type=argcheck.env_name, default=environments.DEFAULT_ENV)
    p.add_argument("--charts-dir", default=str(_repo() / "charts"))
    p.add_argument("--values-dir", default=str(_repo() / "values"))
    p.add_argument("--dry-run", action="store_true", help="print the commands; needs no cluster")
    p.add_argument("--timeout", default=timeout, help="per release / wait, e.g. 300s, 10m")
    _generate_first(p)


class _Parser(argparse.ArgumentParser):
    """Usage errors (a bad flag value included) in one line, like every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mlstack", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write every chart under charts/")
    g.add_argument("--charts-dir", type=argcheck.path, default=str(_repo() / "charts"))
    g.add_argument("--values-dir", type=argcheck.path, default=str(_repo() / "values"))
    g.set_defaults(func=_cmd_generate)
    r = sub.add_parser("render", help="helm template + validate every release of an env")
    r.add_argument(
        "--env",
        type=argcheck.env_or_all,
        default=environments.DEFAULT_ENV,
        help="an environment or 'all'",
    )
    r.add_argument("--generate", action="store_true", help="run generate first")
    r.add_argument("--out", type=argcheck.path, default=str(_repo() / "build"))
    r.add_argument("--schema-dir", default=None, help="upstream schemas (else $MLSTACK_SCHEMA_DIR)")
    r.add_argument("--charts-dir", type=argcheck.path, default=str(_repo() / "charts"))
    r.add_argument("--values-dir", type=argcheck.path, default=str(_repo() / "values"))
    r.set_defaults(func=_cmd_render)
    lint = sub.add_parser("lint", help="helm lint --strict every chart with each env's values")
    lint.add_argument("--env", type=argcheck.env_name, action="append")
    lint.add_argument("--charts-dir", default=str(_repo() / "charts"))
    lint.add_argument("--values-dir", default=str(_repo() / "values"))
    lint.set_defaults(func=_cmd_lint)
    im = sub.add_parser("images", help="list every image an environment pulls (for mirroring)")
    im.add_argument("--env", type=argcheck.env_name, default=environments.DEFAULT_ENV)
    im.add_argument("--values-dir", default=str(_repo() / "values"))
    _generate_first(im)
    im.set_defaults(func=_cmd_images)
    pol = sub.add_parser("policy", help="checkov (offline) on each env's own rendered objects")
    pol.add_argument(
        "--env", type=argcheck.env_or_all, default="all", help="an environment or 'all'"
    )
    pol.add_argument("--values-dir", default=str(_repo() / "values"))
    pol.set_defaults(func=_cmd_policy)
    b = sub.add_parser("bump", help="add a new version of a chart to chart-versions.yaml")
    b.add_argument("chart", type=argcheck.chart_id)
    b.add_argument("--part", choices=("major", "minor", "patch"), default="patch")
    b.add_argument("-m", "--message", required=True, help="what changed (one line)")
    b.set_defaults(func=_cmd_bump)
    e = sub.add_parser("envs", help="print every environment's settings and releases")
    e.add_argument("--names", action="store_true", help="only the environment names")
    e.add_argument("--values-dir", default=str(_repo() / "values"))
    e.set_defaults(func=_cmd_envs)
    s = sub.add_parser("schemas", help="download the upstream schemas (needs network)")
    s.add_argument("--dest", type=argcheck.path, default=str(_repo() / ".cache" / "upstream"))
    s.add_argument("--url", default=None, help="raw-file base URL (else $MLSTACK_UPSTREAM_URL)")
    s.add_argument(
        "--record-sums", action="store_true", help="after a version bump: record new files' sums"
    )
    s.set_defaults(func=_cmd_schemas)
    d = sub.add_parser("deps", help="upstream charts of the wrapper charts (registry or source)")
    d.add_argument("--charts-dir", type=argcheck.path, default=str(_repo() / "charts"))
    d.add_argument("--url", default=None, help="raw-file base URL (else $MLSTACK_UPSTREAM_URL)")
    d.add_argument(
        "--schema-dir", default=None, help="a mirror with chart-sources/ (else $MLSTACK_SCHEMA_DIR)"
    )
    d.add_argument(
        "--cache",
        type=argcheck.path,
        default=str(_repo() / ".cache"),
        help="cache root: fetched chart sources in upstream/, built archives in deps/",
    )
    d.add_argument(
        "--record-sums", action="store_true", help="after a version bump: record new files' sums"
    )
    d.add_argument(
        "--sources-only",
        action="store_true",
        help="only fetch and verify the chart sources (what the tests build from)",
    )
    d.set_defaults(func=_cmd_deps)
    go = sub.add_parser("gitops", help="write Argo CD + Flux manifests, charts and values")
    _gitops_args(go)
    go.add_argument("--out", type=argcheck.path, default=str(_repo() / "build" / "gitops"))
    go.set_defaults(func=_cmd_gitops)
    gs = sub.add_parser("gitops-sync", help="commit and push an env's GitOps layout")
    _gitops_args(gs)
    gs.add_argument(
        "--repo", required=True, type=argcheck.git_remote, help="GitOps repository: URL or path"
    )
    gs.add_argument("--branch", default="main", type=argcheck.branch)
    gs.add_argument(
        "--checkout", default=None, type=argcheck.path, help="keep a checkout here between runs"
    )
    gs.set_defaults(func=_cmd_gitops_sync)
    pk = sub.add_parser("package", help="helm package every chart into dist/ with index.yaml")
    pk.add_argument("--charts-dir", type=argcheck.path, default=str(_repo() / "charts"))
    pk.add_argument("--dist", type=argcheck.path, default=str(_repo() / "dist"))
    pk.add_argument(
        "--url", default=None, type=argcheck.http_url, help="base URL written into index.yaml"
    )
    pk.add_argument("--strict", action="store_true", help="fail when a chart was skipped")
    pk.add_argument("--bench", type=int, default=0, help="package N times; print median, sameness")
    _generate_first(pk)
    pk.set_defaults(func=_cmd_package)
    pub = sub.add_parser("publish", help="helm push every archive in dist/ to an OCI registry")
    pub.add_argument(
        "--registry", type=argcheck.oci_url, help="oci://host/path (default: project.yaml)"
    )
    pub.add_argument("--dist", type=argcheck.path, default=str(_repo() / "dist"))
    pub.add_argument("--dry-run", action="store_true", help="print the push and sign commands")
    pub.add_argument(
        "--key", default=None, help="cosign key (file, env://VAR, KMS URI); else keyless"
    )
    pub.add_argument("--no-sign", action="store_true", help="push without cosign signatures")
    pub.add_argument("--record", default=str(_repo() / "build" / "published.yaml"),
                     help="where to write the pushed digests")  # fmt: skip
    pub.add_argument("--package", action="store_true", help="package every chart into --dist first")
    pub.add_argument("--charts-dir", type=argcheck.path, default=str(_repo() / "charts"))
    _generate_first(pub)
    pub.set_defaults(func=_cmd_publish)
    c = sub.add_parser("cluster", help="create (or reuse) / delete the env's cluster")
    c.add_argument("action", choices=("create", "delete"))
    c.add_argument("env", type=argcheck.env_name)
    c.add_argument("--dry-run", action="store_true", help="print the commands only")
    c.add_argument("--values-dir", default=str(_repo() / "values"))
    c.set_defaults(func=_cmd_cluster)
    i = sub.add_parser("install", help="install the env's releases in order, with readiness gates")
    _lifecycle_args(i)
    i.add_argument("--from", dest="start", default=None, help="resume at this release")
    i.add_argument("--parallel", type=int, default=4, help="releases installing at once")
    i.add_argument("--force", action="store_true", help="install into a context of another name")
    i.set_defaults(func=_cmd_install)
    u = sub.add_parser("uninstall", help="uninstall the env's releases in reverse order")
    _lifecycle_args(u)
    u.add_argument("--purge", action="store_true", help="also delete the releases' CRDs")
    u.set_defaults(func=_cmd_uninstall)
    sm = sub.add_parser("smoke", help="call every enabled sample model through the ingress")
    _lifecycle_args(sm, timeout="5m")
    sm.add_argument(
        "--ingress", default=None, type=argcheck.host_port, help="host[:port] instead of detected"
    )
    sm.set_defaults(func=_cmd_smoke)
    bench = sub.add_parser("benchmark", help="speed figures (medians of whole-process runs)")
    bench.add_argument("--root", default=str(_repo()), help="repository checkout to measure")
    bench.add_argument("--compare", default=None, help="another checkout, interleaved")
    bench.add_argument("--runs", type=int, default=5)
    bench.set_defaults(func=_cmd_benchmark)
    return p


def _repo() -> Path:
    from mlstack import REPO_ROOT

    return REPO_ROOT


def main(argv: list[str] | None = None) -> int:
    previous = errors.install()
    try:
        args = parser().parse_args(argv)
        if getattr(args, "generate", False) and args.func is not _cmd_render:
            _cmd_generate(args)  # render runs generate itself, undoable as one command
        return int(args.func(args))
    except UserError as err:
        for line in str(err).splitlines() or [""]:
            print(f"error: {line}", file=sys.stderr)
        errors.reported = True
        return 2
    except KeyboardInterrupt as err:
        return _interrupted(getattr(err, "signum", signal.SIGINT))
    except OSError as err:  # a file system failure no writer anticipated: still one line
        if errors.received:  # a pipe to a tool that died of the same signal
            return _interrupted(errors.received[0])
        where = f"{err.filename}: " if err.filename else ""
        hint = "check the path and its permissions"
        if err.errno == errno.EFBIG:
            hint = "a file grew past the file-size limit (ulimit -f) or the file system's"
        print(f"error: {where}{err.strerror or err}: {hint}", file=sys.stderr)
        errors.reported = True
        return 2
    except Exception:
        if errors.received:  # a tool (helm, git, jsii's node) died of the same signal
            return _interrupted(errors.received[0])
        raise
    finally:
        errors.restore(previous)  # __main__ then guards the interpreter's shutdown


def _interrupted(signum: int) -> int:
    errors.reported = True
    name = signal.Signals(signum).name
    print(
        f"error: interrupted by {name}: every output is replaced as a whole, so each is "
        "either as it was or complete; run the command again",
        file=sys.stderr,
    )
    return 128 + signum
