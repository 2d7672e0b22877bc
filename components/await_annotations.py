"""pulumi-kubernetes' per-object await annotation (4.18+), and what this program waits for with it.

`pulumi.com/waitFor` replaces the provider's built-in readiness check for that object.
"""

WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"


# The Service, the claim and the ReplicationControllers wait in pulumi-kubernetes only until they
# exist; components/ready_waits.py and components/claim_wait.py do the waiting and can fail early
# with the cause (the engine waits for every running step before it ends a failed update, so a
# provider await would hold `up` for its whole limit). Not `pulumi.com/skipAwait`: for a
# ReplicationController it also skips the wait on delete (pulumi-kubernetes pkg/metadata/overrides.go
# allowsSkipAwaitWithDelete), and a destroy or a rollover must still wait for the old controller to
# be gone. One way for all three.
CREATED_WAIT = "jsonpath={.metadata.uid}"
