"""PostgreSQL dropping connections: pages keep their answers, dead pooled connections are replaced.

The terminations are real (``pg_terminate_backend``); only their moment is
chosen, by an ``after_request`` hook of the test: after the view answered,
before teardown rolls the session back.
"""

from __future__ import annotations

from collections.abc import Iterator

import flask_migrate
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from idp_helpers import login, make_tenant

from reference_idp.extensions import db

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def signed_in(unmigrated_app: Flask) -> Iterator[tuple[Flask, FlaskClient]]:
    """Not the ``app`` fixture: pytest-flask would keep an app context open around the
    requests, and the session would never be closed at teardown, which is what is tested."""
    with unmigrated_app.app_context():
        flask_migrate.upgrade(revision="heads")
        make_tenant("acme", with_user=True)
    client = unmigrated_app.test_client()
    assert login(client, "admin@acme.test").status_code == 302
    yield unmigrated_app, client


def _admin(app: Flask) -> sa.Engine:
    return sa.create_engine(app.config["SQLALCHEMY_DATABASE_URI"], isolation_level="AUTOCOMMIT")


def _terminate(app: Flask, pid: int) -> None:
    admin = _admin(app)
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
    admin.dispose()


def test_a_page_keeps_its_answer_when_the_session_dies_before_teardown(signed_in):
    app, client = signed_in
    terminated = []

    def terminate_session_connection(response):
        if db.session().in_transaction():
            pid = db.session.connection().connection.dbapi_connection.info.backend_pid
            _terminate(app, pid)
            terminated.append(pid)
        return response

    # The client has signed in already, so the hook is added the way Flask stores it.
    app.after_request_funcs.setdefault(None, []).append(terminate_session_connection)

    response = client.get("/")
    assert terminated
    assert response.status_code == 200


def test_a_pooled_connection_the_server_closed_is_replaced_before_use(signed_in):
    app, client = signed_in
    assert client.get("/").status_code == 200  # leaves one connection idle in the pool
    admin = _admin(app)
    with admin.connect() as conn:
        pids = conn.execute(
            sa.text(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            )
        ).scalars().all()
    admin.dispose()
    assert pids
    for pid in pids:
        _terminate(app, pid)
    assert client.get("/").status_code == 200
