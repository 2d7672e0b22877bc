"""The article's two apps on Kubernetes on Devstack, as one Pulumi graph.

Storage: Cinder volume type -> StorageClass -> claim -> `server` pods mounting it.
Load balancing: `lbserver` pods <- Service `lb-webserver` (Octavia), linked to nothing of
the storage path, so a storage failure cannot break it and Octavia boots meanwhile.

Only composition happens here: components declare the resources, and
components/settings.py checks the configuration before anything is registered.
"""

import pulumi
import pulumi_openstack as openstack

from components.load_balancer import LoadBalancedService, LoadBalancedServiceArgs
from components.settings import CONFIG_KEYS, LOAD_BALANCED_APP, STORAGE_APP, parse_settings
from components.storage import CinderStorage, CinderStorageArgs
from components.volume_type import MultiAttachVolumeType, MultiAttachVolumeTypeArgs
from components.webserver import CONTAINER_PORT, ClaimVolume, WebServer, WebServerArgs, pod_labels

config = pulumi.Config()
settings = parse_settings({key: config.get(key) for key in CONFIG_KEYS})

volume_type = None
if settings.multiattach:
    # Creating a volume type needs admin rights; nothing else uses these credentials.
    admin_openstack = openstack.Provider("openstack-admin", cloud=settings.admin_cloud)
    volume_type = MultiAttachVolumeType(
        "volume-type",
        MultiAttachVolumeTypeArgs(
            volume_type_name=settings.volume_type_name,
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
        namespace=settings.namespace,
        volume_size_gi=settings.volume_size_gi,
        multiattach=settings.multiattach,
        volume_mode=settings.volume_mode,
        volume_type_name=volume_type.volume_type_name if volume_type else None,
    ),
)


def web_server(app: str, replicas: int, claim: ClaimVolume | None = None,
               opts: pulumi.ResourceOptions | None = None) -> WebServer:
    """Both apps run the same nginx pods, in the same namespace, on the same nodes."""
    args = WebServerArgs(name=app, namespace=settings.namespace, replicas=replicas, image=settings.image,
                         schedule_on_control_plane=settings.schedule_on_control_plane, claim=claim)
    return WebServer(app, args, opts=opts)


server = web_server(
    STORAGE_APP,
    settings.server_replicas,
    ClaimVolume(storage.claim, storage.storage_class, claim_name=settings.claim_name,
                volume_mode=settings.volume_mode, multiattach=settings.multiattach),
    # Stacks made before the load-balancing app existed named this component "web".
    opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="web")]),
)
lbserver = web_server(LOAD_BALANCED_APP, settings.lbserver_replicas)

# Selects the pods by label, not through the workload's outputs: Octavia's load
# balancer boots while the pods start.
load_balancer = LoadBalancedService(
    "load-balancer",
    LoadBalancedServiceArgs(
        service_name=settings.service_name,
        namespace=settings.namespace,
        selector=pod_labels(LOAD_BALANCED_APP),
        service_port=settings.service_port,
        target_port=CONTAINER_PORT,
        load_balancer_timeout_minutes=settings.load_balancer_timeout_minutes,
        load_balancer_annotations=settings.load_balancer_annotations,
    ),
)

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
