"""Neutron's routes."""
from lab.openstack.core.dispatch import Route

V20 = r"/networking/v2\.0"
ITEM = r"/([^/]+)"

ROUTES = [
    Route("GET", r"/networking", "root", auth=False),
    Route("GET", V20, "v20"),
    Route("GET", V20 + r"/extensions", "extensions"),
    Route("GET", V20 + r"/networks", "list_networks"),
    Route("GET", V20 + r"/networks" + ITEM, "show_network"),
    Route("GET", V20 + r"/subnets", "list_subnets"),
    Route("GET", V20 + r"/subnets" + ITEM, "show_subnet"),
    Route("GET", V20 + r"/routers", "list_routers"),
    Route("GET", V20 + r"/routers" + ITEM, "show_router"),
    Route("GET", V20 + r"/ports", "list_ports"),
    Route("POST", V20 + r"/ports", "create_port"),
    Route("GET", V20 + r"/ports" + ITEM, "show_port"),
    Route("PUT", V20 + r"/ports" + ITEM, "update_port"),
    Route("DELETE", V20 + r"/ports" + ITEM, "delete_port"),
    Route("GET", V20 + r"/floatingips", "list_fips"),
    Route("POST", V20 + r"/floatingips", "create_fip"),
    Route("GET", V20 + r"/floatingips" + ITEM, "show_fip"),
    Route("PUT", V20 + r"/floatingips" + ITEM, "update_fip"),
    Route("DELETE", V20 + r"/floatingips" + ITEM, "delete_fip"),
    Route("PUT", V20 + r"/floatingips" + ITEM + r"/tags/([^/]+)", "put_fip_tag"),
    Route("PUT", V20 + r"/floatingips" + ITEM + r"/tags", "put_fip_tags"),
]
