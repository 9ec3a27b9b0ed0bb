"""The nightly job inside Orbit's own Flask-APScheduler, which keeps Berlin time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from apscheduler.job import Job
from flask import Flask

from .conftest import MakeOrbit

ORBIT_JOB = "orbit-purge-expired-keys"


def _started_paused(make_orbit: MakeOrbit) -> Flask:
    return make_orbit({"ORBIT_START_SCHEDULER": True, "ORBIT_SCHEDULER_PAUSED": True})


def _jobs(app: Flask) -> dict[str, Job]:
    return {job.id: job for job in app.apscheduler.get_jobs()}


def test_mounting_the_plugin_leaves_orbits_scheduler_stopped(make_orbit: MakeOrbit) -> None:
    app = make_orbit()

    assert not app.apscheduler.running


def test_the_nightly_job_joins_orbits_scheduler_beside_orbits_own_job(make_orbit: MakeOrbit) -> None:
    jobs = _jobs(_started_paused(make_orbit))

    assert ORBIT_JOB in jobs
    assert len(jobs) == 2


def test_the_nightly_job_runs_at_its_configured_utc_time_in_a_berlin_scheduler(make_orbit: MakeOrbit) -> None:
    jobs = _jobs(_started_paused(make_orbit))
    (nightly,) = (job for job_id, job in jobs.items() if job_id != ORBIT_JOB)

    next_run = nightly.next_run_time.astimezone(dt.UTC)

    assert (next_run.hour, next_run.minute) == (3, 15)


def test_orbits_own_job_keeps_berlin_time(make_orbit: MakeOrbit) -> None:
    next_run = _jobs(_started_paused(make_orbit))[ORBIT_JOB].next_run_time.astimezone(ZoneInfo("Europe/Berlin"))

    assert (next_run.hour, next_run.minute) == (4, 30)
