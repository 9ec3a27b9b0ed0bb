"""Orbit's own scheduled housekeeping."""

from __future__ import annotations


def purge_expired_keys() -> None:
    """Placeholder for Orbit's nightly key expiry (04:30 Berlin time)."""
