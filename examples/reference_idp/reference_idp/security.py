"""Secret handling in one place, so every credential is generated, stored and checked alike.

Secrets and tokens are long random values, so a plain SHA-256 digest is a safe
storage form (no salt or slow hash needed, unlike passwords) and lets the
database look a token up by its hash through a unique index.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

TENANT_TOKEN_PREFIX = "idp_"  # noqa: S105 (a prefix, not a secret)
CLIENT_ID_PREFIX = "agt_"


def hash_secret(value: str) -> str:
    """Return the hex SHA-256 digest under which a secret or token is stored."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def secret_matches(value: str, stored_hash: str) -> bool:
    """Compare a presented secret with a stored hash in constant time."""
    return hmac.compare_digest(hash_secret(value), stored_hash)


def new_client_id() -> str:
    """A public, unguessable-enough client identifier for an agent."""
    return CLIENT_ID_PREFIX + secrets.token_hex(12)


def new_client_secret() -> str:
    """A client secret, shown once to its owner and then kept only as a hash."""
    return secrets.token_urlsafe(32)


def new_access_token() -> str:
    """An opaque agent access token (the hash is the only server-side copy)."""
    return secrets.token_urlsafe(32)


def new_tenant_api_token() -> str:
    """A tenant API token; the ``idp_`` prefix makes leaked tokens easy to scan for."""
    return TENANT_TOKEN_PREFIX + secrets.token_urlsafe(32)


def bearer_token(authorization: str | None) -> str | None:
    """Extract the credential of an ``Authorization: Bearer <token>`` header, or None."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token
