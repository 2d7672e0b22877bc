"""Checks a deployed stack from the cluster and from the cloud, then through the load balancer.

Run as `python -m verify --help`.
"""
import sys

from verify.cli import main

sys.exit(main())
