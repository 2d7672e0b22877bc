"""The CrossGuard pack: `pulumi preview --policy-pack policy`.

Only builds the pack (PolicyPack serves the engine and never returns); the policies
live in devstack_policies.py, importable by the tests.
"""

from devstack_policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(
    name="devstack-k8s-apps",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
