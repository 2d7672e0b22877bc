"""The double's shared parts, directly: microversions, paging, filters, the dispatcher, the ticker."""
from __future__ import annotations

import threading
import time

import pytest

from lab.openstack.core.dispatch import Dispatcher, Route
from lab.openstack.core.errors import ApiError, cinder_error, neutron_error, octavia_error
from lab.openstack.core.paging import filter_by_query, paginate
from lab.openstack.core.request import Request, parse_bool, parse_microversion, requested_microversion
from lab.openstack.core.ticker import Ticker


def request(query: dict[str, list[str]] | None = None, headers: dict | None = None, path: str = "/x",
            method: str = "GET") -> Request:
    return Request(method, path, query or {}, headers or {}, None)


def test_microversions_default_latest_and_out_of_range():
    assert parse_microversion(None, (3, 0), (3, 70)) == (3, 0)
    assert parse_microversion("latest", (3, 0), (3, 70)) == (3, 70)
    assert parse_microversion("3.60", (3, 0), (3, 70)) == (3, 60)
    with pytest.raises(ApiError) as too_new:
        parse_microversion("3.71", (3, 0), (3, 70))
    assert too_new.value.status == 406
    with pytest.raises(ApiError) as garbage:
        parse_microversion("three", (3, 0), (3, 70))
    assert garbage.value.status == 400


def test_the_service_named_in_openstack_api_version_wins_over_the_legacy_header():
    headers = {"OpenStack-API-Version": "volume 3.50, compute 2.60", "X-OpenStack-Nova-API-Version": "2.1"}
    assert requested_microversion(headers, "compute", "X-OpenStack-Nova-API-Version") == "2.60"
    assert requested_microversion({"X-OpenStack-Nova-API-Version": "2.59"}, "compute",
                                  "X-OpenStack-Nova-API-Version") == "2.59"
    assert requested_microversion(headers, "load-balancer", None) is None


def test_paging_by_marker_and_limit():
    items = [{"id": str(n)} for n in range(5)]
    page, more = paginate(items, request({"marker": ["1"], "limit": ["2"]}))
    assert [i["id"] for i in page] == ["2", "3"] and more
    page, more = paginate(items, request({"marker": ["3"]}))
    assert [i["id"] for i in page] == ["4"] and not more
    with pytest.raises(ApiError) as unknown:
        paginate(items, request({"marker": ["nope"]}))
    assert unknown.value.status == 400


def test_filters_by_field_or_values_and_tags():
    items = [{"id": "a", "name": "x", "admin_state_up": True, "tags": ["t1", "t2"]},
             {"id": "b", "name": "y", "admin_state_up": False, "tags": ["t2"]}]
    assert [i["id"] for i in filter_by_query(items, request({"name": ["x", "y"]}))] == ["a", "b"]
    assert [i["id"] for i in filter_by_query(items, request({"admin_state_up": ["false"]}))] == ["b"]
    assert [i["id"] for i in filter_by_query(items, request({"tags": ["t1,t2"]}))] == ["a"]
    assert [i["id"] for i in filter_by_query(items, request({"not-tags-any": ["t1"]}))] == ["b"]
    assert [i["id"] for i in filter_by_query(items, request({"limit": ["1"]}))] == ["a", "b"]


def test_error_bodies_have_each_services_shape():
    assert cinder_error(400, "no").body == {"badRequest": {"code": 400, "message": "no"}}
    assert cinder_error(404, "gone").body["itemNotFound"]["message"] == "gone"
    assert neutron_error(409, "busy").body["NeutronError"]["type"] == "Conflict"
    assert octavia_error(409, "immutable").body == {"faultcode": "Client", "faultstring": "immutable",
                                                    "debuginfo": None}


def test_booleans_are_oslos_strict_words():
    assert parse_bool("True") is True and parse_bool("off") is False and parse_bool(False) is False
    assert parse_bool("maybe") is None


class _Handlers:
    def public(self, req):
        return 200, {"who": None}

    def item(self, req, item_id):
        return 200, {"who": req.user["user"], "item": item_id}


def test_dispatcher_authenticates_matches_and_tells_405_from_404():
    tokens = {"good": {"user": "demo", "project_id": "p", "roles": ["member"]}}
    dispatcher = Dispatcher(tokens.get, "http://double/identity")
    dispatcher.add_table([Route("GET", r"/open", "public", auth=False), Route("GET", r"/items/([^/]+)", "item")],
                         _Handlers())
    assert dispatcher.dispatch(request(path="/open/")) == (200, {"who": None})
    assert dispatcher.dispatch(request(path="/items/7", headers={"X-Auth-Token": "good"})) == \
        (200, {"who": "demo", "item": "7"})
    with pytest.raises(ApiError) as unauthenticated:
        dispatcher.dispatch(request(path="/items/7", headers={"X-Auth-Token": "bad"}))
    assert unauthenticated.value.status == 401
    assert unauthenticated.value.headers["WWW-Authenticate"] == 'Keystone uri="http://double/identity"'
    with pytest.raises(ApiError) as wrong_method:
        dispatcher.dispatch(request(path="/items/7", method="DELETE"))
    assert wrong_method.value.status == 405
    with pytest.raises(ApiError) as unknown:
        dispatcher.dispatch(request(path="/elsewhere"))
    assert unknown.value.status == 404


def test_the_ticker_runs_transitions_when_due_in_order():
    ticker = Ticker(threading.RLock())
    ran = []
    ticker.later(0.15, lambda: ran.append("late"))
    ticker.later(0.0, lambda: ran.append("now"))
    ticker.run_due()
    assert ran == ["now"]
    time.sleep(0.2)
    ticker.run_due()
    assert ran == ["now", "late"]
