"""Runs the pack's policies over what the program registers under mocks, as the engine would, and
generates the inputs the pack must take without raising: JSON-like trees, mutations of real stacks."""

from __future__ import annotations

import copy
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import cache

import pulumi
from devstack_policies import POLICIES, RULE_FAILED
from harness import STACKS, ProgramRun, run_program
from hypothesis import strategies as st
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.proxy import (
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    unknown_checking_proxy,
)


@dataclass(frozen=True)
class Violation:
    policy: str
    message: str
    urn: str | None
    mandatory: bool


def _options(parent: str) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=None, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
                                 parent=parent or None)


def engine_props(value):
    """Props as the engine hands them to a pack: a value unknown at preview is the unknown sentinel."""
    if isinstance(value, pulumi.output.Unknown):
        return UNKNOWN_STRING_VALUE
    if isinstance(value, dict):
        return {key: engine_props(item) for key, item in value.items()}
    if isinstance(value, list):
        return [engine_props(item) for item in value]
    return copy.deepcopy(value)


def stack_resources(run: ProgramRun) -> list[PolicyResource]:
    """Every registration as a PolicyResource with parent and dependencies linked, props as plain dicts
    (for a read, the object read, as the engine passes its state)."""
    resources = {
        r.urn: PolicyResource(r.type, engine_props(r.read_state if r.read_id else r.inputs), r.urn, r.name,
                              _options(r.parent), None, None, [], {})
        for r in run.registrations
    }
    for r in run.registrations:
        resource = resources[r.urn]
        resource.parent = resources.get(r.parent)
        resource.dependencies = [resources[urn] for urn in r.dependencies if urn in resources]
        resource.property_dependencies = {
            key: [resources[urn] for urn in urns if urn in resources] for key, urns in r.property_dependencies.items()
        }
    return list(resources.values())


def find(resources: list[PolicyResource], resource_type: str, name: str | None = None) -> PolicyResource:
    """The one resource of that type (and Pulumi resource name, when given)."""
    (found,) = [r for r in resources if r.resource_type == resource_type and name in (None, r.name)]
    return found


def check(resources: list[PolicyResource], config: dict | None = None, *, proxied: bool = True,
          resource_urns: Collection[str] | None = None) -> list[Violation]:
    """Run every policy; props reach them behind the engine's read-only unknown-checking proxy (or as
    plain dicts, as the unit tests pass them, with proxied=False), and a value unknown at preview
    becomes the engine's advisory (pulumi_policy/policy.py, Analyze). Resource policies run on every
    resource, or only on those of `resource_urns` (the stack policies always see the whole stack)."""
    config = config or {}
    found: list[Violation] = []
    wrap = unknown_checking_proxy if proxied else (lambda props: props)
    stack = [
        PolicyResource(r.resource_type, wrap(r.props), r.urn, r.name, r.opts, r.provider,
                       r.parent, r.dependencies, r.property_dependencies)
        for r in resources
    ]

    def reporter(policy, default_urn: str | None = None):
        is_mandatory = (policy.enforcement_level or EnforcementLevel.MANDATORY) == EnforcementLevel.MANDATORY

        def report(message: str, urn: str | None = None) -> None:
            found.append(Violation(policy.name, message, urn or default_urn, is_mandatory))

        return report

    def run(policy, args, report) -> None:
        try:
            policy.validate(args, report)
        except UnknownValueError as error:  # as the engine does: an advisory, with no URN
            found.append(Violation(policy.name, f"can't run policy {policy.name!r} during preview: {error.message}",
                                   None, False))

    for policy in POLICIES:
        policy_config = config.get(policy.name, {})
        if isinstance(policy, ResourceValidationPolicy):
            for r in stack:
                if resource_urns is not None and r.urn not in resource_urns:
                    continue
                args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, r.opts, None, policy_config)
                run(policy, args, reporter(policy, r.urn))
        else:
            run(policy, StackValidationArgs(stack, policy_config), reporter(policy))
    return found


def mandatory(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.mandatory]


# --- generated inputs: the pack must take any of them (test_policy_fuzz.py, test_policy_analyzer.py) ---

def walk(value, path: tuple = ()):
    """Every (path, node) below a JSON-like value, maps and lists included."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield (*path, key), child
        yield from walk(child, (*path, key))


def node_at(props, path: tuple):
    for part in path:
        props = props[part]
    return props


def json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", list: "list", dict: "map"}[type(value)]


UNKNOWNS = (UNKNOWN_STRING_VALUE, UNKNOWN_NUMBER_VALUE, UNKNOWN_OBJECT_VALUE)
MUTATION_KINDS = ("other type", "other type", "remove", "wrap in list", "wrap in map", "unknown")


@cache
def real_stack(stack: str) -> tuple[PolicyResource, ...]:
    """The stack's preview resources, computed once: copy a resource before changing it."""
    return tuple(stack_resources(run_program(stack, preview=True)))


@cache
def _vocabulary() -> tuple[list[str], list[str]]:
    """The stacks' own map keys and string values: generated trees use them to reach the rules' paths."""
    # Fields the rules read that the stacks do not set, and "__target", the engine proxies' escape hatch.
    keys = {"__target", "matchExpressions", "operator", "values", "initContainers", "topologySpreadConstraints",
            "podAntiAffinity", "preferredDuringSchedulingIgnoredDuringExecution", "podAffinityTerm", "volumeMode"}
    strings = {"In", "NotIn", "Exists", "DoesNotExist", "Local", "ReadWriteOncePod"}
    for stack in STACKS:
        for r in real_stack(stack):
            for path, value in walk(r.props):
                keys.update(part for part in path if isinstance(part, str))
                if isinstance(value, str) and len(value) < 80:
                    strings.add(value)
    return sorted(keys), sorted(strings)


# Deferred: the vocabulary needs a program run, only once a test draws.
KEYS = st.deferred(lambda: st.one_of(st.sampled_from(_vocabulary()[0]), st.text(max_size=8)))
STRINGS = st.deferred(lambda: st.one_of(
    st.text(max_size=12), st.sampled_from(_vocabulary()[1]),
    st.sampled_from(["ReadWriteMany", "ReadWriteOnce", "LoadBalancer", "<is> True", "<is> true",
                     "kubernetes.io/cinder", "cinder.example", "kubernetes.io/hostname",
                     "node-role.kubernetes.io/control-plane", "nginx", "nginx:latest", "Block", "Filesystem",
                     "1.36", "true", "True"])))
NUMBERS = st.one_of(st.integers(-3, 10), st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False))
SCALARS = {"null": st.none(), "boolean": st.booleans(), "number": NUMBERS, "string": STRINGS}
TREES = st.recursive(st.one_of(*SCALARS.values()),
                     lambda children: st.one_of(st.lists(children, max_size=3),
                                                st.dictionaries(KEYS, children, max_size=4)),
                     max_leaves=12)
BY_KIND = {**SCALARS, "list": st.lists(TREES, max_size=3), "map": st.dictionaries(KEYS, TREES, max_size=4)}


@st.composite
def mutations(draw, resources: Sequence[PolicyResource]):
    """One mutation of one node of the resources' props: (resource index, path, how, new value)."""
    index, path = draw(st.sampled_from([(i, path) for i, r in enumerate(resources) for path, _ in walk(r.props)]))
    how = draw(st.sampled_from(MUTATION_KINDS))
    new = None
    if how == "other type":
        kind = json_kind(node_at(resources[index].props, path))
        new = draw(BY_KIND[draw(st.sampled_from(sorted(set(BY_KIND) - {kind})))])
    elif how == "wrap in map":
        new = draw(KEYS)
    elif how == "unknown":
        new = draw(st.sampled_from(UNKNOWNS))
    return index, path, how, new


def mutated(resources: Sequence[PolicyResource], changes) -> tuple[list[PolicyResource], set[str], bool]:
    """Copies of the resources with the changes applied: (resources, URNs changed, unknowns sent, by a
    mutation or by the preview itself: the claim's replacement token is unknown in a first preview)."""
    copies = [copy.copy(r) for r in resources]
    changed = set()
    for index, path, how, new in changes:
        if copies[index].urn not in changed:
            copies[index].props = copy.deepcopy(copies[index].props)
        if mutate(copies[index].props, path, how, new):
            changed.add(copies[index].urn)
    return copies, changed, contains_unknown([r.props for r in copies])


def contains_unknown(value) -> bool:
    return value in UNKNOWNS if isinstance(value, str) else \
        any(isinstance(node, str) and node in UNKNOWNS for _, node in walk(value))


def mutate(props: dict, path: tuple, how: str, new) -> bool:
    """Apply one mutation (MUTATION_KINDS) at `path` in place; False when the path is gone (an earlier
    mutation removed or replaced it). "other type" and "unknown" put `new` there, "wrap in map" wraps
    the node under the key `new`."""
    parent = props
    for part in path[:-1]:
        if not _has(parent, part):
            return False
        parent = parent[part]
    last = path[-1]
    if not _has(parent, last):
        return False
    if how == "remove":
        del parent[last]
    elif how == "wrap in list":
        parent[last] = [parent[last]]
    elif how == "wrap in map":
        parent[last] = {new: parent[last]}
    else:
        parent[last] = new
    return True


def _has(container, key) -> bool:
    if isinstance(container, dict):
        return isinstance(key, str) and key in container
    return isinstance(container, list) and isinstance(key, int) and 0 <= key < len(container)


def message_problem(message, urn, urns: Collection[str], unknowns_sent: bool) -> str | None:
    """Why a violation is not well formed, or None: a non-empty line of bounded length, naming user
    values by their plain repr, for a resource of the stack (or none), and never the wiring's
    last-resort message, which means a rule raised."""
    if not isinstance(message, str) or not message.strip():
        return f"empty or not a string: {message!r}"
    if RULE_FAILED in message:
        return f"a rule raised: {message}"
    if "\n" in message or "object at 0x" in message or len(message) > 1200:
        return f"not one readable line: {message!r}"
    if urn and urn not in urns:
        return f"names a resource not in the stack: {urn}"
    if not unknowns_sent and "during preview" in message:
        return f"an unknown value reported where none was sent: {message}"
    return None
