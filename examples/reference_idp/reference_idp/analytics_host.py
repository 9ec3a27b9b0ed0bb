"""The host side of the analytics plugin's contract: who is asking, as (tenant_id, tier).

The plugin never parses host credentials; it calls these resolvers, named in
``ANALYTICS_API_TENANT_RESOLVER`` and ``ANALYTICS_UI_TENANT_RESOLVER``. For
its per-endpoint call counting it reads ``g.api_caller``, where the agent API
and the token endpoint keep who called (``ANALYTICS_CALL_PATTERNS_CALLER_ATTR``).
"""

from __future__ import annotations

import uuid

from flask import Request

from .auth import current_user
from .security import TENANT_TOKEN_PREFIX, bearer_token
from .tokens import tenant_for_api_token

TenantIdentity = tuple[uuid.UUID, str]


def resolve_api_tenant(request: Request) -> TenantIdentity | None:
    """``Authorization: Bearer idp_...`` (a tenant API token) -> (tenant_id, tier), else None.

    Agent access tokens are deliberately not accepted: analytics belong to
    the tenant, not to any one of its agents.
    """
    token = bearer_token(request.headers.get("Authorization"))
    if token is None or not token.startswith(TENANT_TOKEN_PREFIX):
        return None
    tenant = tenant_for_api_token(token)
    if tenant is None:
        return None
    return tenant.id, tenant.tier


def resolve_session_tenant(request: Request) -> TenantIdentity | None:
    """The signed-in dashboard user's tenant -> (tenant_id, tier), else None.

    ``request`` is part of the resolver signature; the session it carries is
    read through Flask's request context.
    """
    user = current_user()
    if user is None:
        return None
    return user.tenant.id, user.tenant.tier
