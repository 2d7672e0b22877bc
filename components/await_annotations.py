"""pulumi-kubernetes' per-object await annotation (4.18+), and what this program waits for with it.

`pulumi.com/waitFor` replaces the provider's built-in readiness check for that object.
"""

WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"


def claim_capacity_wait(volume_size_gi: int) -> str:
    """Bound, with the capacity it asks for: a resize (the resizer sets the capacity last) is done too."""
    return f"jsonpath={{.status.capacity.storage}}={volume_size_gi}Gi"


# The built-in Service check also waits for a (deprecated, v1) Endpoints object with ready addresses,
# which the ReplicationControllers' own await already covers through the pods' readiness; what the
# Service itself adds is Octavia's address.
LOAD_BALANCER_INGRESS_WAIT = "jsonpath={.status.loadBalancer.ingress[0]}"
