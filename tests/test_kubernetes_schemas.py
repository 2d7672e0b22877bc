"""Every Kubernetes object the program declares is valid, strictly, for the pack's kubernetesVersion."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest
from devstack_policies import KUBERNETES_VERSION_DEFAULT, kubernetes_schema_problems, kubernetes_version_problem
from harness import PROJECT
from policy_harness import engine_props


def test_the_default_is_the_newest_1_36_release_kubernetes_validate_knows():
    # The lab builds a v1.36.3 control plane; patch releases share their minor's schemas.
    known = [v for v in kubernetes_validate.utils.all_versions() if v.startswith("1.36.")]
    assert known and max(known, key=lambda v: tuple(map(int, v.split(".")))) == KUBERNETES_VERSION_DEFAULT
    assert kubernetes_version_problem("1.36.3") is None


def test_every_declared_object_validates_strictly(any_stack):
    declared = [r for r in any_stack.registrations if r.type.startswith("kubernetes:") and r.read_id is None]
    namespace = ["Namespace"] if any_stack.config[f"{PROJECT}:createNamespace"] == "true" else []
    assert sorted(r.inputs["kind"] for r in declared) == [
        *namespace, "PersistentVolumeClaim", "ReplicationController", "ReplicationController", "Service",
        "StorageClass"]
    for registration in declared:
        problems = kubernetes_schema_problems(registration.type, engine_props(registration.inputs), {})
        assert problems == [], registration.name


def test_an_unknown_field_is_named(devstack):
    controller = next(r for r in devstack.registrations if r.name == "server" and r.custom)
    inputs = {**engine_props(controller.inputs), "spec": {**engine_props(controller.inputs)["spec"], "replica": 3}}
    (problem,) = kubernetes_schema_problems(controller.type, inputs, {})
    assert "1.36.0 object: spec: Additional properties" in problem and "'replica' was unexpected" in problem


@pytest.mark.parametrize("version", ["1.35.0", "1.36", "1.36.3"])
def test_other_known_releases_can_be_chosen(devstack, version):
    service = next(r for r in devstack.registrations if r.type == "kubernetes:core/v1:Service")
    assert kubernetes_schema_problems(service.type, engine_props(service.inputs), {"kubernetesVersion": version}) == []


@pytest.mark.parametrize(("name", "path", "value", "expected"), [
    ("server", ("spec", "replicas"), "eight", "spec.replicas: 'eight' is not of type 'integer'"),
    ("storage", ("provisioner",), 1.5, "provisioner: 1.5 is not of type 'string'"),
    ("storage", ("provisioner",), {"a": "b"}, "provisioner: {'a': 'b'} is not of type 'string'"),
    ("storage", ("parameters", "type"), {"name": "multiattach-type"},
     "parameters.type: {'name': 'multiattach-type'} is not of type 'string'"),
    ("storage-claim", ("spec", "accessModes"), "ReadWriteMany", "spec.accessModes: 'ReadWriteMany' is not of type"),
])
def test_a_wrongly_typed_field_is_named_with_its_path(devstack, name, path, value, expected):
    registration = next(r for r in devstack.registrations if r.name == name and r.custom and r.read_id is None)
    inputs = copy.deepcopy(engine_props(registration.inputs))
    parent = inputs
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    (problem,) = kubernetes_schema_problems(registration.type, inputs, {})
    assert expected in problem, problem


def test_a_second_object_of_a_kind_reads_no_schema_file_again(devstack, monkeypatch):
    # The pack checks every object of every preview: the release's schema files are read once.
    claim = next(r for r in devstack.registrations if r.type == "kubernetes:core/v1:PersistentVolumeClaim")
    assert kubernetes_schema_problems(claim.type, engine_props(claim.inputs), {}) == []

    def no_file(*_args, **_kwargs):
        raise AssertionError("a schema file was opened again")

    monkeypatch.setattr("builtins.open", no_file)
    assert kubernetes_schema_problems(claim.type, engine_props(claim.inputs), {}) == []
    broken = {**engine_props(claim.inputs), "spec": {"accessModes": "ReadWriteOnce"}}
    assert kubernetes_schema_problems(claim.type, broken, {}) != []
