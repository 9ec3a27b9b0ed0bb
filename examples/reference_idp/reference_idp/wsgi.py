"""WSGI entry point for servers such as gunicorn: ``gunicorn reference_idp.wsgi:app``."""

from __future__ import annotations

from . import create_app

app = create_app()
