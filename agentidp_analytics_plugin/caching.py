"""The response cache: Flask-Caching on Redis when configured, in-process otherwise.

Keys follow the spec, ``analytics:{tenantId}:{endpoint}:{queryHash}``, where the
hash covers the normalised query (defaults applied), so equivalent requests
share an entry and one tenant's key can never name another tenant's data.

The hash also covers the aggregate *generation* (:mod:`.job_state`), which
every run of the roll-up that changes an aggregate or the ledger bumps in the
same transaction. An answer is stored under the generation of the snapshot it
was computed from and looked up under the current one, so after a
re-aggregation no answer computed before it is served. To keep a hit free of
SQL, a shared backend (Redis) holds a mirror of the generation at
``analytics:generation``: the job overwrites it as soon as it has committed,
still holding its lock; a request that finds it absent reads the database (the
source of truth) and puts it back only if it is still absent, with a
:data:`GENERATION_MIRROR_TTL`. So the mirror is only behind when the job could
not reach Redis, and then for at most that TTL. The in-process backend cannot
see a job run by another process (the CLI, another worker), so with it every
request reads the generation from the database (one primary-key lookup).

Values are stored as JSON, never as pickles (cachelib's default): whoever can
write to that Redis could otherwise run code in every worker. The answers are
JSON documents anyway; each entry is one JSON document holding the answer's
``ETag`` digest and ``dataCompleteThrough`` before the answer's own bytes
(:class:`CachedAnswer`), so a hit is served without parsing the answer.
Anything in the cache that is not such an entry (one written by an older
version, or planted) is a miss, recomputed and overwritten.

The plugin owns its ``Cache`` object with its own config (Flask-Caching
layers it over the app config), so it never changes the host's cache. A
cache failure is never the client's problem: :meth:`get` and :meth:`set`
log it, count it in ``agentidp_analytics_cache_errors_total`` and answer as
a miss; after a failure the cache is skipped for ``backoff`` seconds so an
outage costs one connection attempt per interval, not one per request, and
caching resumes by itself when the backend is back.

With Redis, each process can keep the answers it served last in front of it
(:mod:`.near_cache`, ``ANALYTICS_CACHE_LOCAL_MAX_BYTES``): looked up by the
same key (so under the current generation only), never kept longer than the
Redis entry it copies, consulted only while Redis is reachable (during an
outage every answer comes from the database, as without it). The in-process
backend gets no such tier: its entries are in the process already.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from flask import Flask
from flask_caching import Cache
from flask_caching.backends import RedisCache, SimpleCache

from .metrics import AnalyticsMetrics
from .redis_urls import redis_client

if TYPE_CHECKING:
    from .near_cache import NearCache

log = logging.getLogger(__name__)

KEY_PREFIX = "analytics"
#: Where a shared cache mirrors the aggregate generation (no tenant id is "generation").
GENERATION_KEY = f"{KEY_PREFIX}:generation"
#: Seconds a mirror filled by a request lives: the bound on staleness when the job could not update it.
GENERATION_MIRROR_TTL = 60
#: Seconds to wait for Redis before serving from the database instead.
REDIS_TIMEOUT = 0.5


def cache_key(tenant_id: uuid.UUID | str, endpoint: str, params: dict[str, Any], generation: int = 0) -> str:
    """``analytics:{tenantId}:{endpoint}:{queryHash}`` over the normalised parameters and the generation."""
    keyed = {"generation": generation, "params": params}
    canonical = json.dumps(keyed, sort_keys=True, separators=(",", ":"), default=str)
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}:{tenant_id}:{endpoint}:{digest}"


def compact_json(value: Any) -> bytes:
    """The one JSON form of an answer: what the cache stores, what the API serves, what its ETag hashes."""
    raw = getattr(value, "raw", None)
    return raw if raw is not None else json.dumps(value, separators=(",", ":")).encode()


def digest_of(body: bytes) -> str:
    """The hash of an answer's compact JSON that its ``ETag`` carries."""
    return hashlib.sha256(body).hexdigest()[:32]


#: How a cache entry begins: ``{"etag":"<digest>","dataCompleteThrough":...,"answer":<the body>}``.
_ENTRY_START = b'{"etag":"'
_ENTRY_BODY = b',"answer":'


class CachedAnswer(Mapping[str, Any]):
    """An answer with the exact JSON it is served as (``raw``), its digest and its freshness.

    A cache entry keeps the digest and ``dataCompleteThrough`` beside the
    body, so a cache hit of the JSON API sends the stored bytes with their
    ``ETag`` and freshness header without parsing, hashing or serialising
    them (for the largest answers, megabytes, that was nearly all of a hit's
    cost). The fields are parsed from ``raw`` only when something reads them
    (the tab, CSV). Read-only: a changed copy is a plain dict.
    """

    __slots__ = ("raw", "digest", "complete_through", "_fields")

    def __init__(self, raw: bytes, digest: str, complete_through: str | None, fields: dict[str, Any] | None = None):
        self.raw = raw
        self.digest = digest
        self.complete_through = complete_through
        self._fields = fields

    @classmethod
    def of(cls, answer: dict[str, Any]) -> CachedAnswer:
        """A freshly computed answer, serialised and hashed once for the cache and the response alike."""
        raw = compact_json(answer)
        return cls(raw, digest_of(raw), answer.get("dataCompleteThrough"), answer)

    def entry(self) -> bytes:
        """The cache entry: one JSON document, the body inside it byte for byte."""
        head = json.dumps({"etag": self.digest, "dataCompleteThrough": self.complete_through}, separators=(",", ":"))
        return head[:-1].encode() + _ENTRY_BODY + self.raw + b"}"

    @classmethod
    def from_entry(cls, entry: bytes) -> CachedAnswer | None:
        """The answer of a cache entry, or None when ``entry`` is not one (an older format, planted bytes)."""
        split = entry.find(_ENTRY_BODY)
        if not entry.startswith(_ENTRY_START) or split < 0 or not entry.endswith(b"}"):
            return None
        try:
            head = json.loads(entry[:split] + b"}")
        except ValueError:
            return None
        digest, fresh = head.get("etag"), head.get("dataCompleteThrough")
        if not isinstance(digest, str) or not (fresh is None or isinstance(fresh, str)):
            return None
        return cls(entry[split + len(_ENTRY_BODY) : -1], digest, fresh)

    @property
    def fields(self) -> dict[str, Any]:
        if self._fields is None:
            self._fields = json.loads(self.raw)
        return self._fields

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)


class JsonSerializer:
    """cachelib's serializer interface (``dumps``/``loads``), in JSON.

    Answers are stored as :meth:`CachedAnswer.entry` documents, anything else
    (the generation mirror) as plain JSON. An entry that is neither (a
    pickle, an older format, garbage) is a miss, never an object built from
    the bytes.
    """

    def dumps(self, value: Any) -> bytes:
        if isinstance(value, CachedAnswer):
            return value.entry()
        return compact_json(value)

    def loads(self, raw: bytes | str | None) -> Any:
        if raw is None:
            return None
        data = raw if isinstance(raw, bytes) else raw.encode()
        if data.startswith(_ENTRY_START):
            return CachedAnswer.from_entry(data)
        try:
            value = json.loads(data)
        except ValueError:  # not ours: a miss
            return None
        return None if isinstance(value, (dict, list)) else value


class JsonRedisCache(RedisCache):
    """Flask-Caching's Redis backend, storing JSON (cachelib takes the serializer as a class attribute).

    Its client comes from :func:`redis_client`, so ``CACHE_REDIS_URL`` may name
    one server, a Sentinel service or a Redis Cluster (see ``redis_urls``).
    """

    serializer = JsonSerializer()

    @classmethod
    def factory(cls, app: Flask, config: dict[str, Any], args: list[Any], kwargs: dict[str, Any]) -> JsonRedisCache:
        client = redis_client(config["CACHE_REDIS_URL"], **config.get("CACHE_OPTIONS", {}))
        cache = cls(client, key_prefix=config["CACHE_KEY_PREFIX"], default_timeout=config["CACHE_DEFAULT_TIMEOUT"])
        cache.client = client
        return cache

    def get_with_ttl(self, key: str) -> tuple[Any, float | None]:
        """The value under ``key`` and its remaining lifetime in seconds (None: no expiry, or gone), in one round trip.

        A pipeline without a transaction, so a Redis Cluster runs it too (one key, one node).
        """
        full = self.key_prefix + key
        pipe = self.client.pipeline(transaction=False)
        pipe.get(full)
        pipe.pttl(full)
        raw, remaining = pipe.execute()
        ttl = remaining / 1000 if isinstance(remaining, int) and remaining > 0 else None
        return self.serializer.loads(raw), ttl


class JsonSimpleCache(SimpleCache):
    """The in-process backend, also in JSON, so both backends hand back the same values."""

    serializer = JsonSerializer()


def build_cache(app: Flask, redis_url: str | None) -> Cache:
    """A Flask-Caching ``Cache`` owned by the plugin, on Redis or in-process, storing JSON."""
    if redis_url:
        config: dict[str, Any] = {
            "CACHE_TYPE": f"{__name__}.JsonRedisCache",
            "CACHE_REDIS_URL": redis_url,
            "CACHE_OPTIONS": {
                "socket_connect_timeout": REDIS_TIMEOUT,
                "socket_timeout": REDIS_TIMEOUT,
                "health_check_interval": 30,
            },
        }
    else:
        config = {"CACHE_TYPE": f"{__name__}.JsonSimpleCache", "CACHE_THRESHOLD": 2000}
    # An empty prefix keeps the spec's key format literally; the host's own
    # CACHE_* settings must not leak into the plugin's cache.
    config.update({"CACHE_KEY_PREFIX": "", "CACHE_DEFAULT_TIMEOUT": 300, "CACHE_NO_NULL_WARNING": True})
    cache = Cache(config=config)
    cache.init_app(app)
    return cache


class AnalyticsCache:
    """Failure-tolerant get/set with the spec's hit/miss metrics, and the optional in-process tier.

    ``local`` (a :class:`.near_cache.NearCache`) belongs in front of a shared
    backend only (the in-process one is local already). A hit from it is a
    hit like any other in the metrics.
    """

    def __init__(
        self, cache: Cache, metrics: AnalyticsMetrics, backoff: float = 5.0, local: NearCache | None = None
    ) -> None:
        self.cache = cache
        self.metrics = metrics
        self.backoff = backoff
        self._skip_until = 0.0
        self._lock = threading.Lock()
        self.local = local

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._skip_until

    @property
    def shared(self) -> bool:
        """True when every process sees the same entries (Redis), False for the in-process backend."""
        return not isinstance(self.cache.cache, SimpleCache)

    def generation(self, load: Callable[[], int], endpoint: str) -> int:
        """The current aggregate generation: the shared mirror's, else ``load()`` from the database."""
        if not self.shared:
            return load()
        mirrored = None
        if self.available:
            try:
                mirrored = self.cache.get(GENERATION_KEY)
            except Exception:  # noqa: BLE001 - a cache failure means "ask the database"
                self._failed(endpoint, "read")
        if isinstance(mirrored, int):
            return mirrored
        current = load()
        if self.available:
            try:  # only if still absent: never over a newer value the job just wrote
                self.cache.add(GENERATION_KEY, current, timeout=GENERATION_MIRROR_TTL)
            except Exception:  # noqa: BLE001
                self._failed(endpoint, "write")
        return current

    def publish_generation(self, generation: int) -> None:
        """Called by the job once its changes are committed: requests from now on key on ``generation``.

        Tried even while requests are skipping the cache after a failure: the
        job runs once, and a mirror it leaves behind is stale until its TTL.
        """
        if not self.shared:
            return
        try:
            self.cache.set(GENERATION_KEY, generation, timeout=GENERATION_MIRROR_TTL)
        except Exception:
            log.warning(
                "Could not update the analytics cache's generation (%s); cached answers may be served "
                "for up to %d s more.",
                generation,
                GENERATION_MIRROR_TTL,
                exc_info=True,
            )

    def get(self, key: str, endpoint: str) -> Any | None:
        """The cached value, or None on a miss or a backend failure (counted either way).

        The local tier first, then the backend. While the backend is being
        skipped after a failure, so is the local tier: the key's generation
        may then not be the current one (see :meth:`.AnalyticsService._cached`).
        """
        value = None
        if self.available:
            if self.local is not None:
                value = self.local.get(key)
            if value is None:
                try:
                    value = self._read(key)
                except Exception:  # noqa: BLE001 - any backend failure means "serve from the database"
                    self._failed(endpoint, "read")
        if value is None:
            self.metrics.cache_misses.labels(endpoint=endpoint).inc()
        else:
            self.metrics.cache_hits.labels(endpoint=endpoint).inc()
        return value

    def _read(self, key: str) -> Any | None:
        """The backend's value; with the local tier, kept there until the backend's own entry expires."""
        if self.local is None:
            return self.cache.get(key)
        asked = time.monotonic()  # before the round trip: the deadline is never later than Redis's expiry
        value, ttl = self.cache.cache.get_with_ttl(key)
        if isinstance(value, CachedAnswer) and ttl is not None:
            self.local.put(key, value, asked + ttl)
        return value

    def set(self, key: str, value: Any, timeout: int, endpoint: str) -> None:
        """Store ``value`` for ``timeout`` seconds; locally too once the backend has it."""
        if not self.available:
            return
        stored = time.monotonic()  # before Redis starts its TTL
        try:
            self.cache.set(key, value, timeout=timeout)
        except Exception:  # noqa: BLE001
            self._failed(endpoint, "write")
            return
        if self.local is not None and isinstance(value, CachedAnswer):
            self.local.put(key, value, stored + timeout)

    def clear(self) -> None:
        """Forget every cached answer, in the backend and in this process's tier (operators, tests)."""
        self.cache.clear()
        if self.local is not None:
            self.local.clear()

    def _failed(self, endpoint: str, action: str) -> None:
        with self._lock:
            self._skip_until = time.monotonic() + self.backoff
        self.metrics.cache_errors.labels(endpoint=endpoint).inc()
        log.warning(
            "Analytics cache %s failed for %s; serving from the database and retrying the cache in %.0f s.",
            action,
            endpoint,
            self.backoff,
            exc_info=True,
        )
