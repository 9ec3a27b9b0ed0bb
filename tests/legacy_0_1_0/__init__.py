"""Databases as plugin 0.1.0 left them, built for real by Alembic, for upgrade tests."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from flask import Flask

VERSIONS = str(Path(__file__).parent)


def build_0_1_0_database(app: Flask, depends_on: str | None) -> None:
    """Run the host's ``upgrade heads`` with the plugin's revision as a branch, as 0.1.0 did.

    ``depends_on`` is the host's ``ANALYTICS_MIGRATION_DEPENDS_ON`` at the time
    (None: the plugin's branch had no dependency).
    """
    with app.app_context():
        app.config["ANALYTICS_MIGRATION_DEPENDS_ON"] = depends_on
        config = app.extensions["migrate"].migrate.get_config()
        host_versions = os.path.join(config.get_main_option("script_location"), "versions")
        config.set_main_option("path_separator", "os")  # Alembic 1.16+; read first when present
        config.set_main_option("version_path_separator", "os")  # older Alembic
        config.set_main_option("version_locations", os.pathsep.join([host_versions, VERSIONS]))
        command.upgrade(config, "heads")
