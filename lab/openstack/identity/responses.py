"""Keystone v3 handlers."""
from __future__ import annotations

from lab.openstack.core.errors import keystone_error
from lab.openstack.identity.models import ADMIN_PROJECT_ID, DOMAIN, PROJECTS, ROLES, USERS, IdentityBackend

_NO_LINKS = {"self": None, "previous": None, "next": None}


def _keystone_time(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


class IdentityResponses:
    def __init__(self, identity: IdentityBackend):
        self.identity = identity
        self.base = identity.base

    def _version(self) -> dict:
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": f"{self.base}/identity/v3/"}],
                "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}

    def token_body(self, info: dict, methods: list[str]) -> dict:
        token = {"methods": methods,
                 "user": {"id": info["user_id"], "name": info["user"], "domain": dict(DOMAIN),
                          "password_expires_at": None},
                 "audit_ids": [info["audit_id"]], "expires_at": _keystone_time(info["expires_at"]),
                 "issued_at": _keystone_time(info["issued_at"])}
        if info["project_id"]:
            token["project"] = {"id": info["project_id"], "name": PROJECTS[info["project_id"]],
                                "domain": dict(DOMAIN)}
            token["is_domain"] = False
            token["roles"] = [{"id": ROLES[role], "name": role} for role in info["roles"]]
            token["catalog"] = self.identity.catalog(info["project_id"])
        return {"token": token}

    def _project_view(self, project_id: str) -> dict:
        return {"id": project_id, "name": PROJECTS[project_id], "domain_id": "default", "description": "",
                "enabled": True, "is_domain": False, "parent_id": "default", "tags": [], "options": {},
                "links": {"self": f"{self.base}/identity/v3/projects/{project_id}"}}

    def _user_view(self, name: str) -> dict:
        user = USERS[name]
        return {"id": user["id"], "name": name, "domain_id": "default", "enabled": True,
                "default_project_id": user["project_id"], "password_expires_at": None, "options": {},
                "links": {"self": f"{self.base}/identity/v3/users/{user['id']}"}}

    def _catalog_for(self, req) -> list[dict]:
        return self.identity.catalog(req.project_id or ADMIN_PROJECT_ID)

    # ---- handlers
    def root(self, req):
        return 300, {"versions": {"values": [self._version()]}}

    def v3(self, req):
        return 200, {"version": self._version()}

    def create_token(self, req):
        auth = req.body.get("auth") if isinstance(req.body, dict) else None
        if not isinstance(auth, dict):
            raise keystone_error(400, "Expecting to find auth in request body.", "Bad Request")
        identity = auth.get("identity") or {}
        user_name = self.identity.authenticated_user(identity)
        project_id = self.identity.scoped_project(user_name, auth.get("scope"))
        token, info = self.identity.issue_token(user_name, project_id)
        req.response_headers["X-Subject-Token"] = token
        return 201, self.token_body(info, identity.get("methods") or [])

    def validate_token(self, req):
        info = self.identity.token_info(req.headers.get("X-Subject-Token"))
        if info is None:
            raise keystone_error(404, "Could not find token.", "Not Found")
        return 200, self.token_body(info, ["password"])

    def revoke_token(self, req):
        self.identity.revoke(req.headers.get("X-Subject-Token"))
        return 204, None

    def list_projects(self, req):
        name = req.query_value("name")
        items = [self._project_view(project_id) for project_id in PROJECTS if req.is_admin
                 or project_id == req.project_id]
        return 200, {"projects": [project for project in items if not name or project["name"] == name],
                     "links": _NO_LINKS}

    def auth_projects(self, req):
        return 200, {"projects": [self._project_view(USERS[req.user["user"]]["project_id"])], "links": _NO_LINKS}

    def show_project(self, req, ref):
        found = ref if ref in PROJECTS else next((project_id for project_id, name in PROJECTS.items() if name == ref),
                                                 None)
        if found is None or (not req.is_admin and found != req.project_id):
            raise keystone_error(404, f"Could not find project: {ref}.", "Not Found")
        return 200, {"project": self._project_view(found)}

    def list_users(self, req):
        name = req.query_value("name")
        items = [self._user_view(user_name) for user_name in USERS if req.is_admin or user_name == req.user["user"]]
        return 200, {"users": [user for user in items if not name or user["name"] == name], "links": _NO_LINKS}

    def show_user(self, req, ref):
        name = next((user_name for user_name, user in USERS.items() if ref in (user["id"], user_name)), None)
        if name is None or (not req.is_admin and name != req.user["user"]):
            raise keystone_error(404, f"Could not find user: {ref}.", "Not Found")
        return 200, {"user": self._user_view(name)}

    def list_domains(self, req):
        return 200, {"domains": [{"id": "default", "name": "Default", "enabled": True, "description": "",
                                  "tags": [], "options": {}, "links": {}}], "links": _NO_LINKS}

    def list_roles(self, req):
        return 200, {"roles": [{"id": role_id, "name": name, "domain_id": None, "description": None, "options": {}}
                               for name, role_id in ROLES.items()], "links": _NO_LINKS}

    def list_services(self, req):
        return 200, {"services": [{"id": service["id"], "type": service["type"], "name": service["name"],
                                   "enabled": True}
                                  for service in self._catalog_for(req)]}

    def list_endpoints(self, req):
        return 200, {"endpoints": [{**endpoint, "service_id": service["id"], "enabled": True}
                                   for service in self._catalog_for(req) for endpoint in service["endpoints"]]}

    def show_catalog(self, req):
        return 200, {"catalog": self._catalog_for(req)}
