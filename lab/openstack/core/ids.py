"""Stable ids (uuid5 of a name, so a restart gives the same ids) and each service's timestamp format."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

_NAMESPACE = uuid.UUID("0b5f3a52-7d7e-4d0c-a3c4-5f7e3c1d2b90")


def hex_id(name: str) -> str:
    """Keystone-style id (32 hex digits) for `name`."""
    return uuid.uuid5(_NAMESPACE, name).hex


def stable_uuid(name: str) -> str:
    """A dashed UUID for `name`, as Cinder, Nova, Neutron and Octavia show ids."""
    return str(uuid.uuid5(_NAMESPACE, name))


def new_uuid() -> str:
    return str(uuid.uuid4())


def mac_for(some_uuid: str) -> str:
    """An OpenStack-looking MAC (fa:16:3e prefix) derived from an id."""
    return "fa:16:3e:" + ":".join(f"{byte:02x}" for byte in uuid.UUID(some_uuid).bytes[:3])


def now() -> datetime:
    return datetime.now(UTC)


def cinder_time(moment: datetime | None = None) -> str:
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%S.%f")


def zulu_time(moment: datetime | None = None) -> str:
    """Neutron's and Nova's format."""
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%SZ")


def octavia_time(moment: datetime | None = None) -> str:
    return (moment or now()).strftime("%Y-%m-%dT%H:%M:%S")
