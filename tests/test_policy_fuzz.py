"""Property-based tests: the pack never raises, whatever the shapes of the inputs it is given.

Every policy of POLICIES runs (through its CrossGuard wiring, as the engine runs it) over
generated inputs: arbitrary JSON-like trees as the properties of any resource type, and the
real stacks' resources with leaves replaced by values of another type, keys removed, lists
where maps were, values unknown at preview. Each must report only well-formed messages or
nothing: never an exception, and never the wiring's last-resort "could not run" message, which
would mean a rule raised. Derandomized and database-free: CI sees the same examples every run.
"""

from __future__ import annotations

import pytest
from devstack_policies import (
    CLAIM,
    DAEMON_SET,
    POD,
    POLICIES,
    RULE_FAILED,
    SERVICE,
    STORAGE_CLASS,
    VOLUME_TYPE,
    WORKLOADS,
    _resource_policy,
)
from harness import STACKS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from policy_harness import (
    KEYS,
    TREES,
    Violation,
    check,
    contains_unknown,
    json_kind,
    message_problem,
    mutate,
    mutated,
    mutations,
    node_at,
    real_stack,
    walk,
)
from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions, ResourceValidationArgs
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE

POLICY_NAMES = {p.name for p in POLICIES}


def fuzz(examples: int):
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def assert_well_formed(violations: list[Violation], urns: set[str], unknowns_sent: bool) -> None:
    for v in violations:
        assert v.policy in POLICY_NAMES, v
        problem = message_problem(v.message, v.urn, urns, unknowns_sent)
        assert problem is None, f"{v.policy}: {problem}"


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
                                 parent=None)


RESOURCE_TYPES = st.sampled_from([VOLUME_TYPE, STORAGE_CLASS, CLAIM, SERVICE, POD, *WORKLOADS, DAEMON_SET,
                                  "kubernetes:core/v1:ConfigMap", "kubernetes:core/v1:ServicePatch",
                                  "kubernetes:example.com/v1:Widget", "kubernetes:storage.k8s.io/v1:CSIDriver",
                                  "pulumi:providers:kubernetes", "openstack:compute/instance:Instance"])
CONFIG_KEYS = st.sampled_from(["allowedProvisioners", "kubernetesVersion", "enforcementLevel"])
CONFIGS = st.one_of(st.just({}), st.dictionaries(st.sampled_from(sorted(POLICY_NAMES)),
                                                 st.dictionaries(CONFIG_KEYS, TREES, max_size=2), max_size=3))


@fuzz(50)
@given(st.lists(st.tuples(RESOURCE_TYPES, st.dictionaries(KEYS, TREES, max_size=6)), min_size=1, max_size=4),
       CONFIGS, st.booleans())
def test_every_policy_takes_arbitrary_json_trees(typed_props, config, proxied):
    resources = [PolicyResource(resource_type, props, f"urn:pulumi:fuzz::p::{resource_type}::r{i}", f"r{i}",
                                _options(), None, None, [], {})
                 for i, (resource_type, props) in enumerate(typed_props)]
    unknowns_sent = contains_unknown([props for _, props in typed_props])
    assert_well_formed(check(resources, config, proxied=proxied), {r.urn for r in resources}, unknowns_sent)


@pytest.mark.parametrize("stack", STACKS)
@fuzz(40)
@given(data=st.data(), proxied=st.booleans())
def test_every_policy_takes_mutations_of_the_real_stack(stack, data, proxied):
    original = real_stack(stack)
    resources, changed, unknowns_sent = mutated(original, data.draw(st.lists(mutations(original), min_size=1,
                                                                              max_size=3)))
    # Resource policies only need to see what changed: the unchanged resources pass (test_policies.py).
    violations = check(resources, proxied=proxied, resource_urns=changed)
    assert_well_formed(violations, {r.urn for r in resources}, unknowns_sent)


# --- the checks above can fail, and the mutations reach what they should ------------------------

def test_a_rule_that_raises_is_reported_and_fails_the_well_formed_check():
    def broken(_type, props, _config):
        return [props["spec"]["replicas"] > 1]

    policy = _resource_policy("broken", "raises on a string count", [POD], broken)
    found: list[str] = []
    args = ResourceValidationArgs(POD, {"spec": {"replicas": "eight"}}, "urn:x", "x", _options(), None, {})
    policy.validate(args, found.append)
    (message,) = found
    assert "'broken'" in message and RULE_FAILED in message and "urn:x" in message and "TypeError" in message
    with pytest.raises(AssertionError, match="a rule raised"):
        assert_well_formed([Violation("image-pinned", message, None, True)], set(), False)


def test_an_unknown_value_is_the_engines_advisory_not_an_error():
    resources, changed, _ = mutated(real_stack("devstack"), [
        (index, ("spec", "replicas"), "unknown", UNKNOWN_NUMBER_VALUE)
        for index, r in enumerate(real_stack("devstack")) if r.resource_type == WORKLOADS[0]])
    violations = [v for v in check(resources) if "during preview" in v.message]
    assert {v.policy for v in violations} >= {"rwo-claim-on-one-node", "kubernetes-schema-valid"}
    assert all(not v.mandatory for v in violations) and changed
    assert_well_formed(violations, {r.urn for r in resources}, unknowns_sent=True)


def test_the_mutations_reach_every_kind_of_node():
    kinds = {json_kind(node) for stack in STACKS for r in real_stack(stack) for _, node in walk(r.props)}
    assert kinds >= {"string", "number", "boolean", "list", "map"}
    props = {"spec": {"replicas": 8, "ports": [{"port": 80}]}}
    assert mutate(props, ("spec", "replicas"), "other type", "eight") and props["spec"]["replicas"] == "eight"
    assert node_at(props, ("spec", "replicas")) == "eight"
    assert mutate(props, ("spec", "ports", 0), "wrap in map", "k") and props["spec"]["ports"] == [{"k": {"port": 80}}]
    assert mutate(props, ("spec", "ports"), "remove", None) and "ports" not in props["spec"]
    assert not mutate(props, ("spec", "ports", 0, "port"), "remove", None)
