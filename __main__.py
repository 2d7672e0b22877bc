"""The article's two apps on Kubernetes on Devstack, as one Pulumi graph.

Storage: Cinder volume type -> StorageClass -> claim -> `server` pods mounting it.
Load balancing: `lbserver` pods <- Service `lb-webserver` (Octavia), linked to nothing of
the storage path, so a storage failure cannot break it and Octavia boots meanwhile.

Only composition happens here: components declare the resources; before anything is registered,
components/settings.py checks the configuration and components/ownership.py what the cluster and
the cloud already hold under this stack's names (another stack's objects, a smaller volume).
"""

import pulumi
import pulumi_kubernetes as k8s
import pulumi_openstack as openstack

from components import live_state
from components.load_balancer import LoadBalancedService, LoadBalancedServiceArgs
from components.ownership import PreflightError, ownership_annotations, plan_of, preflight, stack_identity
from components.settings import CONFIG_KEYS, LOAD_BALANCED_APP, STORAGE_APP, SettingsError, parse_settings
from components.storage import CinderStorage, CinderStorageArgs
from components.volume_type import MultiAttachVolumeType, MultiAttachVolumeTypeArgs
from components.webserver import CONTAINER_PORT, ClaimVolume, WebServer, WebServerArgs, pod_labels

config = pulumi.Config()
try:
    settings = parse_settings({key: config.get(key) for key in CONFIG_KEYS})
except SettingsError as error:
    raise pulumi.RunError(str(error)) from None  # the message says it all: no traceback

identity = stack_identity(pulumi.get_organization(), pulumi.get_project(), pulumi.get_stack())
plan = plan_of(settings, identity, apps=(STORAGE_APP, LOAD_BALANCED_APP))
kubernetes_config = pulumi.Config("kubernetes")
try:
    findings = preflight(plan, live_state.read_live(plan, kubernetes_config.get("kubeconfig"),
                                                    kubernetes_config.get("context"), settings.admin_cloud))
except live_state.LiveStateError as error:
    raise pulumi.RunError(f"cannot check what this stack's names would meet, nothing was changed: {error}") from None
for warning in findings.warnings:
    pulumi.log.warn(warning)
if findings.problems:
    raise pulumi.RunError(str(PreflightError(findings.problems)))
owned = ownership_annotations(identity)

namespace = settings.namespace
if settings.create_namespace:
    namespace_object = k8s.core.v1.Namespace("namespace", metadata={"name": settings.namespace, "annotations": owned})
    # Namespaced objects take the name from the namespace's output: created after it, deleted before it.
    namespace = namespace_object.metadata.apply(lambda metadata: metadata.name)

# Declared first: Octavia's boot is the longest wait of the graph, so the Service's steps are the
# first the engine gets. It selects the pods by label, not through the workload's
# outputs, so the load balancer boots while the pods start.
load_balancer = LoadBalancedService(
    "load-balancer",
    LoadBalancedServiceArgs(
        service_name=settings.service_name,
        namespace=namespace,
        annotations=owned,
        selector=pod_labels(LOAD_BALANCED_APP),
        service_port=settings.service_port,
        target_port=CONTAINER_PORT,
        load_balancer_timeout_minutes=settings.load_balancer_timeout_minutes,
        admin_cloud=settings.admin_cloud,
        cluster_name=settings.cluster_name,
        load_balancer_annotations=settings.load_balancer_annotations,
    ),
)

volume_type = None
if settings.multiattach:
    # Creating a volume type needs admin rights; nothing else uses these credentials.
    admin_openstack = openstack.Provider("openstack-admin", cloud=settings.admin_cloud)
    volume_type = MultiAttachVolumeType(
        "volume-type",
        MultiAttachVolumeTypeArgs(
            volume_type_name=settings.volume_type_name,
            owner=identity,
            admin_cloud=settings.admin_cloud,
            volume_release_timeout_minutes=settings.volume_release_timeout_minutes,
        ),
        opts=pulumi.ResourceOptions(providers={"openstack": admin_openstack}),
    )

storage = CinderStorage(
    "storage",
    CinderStorageArgs(
        storage_class_name=settings.storage_class_name,
        claim_name=settings.claim_name,
        namespace=namespace,
        annotations=owned,
        volume_size_gi=settings.volume_size_gi,
        multiattach=settings.multiattach,
        volume_mode=settings.volume_mode,
        volume_type_name=volume_type.volume_type_name if volume_type else None,
        admin_cloud=settings.admin_cloud,
        volume_release_timeout_minutes=settings.volume_release_timeout_minutes,
    ),
)


def web_server(app: str, replicas: int, claim: ClaimVolume | None = None,
               opts: pulumi.ResourceOptions | None = None) -> WebServer:
    """Both apps run the same nginx pods, in the same namespace, on the same nodes."""
    args = WebServerArgs(name=app, namespace=namespace, replicas=replicas, image=settings.image,
                         schedule_on_control_plane=settings.schedule_on_control_plane, claim=claim,
                         annotations=owned)
    return WebServer(app, args, opts=opts)


server = web_server(
    STORAGE_APP,
    settings.server_replicas,
    ClaimVolume(storage.claim, storage.storage_class, claim_name=settings.claim_name,
                volume_mode=settings.volume_mode, multiattach=settings.multiattach, ready=storage.ready),
    # Stacks made before the load-balancing app existed named this component "web".
    opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="web")]),
)
lbserver = web_server(LOAD_BALANCED_APP, settings.lbserver_replicas)

pulumi.export("externalIp", load_balancer.external_ip)
pulumi.export("url", load_balancer.url)
pulumi.export("loadBalancerId", load_balancer.load_balancer_id)
if volume_type:
    pulumi.export("volumeTypeName", volume_type.volume_type_name)
pulumi.export("storageClassName", storage.storage_class_name)
pulumi.export("claimName", storage.claim_name)
pulumi.export("serviceName", load_balancer.service_name)
pulumi.export("namespace", settings.namespace)
pulumi.export("image", settings.image)
pulumi.export("volumeSizeGi", settings.volume_size_gi)
pulumi.export("serverReplicas", settings.server_replicas)
pulumi.export("lbserverReplicas", settings.lbserver_replicas)
# What verify compares the running pods with: each app's controller and the template it runs.
pulumi.export("serverController", server.name)
pulumi.export("lbserverController", lbserver.name)
pulumi.export("serverTemplateHash", server.template_hash)
pulumi.export("lbserverTemplateHash", lbserver.template_hash)
