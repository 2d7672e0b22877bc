"""Nova's routes."""
from lab.openstack.core.dispatch import Route

V21 = r"/compute/v2\.1"
SERVER = V21 + r"/servers/([^/]+)"

ROUTES = [
    Route("GET", r"/compute", "root", auth=False),
    Route("GET", V21, "v21", auth=False),
    Route("GET", V21 + r"/servers", "list_servers"),
    Route("GET", V21 + r"/servers/detail", "list_servers_detail"),
    Route("GET", SERVER, "show_server"),
    Route("GET", SERVER + r"/os-volume_attachments", "list_attachments"),
    Route("POST", SERVER + r"/os-volume_attachments", "attach_volume"),
    Route("GET", SERVER + r"/os-volume_attachments/([^/]+)", "show_attachment"),
    Route("DELETE", SERVER + r"/os-volume_attachments/([^/]+)", "detach_volume"),
    Route("GET", V21 + r"/flavors", "list_flavors"),
    Route("GET", V21 + r"/flavors/detail", "list_flavors_detail"),
]
