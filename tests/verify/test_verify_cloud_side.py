"""verify/cloud_side.py: the real openstacksdk against a Keystone that refuses the password or a
closed port (tests/fake_openstack.py), behind a replaced Kubernetes side."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fake_openstack import FakeOpenStack
from verify_builders import fake_sides

from lab.ports import free_port
from policy.devstack_domain import load_balancer_name
from verify.cli import main

pytestmark = pytest.mark.timeout(60)


def _cloud_only(tmp_path, clouds_yaml: Path, monkeypatch, capsys) -> tuple[int, dict]:
    """The real OpenStack side behind a replaced Kubernetes side."""
    from verify.cloud_side import fetch_cloud

    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(clouds_yaml))
    sides = fake_sides()
    sides.cloud = fetch_cloud
    code = main(["--no-stack", "--json"], sides)
    return code, json.loads(capsys.readouterr().out)


def test_openstack_refusing_the_password_exits_3(tmp_path, monkeypatch, capsys):
    with FakeOpenStack([[]]) as cloud:
        clouds = cloud.write_clouds_yaml(tmp_path / "clouds.yaml", password="wrong")
        code, document = _cloud_only(tmp_path, clouds, monkeypatch, capsys)
    assert code == 3 and document["verdict"] == "unreachable"
    last = document["checks"][-1]
    assert (last["side"], last["name"]) == ("openstack", "unreachable")
    assert "devstack-admin" in last["evidence"] and "credentials are refused" in last["evidence"]
    assert len(document["checks"]) == 11, "the Kubernetes checks are still reported"


def test_openstack_on_a_closed_port_exits_3(tmp_path, monkeypatch, capsys):
    with FakeOpenStack([[]]) as cloud:
        clouds = cloud.write_clouds_yaml(tmp_path / "clouds.yaml")
    text = clouds.read_text().replace(cloud.base, f"http://127.0.0.1:{free_port()}")
    clouds.write_text(text)
    started = time.monotonic()
    code, document = _cloud_only(tmp_path, clouds, monkeypatch, capsys)
    assert code == 3 and "cannot reach the API" in document["checks"][-1]["evidence"]
    assert time.monotonic() - started < 30


def test_an_unknown_cloud_exits_3_naming_it(tmp_path, monkeypatch, capsys):
    with FakeOpenStack([[]]) as cloud:
        clouds = cloud.write_clouds_yaml(tmp_path / "clouds.yaml", cloud="elsewhere")
        code, document = _cloud_only(tmp_path, clouds, monkeypatch, capsys)
    assert code == 3 and "devstack-admin" in document["checks"][-1]["evidence"]


def test_the_load_balancer_is_named_as_the_cloud_controller_names_it():
    assert load_balancer_name("default", "lb-webserver") == "kube_service_kubernetes_default_lb-webserver"
    assert load_balancer_name("apps", "web", "lab") == "kube_service_lab_apps_web"
