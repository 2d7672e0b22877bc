"""Cinder's routes (base /volume/v3/<project_id>)."""
from lab.openstack.core.dispatch import Route

PROJECT = r"/volume/v3/([0-9a-fA-F]+)"
TYPE = PROJECT + r"/types/([^/]+)"
VOLUME = PROJECT + r"/volumes/([^/]+)"

ROUTES = [
    Route("GET", r"/volume", "root", auth=False),
    Route("GET", r"/volume/v3", "v3_root", auth=False),
    Route("GET", PROJECT, "v3_root", auth=False),
    Route("GET", PROJECT + r"/types", "list_types"),
    Route("POST", PROJECT + r"/types", "create_type"),
    Route("GET", TYPE, "show_type"),
    Route("PUT", TYPE, "update_type"),
    Route("DELETE", TYPE, "delete_type"),
    Route("GET", TYPE + r"/extra_specs", "list_specs"),
    Route("POST", TYPE + r"/extra_specs", "create_specs"),
    Route("GET", TYPE + r"/extra_specs/([^/]+)", "show_spec"),
    Route("PUT", TYPE + r"/extra_specs/([^/]+)", "update_spec"),
    Route("DELETE", TYPE + r"/extra_specs/([^/]+)", "delete_spec"),
    Route("GET", TYPE + r"/os-volume-type-access", "type_access"),
    Route("POST", TYPE + r"/action", "type_action"),
    Route("GET", PROJECT + r"/volumes", "list_volumes"),
    Route("GET", PROJECT + r"/volumes/detail", "list_volumes_detail"),
    Route("POST", PROJECT + r"/volumes", "create_volume"),
    Route("GET", VOLUME, "show_volume"),
    Route("PUT", VOLUME, "update_volume"),
    Route("DELETE", VOLUME, "delete_volume"),
    Route("POST", VOLUME + r"/action", "volume_action"),
    Route("GET", PROJECT + r"/messages", "list_messages"),
    Route("GET", PROJECT + r"/messages/([^/]+)", "show_message"),
    Route("DELETE", PROJECT + r"/messages/([^/]+)", "delete_message"),
    Route("GET", PROJECT + r"/limits", "limits"),
    Route("GET", PROJECT + r"/os-availability-zone", "availability_zones"),
]
