"""The bucket a counted API call falls in: its UTC day, method, status class and route.

Shared by the request hook (:mod:`.capture`), which keeps each call as it
happened, and the buffer (:mod:`.call_counts`), which turns calls into
buckets off the request path.
"""

from __future__ import annotations

from werkzeug.routing import Rule

UNMATCHED = "<unmatched>"
OTHER_METHOD = "OTHER"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUS_CLASSES = {1: "1xx", 2: "2xx", 3: "3xx", 4: "4xx", 5: "5xx"}
#: Longest route template stored (the column's width); longer ones are cut.
ROUTE_MAX = 255
#: The UTC day number of 1970-01-01 (``date.toordinal``): days from a float time without building dates.
EPOCH_ORDINAL = 719163


def route_of(rule: Rule | None) -> str:
    """The bucket's route: the matched template, ``<unmatched>`` when no route matched."""
    if rule is None:
        return UNMATCHED
    route = rule.rule.replace("\x1f", "")
    return route if len(route) <= ROUTE_MAX else route[:ROUTE_MAX]


def method_of(method: str) -> str:
    return method if method in METHODS else OTHER_METHOD


def status_class(status: int) -> str:
    return STATUS_CLASSES.get(status // 100, "5xx")


def day_of(timestamp: float) -> int:
    """The UTC day number (``date.toordinal``) of a Unix time."""
    return int(timestamp // 86400) + EPOCH_ORDINAL


#: Lookup tables for the fold: a dict lookup per call instead of a function call.
METHOD_OF = {method: method for method in METHODS}
STATUS_CLASS_OF = {code: status_class(code) for code in range(100, 600)}
