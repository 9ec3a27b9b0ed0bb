"""Security headers on every response, the plugin's pages included.

The CSP forbids inline script and style, so templates link static files only.
"""

from __future__ import annotations

from flask import Response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def add_security_headers(response: Response) -> Response:
    """``after_request`` hook; a view that set its own value keeps it."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
