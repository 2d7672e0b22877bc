"""Drift after `pulumi up`, made by hand as a user would, one after the other on one deployed stack:
verify names each, and the README's repair restores what the stack owns.

(b) a controller scaled with kubectl, (c) the volume type's extra spec changed, (d) a pod deleted,
(a) the Octavia load balancer deleted: the cloud controller rebuilds nothing and leaves its
floating IP without a port; `pulumi up --replace <the Service>` rebuilds through the cloud
controller, and `destroy` sweeps the orphan floating IP.
"""
from __future__ import annotations

import time

import pytest
from conftest import converge, lab_pulumi
from kubernetes import client
from openstack.exceptions import BadRequestException
from test_deploy import cloud, kube, leftovers
from test_verify_lab import failing, lab_fault, verify

SERVICE_URN = ("urn:pulumi:devstack::devstack-k8s-apps::devstack-k8s-apps:network:LoadBalancedService$"
               "kubernetes:core/v1:Service::load-balancer")


def refresh_then_converge(project, env) -> dict:
    code, document, stderr = lab_pulumi(project, env, "refresh", "--stack", "devstack")
    assert code == 0, document.get("error") or stderr[-4000:]
    return converge(project, env, "devstack")["outputs"]


def test_each_drift_is_named_by_verify_and_repaired_as_the_readme_says(project, engine_env):
    core = client.CoreV1Api(kube(engine_env))
    try:
        outputs = converge(project, engine_env, "devstack")["outputs"]
        namespace = outputs["namespace"]
        code, document = verify(project, engine_env, "devstack")
        assert code == 0, failing(document)

        # (b) kubectl scale rc <lbserver controller> --replicas=3
        core.patch_namespaced_replication_controller(outputs["lbserverController"], namespace,
                                                     {"spec": {"replicas": 3}})
        time.sleep(2)
        code, document = verify(project, engine_env, "devstack")
        assert code == 1 and "kubernetes/replicas/lbserver" in failing(document), failing(document)
        refresh_then_converge(project, engine_env)
        rc = core.read_namespaced_replication_controller(outputs["lbserverController"], namespace)
        assert rc.spec.replicas == outputs["lbserverReplicas"]

        # (c) the type's extra spec changed. Cinder refuses any change to the specs of a type in use
        # (`openstack volume type set --property` answers 400 "Volume Type is currently in use"), so
        # the lab's fault hook plays an admin's change made behind the API; the repair meets the same
        # refusal while the claim's volume exists, and the drift touches no existing volume.
        conn = cloud(engine_env)
        volume_type = conn.block_storage.find_type(outputs["volumeTypeName"])
        with pytest.raises(BadRequestException, match="currently in use"):
            conn.block_storage.update_type_extra_specs(volume_type, multiattach="<is> False")
        lab_fault(conn, f"/lab/faults/types/{volume_type.id}/extra_specs", {"multiattach": "<is> False"})
        code, document = verify(project, engine_env, "devstack")
        assert code == 1 and "cinder/volume-type" in failing(document), failing(document)
        code, _, _ = lab_pulumi(project, engine_env, "refresh", "--stack", "devstack")
        assert code == 0
        code, planned, _ = lab_pulumi(project, engine_env, "preview", "--stack", "devstack")
        assert code == 0 and {s["name"] for s in planned["steps"] if s["op"] == "update"} == {"volume-type"}
        code, refused, _ = lab_pulumi(project, engine_env, "up", "--stack", "devstack")
        assert code != 0 and "Volume Type is currently in use" in refused["error"], refused["error"][-2000:]
        lab_fault(conn, f"/lab/faults/types/{volume_type.id}/extra_specs", {"multiattach": "<is> True"})
        refresh_then_converge(project, engine_env)

        # (d) kubectl delete pod <one lbserver pod>: its controller makes another, nothing else to do
        pod = core.list_namespaced_pod(namespace, label_selector="app=lbserver").items[0]
        core.delete_namespaced_pod(pod.metadata.name, namespace)
        deadline = time.monotonic() + 60
        while (code := verify(project, engine_env, "devstack")[0]) != 0 and time.monotonic() < deadline:
            time.sleep(2)
        assert code == 0

        # (a) openstack loadbalancer delete --cascade <id>
        conn.load_balancer.delete_load_balancer(outputs["loadBalancerId"], cascade=True)
        deadline = time.monotonic() + 60
        while conn.load_balancer.find_load_balancer(outputs["loadBalancerId"]) and time.monotonic() < deadline:
            time.sleep(1)
        code, document = verify(project, engine_env, "devstack")
        assert code == 1 and "octavia/load-balancer" in failing(document), failing(document)
        evidence = " ".join(c["evidence"] for c in document["checks"] if c["name"] == "load-balancer")
        assert outputs["loadBalancerId"] in evidence and "will not rebuild it" in evidence, evidence
        # A refresh sees nothing: the Service keeps its annotation and its stale ingress.
        code, refreshed, _ = lab_pulumi(project, engine_env, "refresh", "--stack", "devstack")
        assert code == 0
        code, planned, _ = lab_pulumi(project, engine_env, "preview", "--stack", "devstack")
        assert code == 0 and [s for s in planned["steps"] if s["op"] not in ("same", "read")] == []
        # The repair: replace the Service, so that the cloud controller builds a new load balancer.
        code, rebuilt, stderr = lab_pulumi(project, engine_env, "up", "--stack", "devstack", "--replace", SERVICE_URN)
        assert code == 0 and rebuilt["succeeded"], rebuilt.get("error") or stderr[-4000:]
        new = rebuilt["outputs"]
        replaced = [(st["op"], st["name"]) for st in rebuilt["steps"] if st["op"] not in ("same", "read")]
        assert new["loadBalancerId"] != outputs["loadBalancerId"], replaced
        code, document = verify(project, engine_env, "devstack")
        # The old floating IP is an orphan now: named, and only that.
        assert failing(document) == {"octavia/floating-ips"}, failing(document)
        orphan = outputs["externalIp"]
        assert orphan in " ".join(c["evidence"] for c in document["checks"] if c["name"] == "floating-ips")
    finally:
        code, destroyed, stderr = lab_pulumi(project, engine_env, "destroy", "--stack", "devstack")
    assert code == 0, destroyed.get("error") or stderr[-4000:]
    messages = " ".join(d["message"] for d in destroyed["diagnostics"])
    assert "left behind" in messages, messages[-2000:]
    assert leftovers(engine_env) == []  # right after destroy returns
