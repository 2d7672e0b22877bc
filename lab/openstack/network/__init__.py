"""Neutron v2.0: networks public and private, their subnets, a router, ports, floating IPs."""
