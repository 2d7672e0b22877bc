"""Changes that converge: when the claim is replaced, the storage app is replaced with it,
deleted before the claim (so its pods release it) and created after it; a new pod template makes a
new controller (rolled over create-before-delete); the rest updates in place.

Two runs of the program under mocks (a stack as deployed, then a config change) are
compared the way `pulumi up` would, by `replacements` below. It applies the replacement
rules of pulumi-kubernetes v4.25.0 (provider/pkg/provider/diff.go: a new name or namespace
replaces any object; StorageClass parameters/provisioner; PVC accessModes, selector,
storageClassName, volumeName) and of the Pulumi engine 3.274 (resource/deploy/step_generator.go:
replaceOnChanges paths; a resource whose replace_with target is replaced is replaced, and when
that target is replaced delete-before-replace, it is deleted first; a dependency replaced
delete-before-replace replaces a dependent only if the dependent's diff, with the linked
property unknown, says so). The lab proves the same against the real engine and cluster.
"""

from __future__ import annotations

import pytest
from harness import ProgramRun, run_program

STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
RC = "kubernetes:core/v1:ReplicationController"
SERVICE = "kubernetes:core/v1:Service"
TOKEN = "pulumi-python:dynamic/storage:ReplacementToken"

# Input paths whose change replaces the object, beyond metadata.name/namespace.
_FORCE_NEW = {
    STORAGE_CLASS: ("parameters", "provisioner"),
    CLAIM: ("spec.accessModes", "spec.selector", "spec.storageClassName", "spec.volumeName"),
}


def _at(inputs: dict, path: str):
    for key in path.split("."):
        inputs = inputs.get(key) if isinstance(inputs, dict) else None
    return inputs


def replacements(before: ProgramRun, after: ProgramRun) -> set[str]:
    """URNs of the Kubernetes objects `pulumi up` from `before` to `after` would replace."""
    old = {r.urn: r for r in before.registrations}
    replaced: set[str] = set()
    for registration in after.registrations:  # registration order follows the dependencies
        previous = old.get(registration.urn)
        if previous is None or not registration.type.startswith("kubernetes:") or registration.read_id:
            continue
        paths = ["metadata.name", "metadata.namespace", *_FORCE_NEW.get(registration.type, ()),
                 *registration.replace_on_changes]
        # An unknown top-level input only matches a force-new path that is that very input.
        linked = [key for key, urns in registration.property_dependencies.items() if urns & replaced]
        if any(_at(previous.inputs, path) != _at(registration.inputs, path) for path in paths) \
                or registration.replace_with & replaced \
                or any(key in paths for key in linked):
            replaced.add(registration.urn)
    return replaced


def _claim_and_server(run: ProgramRun) -> tuple[str, str]:
    return run.one(CLAIM).urn, run.named(RC, "server").urn


CLAIM_REPLACING_CHANGES = {
    "devstack": [{"multiattach": False}, {"volumeMode": "Filesystem"}, {"storageClassName": "csi-sc-other"},
                 {"claimName": "claim2"}],
    "devstack-single": [{"multiattach": True}, {"volumeMode": "Block"}, {"claimName": "claim2"}],
}
# A bigger volumeSizeGi expands the claim in place.
IN_PLACE_CHANGES = [{"servicePort": 8080}, {"volumeSizeGi": 2},
                    {"loadBalancerAnnotations": {"loadbalancer.openstack.org/enable-health-monitor": "true"}}]
# A new pod template: a new controller of each app it touches, beside the old one until it is ready.
TEMPLATE_CHANGES = [{"image": "nginx:1.27.5"}, {"scheduleOnControlPlane": False}]
# A new replica count: a new controller of that app only, placed from scratch by the scheduler
# (a controller scaled down in place can empty a node: components/webserver.py controller_identity).
REPLICA_CHANGES = {"server": [{"serverReplicas": 3}, {"serverReplicas": 9}],
                   "lbserver": [{"lbserverReplicas": 2}, {"lbserverReplicas": 12}]}
# A new volumeTypeName renames the Cinder type in place and replaces the class. The engine
# deletes a delete-before-replace resource's dependents (here possibly the claim) before it,
# looking at replace_with only for the class itself: the storage app lists the class too, so
# it goes first (seen in the lab, where a class replacement took the claim and hung on its pods).
CLASS_REPLACING_CHANGES = [{"volumeTypeName": "multiattach-type-2"}]


@pytest.mark.parametrize("stack,change", [(stack, change) for stack, changes in CLAIM_REPLACING_CHANGES.items()
                                          for change in changes], ids=str)
def test_the_storage_app_is_replaced_with_its_claim(stack, change):
    before, after = run_program(stack, False), run_program(stack, False, change)
    claim, server = _claim_and_server(after)
    replaced = replacements(before, after)
    assert claim in replaced, "this change must replace the claim, or the test proves nothing"
    assert server in replaced
    assert after.named(RC, "lbserver").urn not in replaced and after.one(SERVICE).urn not in replaced


@pytest.mark.parametrize("change", IN_PLACE_CHANGES, ids=str)
def test_changes_that_keep_the_claim_keep_the_storage_app(change):
    before, after = run_program("devstack", False), run_program("devstack", False, change)
    claim, server = _claim_and_server(after)
    assert replacements(before, after) & {claim, server} == set()
    assert after.named(RC, "server").inputs["metadata"]["name"] == before.named(RC, "server").inputs["metadata"]["name"]


@pytest.mark.parametrize("change", TEMPLATE_CHANGES, ids=str)
def test_a_template_change_rolls_both_apps_over_to_new_controllers_and_keeps_the_claim(change):
    before, after = run_program("devstack", False), run_program("devstack", False, change)
    replaced = replacements(before, after)
    assert after.one(CLAIM).urn not in replaced
    for app in ("server", "lbserver"):
        old, new = before.named(RC, app), after.named(RC, app)
        assert new.urn in replaced
        # A new name, so the new controller is created (and waited for) before the old one goes.
        assert new.inputs["metadata"]["name"] != old.inputs["metadata"]["name"]
        assert not new.delete_before_replace
        labels = new.inputs["spec"]["template"]["metadata"]["labels"]
        assert new.inputs["spec"]["selector"] == labels == new.inputs["metadata"]["labels"]
        assert labels["pod-template-hash"] != old.inputs["spec"]["selector"]["pod-template-hash"]
        assert new.inputs["metadata"]["name"] == f"{app}-{labels['pod-template-hash']}"


@pytest.mark.parametrize("app,change", [(app, change) for app, changes in REPLICA_CHANGES.items()
                                        for change in changes], ids=str)
def test_a_replica_change_rolls_that_app_over_to_a_new_controller_and_keeps_the_claim(app, change):
    before, after = run_program("devstack", False), run_program("devstack", False, change)
    replaced = replacements(before, after)
    assert after.one(CLAIM).urn not in replaced
    other = "lbserver" if app == "server" else "server"
    assert after.named(RC, other).urn not in replaced
    new, old = after.named(RC, app), before.named(RC, app)
    assert new.urn in replaced and not new.delete_before_replace
    assert new.inputs["metadata"]["name"] != old.inputs["metadata"]["name"]
    assert new.inputs["spec"]["replicas"] == next(iter(change.values()))
    # Same pod template, another identity: the new controller selects none of the old pods.
    assert new.inputs["spec"]["template"]["spec"] == old.inputs["spec"]["template"]["spec"]
    assert new.inputs["spec"]["selector"]["pod-template-hash"] != old.inputs["spec"]["selector"]["pod-template-hash"]


def _token_key(run: ProgramRun) -> str:
    return run.one(TOKEN).inputs["key"]


@pytest.mark.parametrize("stack,change", [(stack, change) for stack, changes in CLAIM_REPLACING_CHANGES.items()
                                          for change in changes], ids=str)
def test_the_claims_replacement_token_changes_with_the_claims_immutable_fields(stack, change):
    before, after = run_program(stack, False), run_program(stack, False, change)
    assert _token_key(before) != _token_key(after)


@pytest.mark.parametrize("change", IN_PLACE_CHANGES + TEMPLATE_CHANGES + CLASS_REPLACING_CHANGES
                         + [change for changes in REPLICA_CHANGES.values() for change in changes], ids=str)
def test_the_claims_replacement_token_stays_when_the_claim_does(change):
    assert _token_key(run_program("devstack", False)) == _token_key(run_program("devstack", False, change))


def test_the_claim_carries_the_token_so_a_replacements_preview_skips_the_dry_run(any_stack):
    claim, token = any_stack.one(CLAIM), any_stack.one(TOKEN)
    assert token.urn in claim.property_dependencies["metadata"]


@pytest.mark.parametrize("change", CLASS_REPLACING_CHANGES, ids=str)
def test_the_storage_app_is_replaced_with_its_class(change):
    before, after = run_program("devstack", False), run_program("devstack", False, change)
    replaced = replacements(before, after)
    assert after.one(STORAGE_CLASS).urn in replaced, "this change must replace the class"
    assert after.named(RC, "server").urn in replaced
    assert after.named(RC, "lbserver").urn not in replaced


def test_the_storage_app_follows_the_claim_delete_first(any_stack):
    claim = any_stack.one(CLAIM)
    server = any_stack.named(RC, "server")
    # The claim keeps its name, so it cannot exist beside its replacement: delete, then create.
    # The controller is not delete-before-replace itself (a new template rolls over), but the
    # engine deletes what lists a delete-before-replace resource in replace_with before it.
    assert claim.delete_before_replace and not server.delete_before_replace
    # Replaced whenever the claim is; the dependency orders the deletes (server first) and
    # the creates (claim first).
    assert server.replace_with == {claim.urn, any_stack.one(STORAGE_CLASS).urn}
    assert claim.urn in server.dependencies


def test_the_claim_keeps_its_urn_across_changes():
    """replace_with names the claim by URN: a config change must not rename the Pulumi resource."""
    before, after = run_program("devstack", False), run_program("devstack", False, {"claimName": "claim2"})
    assert _claim_and_server(before) == _claim_and_server(after)


def test_a_volume_mode_change_replaces_the_claim_though_the_provider_would_update_it():
    """pulumi-kubernetes v4.25 does not replace a claim for a new volumeMode (the API would refuse
    the update): replace_on_changes does."""
    before, after = run_program("devstack", False), run_program("devstack", False, {"volumeMode": "Filesystem"})
    claim = after.one(CLAIM)
    assert claim.replace_on_changes == ["spec.volumeMode"]
    assert claim.urn in replacements(before, after)


def test_a_new_volume_type_name_keeps_the_claim_and_the_load_balanced_path():
    before = run_program("devstack", False)
    after = run_program("devstack", False, {"volumeTypeName": "multiattach-type-2"})
    assert replacements(before, after) == {after.one(STORAGE_CLASS).urn, after.named(RC, "server").urn}
