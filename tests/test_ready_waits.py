"""The waits that replace pulumi-kubernetes' awaits for the Service and the ReplicationControllers:
their decisions (components/ready_checks.py), their loop, and where the program places them."""

from __future__ import annotations

from unittest import mock

import harness
import pytest
from harness import FAKE_EXTERNAL_IP, FAKE_LOAD_BALANCER_ID, run_program

from components.await_annotations import CREATED_WAIT
from components.ready_checks import (
    AttachEvent,
    AttachmentView,
    ControllerView,
    LoadBalancerView,
    PodView,
    ServiceView,
    Verdict,
    controller_verdict,
    service_verdict,
)
from components.ready_waits import ReadyWaitError, ReadyWaitProvider, StillUnknown, wait_until_ready

SERVICE = ServiceView("default", "lb-webserver", None, None)
WARNING = "Error syncing load balancer: failed to ensure load balancer: loadbalancer 42 has gone into ERROR state"


# --------------------------------------------------------------------------- load balancer

def test_octavia_error_fails_with_the_service_the_id_octavias_words_and_the_command():
    verdict = service_verdict(SERVICE, LoadBalancerView("42", "ERROR", "ERROR"), WARNING)
    assert not verdict.ready
    assert verdict.failure is not None
    for part in ("Service default/lb-webserver", "load balancer 42", "provisioning_status ERROR",
                 "operating_status ERROR", WARNING, "openstack loadbalancer status show 42"):
        assert part in verdict.failure


@pytest.mark.parametrize("status", ["PENDING_CREATE", "PENDING_UPDATE"])
def test_a_cloud_controller_retry_while_octavia_works_is_progress(status):
    retry = "Error syncing load balancer: failed to ensure load balancer: load balancer 42 is not ACTIVE"
    verdict = service_verdict(SERVICE, LoadBalancerView("42", status, "OFFLINE"), retry)
    assert verdict.failure is None and not verdict.ready
    assert status in verdict.progress and retry in verdict.progress


def test_ready_needs_both_the_address_and_active():
    active = LoadBalancerView("42", "ACTIVE", "ONLINE")
    assert not service_verdict(SERVICE, active, None).ready
    with_address = ServiceView("default", "lb-webserver", "172.24.4.10", "42")
    assert service_verdict(with_address, active, None).ready
    assert not service_verdict(with_address, None, None).ready
    assert not service_verdict(with_address, LoadBalancerView("42", "PENDING_UPDATE", "ONLINE"), None).ready




# --------------------------------------------------------------------------- Multi-Attach

CONTROLLER = ControllerView("devstack-single", "server-abc", replicas=2, available=0, generation=1,
                            observed_generation=1)
OWN = PodView("server-abc-x1", "uid-1", "worker2", ("claim1",), releasing=False)
MULTI_ATTACH = 'Multi-Attach error for volume "pvc-9" Volume is already used by pod(s) holder'
ATTACHED_ON_WORKER1 = [AttachmentView("pvc-9", "worker1", True)]


def verdict_with(holder_releasing: bool, message: str = MULTI_ATTACH,
                 attachments: list[AttachmentView] = ATTACHED_ON_WORKER1) -> Verdict:
    holder = PodView("holder", "uid-h", "worker1", ("claim1",), releasing=holder_releasing)
    return controller_verdict(CONTROLLER, [OWN], [AttachEvent("uid-1", message)], {"claim1": "pvc-9"},
                              attachments, [OWN, holder])


def test_multi_attach_held_by_a_running_pod_fails_naming_pod_volume_node_event_and_command():
    verdict = verdict_with(holder_releasing=False)
    assert verdict.failure is not None
    for part in ("server-abc-x1", "pvc-9", "node worker1", "holder", MULTI_ATTACH,
                 "kubectl describe pod server-abc-x1 -n devstack-single"):
        assert part in verdict.failure


def test_multi_attach_while_the_other_user_terminates_is_a_pod_moving():
    verdict = verdict_with(holder_releasing=True)
    assert verdict.failure is None and not verdict.ready
    assert "retried" in verdict.progress


def test_multi_attach_with_no_attachment_left_elsewhere_is_transient():
    assert verdict_with(holder_releasing=False, attachments=[AttachmentView("pvc-9", "worker1", False)]).failure is None


def test_a_refused_csi_attach_is_retried_not_failed():
    refused = ('AttachVolume.Attach failed for volume "pvc-9" : rpc error: code = Internal desc = '
               '[ControllerPublishVolume] Attach Volume failed with error ... 400')
    verdict = verdict_with(holder_releasing=False, message=refused)
    assert verdict.failure is None and refused in verdict.progress


def test_an_event_of_another_pod_or_an_old_pod_is_ignored():
    holder = PodView("holder", "uid-h", "worker1", ("claim1",), releasing=False)
    gone = PodView("server-abc-x0", "uid-0", "worker2", ("claim1",), releasing=True)
    verdict = controller_verdict(CONTROLLER, [OWN, gone], [AttachEvent("uid-0", MULTI_ATTACH),
                                                           AttachEvent("uid-other", MULTI_ATTACH)],
                                 {"claim1": "pvc-9"}, ATTACHED_ON_WORKER1, [OWN, gone, holder])
    assert verdict.failure is None


def test_available_means_all_replicas_of_the_current_spec():
    ready = ControllerView("ns", "rc", replicas=4, available=4, generation=2, observed_generation=2)
    stale = ControllerView("ns", "rc", replicas=4, available=4, generation=3, observed_generation=2)
    partial = ControllerView("ns", "rc", replicas=4, available=3, generation=2, observed_generation=2)
    assert controller_verdict(ready, [], [], {}, [], []).ready
    assert not controller_verdict(stale, [], [], {}, [], []).ready
    assert not controller_verdict(partial, [], [], {}, [], []).ready


# --------------------------------------------------------------------------- the loop

class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_the_loop_waits_through_progress_and_unknowns_until_ready():
    clock, lines = Clock(), []
    answers = iter([Verdict(progress="booting"), StillUnknown("Octavia answered 503"), Verdict(ready=True)])

    def check() -> Verdict:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    failed = []
    assert wait_until_ready("Service ns/lb", check, 60, log=lines.append, sleep=clock.sleep, clock=clock,
                            others_failed=lambda: False, on_failure=lambda: failed.append(1)).ready
    assert any("booting" in line for line in lines) and any("503" in line for line in lines)
    assert failed == []


def test_the_loop_fails_at_once_on_a_definitive_cause_and_tells_the_others():
    clock, failed = Clock(), []
    with pytest.raises(ReadyWaitError, match="it is broken"):
        wait_until_ready("x", lambda: Verdict(failure="it is broken"), 600, log=lambda _: None,
                         sleep=clock.sleep, clock=clock, others_failed=lambda: False,
                         on_failure=lambda: failed.append(1))
    assert clock.now == 0 and failed == [1]


def test_the_loop_stops_when_another_wait_failed_and_at_its_bound():
    clock = Clock()
    with pytest.raises(ReadyWaitError, match="another wait of this update failed"):
        wait_until_ready("x", lambda: Verdict(progress="p"), 600, log=lambda _: None, sleep=clock.sleep,
                         clock=clock, others_failed=lambda: True, on_failure=lambda: None)
    with pytest.raises(ReadyWaitError, match=r"not ready after 30s: 1/2 available"):
        wait_until_ready("x", lambda: Verdict(progress="1/2 available"), 30, log=lambda _: None,
                         sleep=clock.sleep, clock=clock, others_failed=lambda: False, on_failure=lambda: None)


def test_diff_replaces_on_identity_only_and_update_keeps_the_outputs():
    provider = ReadyWaitProvider()
    olds = {"kind": "Service", "namespace": "default", "name": "lb", "timeout_seconds": 1200,
            "external_ip": "172.24.4.10", "load_balancer_id": "42"}
    same = {**olds, "external_ip": None, "load_balancer_id": None}  # outputs arrive as undeclared inputs
    assert not provider.diff("id", olds, same).changes
    longer = provider.diff("id", olds, {**same, "timeout_seconds": 1800})
    assert longer.changes and longer.replaces == []
    assert provider.diff("id", olds, {**same, "name": "lb2"}).replaces == ["name"]
    outs = provider.update("id", olds, {**same, "timeout_seconds": 1800}).outs
    assert outs["external_ip"] == "172.24.4.10" and outs["load_balancer_id"] == "42"


# --------------------------------------------------------------------------- the program

LB_READY = "pulumi-python:dynamic/network:LoadBalancerReady"
RC_AVAILABLE = "pulumi-python:dynamic/workload:ControllerAvailable"


class WaitedMocks(harness.CloudMocks):
    """The waiter, not the Service, hands out the address (the Service is not waited for)."""

    def new_resource(self, args):
        resource_id, state = super().new_resource(args)
        if args.typ == "kubernetes:core/v1:Service":
            state.pop("status", None)
        if args.typ == LB_READY and not self.preview:
            state.update(external_ip=FAKE_EXTERNAL_IP, load_balancer_id=FAKE_LOAD_BALANCER_ID)
        return resource_id, state


@pytest.mark.parametrize("stack", ["devstack", "devstack-single"])
def test_each_waited_object_waits_only_to_exist_and_has_one_waiter_replaced_with_it(stack):
    with mock.patch.object(harness, "CloudMocks", WaitedMocks):
        run = run_program(stack, False)
    service = run.one("kubernetes:core/v1:Service")
    assert service.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == CREATED_WAIT
    waiter = run.one(LB_READY)
    assert service.urn in waiter.dependencies and waiter.replace_with == {service.urn}
    assert waiter.inputs["timeout_seconds"] == int(run.config["devstack-k8s-apps:loadBalancerTimeoutMinutes"]) * 60
    controllers = run.of_type("kubernetes:core/v1:ReplicationController")
    available = run.of_type(RC_AVAILABLE)
    assert len(controllers) == len(available) == 2
    for controller in controllers:
        assert controller.inputs["metadata"]["annotations"]["pulumi.com/waitFor"] == CREATED_WAIT
        (waits,) = [a for a in available if a.replace_with == {controller.urn}]
        assert controller.urn in waits.dependencies
        assert waits.inputs["name"] == controller.inputs["metadata"]["name"]
    assert run.outputs["externalIp"] == FAKE_EXTERNAL_IP
    assert run.outputs["loadBalancerId"] == FAKE_LOAD_BALANCER_ID
    assert run.outputs["url"].startswith(f"http://{FAKE_EXTERNAL_IP}:")


def test_the_waiters_inputs_are_known_in_a_preview():
    """Known inputs: a preview after `up` compares plain values, so it plans nothing."""
    run = run_program("devstack", True)
    for waiter in run.of_type(LB_READY) + run.of_type(RC_AVAILABLE):
        for key in ("kind", "namespace", "name", "timeout_seconds"):
            assert isinstance(waiter.inputs.get(key), (str, int, float)), (waiter.name, key, waiter.inputs.get(key))


def test_the_last_warning_is_the_cloud_controllers_not_another_controllers():
    from types import SimpleNamespace as Obj

    from components.ready_waits import last_warning

    def event(component: str, message: str, second: int) -> Obj:
        return Obj(source=Obj(component=component), reporting_component=component, message=message,
                   last_timestamp=second, event_time=None, metadata=Obj(creation_timestamp=second))

    listed = [event("service-controller", "Error syncing load balancer: retry", 1),
              event("endpoint-slice-controller", "Error updating Endpoint Slices", 2)]
    core = Obj(list_namespaced_event=lambda namespace, field_selector, **_: Obj(items=listed))
    assert last_warning(core, "default", "uid-1") == "Error syncing load balancer: retry"
    listed.pop(0)
    assert last_warning(core, "default", "uid-1") is None
