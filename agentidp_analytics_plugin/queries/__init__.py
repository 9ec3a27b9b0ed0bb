"""The read queries of the analytics, one module per dimension.

Each module turns one question (a tenant's usage summary, agent activity,
token trends, credential rotations, its agents) into set-based SQL over
``analytics_daily_aggregates`` and the host's agents, run on a connection the
service hands in, and arranges the few result rows into the response shape of
:mod:`..types`. They know nothing of HTTP, caching or metrics: that is the
service's job (:mod:`..service`). A new dimension is one more module here and
one more service method.
"""
