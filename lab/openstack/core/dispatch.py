"""The dispatcher: route tables (data) -> handler(req, *path groups) -> (status, body)."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from lab.openstack.core.errors import ApiError, cinder_error, unauthenticated
from lab.openstack.core.request import Request

Handler = Callable[..., tuple[int, object]]


@dataclass(frozen=True)
class Route:
    """One entry of a service's urls.py: `pattern` is a regex of the whole path (groups become
    the handler's arguments); `handler` names a method of the service's responses object."""

    method: str
    pattern: str
    handler: str
    auth: bool = True


@dataclass(frozen=True)
class _Bound:
    method: str
    regex: re.Pattern
    handler: Handler
    auth: bool
    error: Callable[..., ApiError]


class Dispatcher:
    """Matches a request against every service's routes; authenticates through `token_info`."""

    def __init__(self, token_info: Callable[[str | None], dict | None], identity_url: str):
        self._token_info = token_info
        self._identity_url = identity_url
        self._routes: list[_Bound] = []

    def add_table(self, routes: list[Route], responses: object,
                  error: Callable[..., ApiError] = cinder_error) -> None:
        for route in routes:
            self._routes.append(_Bound(route.method, re.compile(route.pattern + r"$"),
                                       getattr(responses, route.handler), route.auth, error))

    def dispatch(self, req: Request) -> tuple[int, object]:
        path = req.path.rstrip("/") if len(req.path) > 1 else req.path
        path_known = False
        for route in self._routes:
            match = route.regex.match(path)
            if not match:
                continue
            path_known = True
            if route.method != req.method:
                continue
            if route.auth:
                info = self._token_info(req.headers.get("X-Auth-Token"))
                if info is None:
                    raise unauthenticated(self._identity_url)
                req.user, req.project_id, req.roles = info, info["project_id"], info["roles"]
            return route.handler(req, *match.groups())
        if path_known:
            raise ApiError(405, {"error": {"code": 405, "message": "The method is not allowed for the requested URL."}})
        raise ApiError(404, {"error": {"code": 404, "title": "Not Found",
                                       "message": f"The resource could not be found: {req.method} {req.path}"}})
