"""The application factory: core extensions, host blueprints, then plugins.

Order matters for plugins: they expect the database, migrations and their
configuration keys to be in place when their ``init_app`` runs, and they
append to the navigation the host has already defined.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from . import agent_api, auth, dashboard, oauth
from .cli import idp_cli
from .config import configure
from .csrf import check_csrf, csrf_token
from .database import init_database
from .extensions import db, migrate
from .headers import add_security_headers
from .migrations_info import migrations_directory
from .nav import nav_links
from .plugins import load_plugins


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the host IdP; ``test_config`` overrides environment-derived settings."""
    app = Flask("reference_idp", instance_relative_config=True)
    configure(app, test_config)

    init_database(app)
    # render_as_batch: SQLite can only ALTER tables by copying them.
    migrate.init_app(app, db, directory=migrations_directory(), render_as_batch=True)

    for blueprint in (auth.bp, dashboard.bp, oauth.bp, agent_api.bp):
        app.register_blueprint(blueprint)
    app.before_request(check_csrf)
    app.after_request(add_security_headers)
    app.jinja_env.globals.update(csrf_token=csrf_token, nav_links=nav_links)
    app.context_processor(lambda: {"current_user": auth.current_user()})
    app.cli.add_command(idp_cli)

    load_plugins(app)
    return app
