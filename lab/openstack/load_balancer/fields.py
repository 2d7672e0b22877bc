"""What Octavia's API accepts for each object (octavia/api/v2/types/*.py) and the defaults it
fills in; each function returns the object's own fields or raises Octavia's 400."""
from __future__ import annotations

import ipaddress

from lab.openstack.core.errors import octavia_error

LISTENER_PROTOCOLS = ("TCP", "HTTP", "HTTPS", "TERMINATED_HTTPS", "UDP", "SCTP", "PROMETHEUS")
POOL_PROTOCOLS = ("TCP", "HTTP", "HTTPS", "PROXY", "PROXYV2", "UDP", "SCTP")
ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT")
MONITOR_TYPES = ("HTTP", "HTTPS", "PING", "TCP", "TLS-HELLO", "UDP-CONNECT", "SCTP")
PROVIDERS = (None, "amphora", "octavia")


def _port(value) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        port = 0
    if not 1 <= port <= 65535:
        raise octavia_error(400, f"Invalid input for field/attribute protocol_port. Value: '{value}'. "
                                 "Value should be between 1 and 65535")
    return port


def listener_fields(body: dict) -> dict:
    protocol = body.get("protocol")
    if protocol not in LISTENER_PROTOCOLS:
        raise octavia_error(400, f"Invalid input for field/attribute protocol. Value: '{protocol}'. "
                                 "Value should be one of: HTTP, HTTPS, PROMETHEUS, SCTP, TCP, TERMINATED_HTTPS, UDP")
    return {"protocol": protocol, "protocol_port": _port(body.get("protocol_port")),
            "connection_limit": body.get("connection_limit", -1), "default_pool_id": None,
            "default_tls_container_ref": None, "sni_container_refs": [], "l7policies": [],
            "insert_headers": body.get("insert_headers") or {},
            "timeout_client_data": body.get("timeout_client_data", 50000),
            "timeout_member_connect": body.get("timeout_member_connect", 5000),
            "timeout_member_data": body.get("timeout_member_data", 50000),
            "timeout_tcp_inspect": body.get("timeout_tcp_inspect", 0),
            "client_ca_tls_container_ref": None, "client_authentication": "NONE",
            "client_crl_container_ref": None, "allowed_cidrs": body.get("allowed_cidrs"),
            "tls_ciphers": None, "tls_versions": None, "alpn_protocols": None,
            "hsts_include_subdomains": False, "hsts_max_age": None, "hsts_preload": False}


def pool_fields(body: dict) -> dict:
    algorithm = body.get("lb_algorithm")
    if algorithm not in ALGORITHMS:
        raise octavia_error(400, f"Invalid input for field/attribute lb_algorithm. Value: '{algorithm}'.")
    if algorithm == "SOURCE_IP_PORT":
        raise octavia_error(400, "Provider 'amphora' does not support a requested option: Amphora provider does "
                                 "not support SOURCE_IP_PORT algorithm.")
    protocol = body.get("protocol")
    if protocol not in POOL_PROTOCOLS:
        raise octavia_error(400, f"Invalid input for field/attribute protocol. Value: '{protocol}'.")
    return {"protocol": protocol, "lb_algorithm": algorithm, "session_persistence": body.get("session_persistence"),
            "healthmonitor_id": None, "tls_container_ref": None, "ca_tls_container_ref": None,
            "crl_container_ref": None, "tls_enabled": False, "tls_ciphers": None, "tls_versions": None,
            "alpn_protocols": None}


def member_fields(body: dict) -> dict:
    address = body.get("address")
    try:
        ipaddress.ip_address(address)
    except (TypeError, ValueError):
        raise octavia_error(400, f"Invalid input for field/attribute address. Value: '{address}'.") from None
    return {"address": address, "protocol_port": _port(body.get("protocol_port")), "weight": body.get("weight", 1),
            "backup": body.get("backup", False), "subnet_id": body.get("subnet_id"),
            "monitor_address": body.get("monitor_address"), "monitor_port": body.get("monitor_port"),
            "vnic_type": "normal"}


def monitor_fields(body: dict) -> dict:
    kind = body.get("type")
    if kind not in MONITOR_TYPES:
        raise octavia_error(400, f"Invalid input for field/attribute type. Value: '{kind}'.")
    for key in ("delay", "timeout", "max_retries"):
        if not isinstance(body.get(key), int):
            raise octavia_error(400, f"Invalid input for field/attribute {key}. Value: '{body.get(key)}'. "
                                     "Mandatory field missing.")
    http = kind in ("HTTP", "HTTPS")
    return {"type": kind, "delay": body["delay"], "timeout": body["timeout"], "max_retries": body["max_retries"],
            "max_retries_down": body.get("max_retries_down", 3),
            "http_method": body.get("http_method", "GET") if http else None,
            "url_path": body.get("url_path", "/") if http else None,
            "expected_codes": body.get("expected_codes", "200") if http else None,
            "http_version": body.get("http_version") if http else None,
            "domain_name": body.get("domain_name") if http else None}


# PUT bodies: the fields each object lets you change
LB_UPDATABLE = ("name", "description", "admin_state_up", "tags")
LISTENER_UPDATABLE = ("name", "description", "admin_state_up", "connection_limit", "tags", "timeout_client_data",
                      "timeout_member_connect", "timeout_member_data", "timeout_tcp_inspect", "allowed_cidrs",
                      "insert_headers")
POOL_UPDATABLE = ("name", "description", "admin_state_up", "lb_algorithm", "session_persistence", "tags")
MEMBER_UPDATABLE = ("name", "admin_state_up", "weight", "backup", "monitor_address", "monitor_port", "tags")
BATCH_MEMBER_UPDATABLE = MEMBER_UPDATABLE + ("subnet_id",)
MONITOR_UPDATABLE = ("name", "admin_state_up", "delay", "timeout", "max_retries", "max_retries_down",
                     "http_method", "url_path", "expected_codes", "tags")
