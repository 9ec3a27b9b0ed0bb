"""The host's extension instances, created unbound so the factory can bind them per app.

Plugins rely on these exact objects being initialised before they load: the
analytics plugin reads ``app.extensions["sqlalchemy"]`` and registers its own
Alembic versions through ``app.extensions["migrate"]``.
"""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()
migrate = Migrate()
