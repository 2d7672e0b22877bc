"""Keystone's routes."""
from lab.openstack.core.dispatch import Route

V3 = r"/identity/v3"

ROUTES = [
    Route("GET", r"/identity", "root", auth=False),
    Route("GET", V3, "v3", auth=False),
    Route("POST", V3 + r"/auth/tokens", "create_token", auth=False),
    Route("GET", V3 + r"/auth/tokens", "validate_token"),
    Route("HEAD", V3 + r"/auth/tokens", "validate_token"),
    Route("DELETE", V3 + r"/auth/tokens", "revoke_token"),
    Route("GET", V3 + r"/auth/projects", "auth_projects"),
    Route("GET", V3 + r"/auth/catalog", "show_catalog"),
    Route("GET", V3 + r"/projects", "list_projects"),
    Route("GET", V3 + r"/projects/([^/]+)", "show_project"),
    Route("GET", V3 + r"/users", "list_users"),
    Route("GET", V3 + r"/users/([^/]+)", "show_user"),
    Route("GET", V3 + r"/domains", "list_domains"),
    Route("GET", V3 + r"/roles", "list_roles"),
    Route("GET", V3 + r"/services", "list_services"),
    Route("GET", V3 + r"/endpoints", "list_endpoints"),
]
