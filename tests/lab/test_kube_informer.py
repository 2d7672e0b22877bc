"""lab/kube/informer.py: the cache's event rules and the list + watch loop, with no API server."""
from __future__ import annotations

import json
import threading

import pytest

from lab.kube.client import name_key
from lab.kube.informer import Cache, Informer, WatchExpired, start_and_sync


def obj(name: str, rv: int, **extra) -> dict:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv)}, **extra}


def test_events_add_modify_delete_and_bookmarks_move_the_version_only():
    cache = Cache()
    version, changed = cache.apply({"type": "ADDED", "object": obj("a", 5)}, "1")
    assert (version, changed) == ("5", True) and cache.items["ns/a"]["metadata"]["resourceVersion"] == "5"
    version, changed = cache.apply({"type": "MODIFIED", "object": obj("a", 6, spec={"x": 1})}, version)
    assert cache.items["ns/a"]["spec"] == {"x": 1}
    version, changed = cache.apply({"type": "BOOKMARK", "object": obj("a", 9)}, version)
    assert (version, changed) == ("9", False) and cache.items["ns/a"]["metadata"]["resourceVersion"] == "6"
    version, changed = cache.apply({"type": "DELETED", "object": obj("a", 10)}, version)
    assert changed and "ns/a" not in cache.items and cache.tombstones == {"ns/a": 10}


def test_a_write_older_than_the_deletion_does_not_bring_the_object_back_a_newer_one_does():
    cache = Cache()
    cache.apply({"type": "DELETED", "object": obj("a", 10)}, "1")
    cache.put(obj("a", 8))
    assert "ns/a" not in cache.items
    cache.put(obj("a", 11))
    assert cache.items["ns/a"]["metadata"]["resourceVersion"] == "11"


def test_put_keeps_the_newer_of_cache_and_write():
    cache = Cache(key=name_key)
    cache.replace([obj("a", 7)])
    cache.put(obj("a", 6, stale=True))
    assert "stale" not in cache.items["a"]
    cache.put(obj("a", 8, fresh=True))
    assert cache.items["a"]["fresh"] is True


def test_410_gone_asks_for_a_relist_and_other_errors_fail():
    with pytest.raises(WatchExpired):
        Cache().apply({"type": "ERROR", "object": {"code": 410, "message": "too old"}}, "1")
    with pytest.raises(RuntimeError, match="boom"):
        Cache().apply({"type": "ERROR", "object": {"code": 500, "message": "boom"}}, "1")


class _Response:
    def __init__(self, data: bytes = b"", lines: list[dict] | None = None):
        self.data, self.lines = data, lines or []

    def stream(self, amt=None, decode_content=False):
        for line in self.lines:
            yield (json.dumps(line) + "\n").encode()

    def close(self):
        pass

    def release_conn(self):
        pass


class _Server:
    """A list function like the client's: lists, then a watch that sends events, then a 410."""

    def __init__(self, stop: threading.Event):
        self.stop, self.lists, self.watches = stop, 0, []

    def __call__(self, watch=False, resource_version=None, **_kwargs):
        if not watch:
            self.lists += 1
            items = [obj("a", 1)] if self.lists == 1 else [obj("b", 20)]
            return _Response(json.dumps({"metadata": {"resourceVersion": "1" if self.lists == 1 else "20"},
                                         "items": items}).encode())
        self.watches.append(resource_version)
        if len(self.watches) == 1:
            return _Response(lines=[{"type": "ADDED", "object": obj("c", 2)},
                                    {"type": "ERROR", "object": {"code": 410}}])
        self.stop.set()
        return _Response()


def test_the_informer_lists_watches_from_the_listed_version_and_relists_after_410():
    stop = threading.Event()
    server = _Server(stop)
    changes = []
    informer = Informer("things", server, lambda: changes.append(1), stop, relist_delay=0.01)
    informer.start()
    informer.thread.join(5)
    assert not informer.thread.is_alive()
    assert server.watches == ["1", "20"]  # resumed from each list's version
    assert server.lists == 2 and informer.synced.is_set()
    assert [o["metadata"]["name"] for o in informer.snapshot()] == ["b"]  # the relist replaced the cache
    assert len(changes) == 3  # first list, the ADDED event, the relist


class _StubInformer:
    """Just what start_and_sync uses: start() and a synced event."""

    def __init__(self, syncs: bool):
        self.synced = threading.Event()
        self.started = False
        self._syncs = syncs

    def start(self):
        self.started = True
        if self._syncs:
            self.synced.set()
        return self


def test_start_and_sync_starts_all_then_waits_for_each_list():
    informers = [_StubInformer(True), _StubInformer(True)]
    assert start_and_sync(informers, threading.Event(), poll=0.01) is True
    assert all(i.started for i in informers)


def test_start_and_sync_gives_up_when_stopped_before_a_list():
    stop = threading.Event()
    stop.set()
    assert start_and_sync([_StubInformer(True), _StubInformer(False)], stop, poll=0.01) is False
