"""The CrossGuard pack: `pulumi preview --policy-pack policy`.

Only builds the pack (PolicyPack serves the engine and never returns); the policies
live in devstack_policies.py, importable by the tests.
"""

from pulumi_policy import EnforcementLevel, PolicyPack

from devstack_policies import POLICIES

PolicyPack(
    name="devstack-k8s-apps",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=POLICIES,
)
