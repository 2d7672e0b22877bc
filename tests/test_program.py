"""The whole graph of __main__.py, per stack file, as preview and as update."""

from __future__ import annotations

import yaml
from harness import (
    FAKE_EXTERNAL_IP,
    FAKE_LOAD_BALANCER_ID,
    ORGANIZATION,
    PROJECT,
    PROJECT_DIR,
    STACKS,
    ProgramRun,
    run_program,
)

VOLUME_TYPE = "openstack:blockstorage/volumeTypeV3:VolumeTypeV3"
OPENSTACK_PROVIDER = "pulumi:providers:openstack"
RELEASE_STEP = "pulumi-python:dynamic/openstack:VolumeTypeRelease"
CLAIM_TOKEN = "pulumi-python:dynamic/storage:ReplacementToken"
FLOATING_IP_SWEEP = "pulumi-python:dynamic/network:FloatingIpSweep"
LOAD_BALANCER_READY = "pulumi-python:dynamic/network:LoadBalancerReady"
CONTROLLER_AVAILABLE = "pulumi-python:dynamic/workload:ControllerAvailable"
CLAIM_RELEASE = "pulumi-python:dynamic/storage:ClaimRelease"
CLAIM_READY = "pulumi-python:dynamic/storage:ClaimReady"
CREATED_WAIT = "jsonpath={.metadata.uid}"
CSI_DRIVER = "kubernetes:storage.k8s.io/v1:CSIDriver"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
CLAIM = "kubernetes:core/v1:PersistentVolumeClaim"
RC = "kubernetes:core/v1:ReplicationController"
SERVICE = "kubernetes:core/v1:Service"
NAMESPACE = "kubernetes:core/v1:Namespace"
STACK_ANNOTATION = "devstack-k8s-apps/stack"

VOLUME_TYPE_COMPONENT = "devstack-k8s-apps:openstack:MultiAttachVolumeType"
STORAGE_COMPONENT = "devstack-k8s-apps:storage:CinderStorage"
WEB_COMPONENT = "devstack-k8s-apps:workload:WebServer"
LB_COMPONENT = "devstack-k8s-apps:network:LoadBalancedService"

CONTROL_PLANE_TOLERATIONS = [
    {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node-role.kubernetes.io/master", "operator": "Exists", "effect": "NoSchedule"},
]


def setting(run: ProgramRun, key: str):
    """The config value the run received, decoded from its engine string."""
    return yaml.safe_load(run.config[f"{PROJECT}:{key}"])


def server(run: ProgramRun):
    return run.named(RC, "server")


def lbserver(run: ProgramRun):
    return run.named(RC, "lbserver")


def pod_of(controller) -> dict:
    return controller.inputs["spec"]["template"]["spec"]


def all_dependencies(registration) -> set[str]:
    return registration.dependencies.union(*registration.property_dependencies.values())


def transitive_dependencies(run: ProgramRun, registration) -> set[str]:
    seen: set[str] = set()
    pending = [registration.urn]
    while pending:
        for urn in all_dependencies(run.by_urn(pending.pop())) - seen:
            seen.add(urn)
            pending.append(urn)
    return seen


# --- the stack files --------------------------------------------------------------------

def test_each_scenario_has_its_stack_file():
    assert {"devstack", "devstack-single"} <= set(STACKS)


def test_devstack_is_the_multiattach_block_scenario(devstack):
    assert setting(devstack, "multiattach") is True and setting(devstack, "volumeMode") == "Block"
    assert setting(devstack, "serverReplicas") == 8 and setting(devstack, "lbserverReplicas") == 8


def test_devstack_single_is_the_single_attach_filesystem_scenario(devstack_single):
    assert setting(devstack_single, "multiattach") is False
    assert setting(devstack_single, "volumeMode") == "Filesystem"
    assert setting(devstack_single, "serverReplicas") == 4 and setting(devstack_single, "lbserverReplicas") == 8


def test_stack_files_hold_no_plain_text_credentials():
    secret_words = ("password", "token", "secret", "credential", "apikey")
    for path in PROJECT_DIR.glob("Pulumi.*.yaml"):
        config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
        for key, value in config.items():
            if any(word in key.lower() for word in secret_words):
                assert isinstance(value, dict) and "secure" in value, f"{path.name}: {key} is in plain text"


# --- structure --------------------------------------------------------------------------

def test_devstack_resources(devstack):
    assert sorted(r.type for r in devstack.registrations) == sorted([
        OPENSTACK_PROVIDER, VOLUME_TYPE_COMPONENT, VOLUME_TYPE, RELEASE_STEP,
        STORAGE_COMPONENT, STORAGE_CLASS, CLAIM_TOKEN, CLAIM_RELEASE, CLAIM, CLAIM_READY,
        WEB_COMPONENT, RC, CONTROLLER_AVAILABLE, WEB_COMPONENT, RC, CONTROLLER_AVAILABLE,
        LB_COMPONENT, FLOATING_IP_SWEEP, SERVICE, LOAD_BALANCER_READY,
    ])


def test_devstack_single_has_no_volume_type(devstack_single):
    assert sorted(r.type for r in devstack_single.registrations) == sorted([
        NAMESPACE, STORAGE_COMPONENT, STORAGE_CLASS, CLAIM_TOKEN, CLAIM_RELEASE, CLAIM, CLAIM_READY,
        WEB_COMPONENT, RC, CONTROLLER_AVAILABLE, WEB_COMPONENT, RC, CONTROLLER_AVAILABLE,
        LB_COMPONENT, FLOATING_IP_SWEEP, SERVICE, LOAD_BALANCER_READY,
    ])


def test_children_are_parented_to_components_and_named_after_them(any_stack):
    components = {r.urn: r for r in any_stack.registrations if not r.custom}
    for registration in any_stack.registrations:
        if registration.type in (OPENSTACK_PROVIDER, NAMESPACE):
            continue  # made in __main__.py: the provider is passed to a component, the namespace shared
        parent = components.get(registration.parent)
        if registration.custom:
            assert parent is not None, registration.name
            assert registration.name.startswith(parent.name), (registration.name, parent.name)
        else:
            assert registration.parent.endswith(f"::{PROJECT}-{any_stack.stack}"), registration.name


# --- the volume type --------------------------------------------------------------------

def test_devstack_volume_type_is_multiattach_and_created_as_admin(devstack):
    volume_type = devstack.one(VOLUME_TYPE)
    assert volume_type.inputs["name"] == setting(devstack, "volumeTypeName")
    assert volume_type.inputs["extraSpecs"] == {"multiattach": "<is> True"}
    assert volume_type.inputs["isPublic"] is True
    provider = devstack.one(OPENSTACK_PROVIDER)
    assert volume_type.provider.startswith(provider.urn + "::")
    assert provider.parent.endswith(f"::{PROJECT}-devstack"), "the admin provider is made by __main__.py"
    assert provider.inputs["cloud"] == setting(devstack, "adminCloud")
    # No password, token or application credential is passed: they stay in clouds.yaml.
    assert set(provider.inputs) <= {"cloud", "version"}


def test_devstack_release_step_waits_with_the_admin_cloud_and_configured_bound(devstack):
    release = devstack.one(RELEASE_STEP)
    volume_type = devstack.one(VOLUME_TYPE)
    assert release.inputs["admin_cloud"] == setting(devstack, "adminCloud")
    assert release.inputs["timeout_seconds"] == 60 * setting(devstack, "volumeReleaseTimeoutMinutes")
    assert release.inputs["volume_type_id"] == volume_type.resource_id
    assert release.inputs["volume_type_name"] == volume_type.inputs["name"]
    assert release.property_dependencies["volume_type_name"] == {volume_type.urn}
    assert release.property_dependencies["volume_type_id"] == {volume_type.urn}


# --- storage ----------------------------------------------------------------------------

def test_storage_class_is_on_the_cinder_csi_driver_the_preflight_found(any_stack):
    # The preflight reads the driver (tests/test_ownership.py); no read step waits in the graph.
    assert not any_stack.of_type(CSI_DRIVER)
    storage_class = any_stack.one(STORAGE_CLASS)
    assert storage_class.inputs["provisioner"] == "cinder.csi.openstack.org"
    assert not storage_class.property_dependencies.get("provisioner")
    assert storage_class.inputs["metadata"]["name"] == setting(any_stack, "storageClassName")
    assert storage_class.inputs["allowVolumeExpansion"] is True


def test_devstack_storage_class_names_the_volume_type_through_the_release_step(devstack):
    storage_class = devstack.one(STORAGE_CLASS)
    assert storage_class.inputs["parameters"] == {"type": setting(devstack, "volumeTypeName")}
    assert storage_class.property_dependencies["parameters"] == {devstack.one(RELEASE_STEP).urn}


def test_devstack_single_storage_class_uses_cinders_default_type(devstack_single):
    assert "type" not in (devstack_single.one(STORAGE_CLASS).inputs.get("parameters") or {})


def test_claim_uses_the_class_through_its_output(any_stack):
    storage_class = any_stack.one(STORAGE_CLASS)
    claim = any_stack.one(CLAIM)
    metadata = claim.inputs["metadata"]
    assert {key: metadata[key] for key in ("name", "namespace")} == {"name": setting(any_stack, "claimName"),
                                                                     "namespace": setting(any_stack, "namespace")}
    # The claim waits only to exist; its wait waits for the capacity it asks for (a resize included).
    assert metadata["annotations"]["pulumi.com/waitFor"] == CREATED_WAIT
    ready = any_stack.one(CLAIM_READY)
    assert ready.inputs["size_gi"] == setting(any_stack, "volumeSizeGi")
    assert claim.urn in all_dependencies(ready)
    assert ready.urn in all_dependencies(server(any_stack)), "no pod asks for a claim before its wait"
    assert claim.inputs["spec"]["storageClassName"] == storage_class.inputs["metadata"]["name"]
    assert storage_class.urn in claim.property_dependencies["spec"]
    assert claim.inputs["spec"]["resources"]["requests"]["storage"] == f"{setting(any_stack, 'volumeSizeGi')}Gi"


def test_devstack_claim_is_a_read_write_many_raw_block_volume(devstack):
    spec = devstack.one(CLAIM).inputs["spec"]
    assert spec["accessModes"] == ["ReadWriteMany"] and spec["volumeMode"] == "Block"


def test_devstack_single_claim_is_a_read_write_once_filesystem(devstack_single):
    spec = devstack_single.one(CLAIM).inputs["spec"]
    assert spec["accessModes"] == ["ReadWriteOnce"] and spec["volumeMode"] == "Filesystem"


def test_destroy_order_of_the_storage_chain(any_stack):
    """The engine deletes a resource only after everything that depends on it."""
    chain = [server(any_stack), any_stack.one(CLAIM), any_stack.one(STORAGE_CLASS)]
    for dependent, dependency in zip(chain, chain[1:], strict=False):
        assert dependency.urn in transitive_dependencies(any_stack, dependent), (dependent.name, dependency.name)


def test_devstack_volume_type_goes_after_the_class_and_the_release_wait(devstack):
    class_dependencies = transitive_dependencies(devstack, devstack.one(STORAGE_CLASS))
    assert {devstack.one(RELEASE_STEP).urn, devstack.one(VOLUME_TYPE).urn} <= class_dependencies


# --- the storage app `server` -----------------------------------------------------------

def test_storage_pods_use_the_claim_and_come_after_it(any_stack):
    claim = any_stack.one(CLAIM)
    controller = server(any_stack)
    (volume,) = pod_of(controller)["volumes"]
    assert volume["persistentVolumeClaim"]["claimName"] == claim.inputs["metadata"]["name"]
    assert claim.urn in controller.dependencies
    assert controller.inputs["spec"]["replicas"] == setting(any_stack, "serverReplicas")
    assert controller.inputs["metadata"]["namespace"] == setting(any_stack, "namespace")


def test_devstack_storage_pods_get_a_raw_device_and_spread_over_every_node(devstack):
    pod = pod_of(server(devstack))
    (container,) = pod["containers"]
    assert container["volumeDevices"] == [{"name": pod["volumes"][0]["name"], "devicePath": "/dev/xvda"}]
    assert "volumeMounts" not in container
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"] == {"app": "server"}
    assert "affinity" not in pod
    assert pod["tolerations"] == CONTROL_PLANE_TOLERATIONS


def test_devstack_single_storage_pods_mount_the_filesystem_on_one_worker(devstack_single):
    pod = pod_of(server(devstack_single))
    (container,) = pod["containers"]
    assert container["volumeMounts"] == [{"name": pod["volumes"][0]["name"], "mountPath": "/var/lib/www/html"}]
    assert "volumeDevices" not in container
    # One node can attach a ReadWriteOnce volume: the pods stay together.
    (term,) = pod["affinity"]["podAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term == {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "server"}}}
    assert "topologySpreadConstraints" not in pod and "tolerations" not in pod


# --- the load-balancing app `lbserver` and its Service ----------------------------------

def test_lbserver_pods_have_no_volume_and_spread_over_the_nodes(any_stack):
    controller = lbserver(any_stack)
    pod = pod_of(controller)
    assert controller.inputs["spec"]["replicas"] == setting(any_stack, "lbserverReplicas")
    assert controller.inputs["spec"]["template"]["metadata"]["labels"]["app"] == "lbserver"
    assert "volumes" not in pod
    (container,) = pod["containers"]
    assert "volumeMounts" not in container and "volumeDevices" not in container
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["labelSelector"]["matchLabels"] == {"app": "lbserver"}


def test_devstack_opens_the_control_plane_to_both_apps(devstack):
    assert (pod_of(lbserver(devstack))["tolerations"] == pod_of(server(devstack))["tolerations"]
            == CONTROL_PLANE_TOLERATIONS)


def test_devstack_single_keeps_both_apps_off_the_control_plane(devstack_single):
    assert "tolerations" not in pod_of(lbserver(devstack_single))
    assert "tolerations" not in pod_of(server(devstack_single))


def test_every_pod_serves_its_own_identity_from_the_downward_api(any_stack):
    for controller in (server(any_stack), lbserver(any_stack)):
        spec = controller.inputs["spec"]
        assert spec["selector"] and spec["selector"] == spec["template"]["metadata"]["labels"]
        (container,) = pod_of(controller)["containers"]
        env = {item["name"]: item["valueFrom"]["fieldRef"]["fieldPath"] for item in container["env"]}
        assert env == {"POD_NAME": "metadata.name", "NODE_NAME": "spec.nodeName"}
        script = " ".join(container["command"] + container["args"])
        assert "Server %s on %s" in script and '"$POD_NAME" "$NODE_NAME"' in script
        assert "/usr/share/nginx/html/index.html" in script
        assert container["ports"] == [{"name": "http", "containerPort": 80, "protocol": "TCP"}]
        assert container["readinessProbe"]["httpGet"] == {"path": "/", "port": "http"}
        assert container["image"] == setting(any_stack, "image")


def test_service_balances_the_lbserver_pods(any_stack):
    service = any_stack.one(SERVICE)
    spec = service.inputs["spec"]
    assert service.inputs["metadata"]["name"] == setting(any_stack, "serviceName")
    assert service.inputs["metadata"]["namespace"] == setting(any_stack, "namespace")
    assert spec["type"] == "LoadBalancer" and spec["externalTrafficPolicy"] == "Cluster"
    template_labels = lbserver(any_stack).inputs["spec"]["template"]["metadata"]["labels"]
    # Every pod of the app, whichever template (controller) it comes from during a rollout.
    assert spec["selector"] == {"app": "lbserver"}
    assert template_labels == {"app": "lbserver", "pod-template-hash": template_labels["pod-template-hash"]}
    assert spec["ports"] == [{"name": "http", "port": setting(any_stack, "servicePort"), "targetPort": 80,
                              "protocol": "TCP"}]
    timeout = f"{setting(any_stack, 'loadBalancerTimeoutMinutes')}m"
    assert service.custom_timeouts == {"create": timeout, "update": timeout, "delete": timeout}


def test_load_balancing_path_has_no_link_to_storage(any_stack):
    storage = {r.urn for r in any_stack.registrations
               if r.type in (OPENSTACK_PROVIDER, VOLUME_TYPE, RELEASE_STEP, CSI_DRIVER, STORAGE_CLASS, CLAIM)}
    storage.add(server(any_stack).urn)
    for registration in (any_stack.one(SERVICE), lbserver(any_stack)):
        assert transitive_dependencies(any_stack, registration) & storage == set(), registration.name
        assert not registration.replace_with, registration.name


def test_annotations_and_port_reach_the_service():
    annotations = {
        "loadbalancer.openstack.org/floating-network-id": "8e1b5c47-6a8c-4f68-9a56-1c0f7f6d2b11",
        "loadbalancer.openstack.org/enable-health-monitor": True,
        "loadbalancer.openstack.org/health-monitor-max-retries": 3,
    }
    run = run_program("devstack", False, {"loadBalancerAnnotations": annotations, "servicePort": 8080})
    service = run.one(SERVICE)
    assert service.inputs["metadata"]["annotations"] == {
        "loadbalancer.openstack.org/floating-network-id": "8e1b5c47-6a8c-4f68-9a56-1c0f7f6d2b11",
        "loadbalancer.openstack.org/enable-health-monitor": "true",
        "loadbalancer.openstack.org/health-monitor-max-retries": "3",
        STACK_ANNOTATION: f"{ORGANIZATION}/{PROJECT}/devstack",
        "pulumi.com/patchForce": "true",
        "pulumi.com/waitFor": CREATED_WAIT,
    }
    assert service.inputs["spec"]["ports"][0]["port"] == 8080
    assert run.outputs["url"] == f"http://{FAKE_EXTERNAL_IP}:8080/"


# --- outputs ----------------------------------------------------------------------------

def expected_outputs(run: ProgramRun) -> dict:
    return {
        "storageClassName": setting(run, "storageClassName"),
        **({} if run.preview else {"claimName": setting(run, "claimName")}),
        "serviceName": setting(run, "serviceName"),
        "serverReplicas": setting(run, "serverReplicas"),
        "lbserverReplicas": setting(run, "lbserverReplicas"),
        "namespace": setting(run, "namespace"),
        "image": setting(run, "image"),
        "volumeSizeGi": setting(run, "volumeSizeGi"),
        **{f"{app}{key}": value for app in ("server", "lbserver")
           for key, value in controller_outputs(run.named(RC, app)).items()},
    }


def controller_outputs(controller) -> dict:
    labels = controller.inputs["spec"]["template"]["metadata"]["labels"]
    return {"Controller": controller.inputs["metadata"]["name"], "TemplateHash": labels["pod-template-hash"]}


def after_octavia(run: ProgramRun) -> dict:
    """In an update the load balancer's wait gives its address and id; in a preview both are
    unknown until that wait has run (components/ready_waits.py)."""
    if run.preview:
        # The claim's name too: its replacement token is unknown until it exists
        # (components/replacement_token.py).
        assert run.unknown_outputs == {"externalIp", "url", "loadBalancerId", "claimName"}
        return {}
    assert run.unknown_outputs == set()
    return {"externalIp": FAKE_EXTERNAL_IP, "url": f"http://{FAKE_EXTERNAL_IP}:{setting(run, 'servicePort')}/",
            "loadBalancerId": FAKE_LOAD_BALANCER_ID}


def test_devstack_outputs(devstack):
    expected = {**expected_outputs(devstack), "volumeTypeName": setting(devstack, "volumeTypeName")}
    assert devstack.outputs == {**expected, **after_octavia(devstack)}


def test_devstack_single_outputs_no_volume_type(devstack_single):
    assert devstack_single.outputs == {**expected_outputs(devstack_single), **after_octavia(devstack_single)}


def test_the_service_goes_before_its_floating_ip_sweep(any_stack):
    """The sweep's delete runs after the Service's, once the cloud controller has cleaned up."""
    sweep, service = any_stack.one(FLOATING_IP_SWEEP), any_stack.one(SERVICE)
    assert sweep.urn in service.dependencies
    namespace = setting(any_stack, "namespace")
    assert sweep.inputs["description"] == (f"Floating IP for Kubernetes external service {namespace}/"
                                           f"{setting(any_stack, 'serviceName')} from cluster kubernetes")
    assert sweep.inputs["admin_cloud"] == setting(any_stack, "adminCloud") and sweep.inputs["keep"] is False
    # A fixed name: replacing it (the repair of a load balancer deleted by hand) must delete it first.
    assert service.delete_before_replace


def test_the_claims_release_sits_between_its_class_and_the_claim(any_stack):
    """Destroy deletes the claim, waits for its PV and Cinder volume, then deletes the class."""
    release, claim = any_stack.one(CLAIM_RELEASE), any_stack.one(CLAIM)
    assert any_stack.one(STORAGE_CLASS).urn in release.dependencies
    assert release.urn in claim.dependencies


def test_the_cloud_controllers_cluster_name_reaches_the_sweep_and_the_load_balancers_wait():
    run = run_program("devstack", False, {"clusterName": "lab-east"})
    sweep, ready = run.one(FLOATING_IP_SWEEP), run.one(LOAD_BALANCER_READY)
    assert sweep.inputs["description"].endswith(" from cluster lab-east")
    assert ready.inputs["cluster_name"] == "lab-east"


def test_a_kept_floating_ip_is_not_swept():
    run = run_program("devstack", False, {"loadBalancerAnnotations": {"loadbalancer.openstack.org/keep-floatingip":
                                                                      "true"}})
    assert run.one(FLOATING_IP_SWEEP).inputs["keep"] is True
