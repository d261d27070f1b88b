"""Issue 22, pass-through values the upstream chart or controller would refuse at install.

Each case is what a user wrote in a values file; `generate` (and `render --generate`) must
refuse it in one line naming the file and key, exit non-zero and leave every tree as it
was. The rules themselves are checked against their sources: the Go template subset
against the real Go text/template, the conventions against the Kubernetes API enums.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import helpers
from mlstack import render, resolve
from mlstack.components import knative_serving, kserve
from mlstack.lib import gotemplate, upstream

MLSTACK = [sys.executable, "-m", "mlstack"]


def _tree(root: Path) -> dict[str, str]:
    """Every file under `root` by relative path -> sha256 (what 'nothing written' means)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _set(path: Path, key: str, value: Any) -> None:
    """Set the dotted `key` in a values file, creating it and its maps as a user would."""
    data = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    node = data
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


CASES = {
    # knative-serving values: domainTemplate (Knative's config-network domain-template).
    "domain-template-unparsable": ("knative-serving", "domainTemplate", "{{.Name}.{{.Domain}}"),
    "domain-template-unknown-field": ("knative-serving", "domainTemplate", "{{.Host}}.{{.Domain}}"),
    "domain-template-unknown-function": (
        "knative-serving",
        "domainTemplate",
        "{{lower .Name}}.{{.Domain}}",
    ),
    "domain-template-with-path": ("knative-serving", "domainTemplate", "{{.Name}}/{{.Domain}}"),
    "domain-template-unclosed-if": (
        "knative-serving",
        "domainTemplate",
        "{{if .Name}}{{.Name}}.{{.Domain}}",
    ),
    # kserve values: the chart copies any string into inferenceservice-config.
    "kserve-deployment-mode": (
        "kserve",
        "kserveResources.kserve.controller.deploymentMode",
        "Serverles",
    ),
    # any Service values: the API server admits Cluster or Local only.
    "external-traffic-policy": (
        "istio-gateway",
        "gateway.service.externalTrafficPolicy",
        "Sometimes",
    ),
    # annotations are map[string]string: an unquoted 5 is refused by the API server.
    "annotation-int": ("istio-gateway", "gateway.service.annotations.x", 5),
    "label-value-invalid": ("istio-gateway", "gateway.labels.tier", "-front"),
    "pod-annotation-bool": ("istio-gateway", "gateway.podAnnotations.sidecar", True),
}


def _copies(tmp_path: Path, charts_copy: Path) -> tuple[Path, Path]:
    values = helpers.values_copy(tmp_path / "values")
    return values, charts_copy


@pytest.mark.parametrize("case", sorted(CASES))
def test_generate_refuses_in_one_line_and_writes_nothing(
    case: str, tmp_path: Path, charts_copy: Path
) -> None:
    release, key, value = CASES[case]
    values, charts = _copies(tmp_path, charts_copy)
    path = values / "eks" / f"{release}.yaml"
    _set(path, key, value)
    before = _tree(values), _tree(charts)
    proc = subprocess.run(
        [*MLSTACK, "generate", "--charts-dir", str(charts), "--values-dir", str(values)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0, proc.stdout
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"error: {path}: {key}: "), proc.stderr
    assert (_tree(values), _tree(charts)) == before


def test_render_generate_refuses_before_any_write(tmp_path: Path, charts_copy: Path) -> None:
    """`render --generate` runs generate first: the refusal comes before charts/, values/
    or build/ change."""
    values, charts = _copies(tmp_path, charts_copy)
    path = values / "eks" / "istio-gateway.yaml"
    _set(path, "gateway.service.externalTrafficPolicy", "Sometimes")
    out = tmp_path / "build"
    dirs = ["--charts-dir", str(charts), "--values-dir", str(values)]
    before = _tree(values), _tree(charts)
    proc = subprocess.run(
        [*MLSTACK, "render", "--generate", "--env", "eks", "--out", str(out), *dirs],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert f"{path}: gateway.service.externalTrafficPolicy: 'Sometimes'" in proc.stderr
    assert (_tree(values), _tree(charts)) == before
    assert not out.exists()


@pytest.mark.parametrize("case", ["annotation-int", "kserve-deployment-mode"])
def test_render_alone_refuses_before_any_write(
    case: str, tmp_path: Path, charts_copy: Path
) -> None:
    """`render` without generate checks the same values before rendering anything."""
    release, key, value = CASES[case]
    values, charts = _copies(tmp_path, charts_copy)
    path = values / "eks" / f"{release}.yaml"
    _set(path, key, value)
    out = tmp_path / "build"
    proc = subprocess.run(
        [
            *MLSTACK,
            "render",
            "--env",
            "eks",
            "--out",
            str(out),
            "--charts-dir",
            str(charts),
            "--values-dir",
            str(values),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith(f"error: {path}: {key}: "), proc.stderr
    assert not out.exists()


def test_conventions_run_without_the_upstream_schemas(tmp_path: Path, charts_copy: Path) -> None:
    """Generate without MLSTACK_SCHEMA_DIR still refuses what needs no upstream file."""
    values, charts = _copies(tmp_path, charts_copy)
    path = values / "eks" / "istio-gateway.yaml"
    _set(path, "gateway.service.annotations.x", 5)
    env = {k: v for k, v in os.environ.items() if k != "MLSTACK_SCHEMA_DIR"}
    proc = subprocess.run(
        [*MLSTACK, "generate", "--charts-dir", str(charts), "--values-dir", str(values)],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert proc.returncode != 0
    assert proc.stderr.startswith(f"error: {path}: gateway.service.annotations.x: 5 is not a")


def test_committed_environments_pass(schema_dir: Path) -> None:
    """Valid values still pass: every committed env's pass-through blocks, and the upstream
    charts' own defaults, give no problem."""
    for resolved in resolve.all_envs():
        for release in resolved.releases:
            found = render.check_passthrough(release.component, release.values, schema_dir)
            assert found == [], (resolved.name, release.id, found)
    for mode in kserve.DEPLOYMENT_MODES:
        values = {"kserveResources": {"kserve": {"controller": {"deploymentMode": mode}}}}
        kserve.check(resolve.resolve("k3d").facts, values)


# -- the Go template subset against real Go --------------------------------------------

#: A Go program that parses and executes each template on Knative's sample, as
#: knative.dev/networking's checkDomainTemplate does (nil maps), and reports the outcome.
ORACLE = """package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

type DomainTemplateValues struct {
	Name, Namespace, Domain string
	Annotations, Labels     map[string]string
}

func main() {
	var texts []string
	if err := json.NewDecoder(os.Stdin).Decode(&texts); err != nil {
		panic(err)
	}
	out := []map[string]string{}
	for _, text := range texts {
		t, err := template.New("domain-template").Parse(text)
		if err != nil {
			out = append(out, map[string]string{"outcome": "parse"})
			continue
		}
		var b strings.Builder
		data := DomainTemplateValues{Name: "foo", Namespace: "bar", Domain: "baz.com"}
		if err := t.Execute(&b, data); err != nil {
			out = append(out, map[string]string{"outcome": "exec"})
			continue
		}
		out = append(out, map[string]string{"outcome": "ok", "text": b.String()})
	}
	json.NewEncoder(os.Stdout).Encode(out)
}
"""

TEMPLATES = [
    "{{.Name}}.{{.Namespace}}.{{.Domain}}",
    "{{.Name}}-{{.Namespace}}.{{.Domain}}",
    '{{if index .Annotations "sub"}}{{index .Annotations "sub"}}{{else}}{{.Name}}{{end}}.'
    "{{.Domain}}",
    '{{if eq .Name "x"}}a{{else if eq .Namespace "bar"}}b{{else}}c{{end}}.{{.Domain}}',
    '{{with .Labels}}l{{else}}{{printf "%s-%s" .Name .Namespace}}{{end}}.{{.Domain}}',
    "{{range .Labels}}{{.}}{{else}}none{{end}}",
    "{{- .Name -}} . {{ .Domain }}",
    "{{/* a comment */}}{{.Name}}",
    '{{.Name | printf "%s.x"}}',
    '{{(index .Annotations "a")}}{{len .Name}}{{len .Labels}}',
    '{{print 1 2 "a" 3 true}}',
    '{{println .Name}}{{printf "%d%%" 5}}',
    '{{"}}"}}{{`raw`}}',
    "{{.Annotations.missing}}",
    "{{and .Name .Domain}}{{or .Labels .Namespace}}{{not .Name}}",
    '{{if and (ne .Name "") (lt 1 2)}}y{{end}}',
    "{{.Labels}}",
    "{{\"\\x41\\u00e9\u00e9\"}}{{print 'a'}}{{`{{x}}`}}",
    # refused by Go's parser
    "{{.Name}.{{.Domain}}",
    "{{.Name",
    "{{lower .Name}}",
    "{{if .Name}}",
    "{{end}}",
    "{{}}",
    "{{nil}}",
    "{{else}}",
    "{{if .Name}}a{{else}}b{{else}}c{{end}}",
    "{{/* unclosed }}",
    "{{.Name)}}",
    # refused when executed
    "{{.Host}}",
    "{{.Name.Foo}}",
    "{{eq .Name 1}}",
    "{{.Name 3}}",
    '{{index .Name "x"}}',
]


@pytest.fixture(scope="module")
def go_outcomes(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, str]]:
    go = shutil.which("go")
    if go is None:
        pytest.fail("go is not on PATH: the Go toolchain is part of these machines (DESIGN §7)")
    folder = tmp_path_factory.mktemp("oracle")
    (folder / "main.go").write_text(ORACLE)
    proc = subprocess.run(
        [go, "run", "main.go"],
        cwd=folder,
        input=json.dumps(TEMPLATES),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GOTOOLCHAIN": "local", "GO111MODULE": "off"},
    )
    outcomes: list[dict[str, str]] = json.loads(proc.stdout)
    return outcomes


@pytest.mark.parametrize("index", range(len(TEMPLATES)), ids=TEMPLATES)
def test_the_template_subset_agrees_with_go(index: int, go_outcomes: list[dict[str, str]]) -> None:
    text, want = TEMPLATES[index], go_outcomes[index]
    try:
        got = {
            "outcome": "ok",
            "text": gotemplate.execute(text, knative_serving.DOMAIN_TEMPLATE_SAMPLE),
        }
    except gotemplate.TemplateError:
        got = {"outcome": "parse"}
    except gotemplate.ExecError:
        got = {"outcome": "exec"}
    assert got == want


@pytest.mark.parametrize(
    "text", ["{{$x := .Name}}{{$x}}", '{{template "t"}}', "{{urlquery .Name}}", "{{break}}"]
)
def test_what_the_subset_does_not_run_is_named(text: str) -> None:
    with pytest.raises(ValueError, match="not evaluated here"):
        knative_serving.check_domain_template(text)


def test_the_default_template_passes_and_a_path_does_not() -> None:
    assert knative_serving.check_domain_template(knative_serving.DOMAIN_TEMPLATE)
    with pytest.raises(ValueError, match="no fully qualified domain name"):
        knative_serving.check_domain_template("{{.Name}}")  # one label: no FQDN


# -- the conventions, one rule each --------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"service": {"externalTrafficPolicy": "Sometimes"}}, "service.externalTrafficPolicy"),
        ({"service": {"internalTrafficPolicy": "Global"}}, "service.internalTrafficPolicy"),
        ({"service": {"ipFamilyPolicy": "DualStack"}}, "service.ipFamilyPolicy"),
        ({"service": {"ipFamilies": ["IPv4", "IPv5"]}}, "service.ipFamilies.1"),
        ({"service": {"sessionAffinity": "Sticky"}}, "service.sessionAffinity"),
        ({"tolerations": [{"operator": "Maybe"}]}, "tolerations.0.operator"),
        ({"tolerations": [{"effect": "NoRun"}]}, "tolerations.0.effect"),
        ({"service": {"annotations": {"x": 5}}}, "service.annotations.x"),
        ({"podAnnotations": {"x": True}}, "podAnnotations.x"),
        ({"podAnnotations": {"bad key": "v"}}, "podAnnotations.bad key"),
        ({"labels": {"app": "-x"}}, "labels.app"),
        ({"podLabels": {"v": 2}}, "podLabels.v"),
        ({"nodeSelector": {"a/b/c": "x"}}, "nodeSelector.a/b/c"),
    ],
)
def test_a_convention_names_its_key(values: dict[str, Any], key: str) -> None:
    found = upstream.convention_problems(values)
    assert [p.split(": ")[0] for p in found] == [key], found


def test_what_charts_mean_by_unset_and_templates_pass() -> None:
    """An empty string is the charts' "not set" (istio-gateway's defaults); cert-manager
    allows Helm templates in annotation keys and values; upper case is fine in an
    annotation key's prefix (the API server lower-cases it first)."""
    assert not upstream.convention_problems(
        {
            "service": {"externalTrafficPolicy": "", "ipFamilyPolicy": "", "ipFamilies": []},
            "podAnnotations": {"{{ .Release.Name }}/x": "{{ .Values.y }}", "Ex.COM/a": "1"},
            "labels": {"app.kubernetes.io/name": "gw", "empty": ""},
            "tolerations": [{"operator": "Exists", "effect": ""}],
            "annotations": {"x": None},
        }
    )
