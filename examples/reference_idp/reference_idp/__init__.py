"""agentidp reference host: a small Flask Agent IdP that loads plugins by entry point."""

from __future__ import annotations

from .app import create_app

__all__ = ["create_app"]
