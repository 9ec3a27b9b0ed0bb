"""The host of ``bench_scale.py``'s section 2b as gunicorn serves it: the cache hit over HTTP.

The same app as the in-process rows (:func:`bench_scale.host_app`): the same
database (``BENCH_SCALE_DATABASE_URL``), Redis, settings and floor routes.
The floors' bytes are the API answer the benchmark left in Redis.
"""

from __future__ import annotations

import os

from bench_scale import SAME_BYTES_KEY, host_app

from agentidp_analytics_plugin.redis_urls import redis_client
from testenv import REDIS_URL

app, same_bytes = host_app(os.environ["BENCH_SCALE_DATABASE_URL"])
same_bytes[0] = redis_client(REDIS_URL).get(SAME_BYTES_KEY)
