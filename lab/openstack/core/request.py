"""The Request every handler gets, its body and microversion helpers."""
from __future__ import annotations

import re
from collections.abc import Callable

from lab.openstack.core.errors import ApiError, cinder_error

_TRUE_WORDS = ("1", "true", "yes", "on")


class Request:
    """One API call: method, path, query ({key: [values]}), headers, parsed JSON body; after
    authentication also the caller (user, project_id, roles)."""

    def __init__(self, method: str, path: str, query: dict[str, list[str]], headers, body):
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body
        self.user: dict | None = None
        self.project_id: str | None = None
        self.roles: list[str] = []
        self.response_headers: dict[str, str] = {}

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def query_value(self, key: str, default=None):
        """The last value given for `key` (as the services' WSGI layers read it)."""
        values = self.query.get(key)
        return values[-1] if values else default

    def flag(self, key: str) -> bool:
        return str(self.query_value(key, "")).lower() in _TRUE_WORDS


def parse_microversion(raw: str | None, minimum: tuple[int, int], maximum: tuple[int, int]) -> tuple[int, int]:
    """A requested microversion ("3.60", "latest", None) within [minimum, maximum]: None means the
    minimum (the services' default); out of range is 406, garbage 400 (as oslo's API versioning)."""
    if not raw:
        return minimum
    if raw.strip().lower() == "latest":
        return maximum
    match = re.fullmatch(r"(\d+)\.(\d+)", raw.strip())
    if not match:
        raise ApiError(400, {"badRequest": {"code": 400, "message": f"Invalid API version request {raw!r}"}})
    version = (int(match.group(1)), int(match.group(2)))
    if not minimum <= version <= maximum:
        raise ApiError(406, {"computeFault": {"code": 406, "message":
                             f"Version {raw} is not supported by the API. Minimum is "
                             f"{minimum[0]}.{minimum[1]} and maximum is {maximum[0]}.{maximum[1]}."}})
    return version


def requested_microversion(headers, service: str, legacy_header: str | None) -> str | None:
    """The raw version asked in `OpenStack-API-Version: <service> X.Y` (or a legacy header)."""
    header = headers.get("OpenStack-API-Version")
    raw = None
    if header:
        for part in header.split(","):
            name, _, value = part.strip().partition(" ")
            if name.lower() == service:
                raw = value.strip()
    if raw is None and legacy_header:
        raw = headers.get(legacy_header)
    return raw


def json_body(req: Request, key: str | None, error: Callable[..., ApiError] = cinder_error) -> dict:
    """The body (or its `key` object); 400 in the service's shape when it is missing."""
    if not isinstance(req.body, dict):
        raise error(400, "Malformed request body")
    if key is None:
        return req.body
    value = req.body.get(key)
    if not isinstance(value, dict):
        raise error(400, f"Missing required element '{key}' in request body.")
    return value


def parse_bool(value) -> bool | None:
    """oslo's strict boolean words (Cinder's parameter_types.boolean); None when not one."""
    if isinstance(value, bool):
        return value
    words = {"true": True, "1": True, "yes": True, "on": True, "y": True, "t": True,
             "false": False, "0": False, "no": False, "off": False, "n": False, "f": False}
    return words.get(str(value).strip().lower())
