"""List, then watch, one resource type into a cache of raw objects: client-go's informer.

``Cache`` holds the objects and applies watch events (plain, no threads: unit-tested on its
own); ``Informer`` runs the list + watch on a thread, relists after a 410 Gone or any error,
and calls ``on_change`` after the first list and after every event.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from kubernetes.watch.watch import iter_resp_lines

from lab.kube.client import meta, namespaced_key, resource_version

GONE = 410


class WatchExpired(Exception):
    """The API server no longer has the watched resourceVersion (410 Gone): relist."""


class Cache:
    """Objects by key. A deletion leaves a tombstone (the resourceVersion it was deleted at), so
    a write of ours that the watch has already seen deleted does not bring the object back."""

    def __init__(self, key: Callable[[dict], str] = namespaced_key):
        self.key = key
        self.items: dict[str, dict] = {}
        self.tombstones: dict[str, int] = {}

    def replace(self, objects: list[dict]) -> None:
        self.items = {self.key(o): o for o in objects}
        self.tombstones.clear()

    def put(self, obj: dict) -> None:
        """Record an object we just wrote, unless the cache already has it newer or deleted."""
        key = self.key(obj)
        if self.tombstones.get(key, -1) >= resource_version(obj):
            return
        old = self.items.get(key)
        if old is None or resource_version(obj) >= resource_version(old):
            self.items[key] = obj

    def apply(self, event: dict, version: str) -> tuple[str, bool]:
        """Apply one watch event; return (the resourceVersion to resume from, changed?).
        Raises WatchExpired on 410 Gone and RuntimeError on any other watch error."""
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == GONE:
                raise WatchExpired(obj.get("message") or "410 Gone")
            raise RuntimeError(f"watch error: {obj.get('message') or obj}")
        version = meta(obj).get("resourceVersion") or version
        if kind == "BOOKMARK":
            return version, False
        key = self.key(obj)
        if kind == "DELETED":
            self.items.pop(key, None)
            self.tombstones[key] = resource_version(obj)
        else:
            self.items[key] = obj
        return version, True


class Informer:
    def __init__(self, name: str, list_fn: Callable, on_change: Callable[[], None],
                 stop: threading.Event, key: Callable[[dict], str] = namespaced_key,
                 logger: logging.Logger | None = None, watch_seconds: int = 240,
                 relist_delay: float = 1.0):
        self.name, self.list_fn, self.on_change, self.stop = name, list_fn, on_change, stop
        self.log = logger or logging.getLogger("informer")
        self.watch_seconds, self.relist_delay = watch_seconds, relist_delay
        self.cache = Cache(key)
        self.lock = threading.Lock()
        self.synced = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)

    def start(self) -> Informer:
        self.thread.start()
        return self

    def snapshot(self) -> list[dict]:
        with self.lock:
            return list(self.cache.items.values())

    def get(self, key: str) -> dict | None:
        with self.lock:
            return self.cache.items.get(key)

    def put(self, obj: dict) -> None:
        """Record an object we just wrote (newer than the cache), so the next reconcile does not
        act on stale data before the watch event arrives."""
        with self.lock:
            self.cache.put(obj)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                listed = json.loads(self.list_fn(_preload_content=False, _request_timeout=60).data)
                version = listed["metadata"]["resourceVersion"]
                with self.lock:
                    self.cache.replace(listed.get("items") or [])
                self.synced.set()
                self.on_change()
                while not self.stop.is_set():
                    version = self._watch(version)
            except WatchExpired:
                continue  # relist at once
            except Exception as error:  # noqa: BLE001 - keep watching whatever happens
                if self.stop.is_set():
                    return
                self.log.warning("watch %s: %s; listing again", self.name, str(error)[:300])
                self.stop.wait(self.relist_delay)

    def _watch(self, version: str) -> str:
        response = self.list_fn(watch=True, resource_version=version, allow_watch_bookmarks=True,
                                timeout_seconds=self.watch_seconds, _preload_content=False,
                                _request_timeout=(10, self.watch_seconds + 60))
        try:
            for line in iter_resp_lines(response):
                if self.stop.is_set():
                    break
                if not line:
                    continue
                with self.lock:
                    version, changed = self.cache.apply(json.loads(line), version)
                if changed:
                    self.on_change()
        finally:
            response.close()
            response.release_conn()
        return version


def start_and_sync(informers: list[Informer], stop: threading.Event, poll: float = 0.5) -> bool:
    """Start every informer, then wait until each has listed once (client-go's
    WaitForCacheSync); False when ``stop`` is set first."""
    for informer in informers:
        informer.start()
    for informer in informers:
        while not informer.synced.wait(poll):
            if stop.is_set():
                return False
    return True
