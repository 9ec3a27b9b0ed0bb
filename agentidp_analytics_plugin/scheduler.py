"""Schedule the nightly roll-up at 00:05 UTC with Flask-APScheduler.

The job is started only by processes that serve requests. ``flask db
upgrade`` and every other CLI command also build the app, and ``flask run
--debug`` builds it twice (the reloader's parent and child): starting there
would run the job in processes that exit, or twice. Under gunicorn each worker
starts one, and so does every app host; the advisory lock and the slot check
(``job_slot``) make exactly one of them work each night.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC

import click
from flask import Flask
from flask.helpers import get_debug_flag

from .state import get_state

log = logging.getLogger(__name__)

JOB_ID = "agentidp_analytics.daily_aggregation"
#: Moves counted API calls from Redis into analytics_call_patterns (see call_flush.py).
FLUSH_JOB_ID = "agentidp_analytics.call_patterns_flush"


def should_start(app: Flask) -> bool:
    if not app.config["ANALYTICS_SCHEDULER_ENABLED"] or app.testing:
        return False
    ctx = click.get_current_context(silent=True)
    if ctx is None:  # a WSGI server importing the app
        return True
    if ctx.info_name != "run":  # flask db ..., flask analytics ..., flask shell
        return False
    reload = ctx.params.get("reload")
    if reload is None:
        reload = get_debug_flag()
    return not reload or os.environ.get("WERKZEUG_RUN_MAIN") == "true"


def run_scheduled_job(app: Flask) -> None:
    """The scheduled entry point: one catch-up run inside an app context."""
    with app.app_context():
        report = get_state(app).aggregate_scheduled()
        log.info(
            "Analytics aggregation %s: %d day(s), %d rows in, %d rows out, %.2fs, %d failed.",
            report.status, len(report.days), report.rows_in, report.rows_out, report.seconds, len(report.failed),
        )


def run_call_patterns_flush(app: Flask) -> None:
    """The scheduled flush of counted API calls; a failure is logged and retried on the next run."""
    from .call_setup import flush

    with app.app_context():
        state = get_state(app)
        try:
            report = flush(state)
        except Exception:
            state.metrics.call_pattern_errors.labels(stage="flush").inc()
            log.warning("Flushing call patterns failed; the next run retries.", exc_info=True)
            return
        if report.applied or report.duplicates:
            log.info("Call patterns flushed: %s.", report)


def schedule(app: Flask) -> bool:
    """Add the job to the host's scheduler (or a new one); True if it will run here."""
    if not should_start(app):
        return False
    from flask_apscheduler import APScheduler

    scheduler = getattr(app, "apscheduler", None)
    owned = scheduler is None
    if owned:
        app.config.setdefault("SCHEDULER_TIMEZONE", "UTC")
        scheduler = APScheduler()
        scheduler.init_app(app)
    scheduler.add_job(
        id=JOB_ID,
        func=run_scheduled_job,
        args=[app],
        trigger="cron",
        hour=app.config["ANALYTICS_JOB_HOUR"],
        minute=app.config["ANALYTICS_JOB_MINUTE"],
        timezone=UTC,
        replace_existing=True,
        coalesce=True,
        max_instances=1,
        misfire_grace_time=6 * 3600,
    )
    patterns = get_state(app).call_patterns
    if patterns is not None and patterns.redis is not None:
        # Every worker runs it; claiming a Redis hash is atomic, adding a batch happens once.
        scheduler.add_job(
            id=FLUSH_JOB_ID,
            func=run_call_patterns_flush,
            args=[app],
            trigger="interval",
            seconds=app.config["ANALYTICS_CALL_PATTERNS_FLUSH_SECONDS"],
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
    if owned:
        scheduler.start()
    return True
