"""Every Kubernetes object the program declares is valid, in strict mode, for the stack's kubernetesVersion."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from harness import PROJECT, STACKS, run_program


def manifest(inputs: dict) -> dict:
    """The object as kubectl would send it: whole numbers are integers (mocks pass floats)."""

    def fix(value):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fix(v) for v in value]
        return value

    return fix(copy.deepcopy(inputs))


def declared_objects(stack: str) -> tuple[str, list[dict]]:
    run = run_program(stack, preview=False)
    version = run.config[f"{PROJECT}:kubernetesVersion"]
    objects = [manifest(r.inputs) for r in run.registrations
               if r.type.startswith("kubernetes:") and r.custom and r.read_id is None]
    return version, objects


@pytest.mark.parametrize("stack", STACKS)
def test_declared_objects_validate_strictly(stack):
    version, objects = declared_objects(stack)
    assert version in kubernetes_validate.utils.all_versions(), f"kubernetes-validate has no schemas for {version}"
    kinds = sorted(obj["kind"] for obj in objects)
    assert kinds == ["PersistentVolumeClaim", "ReplicationController", "Service", "StorageClass"]
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)


def test_strict_validation_catches_an_unknown_field():
    version, objects = declared_objects("devstack")
    controller = next(obj for obj in objects if obj["kind"] == "ReplicationController")
    controller["spec"]["template"]["spec"]["topology_spread_constraints"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(controller, version, strict=True)
