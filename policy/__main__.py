"""The CrossGuard pack: `pulumi preview --policy-pack policy`.

Only builds the pack (PolicyPack serves the engine until its SIGINT); the policies
live in devstack_policies.py, importable by the tests.
"""

import os
import sys

from devstack_policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="devstack-k8s-apps",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
# Reached once the engine's SIGINT has stopped the server, at the end of every preview and up,
# which waits for the pack to exit: the interpreter's teardown of pulumi, grpc and jsonschema took
# 0.15-0.25 s of it. Nothing is left to write. A pack that fails to start raises before this line.
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
