"""Errors in the shape each real service answers them (status code and JSON body)."""
from __future__ import annotations


class ApiError(Exception):
    """An HTTP error answer: status, JSON body, extra headers."""

    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


# Nova's and Cinder's fault bodies: {"<kind>": {"code": .., "message": ..}}
_FAULT_KINDS = {400: "badRequest", 403: "forbidden", 404: "itemNotFound", 406: "computeFault",
                409: "conflictingRequest", 413: "overLimit", 500: "computeFault", 501: "notImplemented"}
_NEUTRON_TYPES = {400: "BadRequest", 403: "Forbidden", 404: "NotFound", 409: "Conflict"}


def cinder_error(status: int, message: str) -> ApiError:
    """Cinder and Nova share one fault shape (both from nova's old wsgi fault wrapper)."""
    return ApiError(status, {_FAULT_KINDS.get(status, "computeFault"): {"code": status, "message": message}})


nova_error = cinder_error


def neutron_error(status: int, message: str, kind: str | None = None) -> ApiError:
    return ApiError(status, {"NeutronError": {"type": kind or _NEUTRON_TYPES.get(status, "NeutronError"),
                                              "message": message, "detail": ""}})


def octavia_error(status: int, message: str) -> ApiError:
    return ApiError(status, {"faultcode": "Client" if status < 500 else "Server",
                             "faultstring": message, "debuginfo": None})


def keystone_error(status: int, message: str, title: str) -> ApiError:
    return ApiError(status, {"error": {"code": status, "message": message, "title": title}})


def unauthenticated(identity_url: str) -> ApiError:
    """Any service's 401 without a valid token (keystonemiddleware's answer)."""
    return ApiError(401, {"error": {"code": 401, "title": "Unauthorized",
                                    "message": "The request you have made requires authentication."}},
                    {"WWW-Authenticate": f'Keystone uri="{identity_url}"'})
