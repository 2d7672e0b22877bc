"""The clouds.yaml a Devstack writes (/etc/openstack/clouds.yaml), pointing at the double."""
from __future__ import annotations

import json
import os
from pathlib import Path

from lab.openstack.identity.models import DEFAULT_PASSWORDS, REGION


def load_passwords(state_dir: str | Path) -> dict[str, str]:
    """The users' passwords the double in `state_dir` accepts."""
    path = Path(state_dir) / "passwords.json"
    if path.exists():
        return {**DEFAULT_PASSWORDS, **json.loads(path.read_text())}
    return dict(DEFAULT_PASSWORDS)


def write_clouds_yaml(path: str | Path, base_url: str,
                      passwords: dict[str, str] | str | None = None) -> Path:
    """Write a clouds.yaml like Devstack's /etc/openstack/clouds.yaml for the double at
    `base_url` (e.g. "http://127.0.0.1:PORT"): entries `devstack` (demo user, project demo)
    and `devstack-admin` (admin, project admin). passwords: {"admin": .., "demo": ..}, or one
    string for both, or None for the double's defaults. Returns the path."""
    import yaml

    if passwords is None:
        passwords = dict(DEFAULT_PASSWORDS)
    elif isinstance(passwords, str):
        passwords = {"admin": passwords, "demo": passwords}
    base_url = base_url.rstrip("/")

    def entry(user: str, project: str) -> dict:
        return {"auth": {"auth_url": f"{base_url}/identity", "username": user, "password": passwords[user],
                         "project_name": project, "user_domain_id": "default", "project_domain_id": "default"},
                "region_name": REGION, "identity_api_version": "3", "volume_api_version": "3"}

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"clouds": {"devstack": entry("demo", "demo"),
                                               "devstack-admin": entry("admin", "admin")}},
                                   default_flow_style=False))
    os.chmod(path, 0o600)
    return path
