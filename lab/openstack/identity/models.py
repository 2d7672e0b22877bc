"""Keystone's state: the fixed users, projects and roles of a Devstack, and issued tokens."""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta

from lab.openstack.core.errors import keystone_error
from lab.openstack.core.ids import hex_id, now

DOMAIN = {"id": "default", "name": "Default"}
ADMIN_PROJECT_ID = hex_id("project:admin")
DEMO_PROJECT_ID = hex_id("project:demo")
PROJECTS = {ADMIN_PROJECT_ID: "admin", DEMO_PROJECT_ID: "demo"}
ROLES = {"admin": hex_id("role:admin"), "member": hex_id("role:member"), "reader": hex_id("role:reader")}
USERS = {
    "admin": {"id": hex_id("user:admin"), "project_id": ADMIN_PROJECT_ID, "roles": ["admin", "member", "reader"]},
    "demo": {"id": hex_id("user:demo"), "project_id": DEMO_PROJECT_ID, "roles": ["member", "reader"]},
}
DEFAULT_PASSWORDS = {"admin": "secret", "demo": "secret"}  # Devstack's conventional password
REGION = "RegionOne"
TOKEN_LIFETIME = timedelta(hours=12)


def _unauthorized():
    return keystone_error(401, "The request you have made requires authentication.", "Unauthorized")


class IdentityBackend:
    def __init__(self, base_url: str, passwords: dict[str, str], lock: threading.RLock):
        self.base = base_url.rstrip("/")
        self.passwords = passwords
        self.lock = lock
        self.tokens: dict[str, dict] = {}

    # ---- tokens
    def issue_token(self, user_name: str, project_id: str | None) -> tuple[str, dict]:
        user = USERS[user_name]
        token = uuid.uuid4().hex + uuid.uuid4().hex
        issued = now()
        info = {"user": user_name, "user_id": user["id"], "project_id": project_id,
                "roles": list(user["roles"]) if project_id else [],
                "issued_at": issued, "expires_at": issued + TOKEN_LIFETIME, "audit_id": uuid.uuid4().hex[:22]}
        with self.lock:
            self.tokens[token] = info
        return token, info

    def token_info(self, token: str | None) -> dict | None:
        if not token:
            return None
        with self.lock:
            info = self.tokens.get(token)
        if info is None or info["expires_at"] < now():
            return None
        return info

    def revoke(self, token: str | None) -> None:
        with self.lock:
            self.tokens.pop(token or "", None)

    # ---- authentication (POST /v3/auth/tokens)
    def authenticated_user(self, identity: dict) -> str:
        """The user a password or token identity proves, or 401."""
        methods = identity.get("methods") or []
        if "password" in methods:
            user = (identity.get("password") or {}).get("user") or {}
            name = user.get("name")
            if not name and user.get("id"):
                name = next((user_name for user_name, known in USERS.items() if known["id"] == user["id"]), None)
            domain = user.get("domain") or {}
            domain_ok = (user.get("id") is not None or domain.get("id") == "default"
                         or (domain.get("name") or "").lower() == "default")
            if name in USERS and domain_ok and user.get("password") == self.passwords.get(name):
                return name
        elif "token" in methods:
            old = self.token_info((identity.get("token") or {}).get("id"))
            if old:
                return old["user"]
        raise _unauthorized()

    @staticmethod
    def scoped_project(user_name: str, scope) -> str | None:
        """The project a token for `user_name` is scoped to; Keystone scopes to the user's default
        project when no scope is asked; 401 for a project the user has no role on."""
        if isinstance(scope, dict) and "project" in scope:
            project = scope["project"]
            project_id = project.get("id")
            if not project_id:
                domain = project.get("domain") or {}
                if domain.get("id") not in (None, "default") and (domain.get("name") or "").lower() != "default":
                    raise _unauthorized()
                project_id = next((known_id for known_id, known_name in PROJECTS.items()
                                   if known_name == project.get("name")), None)
            if project_id is None or project_id != USERS[user_name]["project_id"]:
                raise _unauthorized()
            return project_id
        if isinstance(scope, dict) and scope:
            raise _unauthorized()
        if scope is None:
            return USERS[user_name]["project_id"]
        return None  # "unscoped" (or an empty scope): a token without a project

    # ---- catalog
    def catalog(self, project_id: str) -> list[dict]:
        def service(kind: str, name: str, url: str) -> dict:
            return {"id": hex_id("service:" + kind), "type": kind, "name": name, "endpoints": [
                {"id": hex_id("endpoint:" + kind), "interface": "public", "region": REGION,
                 "region_id": REGION, "url": url}]}

        return [
            service("identity", "keystone", f"{self.base}/identity"),
            service("volumev3", "cinderv3", f"{self.base}/volume/v3/{project_id}"),
            service("block-storage", "cinder", f"{self.base}/volume/v3/{project_id}"),
            service("compute", "nova", f"{self.base}/compute/v2.1"),
            service("network", "neutron", f"{self.base}/networking"),
            service("load-balancer", "octavia", f"{self.base}/load-balancer"),
        ]
