"""Runs the pack's policies over what the program registers under mocks, as the engine would."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from devstack_policies import POLICIES
from harness import ProgramRun
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.proxy import unknown_checking_proxy


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


def stack_resources(run: ProgramRun) -> list[PolicyResource]:
    """Every registration as a PolicyResource with parent and dependencies linked, props as plain dicts
    (for a read, the object read, as the engine passes its state)."""
    resources = {
        r.urn: PolicyResource(r.type, copy.deepcopy(r.read_state if r.read_id else r.inputs), r.urn, r.name,
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


def check(resources: list[PolicyResource], config: dict | None = None) -> list[Violation]:
    """Run every policy; props reach them behind the engine's read-only unknown-checking proxy."""
    config = config or {}
    found: list[Violation] = []
    proxied = [
        PolicyResource(r.resource_type, unknown_checking_proxy(r.props), r.urn, r.name, r.opts, r.provider,
                       r.parent, r.dependencies, r.property_dependencies)
        for r in resources
    ]

    def reporter(policy, default_urn: str | None = None):
        is_mandatory = (policy.enforcement_level or EnforcementLevel.MANDATORY) == EnforcementLevel.MANDATORY

        def report(message: str, urn: str | None = None) -> None:
            found.append(Violation(policy.name, message, urn or default_urn, is_mandatory))

        return report

    for policy in POLICIES:
        policy_config = config.get(policy.name, {})
        if isinstance(policy, ResourceValidationPolicy):
            for r in proxied:
                args = ResourceValidationArgs(r.resource_type, r.props, r.urn, r.name, r.opts, None, policy_config)
                policy.validate(args, reporter(policy, r.urn))
        else:
            policy.validate(StackValidationArgs(proxied, policy_config), reporter(policy))
    return found


def mandatory(violations: list[Violation]) -> list[Violation]:
    return [v for v in violations if v.mandatory]
