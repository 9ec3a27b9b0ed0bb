"""What the fault suite's gunicorn serves: the reference host, its rate limits out of the way of the load."""

from __future__ import annotations

from reference_idp import create_app

app = create_app(
    {
        # The load sends hundreds of requests a second per tenant; the limiter still runs (on Redis).
        "ANALYTICS_RATELIMIT": "1000000 per minute",
        "ANALYTICS_RATELIMIT_UNAUTHENTICATED": "1000000 per minute",
        "ANALYTICS_SCHEDULER_ENABLED": False,
    }
)
