"""Conditional requests of the JSON API: a strong ``ETag`` per answer, ``304 Not Modified`` on a match.

The validator is derived from the answer itself, never from a clock: a
SHA-256 of its canonical JSON (the same bytes whether the answer was just
computed or read back from the cache, because the cache stores that JSON),
tagged with the representation (``json``, ``csv``), since a strong validator
names one exact representation (RFC 9110 section 8.8.1). So a client's
revalidation costs one cache read and a hash, no query: when the entry is
cached, no SQL runs at all; when it expired, the recomputed answer hashes to
the same tag unless the numbers changed (a re-aggregation, a new day), and
then the tag changes with them.

``If-None-Match`` follows RFC 9110 section 13.1.2: a list of tags, compared
weakly (``W/"x"`` matches ``"x"``), and ``*``, which matches any current
representation. Only a successful answer is ever compared; errors are never
304.
"""

from __future__ import annotations

from typing import Any

from flask import Request, Response

from .caching import CachedAnswer, compact_json, digest_of

#: ``Cache-Control`` of the API's answers: the tenant's own data, reusable by that client for the cache TTL.
API_CACHE_CONTROL = "private, max-age={ttl}"


def etag_of(data: Any, representation: str = "json") -> str:
    """The strong entity tag (without quotes) of ``data`` served as ``representation``.

    It hashes the answer's compact JSON; an answer from the service's cache
    carries that hash already.
    """
    digest = data.digest if isinstance(data, CachedAnswer) else digest_of(compact_json(data))
    return f"{digest}-{representation}"


def not_modified(request: Request, etag: str) -> bool:
    """True when ``If-None-Match`` lists ``etag`` (weak comparison) or is ``*``."""
    if "If-None-Match" not in request.headers:
        return False
    return request.if_none_match.contains_weak(etag)


def validators(response: Response, etag: str, ttl: int) -> Response:
    """Set the strong ``ETag`` and ``Cache-Control: private, max-age=<ttl>`` on ``response``."""
    response.set_etag(etag, weak=False)
    response.headers["Cache-Control"] = API_CACHE_CONTROL.format(ttl=ttl)
    return response
