"""lab/kubelet.py: the volume admission of a pod (volumeMode rules, bound claims, attachments)
and the FailedMount messages, as plain functions."""
from __future__ import annotations

from lab import kubelet


def pod(*, mounts=(), devices=()) -> dict:
    container = {"name": "nginx", "image": "nginx"}
    if mounts:
        container["volumeMounts"] = [{"name": n, "mountPath": f"/{n}"} for n in mounts]
    if devices:
        container["volumeDevices"] = [{"name": n, "devicePath": f"/dev/{n}"} for n in devices]
    return {"metadata": {"name": "server-1", "namespace": "default", "uid": "p1"},
            "spec": {"nodeName": "worker1", "containers": [container],
                     "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "claim1"}}]}}


CLAIMS = {"default/claim1": {"spec": {"volumeName": "pvc-1"}, "status": {"phase": "Bound"}}}


def pvs(mode: str) -> dict:
    return {"pvc-1": {"metadata": {"name": "pvc-1"},
                      "spec": {"volumeMode": mode, "csi": {"driver": "cinder.csi.openstack.org", "volumeHandle": "v"}}}}


def admit(p, claims=CLAIMS, volumes=None, attached=True):
    return kubelet.admit_volumes(p, claims, volumes if volumes is not None else pvs("Filesystem"),
                                 lambda pv: True, lambda pv_name, node: attached)


def test_mounts_on_a_filesystem_pv_and_devices_on_a_block_pv_are_admitted():
    assert admit(pod(mounts=["data"])).ready
    assert admit(pod(devices=["data"]), volumes=pvs("Block")).ready


def test_volume_devices_on_a_filesystem_pv_are_refused_like_the_kubelet():
    admission = admit(pod(devices=["data"]))
    assert not admission.ready
    assert admission.errors == ("volume data has volumeMode Filesystem, but is specified in volumeDevices",)
    assert kubelet.failed_mount_message(admission) == (
        "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[], failed to "
        "process volumes=[data]: volume data has volumeMode Filesystem, but is specified in volumeDevices")


def test_volume_mounts_on_a_block_pv_are_refused():
    admission = admit(pod(mounts=["data"]), volumes=pvs("Block"))
    assert not admission.ready
    assert admission.errors == ("volume data has volumeMode Block, but is specified in volumeMounts",)


def test_a_pv_without_volume_mode_is_filesystem():
    volumes = pvs("Filesystem")
    del volumes["pvc-1"]["spec"]["volumeMode"]
    assert admit(pod(mounts=["data"]), volumes=volumes).ready
    assert not admit(pod(devices=["data"]), volumes=volumes).ready


def test_an_unbound_claim_or_a_missing_attachment_waits_without_an_error():
    pending = {"default/claim1": {"spec": {}, "status": {"phase": "Pending"}}}
    waiting = admit(pod(mounts=["data"]), claims=pending, volumes={})
    assert not waiting.ready and not waiting.errors and waiting.unmounted == ("data",)
    unattached = admit(pod(mounts=["data"]), attached=False)
    assert not unattached.ready and unattached.unattached == ("data",)
    assert kubelet.failed_mount_message(unattached).endswith(
        "unmounted volumes=[data], unattached volumes=[data]: timed out waiting for the condition")


def test_a_pod_without_claims_is_ready_and_generic_ephemeral_claims_are_named_after_the_pod():
    bare = {"metadata": {"name": "p", "namespace": "default"}, "spec": {"nodeName": "worker1", "containers": []}}
    assert admit(bare).ready
    ephemeral = pod(mounts=["scratch"])
    ephemeral["spec"]["volumes"] = [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {}}}]
    assert kubelet.claim_volumes(ephemeral) == [("scratch", "server-1-scratch")]


def test_init_containers_count_for_the_mode_check():
    p = pod(mounts=["data"])
    p["spec"]["initContainers"] = [{"name": "init", "volumeDevices": [{"name": "data", "devicePath": "/dev/x"}]}]
    assert kubelet.volume_mode_errors(p, {"data": "Filesystem"}) == [
        "volume data has volumeMode Filesystem, but is specified in volumeDevices"]


def test_container_ports_always_include_http():
    p = pod()
    p["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}, {"containerPort": 53, "protocol": "UDP"}]
    assert kubelet.container_ports(p) == [80, 8080]


def test_only_claims_not_mounted_read_only_are_grown_online():
    p = pod(mounts=["data"])
    assert kubelet.expandable_claims(p) == [("data", "claim1")]
    p["spec"]["volumes"][0]["persistentVolumeClaim"]["readOnly"] = True
    assert kubelet.expandable_claims(p) == []


# ---- termination: how long a deleted pod keeps serving

def serving(pre_stop=None, *, grace=None, deletion_grace=None, containers=1) -> dict:
    """A pod with ``containers`` nginx containers, each with the preStop hook ``pre_stop``."""
    container = {"name": "nginx", "image": "nginx"}
    if pre_stop is not None:
        container["lifecycle"] = {"preStop": pre_stop}
    spec = {"nodeName": "worker1", "containers": [{**container, "name": f"c{i}"} for i in range(containers)]}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    metadata = {"name": "lbserver-1", "namespace": "default", "uid": "p1"}
    if deletion_grace is not None:
        metadata.update(deletionTimestamp="2026-12-02T00:00:00Z", deletionGracePeriodSeconds=deletion_grace)
    return {"metadata": metadata, "spec": spec}


def test_a_sleep_pre_stop_hook_keeps_the_pod_serving_for_its_seconds():
    assert kubelet.serving_seconds(serving({"sleep": {"seconds": 5}}, deletion_grace=30)) == 5


def test_without_a_hook_the_pod_stops_at_once():
    assert kubelet.serving_seconds(serving(deletion_grace=30)) == 0
    assert kubelet.serving_seconds(serving({"httpGet": {"path": "/drain", "port": 80}}, deletion_grace=30)) == 0


def test_the_hook_is_cut_at_the_deletion_grace_period():
    assert kubelet.serving_seconds(serving({"sleep": {"seconds": 40}}, deletion_grace=30)) == 30
    assert kubelet.serving_seconds(serving({"sleep": {"seconds": 40}}, grace=30, deletion_grace=3)) == 3


def test_the_grace_period_defaults_to_the_pods_then_to_30_seconds():
    assert kubelet.grace_period(serving(grace=12)) == 12
    assert kubelet.grace_period(serving()) == 30
    assert kubelet.serving_seconds(serving({"sleep": {"seconds": 45}}, grace=8)) == 8


def test_a_grace_period_of_zero_still_gets_the_kubelets_one_second():
    pod = serving({"sleep": {"seconds": 5}}, deletion_grace=0)
    assert kubelet.grace_period(pod) == 1
    assert kubelet.serving_seconds(pod) == 1
    gone = kubelet.force_deleted(serving({"sleep": {"seconds": 5}}))
    assert gone["metadata"]["deletionGracePeriodSeconds"] == 0
    assert kubelet.serving_seconds(gone) == 1


def test_an_exec_hook_counts_only_as_a_sleep():
    assert kubelet.serving_seconds(serving({"exec": {"command": ["sleep", "7"]}}, deletion_grace=30)) == 7
    assert kubelet.serving_seconds(serving({"exec": {"command": ["/bin/sh", "-c", "sleep 4"]}}, deletion_grace=30)) == 4
    assert kubelet.serving_seconds(serving({"exec": {"command": ["nginx", "-s", "quit"]}}, deletion_grace=30)) == 0
    assert kubelet.serving_seconds(serving({"exec": {"command": ["sleep", "forever"]}}, deletion_grace=30)) == 0


def test_containers_stop_in_parallel_so_the_longest_hook_counts():
    pod = serving(deletion_grace=30, containers=2)
    pod["spec"]["containers"][1]["lifecycle"] = {"preStop": {"sleep": {"seconds": 6}}}
    assert kubelet.serving_seconds(pod) == 6


def test_a_kill_keeps_its_start_unless_the_grace_period_shrinks():
    first = kubelet.termination(None, serving({"sleep": {"seconds": 5}}, deletion_grace=30), now=100.0)
    assert (first.since, first.grace, first.stop_at) == (100.0, 30, 105.0)
    same = kubelet.termination(first, serving({"sleep": {"seconds": 5}}, deletion_grace=30), now=102.0)
    assert same is first
    # A second delete with a shorter grace period cancels the kill and starts it again.
    shorter = kubelet.termination(first, serving({"sleep": {"seconds": 5}}, deletion_grace=2), now=103.0)
    assert (shorter.since, shorter.grace, shorter.stop_at) == (103.0, 2, 105.0)
