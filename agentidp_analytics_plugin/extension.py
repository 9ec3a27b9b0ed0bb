"""The Flask extension: ``AnalyticsPlugin`` and its per-app state (reached through :func:`.state.get_state`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, Request, current_app
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.engine import Connection

from . import (
    boundary,
    call_setup,
    exporter,
    host_checks,
    job_slot,
    job_state,
    migration_setup,
    mounting,
    scheduler,
    schema_migrations,
)
from . import config as settings
from .aggregation import (
    AggregationReport,
    ProgressCallback,
    aggregated_days,
    complete_through,
    pending_days,
    run_aggregation,
    utc_today,
)
from .blueprint import analytics_blueprint
from .caching import AnalyticsCache, build_cache
from .cli import analytics_cli
from .engines import PluginEngines
from .host import Resolver, Tenant, load_resolver, resolve
from .job_metrics import JobGauges, last_successful_run
from .metrics import AnalyticsMetrics, build_metrics
from .near_cache import NearCache
from .params import AGENT_ACTIVITY, CALL_PATTERNS, ENDPOINTS, INSIGHTS, ROTATIONS, TOKEN_TRENDS, USAGE_SUMMARY
from .ratelimit import RateLimits, exempt_from_host_limiters
from .read_routing import ReadRouter
from .schema import Tables, build_tables
from .service import AnalyticsService
from .signin import check_login_endpoint
from .state import EXTENSION_KEY
from .table_upkeep import TableUpkeep

log = logging.getLogger(__name__)


class AnalyticsState:
    """Everything the plugin keeps for one app, in ``app.extensions["agentidp_analytics"]``."""

    def __init__(
        self,
        db: SQLAlchemy,
        engines: PluginEngines,
        tables: Tables,
        metrics: AnalyticsMetrics,
        api_resolver: Resolver | None,
        ui_resolver: Resolver | None,
    ) -> None:
        self.db = db
        #: The plugin's bounded engines: ``reads`` for requests, ``writes`` for the job.
        self.engines = engines
        self.tables = tables
        self.metrics = metrics
        self.api_resolver = api_resolver
        self.ui_resolver = ui_resolver
        #: The job gauges follow the database, not this process's memory.
        # A scrape reads with the requests' short bounds, not the job's long ones.
        self.job_gauges = JobGauges(metrics, lambda: last_successful_run(self.engines.reads, self.tables))
        self.migrations_registered = False
        self.scheduled = False
        #: Host tables and base template, checked at first use (see :mod:`.host_checks`).
        self.tables_checked = False
        self.base_template_checked = False
        #: Whether the host's usage_events has an index leading with date (checked at the first run).
        self.date_index_checked = False
        #: Set up by ``init_app``: the cache shared by the API and the tab, the
        #: service both call and the API's rate limits.
        self.cache: AnalyticsCache | None = None
        self.service: AnalyticsService | None = None
        self.limiter: RateLimits | None = None
        #: The per-endpoint call counting, when ``ANALYTICS_CALL_PATTERNS_ENABLED`` is on.
        self.call_patterns: call_setup.CallPatterns | None = None

    @property
    def engine(self) -> sa.Engine:
        """The engine the job and the CLI write with (see :mod:`.engines`)."""
        return self.engines.writes

    def resolve_api_tenant(self, request: Request) -> Tenant | None:
        return resolve(self.api_resolver, request, "ANALYTICS_API_TENANT_RESOLVER")

    def resolve_ui_tenant(self, request: Request) -> Tenant | None:
        return resolve(self.ui_resolver, request, "ANALYTICS_UI_TENANT_RESOLVER")

    def aggregate(
        self,
        days: list[date] | None = None,
        *,
        today: date | None = None,
        on_day: ProgressCallback | None = None,
        already_done: Callable[[Connection], bool] | None = None,
    ) -> AggregationReport:
        """Run the roll-up for ``days`` (default: pending ones) and record the job metrics."""
        if not self.tables_checked:
            host_checks.check_tables(self.engine, self.tables)
            self.tables_checked = True
        if not self.date_index_checked:
            self.date_index_checked = True
            _warn_about_missing_date_index(self.engine, self.tables)
        started = time.time()
        report = run_aggregation(
            self.engine,
            self.tables,
            days=days,
            today=today,
            window=current_app.config["ANALYTICS_REAGGREGATE_DAYS"],
            on_day=on_day,
            already_done=already_done,
            on_generation=self.cache.publish_generation if self.cache is not None else None,
            maintenance=TableUpkeep(
                self.tables,
                months_ahead=current_app.config["ANALYTICS_PARTITIONS_AHEAD"],
                retention_days=current_app.config["ANALYTICS_RETENTION_DAYS"],
            ),
        )
        if report.status == "ran":
            ledger = last_successful_run(self.engine, self.tables) if report.days else None
            self.job_gauges.record_run(
                report.seconds, len(report.failed), finished_at=started + report.seconds, ledger_last_run=ledger
            )
        else:  # another process holds the lock or did the work: report what the database knows
            self.job_gauges.refresh(force=True)
        return report

    def upgrade_schema(self) -> list[schema_migrations.Step]:
        """Create or update the plugin's tables (``flask analytics db upgrade``), in an app context."""
        return schema_migrations.upgrade()

    def aggregate_pending(self, today: date | None = None) -> AggregationReport:
        """Catch up every missing day and redo the recent window (``today`` defaults to UTC today here)."""
        return self.aggregate(today=today)

    def aggregate_scheduled(self) -> AggregationReport:
        """The nightly job: :meth:`aggregate_pending` on the database's date, once per slot on every host."""
        now = job_slot.database_now(self.engine)
        config = current_app.config
        since = job_slot.slot_start(now, config["ANALYTICS_JOB_HOUR"], config["ANALYTICS_JOB_MINUTE"])
        return self.aggregate(today=now.date(), already_done=job_slot.already_ran(self.tables, since, now.date()))

    def status(self, today: date | None = None) -> dict[str, Any]:
        """Freshness of the aggregates, for the CLI and for API responses."""
        today = today or utc_today()
        ledger = self.tables.ledger
        with self.engine.connect() as conn:
            days = aggregated_days(conn, self.tables)
            last_run = conn.execute(sa.select(sa.func.max(ledger.c.aggregated_at))).scalar()
            # What the next run will find: the stored first day, or earlier usage not yet seen.
            stored = job_state.read(conn, self.tables).first_event_day
            first_day = job_state.probe_first_event_day(conn, self.tables, stored)
            pending = pending_days(conn, self.tables, today, 0, first_day)
        through = complete_through(days, first_day, today)
        return {
            "last_aggregated_day": days[-1] if days else None,
            "complete_through": through,
            "last_run": last_run,
            "lag_days": None if through is None else ((today - timedelta(days=1)) - through).days,
            "pending_days": len(pending),
        }


class AnalyticsPlugin:
    """Advanced Analytics for an Agent IdP, as a Flask extension.

    Loaded by the host through the ``agentidp.plugins`` entry point, after the
    host has set up Flask-SQLAlchemy (and Flask-Migrate, if the host uses it:
    its autogenerate learns to skip the plugin's tables). Reads these config keys, all defaulted in
    :mod:`agentidp_analytics_plugin.config`:

    ``ANALYTICS_ENABLED``, ``ANALYTICS_FREE_TIER`` (both per request),
    ``ANALYTICS_PAID_TIERS``, ``ANALYTICS_TIER_NAMES``, ``ANALYTICS_UPGRADE_URL``,
    ``ANALYTICS_LOGIN_ENDPOINT``, ``ANALYTICS_LOGIN_NEXT_PARAM``, ``ANALYTICS_API_TENANT_RESOLVER``,
    ``ANALYTICS_UI_TENANT_RESOLVER``, ``ANALYTICS_TENANTS_TABLE``,
    ``ANALYTICS_AGENTS_TABLE``, ``ANALYTICS_USAGE_EVENTS_TABLE``,
    ``ANALYTICS_BASE_TEMPLATE``, ``ANALYTICS_NAV_CONFIG_KEY``,
    ``ANALYTICS_MIGRATION_DEPENDS_ON`` (0.1.0 databases only), ``ANALYTICS_SCHEDULER_ENABLED``,
    ``ANALYTICS_JOB_HOUR``, ``ANALYTICS_JOB_MINUTE``,
    ``ANALYTICS_REAGGREGATE_DAYS``, ``ANALYTICS_DB_STATEMENT_TIMEOUT``,
    ``ANALYTICS_DB_LOCK_TIMEOUT``, ``ANALYTICS_DB_CONNECT_TIMEOUT``,
    ``ANALYTICS_DB_POOL_TIMEOUT``, ``ANALYTICS_JOB_STATEMENT_TIMEOUT``,
    ``ANALYTICS_JOB_LOCK_TIMEOUT``, ``ANALYTICS_READ_DATABASE_URL``, ``ANALYTICS_READ_BIND``,
    ``ANALYTICS_READ_FALLBACK``, ``ANALYTICS_READ_MAX_LAG_SECONDS``, ``ANALYTICS_READ_RETRY_SECONDS``,
    ``ANALYTICS_CACHE_REDIS_URL``,
    ``ANALYTICS_CACHE_TTL_SUMMARY``, ``ANALYTICS_CACHE_TTL_DEFAULT``, ``ANALYTICS_CACHE_TTL_CALL_PATTERNS``,
    ``ANALYTICS_RATELIMIT_ENABLED``, ``ANALYTICS_RATELIMIT``,
    ``ANALYTICS_RATELIMIT_UNAUTHENTICATED``, ``ANALYTICS_RATELIMIT_UI``,
    ``ANALYTICS_RATELIMIT_STORAGE_URI``,
    ``ANALYTICS_CACHE_RETRY_SECONDS``, ``ANALYTICS_CACHE_LOCAL_MAX_BYTES``,
    ``ANALYTICS_METRICS_ENABLED``, ``ANALYTICS_METRICS_REGISTRY``, ``ANALYTICS_METRICS_PATH``,
    ``ANALYTICS_METRICS_TOKEN``, ``ANALYTICS_URL_PREFIX``,
    ``ANALYTICS_GALLERY_ENABLED``, ``ANALYTICS_ROTATION_STALE_DAYS``,
    ``ANALYTICS_HEATMAP_AGENTS``, ``ANALYTICS_CALL_PATTERNS_ENABLED``,
    ``ANALYTICS_CALL_PATTERNS_RESOLVER``, ``ANALYTICS_CALL_PATTERNS_REDIS_URL``,
    ``ANALYTICS_CALL_PATTERNS_PUSH_SECONDS``, ``ANALYTICS_CALL_PATTERNS_FLUSH_SECONDS``.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                "The analytics plugin is already registered on this app. "
                "Call 'init_app' once per app (the host's plugin loader already did)."
            )
        db = app.extensions.get("sqlalchemy")
        if db is None:
            raise RuntimeError(
                "The analytics plugin needs the host's Flask-SQLAlchemy. "
                "Call 'db.init_app(app)' before loading plugins."
            )
        settings.apply_defaults(app.config)
        settings.validate(app.config)
        cfg = app.config

        with app.app_context():
            host_engine = db.engine
        state = AnalyticsState(
            db=db,
            engines=PluginEngines(app, host_engine),
            tables=build_tables(
                cfg["ANALYTICS_TENANTS_TABLE"], cfg["ANALYTICS_AGENTS_TABLE"], cfg["ANALYTICS_USAGE_EVENTS_TABLE"]
            ),
            metrics=build_metrics(ENDPOINTS),
            api_resolver=load_resolver(cfg["ANALYTICS_API_TENANT_RESOLVER"], "ANALYTICS_API_TENANT_RESOLVER"),
            ui_resolver=load_resolver(cfg["ANALYTICS_UI_TENANT_RESOLVER"], "ANALYTICS_UI_TENANT_RESOLVER"),
        )
        app.extensions[EXTENSION_KEY] = state
        _wire_request_path(app, state)
        state.call_patterns = call_setup.install(app, state)

        # The plugin's tables have their own history ('flask analytics db upgrade'):
        # the host's Flask-Migrate only learns to leave them alone.
        state.migrations_registered = migration_setup.register(app)

        _warn_about_missing_resolvers(state)
        blueprint = analytics_blueprint()
        mounting.mount(app, blueprint)
        exempt_from_host_limiters(app, blueprint, state.limiter.limiter)
        check_login_endpoint(app)
        boundary.install(app, lambda: state.engines.read_bound if state.engines.bounded else None)
        app.cli.add_command(analytics_cli)
        state.scheduled = scheduler.schedule(app)


def _warn_about_missing_resolvers(state: AnalyticsState) -> None:
    """Without a resolver every call is refused: say so now, not through a stream of 401s."""
    for key, resolver, what in (
        ("ANALYTICS_API_TENANT_RESOLVER", state.api_resolver, "every JSON API call will answer 401 UNAUTHORIZED"),
        ("ANALYTICS_UI_TENANT_RESOLVER", state.ui_resolver, "nobody can open the Analytics tab"),
    ):
        if resolver is None:
            log.warning(
                "%s is not set: %s. Set it to a callable (or 'module:function') that turns a request into "
                "(tenant_id, tier) or None; see the README, 'Mounting the plugin'.",
                key,
                what,
            )


def _warn_about_missing_date_index(engine: sa.Engine, tables: Tables) -> None:
    """Once per process: without an index leading with ``date``, every run reads all of usage_events."""
    name = tables.usage_events.name
    with engine.connect() as conn:
        statement = job_state.missing_date_index(sa.inspect(conn), name)
    if statement is not None:
        log.warning(
            "The host's table %s has no index leading with its date column, so finding the first day with "
            "usage and aggregating each day read the whole table. Create one: %s (see the README, "
            "'Mounting the plugin').",
            name,
            statement,
        )


def _wire_request_path(app: Flask, state: AnalyticsState) -> None:
    """Cache, service, rate limits and /metrics: what a request goes through."""
    cfg = app.config
    local_bytes = cfg["ANALYTICS_CACHE_LOCAL_MAX_BYTES"]
    state.cache = AnalyticsCache(
        build_cache(app, cfg["ANALYTICS_CACHE_REDIS_URL"]),
        state.metrics,
        backoff=cfg["ANALYTICS_CACHE_RETRY_SECONDS"],
        # In front of Redis only: the in-process backend is local already.
        local=NearCache(local_bytes) if local_bytes and cfg["ANALYTICS_CACHE_REDIS_URL"] else None,
    )
    default_ttl = cfg["ANALYTICS_CACHE_TTL_DEFAULT"]
    reads = ReadRouter(
        lambda: state.engines.reads,
        lambda: state.engines.replica,
        fallback=cfg["ANALYTICS_READ_FALLBACK"],
        max_lag=cfg["ANALYTICS_READ_MAX_LAG_SECONDS"],
        retry_seconds=cfg["ANALYTICS_READ_RETRY_SECONDS"],
        on_fallback=lambda reason: state.metrics.read_fallbacks.labels(reason=reason).inc(),
    )
    state.service = AnalyticsService(
        lambda: state.engines.reads,
        state.tables,
        state.metrics,
        state.cache,
        ttl={
            USAGE_SUMMARY: cfg["ANALYTICS_CACHE_TTL_SUMMARY"],
            AGENT_ACTIVITY: default_ttl,
            TOKEN_TRENDS: default_ttl,
            ROTATIONS: default_ttl,
            CALL_PATTERNS: cfg["ANALYTICS_CACHE_TTL_CALL_PATTERNS"],
            INSIGHTS: default_ttl,
        },
        reads=reads,
    )
    state.limiter = RateLimits(
        app,
        enabled=bool(cfg["ANALYTICS_RATELIMIT_ENABLED"]),
        per_tenant=cfg["ANALYTICS_RATELIMIT"],
        unauthenticated=cfg["ANALYTICS_RATELIMIT_UNAUTHENTICATED"],
        tab=cfg["ANALYTICS_RATELIMIT_UI"],
        storage_uri=cfg["ANALYTICS_RATELIMIT_STORAGE_URI"] or "memory://",
    )
    if cfg["ANALYTICS_METRICS_ENABLED"]:
        exporter.expose(
            app,
            path=cfg["ANALYTICS_METRICS_PATH"],
            host_registry=cfg["ANALYTICS_METRICS_REGISTRY"],
            token=cfg["ANALYTICS_METRICS_TOKEN"],
        )

