"""Advanced Analytics for a Flask-based Agent IdP.

``analytics`` is the object the host's ``agentidp.plugins`` entry point names.
"""

from __future__ import annotations

from .aggregation import AggregationReport
from .extension import AnalyticsPlugin, AnalyticsState

analytics = AnalyticsPlugin()

__all__ = ["AggregationReport", "AnalyticsPlugin", "AnalyticsState", "analytics"]
