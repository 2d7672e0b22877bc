"""Container image references: pinned to a tag or digest, never a moving `latest`.

Standard library only: the policy pack (policy/) imports it too.
"""

from __future__ import annotations

import re

_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_IMAGE_DIGEST = re.compile(r"^[a-z0-9]+([+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}$")


def image_pin_problem(image: str) -> str | None:
    """Why `image` is not pinned to a tag or digest, or None when it is."""
    if not image or image != image.strip():
        return "is empty or has surrounding spaces"
    name, _, digest = image.partition("@")
    if digest:
        return None if _IMAGE_DIGEST.match(digest) else f"has a malformed digest {digest!r}"
    last_part = name.rsplit("/", 1)[-1]
    if ":" not in last_part:
        return "has no tag (an untagged image means latest)"
    tag = last_part.rsplit(":", 1)[1]
    if not _IMAGE_TAG.match(tag):
        return f"has a malformed tag {tag!r}"
    if tag == "latest":
        return "uses the moving tag latest"
    return None
