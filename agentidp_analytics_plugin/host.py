"""How the plugin learns, per request, which tenant is asking.

The host owns authentication: it hands the plugin two resolvers (for the
JSON API's Bearer tokens and for the dashboard session) that turn a request
into ``(tenant_id, tier)`` or None. The plugin never parses host tokens, and
it checks what the host's code returns rather than trusting it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Request
from sqlalchemy import exc as sa_exc
from werkzeug.utils import import_string

from .errors import HostContractError


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


def resolve(resolver: Resolver | None, request: Request, key: str) -> Tenant | None:
    """Call the host resolver named by config ``key`` and check what it returns.

    None (or anything falsy) means "nobody signed in". A database outage inside
    the resolver propagates as it is, for the plugin's 503 handling; any other
    exception, or an answer of the wrong shape, is a broken host contract:
    logged with the traceback and raised as :class:`HostContractError` (a JSON
    500 ``INTERNAL_ERROR`` on the API), never the host's HTML error page.
    """
    if resolver is None:
        return None
    try:
        found = resolver(request)
    except (sa_exc.OperationalError, sa_exc.InterfaceError):
        raise
    except Exception as exc:
        raise HostContractError(f"{key} ({_name(resolver)}) raised {type(exc).__name__}: {exc}") from exc
    if not found:
        return None
    if isinstance(found, (tuple, list)) and len(found) == 2:
        tenant_id, tier = found
    elif hasattr(found, "tenant_id") and hasattr(found, "tier"):
        tenant_id, tier = found.tenant_id, found.tier
    else:
        raise HostContractError(
            f"{key} ({_name(resolver)}) must return (tenant_id, tier), an object with .tenant_id and .tier, "
            f"or None; it returned {_describe(found)}."
        )
    try:
        tenant_uuid = tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
    except ValueError:
        raise HostContractError(
            f"{key} ({_name(resolver)}) returned a tenant id that is not a UUID: {_describe(tenant_id)}."
        ) from None
    if not isinstance(tier, str) or not tier:
        raise HostContractError(f"{key} ({_name(resolver)}) returned a tier that is not a name: {_describe(tier)}.")
    return Tenant(tenant_uuid, tier)


def _name(resolver: Resolver) -> str:
    return f"{getattr(resolver, '__module__', '?')}:{getattr(resolver, '__qualname__', repr(resolver))}"


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:80]}{'...' if len(text) > 80 else ''}"
