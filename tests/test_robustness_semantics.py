"""Issue 13, what schemas cannot say: each case the issue lists is refused with the key.

Values-file cases live as fixtures under tests/invalid/ (test_values.py runs them); here
the shared validators themselves, the cluster-network overlap (needs the environment) and
the CLI flags.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from mlstack import resolve
from mlstack.components import metallb_pool
from mlstack.errors import UserError
from mlstack.lib import argcheck, fields, images, netcheck, resources, upstream


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("0.0.0.0/0", "whole internet"),
        ("::/0", "whole internet"),
        ("127.0.0.0/8", "loopback"),
        ("127.0.0.1-127.0.0.9", "loopback"),
        ("224.0.0.0/28", "multicast"),
        ("ff02::/120", "multicast"),
        ("255.255.255.255/32", "broadcast"),
        ("0.0.0.0/32", "unspecified"),
        ("::/128", "unspecified"),
        ("169.254.1.0/24", "link-local"),
        ("240.0.0.0/28", "reserved"),
        ("10.0.0.0/8", "more than 65536"),
        ("fd00::/64", "more than 65536"),
        ("10.0.0.5/24", "not an address range"),
        ("10.0.0.9-10.0.0.1", "not an address range"),
    ],
)
def test_pool_ranges_refused(text: str, needle: str) -> None:
    problem = netcheck.pool_problem(text)
    assert problem and needle in problem, problem


@pytest.mark.parametrize("text", ["172.18.255.200-172.18.255.250", "192.168.49.0/28", "fd00::/120"])
def test_ordinary_pool_ranges_pass(text: str) -> None:
    assert netcheck.pool_problem(text) is None


def test_pool_must_not_shadow_the_cluster_networks() -> None:
    facts = resolve.resolve("k3d").facts
    with pytest.raises(UserError, match=r"metallb-pool.yaml: pool.addresses: .*10.43.0.0/16"):
        metallb_pool.check_cluster_networks(facts, {"pool": {"addresses": ["10.43.0.0/24"]}})
    metallb_pool.check_cluster_networks(facts, {"pool": {"addresses": ["172.18.255.0/28"]}})
    assert netcheck.overlap_problems(["10.0.0.0/28", "10.0.0.8-10.0.0.20"])


class _Names(BaseModel):
    label: fields.DnsLabel = "a"
    fqdn: fields.DnsName = "a.b"
    labels: fields.Labels = {}
    replicas: fields.Replicas = 1
    port: fields.Port = 80
    image: fields.ImageRef = "nginx"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"label": "a" * 64}, "label"),
        ({"label": "Upper"}, "label"),
        ({"fqdn": ("a" * 64) + ".example.com"}, "fqdn"),
        ({"fqdn": "a." * 127 + "com"}, "fqdn"),
        ({"labels": {"app": "v" * 64}}, "labels"),
        ({"labels": {"x" * 64: "v"}}, "labels"),
        ({"replicas": 2**40}, "replicas"),
        ({"replicas": -1}, "replicas"),
        ({"port": 99999}, "port"),
        ({"image": "team/Model"}, "image"),
        ({"image": "repo:tag:tag"}, "image"),
        ({"image": "repo@sha256:short"}, "image"),
    ],
)
def test_kubernetes_field_limits(data: dict[str, object], key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _Names.model_validate(data)
    assert caught.value.errors()[0]["loc"][0] == key


def test_good_names_and_images_pass() -> None:
    _Names.model_validate(
        {
            "label": "a" * 63,
            "labels": {"app.kubernetes.io/name": "x", "istio": "ingressgateway"},
            "image": "registry.example:5000/team/model:1.0@sha256:" + "a" * 64,
        }
    )
    for ref in ("docker.io/seldonio/mlserver:1.7.1", "nvcr.io/nvidia/tritonserver:23.05-py3"):
        assert images.check_reference(ref) == ref
    with pytest.raises(ValueError, match="not a pin"):
        images.check_pinned_tag("latest")


def test_quantities_parse_and_order() -> None:
    assert resources.parse_quantity("500m") == Decimal("0.5")
    assert resources.parse_quantity("1Gi") == 2**30
    assert resources.parse_quantity("1e3") == 1000
    for bad in ("lots", "1.2.3", "\uff11", True):
        with pytest.raises(ValueError):
            resources.parse_quantity(bad)
    found = resources.order_problems(
        {"requests": {"cpu": "2", "memory": "-1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    )
    assert any("requests.memory: -1Gi is negative" in p for p in found)
    assert any("requests.cpu 2 is above limits.cpu 1" in p for p in found)
    assert resources.order_problems({"requests": {"cpu": "1"}, "limits": {"cpu": "1000m"}}) == []


def test_upstream_conventions_and_keys() -> None:
    defaults = {"replicaCount": 1, "service": {"type": "ClusterIP"}, "podAnnotations": {}}
    assert upstream.key_problems({"podAnnotations": {"any": "thing"}}, defaults) == []
    assert upstream.key_problems({"replicaCuont": 1}, defaults)[0].startswith("replicaCuont:")
    assert "is not a map" in upstream.key_problems({"service": 5}, defaults)[0]
    # istiod's meshConfig is the MeshConfig resource: its values.yaml lists one field.
    mesh = {"meshConfig": {"enablePrometheusMerge": True}}
    assert upstream.key_problems({"meshConfig": {"ingressService": "gw"}}, mesh) == []
    assert upstream.key_problems({"meshConfig": 5}, mesh)[0].startswith("meshConfig: 5 is not")
    found = upstream.convention_problems(
        {"replicaCount": -1, "service": {"type": "Bogus"}, "ports": [{"port": 0}]}
    )
    assert [p.split(":")[0] for p in found] == ["replicaCount", "service.type", "ports.0.port"]
    assert upstream.untemplate("image:\n  tag: {{ tag }}\n") == 'image:\n  tag: ""\n'


@pytest.mark.parametrize(
    ("check", "text"),
    [
        (argcheck.host_port, "host:99999"),
        (argcheck.host_port, "host:0"),
        (argcheck.host_port, "bad host"),
        (argcheck.host_port, "[::1]x"),
        (argcheck.branch, "-f"),
        (argcheck.branch, "a..b"),
        (argcheck.branch, "x.lock"),
        (argcheck.branch, "has space"),
        (argcheck.revision, "--all"),
        (argcheck.git_remote, "--upload-pack=evil"),
        (argcheck.git_remote, "https://"),
        (argcheck.http_url, "ftp://host/x"),
        (argcheck.oci_url, "https://ghcr.io/x"),
        (argcheck.chart_id, "Bad_Chart"),
        (argcheck.path, ""),
    ],
)
def test_flag_values_refused(check: object, text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        check(text)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("check", "text"),
    [
        (argcheck.host_port, "127.0.0.1:8080"),
        (argcheck.host_port, "[::1]:80"),
        (argcheck.host_port, "gateway.example.com"),
        (argcheck.branch, "release/1.2"),
        (argcheck.revision, "0123abc"),
        (argcheck.git_remote, "git@github.com:org/repo.git"),
        (argcheck.git_remote, "/srv/git/platform.git"),
    ],
)
def test_flag_values_accepted(check: object, text: str) -> None:
    assert check(text) is not None  # type: ignore[operator]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["smoke", "--ingress", "host:99999", "--dry-run"], "argument --ingress: '99999'"),
        (["gitops-sync", "--repo", "/tmp/x", "--branch=-f"], "argument --branch: '-f'"),
        (["package", "--url", "ftp://x"], "argument --url"),
        (["render", "--out", ""], "argument --out"),
    ],
)
def test_cli_flags_are_one_line(argv: list[str], needle: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlstack", *argv], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and needle in proc.stderr, proc.stderr


def test_a_placeholder_a_data_file_cannot_use_is_one_line() -> None:
    from mlstack.lib import yamlfile

    assert yamlfile.filled("x:{version}", "f: images", version="1") == "x:1"
    for bad in ("x:{tag}", "x:{version", "x:{0}"):
        with pytest.raises(UserError) as err:
            yamlfile.filled(bad, "f: images", version="1")
        assert str(err.value).startswith("f: images: ") and "{version}" in str(err.value)


def test_a_lock_wait_that_is_not_seconds_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlstack.lib import atomic

    monkeypatch.setenv(atomic.WAIT_ENV, "1m")
    with (
        pytest.raises(UserError, match=r"^MLSTACK_LOCK_WAIT=1m: give seconds"),
        atomic.lock(tmp_path / "out"),
    ):
        pass
