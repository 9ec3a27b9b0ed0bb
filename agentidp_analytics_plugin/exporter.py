"""Put the plugin's metrics on whatever ``/metrics`` the host already has, or serve one.

Each app keeps its metrics on a private registry (see :mod:`.metrics`). Hosts
expose metrics in four ways, and each must show the spec's metrics once:

* **No exporter.** The plugin answers ``ANALYTICS_METRICS_PATH`` itself, but
  only when no host route matches that path (checked per request, so a host
  that sets up its exporter after loading plugins still wins), optionally
  behind a bearer token (``ANALYTICS_METRICS_TOKEN``).
* **An exporter on prometheus_client's default ``REGISTRY``** (what
  ``PrometheusMetrics(app)`` and ``prometheus_client.start_http_server`` do).
  One :class:`LiveApps` collector per process is registered there once; on
  each collection it yields the metrics of the app serving the request, or,
  outside any app (prometheus_client's own HTTP server), the sum over the
  apps alive in the process. It holds apps by weak reference, so apps built
  and dropped by a test suite are not kept alive, and building the app many
  times never registers a metric name twice.
* **An exporter on a registry of the host's own**: ``ANALYTICS_METRICS_REGISTRY``
  names it and the same collector is registered there instead.
* **gunicorn multiprocess mode** (``PROMETHEUS_MULTIPROC_DIR``): every
  metric created in a worker is written to that directory and the host's
  ``MultiProcessCollector`` exports them all, summed over workers; nothing is
  registered anywhere, since a collector on the served registry would count
  the metrics twice.

Before any scrape of the metrics path (the plugin's, or prometheus-flask-exporter's
endpoint) the job gauges are read from the database, so every worker reports the
last successful run, not what it happened to see. In multiprocess mode the
plugin's own requests refresh them too (at most every few seconds), for
metrics served from another process, such as gunicorn's ``when_ready`` server.
"""

from __future__ import annotations

import hmac
import logging
import os
import threading
import weakref
from collections.abc import Iterable, Iterator

from flask import Flask, Response, current_app, has_app_context, request
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_flask_exporter import PrometheusMetrics
from werkzeug.exceptions import NotFound

from .blueprint import BLUEPRINT_NAME
from .metrics import build_metrics
from .state import get_state

log = logging.getLogger(__name__)

#: The endpoint name prometheus-flask-exporter gives its ``/metrics`` route.
FLASK_EXPORTER_ENDPOINT = "prometheus_metrics"


def multiprocess_mode() -> bool:
    """True when prometheus_client writes metrics to files for a multiprocess server."""
    # prometheus_client still honours the old lower-case name.
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir"))  # noqa: SIM112


class LiveApps:
    """A prometheus_client collector yielding the analytics metrics of the apps alive in this process."""

    def __init__(self) -> None:
        self._apps: weakref.WeakSet[Flask] = weakref.WeakSet()
        self._lock = threading.Lock()

    def add(self, app: Flask) -> None:
        with self._lock:
            self._apps.add(app)

    def __len__(self) -> int:
        return len(self._apps)

    def describe(self) -> list[Metric]:
        """The metric names, so the registry refuses anything else that would claim them."""
        return _description()

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            apps = list(self._apps)
        if has_app_context() and current_app._get_current_object() in apps:  # type: ignore[attr-defined]
            apps = [current_app._get_current_object()]  # type: ignore[attr-defined]
        registries = []
        for app in apps:
            _refresh_job_gauges(app)
            registries.append(get_state(app).metrics.registry)
        if len(registries) == 1:
            yield from registries[0].collect()
        elif registries:
            yield from _summed(reg.collect() for reg in registries)


_collectors: weakref.WeakKeyDictionary[CollectorRegistry, LiveApps] = weakref.WeakKeyDictionary()
_collectors_lock = threading.Lock()
_described: list[Metric] = []


def _description() -> list[Metric]:
    if not _described:
        _described.extend(build_metrics(()).registry.collect())
    return _described


def collector_on(registry: CollectorRegistry) -> LiveApps | None:
    """The plugin's collector on ``registry``, if an app registered it there."""
    return _collectors.get(registry)


def attach(app: Flask, registry: CollectorRegistry) -> LiveApps:
    """Show ``app``'s metrics on ``registry``, registering the process's collector there once."""
    with _collectors_lock:
        collector = _collectors.get(registry)
        if collector is None:
            collector = _collectors[registry] = LiveApps()
            registry.register(collector)
    collector.add(app)
    return collector


def _refresh_job_gauges(app: Flask) -> None:
    state = get_state(app)
    if has_app_context() and current_app._get_current_object() is app:  # type: ignore[attr-defined]
        state.job_gauges.refresh()
    else:
        with app.app_context():
            state.job_gauges.refresh()


def _summed(collections: Iterable[Iterable[Metric]]) -> Iterator[Metric]:
    """One family per name over several registries: counters and histograms add up, gauges take the highest."""
    families: dict[str, Metric] = {}
    values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for collection in collections:
        for family in collection:
            families.setdefault(family.name, Metric(family.name, family.documentation, family.type, family.unit))
            seen = values.setdefault(family.name, {})
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in seen:
                    seen[key] = sample.value
                elif sample.name.endswith("_created"):
                    seen[key] = min(seen[key], sample.value)
                elif family.type == "gauge":
                    seen[key] = max(seen[key], sample.value)
                else:
                    seen[key] += sample.value
    for name, family in families.items():
        for (sample_name, labels), value in values[name].items():
            family.add_sample(sample_name, dict(labels), value)
        yield family


def expose(app: Flask, *, path: str | None, host_registry: CollectorRegistry | None, token: str | None) -> None:
    """Wire ``app``'s metrics into the host's exposition, as described above."""
    state = get_state(app)
    multiprocess = multiprocess_mode()
    if multiprocess:
        log.info(
            "prometheus_client multiprocess mode: the analytics metrics are written to PROMETHEUS_MULTIPROC_DIR "
            "and exported, summed over workers, by every endpoint that reads it with a MultiProcessCollector."
        )
    else:
        attach(app, host_registry if host_registry is not None else REGISTRY)
    serve = path is not None and host_registry is None
    generator = PrometheusMetrics(None, path=None, registry=state.metrics.registry, export_defaults=False)
    if serve and any(rule.rule == path for rule in app.url_map.iter_rules()):
        log.info(
            "The host already answers at %s (ANALYTICS_METRICS_PATH), so the plugin does not. %s",
            path,
            "It shows the analytics metrics if it reads PROMETHEUS_MULTIPROC_DIR with a MultiProcessCollector "
            "(prometheus-flask-exporter does)."
            if multiprocess
            else "The analytics metrics are on prometheus_client's default registry, which prometheus-flask-exporter "
            "and prometheus_client serve unless told otherwise; if that endpoint serves a registry of its own, "
            "set ANALYTICS_METRICS_REGISTRY to it.",
        )

    def before_request() -> Response | None:
        scrape = request.path == path or request.endpoint == FLASK_EXPORTER_ENDPOINT
        if scrape or (multiprocess and request.blueprint == BLUEPRINT_NAME):
            # Files outlive the request: the worker's value must already be right
            # when some other process (gunicorn's when_ready server) reads them.
            state.job_gauges.refresh()
        answer = serve and request.path == path and request.method in ("GET", "HEAD")
        if not answer or not isinstance(request.routing_exception, NotFound):
            return None  # a host route answers (or nothing should)
        if token and not _bearer_matches(token):
            return Response(
                "A bearer token is required to read these metrics.\n",
                401,
                {"WWW-Authenticate": 'Bearer realm="metrics"', "Cache-Control": "no-store"},
                mimetype="text/plain",
            )
        names = request.args.getlist("name[]") or None
        body, content_type = generator.generate_metrics(request.headers.get("Accept"), names)
        return Response(body, 200, {"Content-Type": content_type, "Cache-Control": "no-store"})

    app.before_request(before_request)


def _bearer_matches(token: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
