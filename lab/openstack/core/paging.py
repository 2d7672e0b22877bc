"""marker/limit paging and the Neutron/Octavia-style ?field=value and tag filters."""
from __future__ import annotations

from collections.abc import Callable

from lab.openstack.core.errors import ApiError, cinder_error
from lab.openstack.core.request import Request

_NOT_FILTERS = {"limit", "marker", "sort_key", "sort_dir", "page_reverse", "fields", "sort",
                "all_tenants", "all_projects", "tags", "tags-any", "not-tags", "not-tags-any"}


def paginate(items: list[dict], req: Request,
             error: Callable[..., ApiError] = cinder_error) -> tuple[list[dict], bool]:
    """The page after ?marker= of at most ?limit= items, and whether more follow."""
    marker = req.query_value("marker")
    if marker:
        ids = [item["id"] for item in items]
        if marker not in ids:
            raise error(400, f"marker [{marker}] not found")
        items = items[ids.index(marker) + 1:]
    limit = req.query_value("limit")
    if limit not in (None, ""):
        try:
            count = int(limit)
        except ValueError:
            raise error(400, "limit must be an integer") from None
        if count >= 0 and len(items) > count:
            return items[:count], True
    return items, False


def matches_value(actual, wanted: str) -> bool:
    if isinstance(actual, bool):
        return str(actual).lower() == wanted.lower()
    if actual is None:
        return wanted in ("", "None", "null")
    return str(actual) == wanted


def _tags_match(tags: set[str], query: dict[str, list[str]]) -> bool:
    tests = {"tags": lambda wanted: wanted <= tags, "tags-any": lambda wanted: bool(wanted & tags),
             "not-tags": lambda wanted: not wanted <= tags, "not-tags-any": lambda wanted: not (wanted & tags)}
    return all(test(set(filter(None, value.split(","))))
               for key, test in tests.items() for value in query.get(key, []))


def filter_by_query(items: list[dict], req: Request, skip: frozenset[str] | set[str] = frozenset()) -> list[dict]:
    """Neutron/Octavia filters: ?field=value (a repeated key means OR) and the four tag filters."""
    kept = []
    for item in items:
        fields_match = all(any(matches_value(item[key], value) for value in values)
                           for key, values in req.query.items()
                           if key not in _NOT_FILTERS and key not in skip and key in item)
        if fields_match and _tags_match(set(item.get("tags") or []), req.query):
            kept.append(item)
    return kept
