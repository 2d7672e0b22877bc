"""Keystone through the double's routes: discovery, tokens, scoping, the catalog, 401s."""
from __future__ import annotations

import requests
from openstack_double_testing import PASSWORDS


def password_body(password: str, project: str = "demo") -> dict:
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}


def test_keystone_discovery_tokens_and_catalog(double):
    base = double.base_url
    root = requests.get(f"{base}/identity", timeout=5)
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["id"].startswith("v3.")
    assert requests.get(f"{base}/identity/v3", timeout=5).json()["version"]["status"] == "stable"
    assert requests.post(f"{base}/identity/v3/auth/tokens", json=password_body("wrong"), timeout=5).status_code == 401
    ok = requests.post(f"{base}/identity/v3/auth/tokens", json=password_body(PASSWORDS["demo"]), timeout=5)
    assert ok.status_code == 201 and ok.headers["X-Subject-Token"]
    token = ok.json()["token"]
    assert [r["name"] for r in token["roles"]] == ["member", "reader"]
    catalog = {s["type"]: s["endpoints"][0]["url"] for s in token["catalog"]}
    project = token["project"]["id"]
    assert catalog["volumev3"] == catalog["block-storage"] == f"{base}/volume/v3/{project}"
    assert catalog["compute"] == f"{base}/compute/v2.1"
    assert catalog["network"] == f"{base}/networking"
    assert catalog["load-balancer"] == f"{base}/load-balancer"
    types = f"{base}/volume/v3/{project}/types"
    assert requests.get(types, timeout=5).status_code == 401
    assert requests.get(types, timeout=5, headers={"X-Auth-Token": "nope"}).status_code == 401
    assert requests.get(types, timeout=5, headers={"X-Auth-Token": ok.headers["X-Subject-Token"]}).status_code == 200


def test_a_user_cannot_scope_to_another_project_and_a_revoked_token_is_gone(double):
    base = double.base_url
    other = requests.post(f"{base}/identity/v3/auth/tokens", json=password_body(PASSWORDS["demo"], "admin"), timeout=5)
    assert other.status_code == 401
    token = requests.post(f"{base}/identity/v3/auth/tokens", json=password_body(PASSWORDS["demo"]),
                          timeout=5).headers["X-Subject-Token"]
    headers = {"X-Auth-Token": token, "X-Subject-Token": token}
    assert requests.get(f"{base}/identity/v3/auth/tokens", headers=headers, timeout=5).status_code == 200
    assert requests.delete(f"{base}/identity/v3/auth/tokens", headers=headers, timeout=5).status_code == 204
    assert requests.get(f"{base}/identity/v3/projects", headers=headers, timeout=5).status_code == 401


def test_the_demo_user_sees_only_its_own_project(double, demo, admin):
    assert [p.name for p in demo.identity.projects()] == ["demo"]
    assert sorted(p.name for p in admin.identity.projects()) == ["admin", "demo"]
