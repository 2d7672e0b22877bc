"""Octavia's routes (/v2 and /v2.N are the same API)."""
from lab.openstack.core.dispatch import Route

V2 = r"/load-balancer/v2(?:\.\d+)?"
LBAAS = V2 + r"/lbaas"
ITEM = r"/([^/]+)"

ROUTES = [
    Route("GET", r"/load-balancer", "root", auth=False),
    Route("GET", V2, "v2", auth=False),
    Route("GET", LBAAS + r"/loadbalancers", "list_lbs"),
    Route("POST", LBAAS + r"/loadbalancers", "create_lb"),
    Route("GET", LBAAS + r"/loadbalancers" + ITEM, "show_lb"),
    Route("PUT", LBAAS + r"/loadbalancers" + ITEM, "update_lb"),
    Route("DELETE", LBAAS + r"/loadbalancers" + ITEM, "delete_lb"),
    Route("GET", LBAAS + r"/loadbalancers" + ITEM + r"/status", "lb_status"),
    Route("GET", LBAAS + r"/loadbalancers" + ITEM + r"/stats", "lb_stats"),
    Route("GET", LBAAS + r"/listeners", "list_listeners"),
    Route("POST", LBAAS + r"/listeners", "create_listener"),
    Route("GET", LBAAS + r"/listeners" + ITEM, "show_listener"),
    Route("PUT", LBAAS + r"/listeners" + ITEM, "update_listener"),
    Route("DELETE", LBAAS + r"/listeners" + ITEM, "delete_listener"),
    Route("GET", LBAAS + r"/pools", "list_pools"),
    Route("POST", LBAAS + r"/pools", "create_pool"),
    Route("GET", LBAAS + r"/pools" + ITEM, "show_pool"),
    Route("PUT", LBAAS + r"/pools" + ITEM, "update_pool"),
    Route("DELETE", LBAAS + r"/pools" + ITEM, "delete_pool"),
    Route("GET", LBAAS + r"/pools" + ITEM + r"/members", "list_members"),
    Route("POST", LBAAS + r"/pools" + ITEM + r"/members", "create_member"),
    Route("PUT", LBAAS + r"/pools" + ITEM + r"/members", "replace_members"),
    Route("GET", LBAAS + r"/pools" + ITEM + r"/members" + ITEM, "show_member"),
    Route("PUT", LBAAS + r"/pools" + ITEM + r"/members" + ITEM, "update_member"),
    Route("DELETE", LBAAS + r"/pools" + ITEM + r"/members" + ITEM, "delete_member"),
    Route("GET", LBAAS + r"/healthmonitors", "list_monitors"),
    Route("POST", LBAAS + r"/healthmonitors", "create_monitor"),
    Route("GET", LBAAS + r"/healthmonitors" + ITEM, "show_monitor"),
    Route("PUT", LBAAS + r"/healthmonitors" + ITEM, "update_monitor"),
    Route("DELETE", LBAAS + r"/healthmonitors" + ITEM, "delete_monitor"),
    Route("GET", LBAAS + r"/providers", "providers"),
    Route("GET", V2 + r"/octavia/amphorae", "amphorae"),
]
