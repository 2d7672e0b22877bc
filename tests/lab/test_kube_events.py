"""lab/kube/events.py: the Event a recorder writes."""
from __future__ import annotations

from lab.kube.events import Recorder, event_body


def test_the_event_names_the_object_its_component_and_host():
    pod = {"apiVersion": "v1", "metadata": {"name": "web-1", "namespace": "apps", "uid": "u1", "resourceVersion": "7"}}
    body = event_body(pod, "Pod", "Warning", "FailedMount", "no", "kubelet", host="worker1", now="2026-01-01T00:00:00Z")
    assert body["metadata"]["namespace"] == "apps" and body["metadata"]["name"].startswith("web-1.")
    assert body["involvedObject"] == {"kind": "Pod", "name": "web-1", "namespace": "apps", "uid": "u1",
                                      "apiVersion": "v1", "resourceVersion": "7"}
    assert (body["type"], body["reason"], body["message"]) == ("Warning", "FailedMount", "no")
    assert body["source"] == {"component": "kubelet", "host": "worker1"}
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2026-01-01T00:00:00Z"


def test_a_cluster_scoped_object_gets_its_event_in_default_and_a_failing_api_is_not_fatal():
    written = []

    class Core:
        def create_namespaced_event(self, namespace, body, **_):
            written.append(namespace)
            raise OSError("API server down")

    Recorder(Core(), "csi").event({"metadata": {"name": "pvc-1"}}, "PersistentVolume", "Warning", "X", "y")
    assert written == ["default"]
