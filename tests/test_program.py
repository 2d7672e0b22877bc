"""The whole graph of __main__.py, for every stack file, as preview and as update."""

from __future__ import annotations

import pytest
import yaml

from harness import FAKE_EXTERNAL_IP, PROJECT, PROJECT_DIR, STACKS, ProgramRun, run_program

VOLUME_TYPE = "openstack:blockstorage/volumeTypeV3:VolumeTypeV3"
OPENSTACK_PROVIDER = "pulumi:providers:openstack"
RELEASE_STEP = "pulumi-python:dynamic/openstack:VolumeTypeRelease"
CSI_DRIVER = "kubernetes:storage.k8s.io/v1:CSIDriver"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
REPLICATION_CONTROLLER = "kubernetes:core/v1:ReplicationController"
SERVICE = "kubernetes:core/v1:Service"

COMPONENTS = {
    "devstack-k8s-apps:openstack:MultiAttachVolumeType",
    "devstack-k8s-apps:storage:CinderStorage",
    "devstack-k8s-apps:workload:WebServer",
    "devstack-k8s-apps:network:LoadBalancedService",
}


def setting(run: ProgramRun, key: str):
    """The config value the run received, decoded from its engine string."""
    return yaml.safe_load(run.config[f"{PROJECT}:{key}"])


@pytest.fixture(scope="module", params=[(stack, preview) for stack in STACKS for preview in (True, False)],
                ids=lambda p: f"{p[0]}-{'preview' if p[1] else 'update'}")
def run(request) -> ProgramRun:
    stack, preview = request.param
    return run_program(stack, preview)


def test_both_scenarios_have_a_stack_file():
    assert {"devstack", "devstack-single"} <= set(STACKS)
    assert setting(run_program("devstack", True), "multiattach") is True
    assert setting(run_program("devstack-single", True), "multiattach") is False


def test_resource_set_follows_multiattach(run):
    types = sorted(r.type for r in run.registrations)
    expected = [CSI_DRIVER, STORAGE_CLASS, CLAIM, REPLICATION_CONTROLLER, SERVICE]
    expected_components = COMPONENTS
    if setting(run, "multiattach"):
        expected += [OPENSTACK_PROVIDER, VOLUME_TYPE, RELEASE_STEP]
    else:
        expected_components = COMPONENTS - {"devstack-k8s-apps:openstack:MultiAttachVolumeType"}
    assert types == sorted(expected + list(expected_components))


def test_every_resource_is_parented_to_its_component(run):
    component_urns = {r.urn for r in run.registrations if r.type in COMPONENTS}
    for registration in run.registrations:
        if registration.type in COMPONENTS:
            assert registration.parent.endswith(f"::{PROJECT}-{run.stack}"), registration.name
        else:
            assert registration.parent in component_urns, registration.name


def test_volume_type_is_multiattach_and_created_as_admin(run):
    if not setting(run, "multiattach"):
        assert not run.of_type(VOLUME_TYPE) and not run.of_type(OPENSTACK_PROVIDER) and not run.of_type(RELEASE_STEP)
        return
    volume_type = run.one(VOLUME_TYPE)
    assert volume_type.inputs["name"] == setting(run, "volumeTypeName")
    assert volume_type.inputs["extraSpecs"] == {"multiattach": "<is> True"}
    assert volume_type.inputs["isPublic"] is True
    provider = run.one(OPENSTACK_PROVIDER)
    assert volume_type.provider.startswith(provider.urn + "::")
    assert provider.inputs["cloud"] == setting(run, "adminCloud")
    # No password, token or application credential is passed: they stay in clouds.yaml.
    assert set(provider.inputs) <= {"cloud", "version"}


def test_storage_class_takes_its_provisioner_from_the_cluster_csi_driver(run):
    driver = run.one(CSI_DRIVER)
    assert driver.read_id == "cinder.csi.openstack.org"
    storage_class = run.one(STORAGE_CLASS)
    assert storage_class.inputs["provisioner"] == "cinder.csi.openstack.org"
    assert driver.urn in storage_class.property_dependencies["provisioner"]
    assert storage_class.inputs["metadata"]["name"] == setting(run, "storageClassName")
    assert storage_class.inputs["allowVolumeExpansion"] is True


def test_storage_class_names_the_volume_type_through_its_output(run):
    storage_class = run.one(STORAGE_CLASS)
    parameters = storage_class.inputs.get("parameters") or {}
    if setting(run, "multiattach"):
        volume_type = run.one(VOLUME_TYPE)
        release = run.one(RELEASE_STEP)
        assert parameters == {"type": volume_type.inputs["name"]}
        # type -> release step -> class, by value and by dependency
        assert release.inputs["volume_type_name"] == volume_type.inputs["name"]
        assert release.property_dependencies["volume_type_name"] == {volume_type.urn}
        assert release.property_dependencies["volume_type_id"] == {volume_type.urn}
        assert storage_class.property_dependencies["parameters"] == {release.urn}
    else:
        assert "type" not in parameters  # Cinder's default volume type


def test_release_step_waits_with_the_admin_cloud_and_configured_bound(run):
    if not setting(run, "multiattach"):
        pytest.skip("no volume type, hence no release step: see test_volume_type_is_multiattach_and_created_as_admin")
    release = run.one(RELEASE_STEP)
    assert release.inputs["cloud"] == setting(run, "adminCloud")
    assert release.inputs["timeout_seconds"] == 60 * setting(run, "volumeReleaseTimeoutMinutes")
    assert release.inputs["volume_type_id"] == run.one(VOLUME_TYPE).resource_id


def transitive_dependencies(run: ProgramRun, registration) -> set[str]:
    seen: set[str] = set()
    stack = [registration.urn]
    while stack:
        current = run.by_urn(stack.pop())
        direct = current.dependencies.union(*current.property_dependencies.values())
        for urn in direct - seen:
            seen.add(urn)
            stack.append(urn)
    return seen


def test_destroy_order(run):
    """The engine deletes a resource only after everything that depends on it."""
    chain = [REPLICATION_CONTROLLER, CLAIM, STORAGE_CLASS]
    if setting(run, "multiattach"):
        chain += [RELEASE_STEP, VOLUME_TYPE]
    for dependent, dependency in zip(chain, chain[1:]):
        assert run.one(dependency).urn in transitive_dependencies(run, run.one(dependent)), (dependent, dependency)
    service_dependencies = transitive_dependencies(run, run.one(SERVICE))
    assert not {run.one(kind).urn for kind in chain} & service_dependencies


def test_claim_uses_the_class_and_the_access_mode_of_the_scenario(run):
    storage_class = run.one(STORAGE_CLASS)
    claim = run.one(CLAIM)
    spec = claim.inputs["spec"]
    assert claim.inputs["metadata"] == {"name": setting(run, "claimName"), "namespace": setting(run, "namespace")}
    assert spec["storageClassName"] == storage_class.inputs["metadata"]["name"]
    assert storage_class.urn in claim.property_dependencies["spec"]
    assert spec["accessModes"] == (["ReadWriteMany"] if setting(run, "multiattach") else ["ReadWriteOnce"])
    assert spec["resources"]["requests"]["storage"] == f"{setting(run, 'volumeSizeGi')}Gi"


def test_pods_mount_the_claim_through_its_output(run):
    claim = run.one(CLAIM)
    controller = run.one(REPLICATION_CONTROLLER)
    spec = controller.inputs["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == setting(run, "replicas")
    assert controller.inputs["metadata"]["namespace"] == setting(run, "namespace")
    (volume,) = pod["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim.inputs["metadata"]["name"]
    assert claim.urn in controller.property_dependencies["spec"]
    (container,) = pod["containers"]
    assert container["volumeMounts"] == [{"name": volume["name"], "mountPath": "/var/lib/www/html"}]
    assert container["image"] == setting(run, "image")


def test_selector_matches_template_labels(run):
    spec = run.one(REPLICATION_CONTROLLER).inputs["spec"]
    assert spec["selector"] and spec["selector"] == spec["template"]["metadata"]["labels"]


def test_each_pod_serves_its_own_identity_from_the_downward_api(run):
    (container,) = run.one(REPLICATION_CONTROLLER).inputs["spec"]["template"]["spec"]["containers"]
    env = {item["name"]: item["valueFrom"]["fieldRef"]["fieldPath"] for item in container["env"]}
    assert env == {"POD_NAME": "metadata.name", "NODE_NAME": "spec.nodeName"}
    script = " ".join(container["command"] + container["args"])
    assert "Server %s on %s" in script and '"$POD_NAME" "$NODE_NAME"' in script
    assert "/usr/share/nginx/html/index.html" in script
    assert container["ports"] == [{"name": "http", "containerPort": 80, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/", "port": "http"}
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_placement_follows_the_scenario(run):
    pod = run.one(REPLICATION_CONTROLLER).inputs["spec"]["template"]["spec"]
    tolerations = {(t["key"], t["effect"]) for t in pod.get("tolerations", [])}
    if setting(run, "scheduleOnControlPlane"):
        assert tolerations == {
            ("node-role.kubernetes.io/control-plane", "NoSchedule"),
            ("node-role.kubernetes.io/master", "NoSchedule"),
        }
    else:
        assert tolerations == set()
    labels = run.one(REPLICATION_CONTROLLER).inputs["spec"]["template"]["metadata"]["labels"]
    if setting(run, "multiattach"):
        (spread,) = pod["topologySpreadConstraints"]
        assert spread["topologyKey"] == "kubernetes.io/hostname"
        assert spread["labelSelector"]["matchLabels"] == labels
        assert "affinity" not in pod
    else:
        # One node can attach a ReadWriteOnce volume: the pods stay together.
        (term,) = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert term == {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": labels}}
        assert "topologySpreadConstraints" not in pod


def test_service_balances_the_pods_without_waiting_for_storage(run):
    service = run.one(SERVICE)
    controller = run.one(REPLICATION_CONTROLLER)
    spec = service.inputs["spec"]
    assert service.inputs["metadata"]["name"] == setting(run, "serviceName")
    assert service.inputs["metadata"]["namespace"] == setting(run, "namespace")
    assert spec["type"] == "LoadBalancer"
    assert spec["selector"] == controller.inputs["spec"]["template"]["metadata"]["labels"]
    assert spec["ports"] == [{"name": "http", "port": setting(run, "servicePort"), "targetPort": 80, "protocol": "TCP"}]
    storage_chain = {r.urn for r in run.registrations if r.type in (VOLUME_TYPE, STORAGE_CLASS, CLAIM, REPLICATION_CONTROLLER)}
    all_dependencies = service.dependencies.union(*service.property_dependencies.values())
    assert not all_dependencies & storage_chain
    timeout = f"{setting(run, 'loadBalancerTimeoutMinutes')}m"
    assert service.custom_timeouts == {"create": timeout, "update": timeout}


def test_outputs(run):
    expected = {
        "storageClassName": setting(run, "storageClassName"),
        "claimName": setting(run, "claimName"),
        "serviceName": setting(run, "serviceName"),
        "replicas": setting(run, "replicas"),
    }
    if setting(run, "multiattach"):
        expected["volumeTypeName"] = setting(run, "volumeTypeName")
    if run.preview:
        # Octavia has not assigned an address yet.
        assert run.unknown_outputs == {"externalIp", "url"}
    else:
        expected["externalIp"] = FAKE_EXTERNAL_IP
        expected["url"] = f"http://{FAKE_EXTERNAL_IP}:{setting(run, 'servicePort')}/"
        assert run.unknown_outputs == set()
    assert run.outputs == expected


def test_annotations_and_port_reach_the_service():
    annotations = {
        "loadbalancer.openstack.org/floating-network-id": "8e1b5c47-6a8c-4f68-9a56-1c0f7f6d2b11",
        "loadbalancer.openstack.org/enable-health-monitor": "true",
    }
    run = run_program("devstack", False, {"loadBalancerAnnotations": annotations, "servicePort": 8080})
    service = run.one(SERVICE)
    assert service.inputs["metadata"]["annotations"] == annotations
    assert service.inputs["spec"]["ports"][0]["port"] == 8080
    assert run.outputs["url"] == f"http://{FAKE_EXTERNAL_IP}:8080/"


def test_stack_files_hold_no_plain_text_credentials():
    secret_words = ("password", "token", "secret", "credential", "apikey")
    for path in PROJECT_DIR.glob("Pulumi.*.yaml"):
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        for key, value in config.items():
            if any(word in key.lower() for word in secret_words):
                assert isinstance(value, dict) and "secure" in value, f"{path.name}: {key} is in plain text"
