"""Expose the plugin's metrics on the host's ``/metrics`` with prometheus-flask-exporter.

The metrics live on a per-app ``CollectorRegistry`` (see :mod:`.metrics`): the
exporter is given that registry, never the global one, so several apps in
one process (tests, app factories) each count their own requests. The
exporter's default per-request metrics are off: the plugin reports its five
spec metrics (plus cache and job failure counters) and does not instrument
the host's routes behind its back.

Three cases:

* the host has no ``/metrics``: the plugin serves one at ``ANALYTICS_METRICS_PATH``;
* the host has its own (``ANALYTICS_METRICS_REGISTRY`` hands in its
  registry): the plugin's metrics join that registry and no endpoint is added;
* something already answers at that path: nothing is registered twice.

Under gunicorn with several workers set ``PROMETHEUS_MULTIPROC_DIR`` (empty
directory, wiped before start) and call
``prometheus_client.multiprocess.mark_process_dead(worker.pid)`` in the
``child_exit`` hook; the exporter then aggregates every worker's files on
each scrape. The job gauges declare their ``multiprocess_mode``.
"""

from __future__ import annotations

import logging

from flask import Flask
from prometheus_flask_exporter import PrometheusMetrics

from .metrics import AnalyticsMetrics

log = logging.getLogger(__name__)


def expose(app: Flask, metrics: AnalyticsMetrics, path: str | None, host_registry: bool) -> PrometheusMetrics | None:
    """Serve ``metrics.registry`` at ``path`` unless the host already exposes metrics."""
    if not path or host_registry:
        return None
    if any(rule.rule == path for rule in app.url_map.iter_rules()):
        log.info("The host already serves %s; analytics metrics are not exposed a second time.", path)
        return None
    return PrometheusMetrics(app, path=path, registry=metrics.registry, export_defaults=False)
