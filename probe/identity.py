"""The identity line each pod serves: `Server <pod-name> on <node-name>`."""

from __future__ import annotations

import re
from typing import NamedTuple

_IDENTITY = re.compile(r"^Server (?P<pod>\S+) on (?P<node>\S+)$", re.MULTILINE)


class Identity(NamedTuple):
    pod: str
    node: str


def parse_identity(body: str) -> Identity | None:
    """The first identity line of a response body, or None when it has none."""
    match = _IDENTITY.search(body)
    return Identity(match["pod"], match["node"]) if match else None
