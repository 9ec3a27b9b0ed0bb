"""How the plugin learns, per request, which tenant is asking.

The host owns authentication: it hands the plugin two resolvers (for the
JSON API's Bearer tokens and for the dashboard session) that turn a request
into ``(tenant_id, tier)`` or None. The plugin never parses host tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Request
from werkzeug.utils import import_string


@dataclass(frozen=True)
class Tenant:
    id: uuid.UUID
    tier: str


Resolver = Callable[[Request], Any]


def load_resolver(value: Resolver | str | None, key: str) -> Resolver | None:
    """Accept a callable or a ``"module:attr"`` import string from config."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = import_string(value.replace(":", "."))
        except ImportError as exc:
            raise ValueError(f"{key}={value!r} cannot be imported: {exc}") from exc
    if not callable(value):
        raise ValueError(f"{key} must be a callable or an import string naming one, got {value!r}.")
    return value


def resolve(resolver: Resolver | None, request: Request) -> Tenant | None:
    """Call a host resolver and normalise what it returns."""
    if resolver is None:
        return None
    found = resolver(request)
    if not found:
        return None
    tenant_id, tier = found if isinstance(found, tuple) else (found.tenant_id, found.tier)
    if not isinstance(tenant_id, uuid.UUID):
        tenant_id = uuid.UUID(str(tenant_id))
    return Tenant(tenant_id, str(tier))
