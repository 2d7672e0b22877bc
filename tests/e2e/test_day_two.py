"""Day two through the user's sequence (preview, up, preview that plans nothing): a new pod template
rolls over with the load balancer answering throughout, and so does a replica change, which keeps the
placement rules.

One deployed stack serves several steps in order, to stay inside CI's time.
"""
from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from conftest import config_set, converge, lab_pulumi, planned_changes
from kubernetes import client, config

from probe.check import fetch_once

NEW_IMAGE = "nginx:1.27.5"


def core(env: dict) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=env["KUBECONFIG"]))


class Sampler:
    """Calls sample() every `period` seconds in a thread, from entering the `with` block to leaving it."""

    period = 0.2

    def __init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            time.sleep(self.period)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


class RequestLoop(Sampler):
    """GETs the URL over a fresh connection each time and counts the outcomes."""

    period = 0.05

    def __init__(self, url: str):
        super().__init__()
        self.url = url
        self.outcomes: Counter = Counter()
        self.pods: set[str] = set()

    def sample(self) -> None:
        outcome = fetch_once(self.url, connect_timeout=3.0, read_timeout=5.0)
        self.outcomes[outcome.error or "ok"] += 1
        if outcome.identity:
            self.pods.add(outcome.identity.pod)

    @property
    def failed(self) -> int:
        return sum(count for outcome, count in self.outcomes.items() if outcome != "ok")


class NodeWatch(Sampler):
    """The nodes an app's pods were seen on."""

    def __init__(self, api: client.CoreV1Api, app: str, namespace: str):
        super().__init__()
        self.api, self.app, self.namespace = api, app, namespace
        self.nodes: set[str] = set()

    def sample(self) -> None:
        pods = self.api.list_namespaced_pod(self.namespace, label_selector=f"app={self.app}").items
        self.nodes |= {pod.spec.node_name for pod in pods if pod.spec.node_name}


def app_state(api: client.CoreV1Api, app: str, namespace: str) -> tuple[list[str], Counter, Counter]:
    """(controller names, pods by template hash, pods by node) of one app."""
    controllers = [rc.metadata.name for rc in
                   api.list_namespaced_replication_controller(namespace, label_selector=f"app={app}").items]
    pods = [pod for pod in api.list_namespaced_pod(namespace, label_selector=f"app={app}").items
            if pod.metadata.deletion_timestamp is None]
    return (controllers, Counter(pod.metadata.labels.get("pod-template-hash") for pod in pods),
            Counter(pod.spec.node_name for pod in pods))


def assert_runs_only(api: client.CoreV1Api, outputs: dict, app: str, image: str) -> Counter:
    controllers, hashes, nodes = app_state(api, app, outputs["namespace"])
    assert controllers == [outputs[f"{app}Controller"]], controllers
    assert hashes == Counter({outputs[f"{app}TemplateHash"]: outputs[f"{app}Replicas"]}), hashes
    pods = api.list_namespaced_pod(outputs["namespace"], label_selector=f"app={app}").items
    assert {pod.spec.containers[0].image for pod in pods} == {image}
    assert all(pod.status.phase == "Running" for pod in pods)
    return nodes


def test_devstack_template_change_rolls_over_with_no_failed_request_then_replicas_follow(project, engine_env):
    api = core(engine_env)
    try:
        outputs = converge(project, engine_env, "devstack")["outputs"]
        before = {app: outputs[f"{app}Controller"] for app in ("server", "lbserver")}

        # 1. A new image: both apps roll over while the load balancer keeps answering.
        config_set(project, engine_env, "devstack", "image", NEW_IMAGE)
        with RequestLoop(outputs["url"]) as loop:
            outputs = converge(project, engine_env, "devstack")["outputs"]
        print(f"\nrollout: {sum(loop.outcomes.values())} requests during preview+up+preview, "
              f"{loop.failed} failed {dict(loop.outcomes)}, {len(loop.pods)} pods answered")
        assert loop.failed == 0, dict(loop.outcomes)
        assert sum(loop.outcomes.values()) >= 20, "too few requests to say anything"
        for app in ("server", "lbserver"):
            assert outputs[f"{app}Controller"] != before[app]
            nodes = assert_runs_only(api, outputs, app, NEW_IMAGE)
            assert {"master1", "worker1", "worker2"} <= set(nodes), nodes

        # 2. Replicas down, then up: each a new controller, placed from scratch, so master1 keeps pods.
        for server_replicas, lbserver_replicas in ((3, 4), (9, 10)):
            config_set(project, engine_env, "devstack", "serverReplicas", str(server_replicas))
            config_set(project, engine_env, "devstack", "lbserverReplicas", str(lbserver_replicas))
            controllers = {app: outputs[f"{app}Controller"] for app in ("server", "lbserver")}
            with RequestLoop(outputs["url"]) as loop:
                outputs = converge(project, engine_env, "devstack")["outputs"]
            print(f"scale to {server_replicas}/{lbserver_replicas}: {sum(loop.outcomes.values())} requests, "
                  f"{loop.failed} failed {dict(loop.outcomes)}")
            assert loop.failed == 0, dict(loop.outcomes)
            for app in ("server", "lbserver"):
                assert outputs[f"{app}Controller"] != controllers[app], "a replica change rolls over"
                nodes = assert_runs_only(api, outputs, app, NEW_IMAGE)
                assert set(nodes) == {"master1", "worker1", "worker2"}, f"{app} after scaling: {nodes}"
    finally:
        lab_pulumi(project, engine_env, "destroy", "--stack", "devstack")


@pytest.mark.parametrize("change", [("image", NEW_IMAGE)], ids=["image"])
def test_devstack_single_rollout_keeps_the_storage_pods_on_one_node(change, project, engine_env):
    api = core(engine_env)
    try:
        outputs = converge(project, engine_env, "devstack-single")["outputs"]
        config_set(project, engine_env, "devstack-single", *change)
        with NodeWatch(api, "server", outputs["namespace"]) as watch:
            outputs = converge(project, engine_env, "devstack-single")["outputs"]
        assert len(watch.nodes) == 1, f"the ReadWriteOnce pods ran on {watch.nodes} during the rollout"
        nodes = assert_runs_only(api, outputs, "server", NEW_IMAGE)
        assert set(nodes) == watch.nodes
    finally:
        lab_pulumi(project, engine_env, "destroy", "--stack", "devstack-single")


def test_the_shipped_stacks_run_side_by_side_and_a_third_one_is_refused_at_preview(project, engine_env):
    api = core(engine_env)
    try:
        devstack = converge(project, engine_env, "devstack")["outputs"]
        single = converge(project, engine_env, "devstack-single")["outputs"]
        assert devstack["namespace"] != single["namespace"]
        assert devstack["storageClassName"] != single["storageClassName"]
        assert devstack["externalIp"] != single["externalIp"]

        # A new stack with the defaults would take devstack's names: refused by its preview.
        code, refused, _ = lab_pulumi(project, engine_env, "preview", "--stack", "staging")
        assert code != 0 and not refused["succeeded"]
        assert (f"StorageClass {devstack['storageClassName']} belongs to the Pulumi stack "
                f"organization/devstack-k8s-apps/devstack") in refused["error"], refused["error"][-3000:]
        assert "createNamespace" in refused["error"] and "Traceback" not in refused["error"]

        # Each is destroyed on its own: the other keeps running.
        code, document, stderr = lab_pulumi(project, engine_env, "destroy", "--stack", "devstack-single")
        assert code == 0, document.get("error") or stderr[-4000:]
        assert_runs_only(api, devstack, "lbserver", "nginx:1.27.4")
        claim = api.read_namespaced_persistent_volume_claim(devstack["claimName"], devstack["namespace"])
        assert claim.status.phase == "Bound"
        assert fetch_once(devstack["url"], connect_timeout=3.0, read_timeout=5.0).identity is not None
        code, after, stderr = lab_pulumi(project, engine_env, "preview", "--stack", "devstack")
        assert code == 0 and planned_changes(after) == [], planned_changes(after)
    finally:
        lab_pulumi(project, engine_env, "destroy", "--stack", "devstack-single")
        lab_pulumi(project, engine_env, "destroy", "--stack", "devstack")
