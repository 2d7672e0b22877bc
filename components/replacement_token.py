"""A value that is unknown in a preview exactly when the object it marks is replaced: for the claim.

Why: pulumi-kubernetes 4.25 previews a create, and so the create half of a replacement, by a
server-side-apply dry run of the new object under its own name (provider/pkg/await/await.go,
Creation). A claim has a fixed name and is replaced delete-before-replace, so during the preview
the old claim still exists, the dry run becomes an update of it, and the API server refuses it:
`PersistentVolumeClaim "claim1" is invalid: spec: Forbidden: spec is immutable after creation`.
The provider retries under a made-up name only for the message "field is immutable", which claims
do not use, so `pulumi preview` (and `pulumi up`, which previews first) fails. The provider skips
the dry run when the new inputs hold an unknown value (provider/pkg/provider/provider.go, Create:
hasComputedValue).

A dynamic resource's provider does not support previews, so in a preview the engine hands back its
inputs as its state for a create (sdk/go/common/resource/plugin/provider_plugin.go, Create): an
output that is not an input (`token`) is unknown then, and known from the state when nothing
changed. This resource is keyed by the claim's immutable fields (replaced when one changes, like
the claim), and the claim carries `token` as an annotation: unknown exactly in the preview of a
replacement.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi.dynamic

TOKEN_ANNOTATION = "devstack-k8s-apps/immutable-spec"


def immutable_spec_key(name: str, access_mode: str, volume_mode: str, storage_class_name: str) -> str:
    """The claim's fields that cannot change in place, as one stable text. Not the namespace: a claim
    in another namespace has no old claim to meet in the dry run."""
    return "/".join((name, access_mode, volume_mode, storage_class_name))


class _TokenProvider(pulumi.dynamic.ResourceProvider):
    """No side effect anywhere: the token only lives in the stack's state."""

    def create(self, props: dict[str, Any]) -> pulumi.dynamic.CreateResult:
        return pulumi.dynamic.CreateResult(id_=props["key"], outs={"key": props["key"], "token": props["key"]})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> pulumi.dynamic.DiffResult:
        changed = olds.get("key") != news.get("key")
        return pulumi.dynamic.DiffResult(changes=changed, replaces=["key"] if changed else [],
                                         delete_before_replace=False)


class ReplacementToken(pulumi.dynamic.Resource, module="storage", name="ReplacementToken"):
    """`key` is the marked object's immutable fields (see immutable_spec_key); `token` is its output."""

    token: pulumi.Output[str]

    def __init__(self, resource_name: str, key: str, opts: pulumi.ResourceOptions | None = None):
        # `token: None` declares the output without giving it as an input.
        super().__init__(_TokenProvider(), resource_name, {"key": key, "token": None}, opts)
