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
