"""Checks a deployed stack from both sides: Kubernetes, Cinder, Octavia, then HTTP.

Run as `python -m verify --help`. Reads only: nothing is written to either side.
"""
