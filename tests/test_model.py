"""The values model is the single source of values.yaml, the schema and the README table."""

from __future__ import annotations

import jsonschema
import yaml

from mlstack import registry, resolve
from mlstack.lib import model


def test_values_yaml_parses_back_to_the_defaults() -> None:
    chart_defaults = resolve.chart_defaults()
    for component in registry.COMPONENTS:
        text = model.values_yaml(component.values, "# header\n")
        assert yaml.safe_load(text) == model.defaults(component.values), component.id
        data = chart_defaults[component.id]
        assert yaml.safe_load(model.values_yaml(component.values, "#\n", data)) == data


def test_schema_is_draft07_closed_and_accepts_defaults() -> None:
    for component in registry.COMPONENTS:
        schema = model.json_schema(component.values, "c")
        assert schema["$schema"] == model.DRAFT_07
        assert schema["additionalProperties"] is False
        assert "$defs" not in schema and "$ref" not in str(schema)
        jsonschema.Draft7Validator.check_schema(schema)
        defaults = resolve.chart_defaults()[component.id]
        # Helm adds `global` before validating; the schema must allow it. A default may
        # only fail the schema where the key is documented as required at install.
        for error in jsonschema.Draft7Validator(schema).iter_errors({**defaults, "global": {}}):
            assert "required at install" in error.schema.get("description", ""), error.message


def test_every_key_is_documented() -> None:
    for component in registry.COMPONENTS:
        table = model.parameter_table(component.values)
        for name, field in component.values.model_fields.items():
            assert field.description, f"{component.id}.{name} has no description"
            assert f"| {field.alias or name} | " in table
        assert table.startswith("| Key | Type | Default | Description |")
