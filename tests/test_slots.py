"""Slots become Helm expressions; every other brace pair reaches the cluster literally."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mlstack.lib import helm, slots


def test_slot_becomes_tojson_expression() -> None:
    text = f"addresses: {slots.slot('pool.addresses')}\nname: '{slots.slot('pool.name')}'\n"
    out = slots.to_template(text)
    assert (
        out
        == "addresses: {{ toJson .Values.pool.addresses }}\nname: {{ toJson .Values.pool.name }}\n"
    )


def test_literal_braces_are_escaped() -> None:
    assert slots.escape_braces("{{.Name}}") == '{{ "{{" }}.Name{{ "}}" }}'


def test_slot_inside_a_string_is_refused() -> None:
    with pytest.raises(ValueError, match="whole YAML value"):
        slots.to_template(f"name: prefix-{slots.slot('a.b')}\n")


def test_bad_slot_path_is_refused() -> None:
    with pytest.raises(ValueError, match="dotted identifiers"):
        slots.slot("a-b")


def test_missing_paths() -> None:
    values = {"a": {"b": 1}, "c": []}
    assert slots.missing_paths(["a.b", "a.x", "c", "c.d"], values) == ["a.x", "c.d"]


def test_go_template_survives_real_helm_template(tmp_path: Path) -> None:
    """A literal Go template and a slot, through a real `helm template`."""
    chart = tmp_path / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("domain:\n  name: example.com\nports: [80, 443]\n")
    body = yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "demo"},
            "data": {
                "domain-template": "{{.Name}}.{{.Namespace}}.{{.Domain}}",
                "odd": "}}}{{{",
                "domain": slots.slot("domain.name"),
            },
        }
    )
    conditioned = slots.wrap_condition(slots.to_template(body), "domain.name")
    (chart / "templates" / "cm.yaml").write_text(conditioned)
    proc = helm.run(["template", "demo", str(chart), "--set", "domain.name=svc.local"])
    assert proc.returncode == 0, proc.stderr
    data = yaml.safe_load(proc.stdout)["data"]
    assert data["domain-template"] == "{{.Name}}.{{.Namespace}}.{{.Domain}}"
    assert data["odd"] == "}}}{{{"
    assert data["domain"] == "svc.local"
