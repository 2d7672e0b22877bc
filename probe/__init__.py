"""Checks that a load balancer spreads requests over pods on several nodes.

Run as `python -m probe --help`.
"""
