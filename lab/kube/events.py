"""core/v1 Events, like client-go's event recorder (no aggregation, no spam filter)."""
from __future__ import annotations

import logging
import socket
import uuid

from kubernetes import client

from lab.kube.client import meta, rfc3339

log = logging.getLogger("events")


def event_body(obj: dict, kind: str, event_type: str, reason: str, message: str, component: str,
               host: str | None = None, instance: str | None = None, now: str | None = None) -> dict:
    """The Event a recorder writes about ``obj`` (of ``kind``), in ``obj``'s namespace."""
    m = meta(obj)
    now = now or rfc3339()
    return {
        "metadata": {"name": f"{m['name']}.{uuid.uuid4().hex[:16]}", "namespace": m.get("namespace") or "default"},
        "involvedObject": {"kind": kind, "name": m["name"], "namespace": m.get("namespace"),
                           "uid": m.get("uid"), "apiVersion": obj.get("apiVersion") or "v1",
                           "resourceVersion": m.get("resourceVersion")},
        "type": event_type, "reason": reason, "message": message,
        "source": {"component": component, **({"host": host} if host else {})},
        "reportingComponent": component, "reportingInstance": instance or host or socket.gethostname(),
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }


class Recorder:
    def __init__(self, core: client.CoreV1Api, component: str, host: str | None = None):
        self.core, self.component, self.host = core, component, host

    def event(self, obj: dict, kind: str, event_type: str, reason: str, message: str) -> None:
        body = event_body(obj, kind, event_type, reason, message, self.component, self.host)
        try:
            self.core.create_namespaced_event(body["metadata"]["namespace"], body, _request_timeout=10)
        except Exception as error:  # noqa: BLE001 - an event is best effort
            log.debug("event %s on %s: %s", reason, meta(obj).get("name"), error)
