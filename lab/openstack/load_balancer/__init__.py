"""Octavia v2: load balancers, listeners, pools, members, health monitors, and the amphorae
(amphora.py: a real haproxy per ACTIVE load balancer)."""
