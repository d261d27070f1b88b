"""The parsed-CRD cache: same answer as parsing, keyed by content so it never goes stale."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mlstack.lib import schemas


def test_cache_matches_parse_and_follows_content(
    tmp_path: Path, schema_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "crds"
    folder.mkdir()
    source = schema_dir / "crds" / "metallb-0.16.1" / "metallb.io_ipaddresspools.yaml"
    shutil.copy(source, folder / "pools.yaml")
    monkeypatch.setattr(schemas, "CRD_CACHE", tmp_path / "cache")
    first = schemas._crd_docs(folder, "missing")
    assert first == [d for d in yaml.safe_load_all(source.read_text()) if d]
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1
    assert schemas._crd_docs(folder, "missing") == first  # served from the cache
    changed = source.read_text().replace("kind: IPAddressPool", "kind: AddressBlock")
    (folder / "pools.yaml").write_text(changed)
    second = schemas._crd_docs(folder, "missing")
    assert second[0]["spec"]["names"]["kind"] == "AddressBlock"
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2
