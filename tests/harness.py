"""Runs the real __main__.py under Pulumi mocks, the way the engine would run it.

Each run gets a fresh contextvars context (Pulumi keeps its settings, root stack and
config there) and a fresh event loop, and the config the engine would pass: the
defaults declared in Pulumi.yaml plus the stack file's values (components/stack_config.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import runpy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.stack import run_pulumi_func

from components import live_state
from components.ownership import LiveObject, ObjectRef
from components.stack_config import engine_config, project_name, stack_names
from policy.devstack_domain import CINDER_CSI_DRIVER

PROJECT_DIR = Path(__file__).resolve().parents[1]
PROGRAM = PROJECT_DIR / "__main__.py"
PROJECT = project_name(PROJECT_DIR)
ORGANIZATION = "organization"  # what a self-managed (file) backend calls every stack's organization
STACKS = stack_names(PROJECT_DIR)

# What Octavia and the cloud controller would give the Service once the amphora is up.
FAKE_EXTERNAL_IP = "172.24.4.238"
FAKE_LOAD_BALANCER_ID = "6c1b3f2e-7d4a-4e59-9b8e-2f0c1a7d5e43"
LOAD_BALANCER_ID_ANNOTATION = "loadbalancer.openstack.org/load-balancer-id"


def stack_config(stack: str, overrides: dict[str, Any] | None = None) -> dict[str, str]:
    """Pulumi.yaml defaults + Pulumi.<stack>.yaml values + overrides, as `project:key` strings.

    An override of None removes the key, as if neither file set it.
    """
    return engine_config(stack, overrides, PROJECT_DIR)


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    inputs: dict
    parent: str
    custom: bool
    read_id: str | None = None  # set for a `.get()` of an existing resource
    read_state: dict = field(default_factory=dict)  # what the read returned (the engine analyzes that)
    dependencies: set[str] = field(default_factory=set)
    property_dependencies: dict[str, set[str]] = field(default_factory=dict)
    provider: str = ""
    custom_timeouts: dict[str, str] = field(default_factory=dict)
    delete_before_replace: bool = False
    replace_with: set[str] = field(default_factory=set)  # URNs whose replacement replaces this one
    replace_on_changes: list[str] = field(default_factory=list)  # property paths whose change replaces it
    resource_id: str | None = None  # what the (mock) provider answered


class CloudMocks(pulumi.runtime.Mocks):
    """Answers as Devstack's providers would: provider-assigned ids, and in an update the
    Service's load balancer ingress and the cloud controller's load-balancer-id annotation.
    In a preview the status stays unknown and the annotation absent."""

    def __init__(self, preview: bool):
        self.preview = preview

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        if args.resource_id:
            raise AssertionError(f"the program read {args.typ} {args.resource_id}: its preflight reads the cluster")
        state = dict(args.inputs)
        if args.typ == "pulumi-python:dynamic/network:LoadBalancerReady" and not self.preview:
            # What the wait outputs once Octavia's load balancer is ACTIVE (components/ready_waits.py).
            state.update(external_ip=FAKE_EXTERNAL_IP, load_balancer_id=FAKE_LOAD_BALANCER_ID)
        if args.typ == "kubernetes:core/v1:Service" and not self.preview:
            state["status"] = {"loadBalancer": {"ingress": [{"ip": FAKE_EXTERNAL_IP}]}}
            metadata = dict(state.get("metadata") or {})
            metadata["annotations"] = {**(metadata.get("annotations") or {}),
                                       LOAD_BALANCER_ID_ANNOTATION: FAKE_LOAD_BALANCER_ID}
            state["metadata"] = metadata
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        raise AssertionError(f"the program made an unexpected invoke: {args.token}")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """Keeps what the engine would see of each registration: inputs, parent, dependencies."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def _record(self, request, read_id: str | None) -> Registration:
        registration = Registration(
            type=request.type,
            name=request.name,
            urn=self.make_urn(request.parent, request.type, request.name),
            inputs=pulumi.runtime.rpc.deserialize_properties(request.properties if read_id else request.object),
            parent=request.parent,
            custom=read_id is not None or request.custom,
            read_id=read_id,
            provider=request.provider,
        )
        if read_id is None:
            registration.dependencies = set(request.dependencies)
            registration.property_dependencies = {k: set(v.urns) for k, v in request.propertyDependencies.items()}
            timeouts = request.customTimeouts
            registration.custom_timeouts = {
                step: getattr(timeouts, step) for step in ("create", "update", "delete") if getattr(timeouts, step)
            }
            registration.delete_before_replace = request.deleteBeforeReplace
            registration.replace_with = set(request.replace_with)
            registration.replace_on_changes = list(request.replaceOnChanges)
        self.registrations.append(registration)
        return registration

    def RegisterResource(self, request):
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        registration = self._record(request, None)
        response = super().RegisterResource(request)
        registration.resource_id = response.id
        return response

    def ReadResource(self, request):
        registration = self._record(request, request.id)
        response = super().ReadResource(request)
        registration.read_state = pulumi.runtime.rpc.deserialize_properties(response.properties)
        return response


@dataclass
class ProgramRun:
    stack: str
    preview: bool
    config: dict[str, str]
    registrations: list[Registration]
    outputs: dict[str, Any]  # known values only
    unknown_outputs: set[str]

    def of_type(self, type_token: str) -> list[Registration]:
        return [r for r in self.registrations if r.type == type_token]

    def one(self, type_token: str) -> Registration:
        found = self.of_type(type_token)
        assert len(found) == 1, f"expected one {type_token}, found {[r.name for r in found]}"
        return found[0]

    def by_urn(self, urn: str) -> Registration:
        return next(r for r in self.registrations if r.urn == urn)

    def named(self, type_token: str, name: str) -> Registration:
        (found,) = [r for r in self.of_type(type_token) if r.name == name]
        return found


class ProgramFailed(Exception):
    def __init__(self, error: BaseException, registrations: list[Registration]):
        super().__init__(str(error))
        self.error = error
        self.registrations = registrations


# What every Devstack cluster of the article runs: cloud-provider-openstack's Cinder CSI driver.
CSI_DRIVER_FOUND = LiveObject(ObjectRef("CSIDriver", CINDER_CSI_DRIVER), owner=None)


def run_program(stack: str, preview: bool, overrides: dict[str, Any] | None = None,
                live: Sequence[LiveObject] = (CSI_DRIVER_FOUND,)) -> ProgramRun:
    """Run __main__.py once, as `pulumi preview` (preview=True) or `pulumi up` would, against a cluster
    and a cloud that hold `live` (the preflight's view; by default the Cinder CSI driver alone)."""
    config = stack_config(stack, overrides)
    with mock.patch.object(live_state, "read_live", lambda *_args: list(live)):
        return contextvars.Context().run(_run_in_fresh_context, stack, preview, config)


def _run_in_fresh_context(stack: str, preview: bool, config: dict[str, str]) -> ProgramRun:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        mocks = CloudMocks(preview)
        monitor = RecordingMonitor(mocks)
        pulumi.runtime.set_all_config(config)
        pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor,
                                 organization=ORGANIZATION)
        try:
            loop.run_until_complete(run_pulumi_func(lambda: runpy.run_path(str(PROGRAM), run_name="__main__")))
        except Exception as error:
            raise ProgramFailed(error, monitor.registrations) from error
        root = pulumi.runtime.settings.get_root_resource()
        outputs, unknown = loop.run_until_complete(_resolve(root.outputs))
        return ProgramRun(stack, preview, config, monitor.registrations, outputs, unknown)
    finally:
        loop.close()
        asyncio.set_event_loop(None)


async def _resolve(exported: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    known: dict[str, Any] = {}
    unknown: set[str] = set()
    for name, value in exported.items():
        output = pulumi.Output.from_input(value)
        if await output.is_known():
            known[name] = await output.future()
        else:
            unknown.add(name)
    return known, unknown
