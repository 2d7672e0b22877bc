"""Cinder volume type -> StorageClass -> claim -> nginx pods, and an Octavia LoadBalancer.

Only composition happens here: the components declare the resources, and
components/settings.py checks the configuration before anything is registered.
"""

import pulumi

from components.load_balancer import LoadBalancedService, LoadBalancedServiceArgs
from components.settings import CONFIG_KEYS, parse_settings
from components.storage import CinderStorage, CinderStorageArgs
from components.volume_type import MultiAttachVolumeType, MultiAttachVolumeTypeArgs
from components.webserver import CONTAINER_PORT, WebServer, WebServerArgs, pod_labels

WORKLOAD_NAME = "server"

config = pulumi.Config()
settings = parse_settings({key: config.get(key) for key in CONFIG_KEYS})

volume_type = (
    MultiAttachVolumeType(
        "volume-type",
        MultiAttachVolumeTypeArgs(
            name=settings.volume_type_name,
            admin_cloud=settings.admin_cloud,
            release_timeout_minutes=settings.volume_release_timeout_minutes,
        ),
    )
    if settings.multiattach
    else None
)

storage = CinderStorage(
    "storage",
    CinderStorageArgs(
        storage_class_name=settings.storage_class_name,
        claim_name=settings.claim_name,
        namespace=settings.namespace,
        size_gi=settings.volume_size_gi,
        multiattach=settings.multiattach,
        volume_type_name=volume_type.name if volume_type else None,
    ),
)

web = WebServer(
    "web",
    WebServerArgs(
        name=WORKLOAD_NAME,
        namespace=settings.namespace,
        replicas=settings.replicas,
        image=settings.image,
        claim_name=storage.claim_name,
        shared_volume=settings.multiattach,
        schedule_on_control_plane=settings.schedule_on_control_plane,
    ),
)

# Selects the pods by label, not through the workload's outputs: Octavia's load
# balancer boots while the volume is created and the pods start.
load_balancer = LoadBalancedService(
    "load-balancer",
    LoadBalancedServiceArgs(
        name=settings.service_name,
        namespace=settings.namespace,
        selector=pod_labels(WORKLOAD_NAME),
        port=settings.service_port,
        target_port=CONTAINER_PORT,
        timeout_minutes=settings.load_balancer_timeout_minutes,
        annotations=settings.load_balancer_annotations,
    ),
)

pulumi.export("externalIp", load_balancer.external_ip)
pulumi.export("url", load_balancer.url)
if volume_type:
    pulumi.export("volumeTypeName", volume_type.name)
pulumi.export("storageClassName", storage.storage_class_name)
pulumi.export("claimName", storage.claim_name)
pulumi.export("serviceName", load_balancer.name)
pulumi.export("replicas", settings.replicas)
