"""The host's plan names, as the plugin says them: the 403 message and the upgrade panel.

A host calls its plans what it likes (``ANALYTICS_PAID_TIERS`` holds the
tier values its resolvers return); ``ANALYTICS_TIER_NAMES`` maps a tier value
to the name people see ("growth" -> "Growth", "scale" -> "Scale Plus"), and a
tier without an entry is shown with its first letter capitalised. So the copy
always names the host's own paid plans and the tenant's own plan, never a
fixed list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flask import current_app


def display_name(tier: str, names: Mapping[str, str] | None = None) -> str:
    """The name of ``tier`` in the copy: its ``ANALYTICS_TIER_NAMES`` entry (any case), else capitalised."""
    names = current_app.config["ANALYTICS_TIER_NAMES"] if names is None else names
    lowered = {key.lower(): value for key, value in names.items()}
    return lowered.get(tier.lower()) or tier[:1].upper() + tier[1:]


def paid_plan_names() -> list[str]:
    """The display names of ``ANALYTICS_PAID_TIERS``, in the configured order."""
    return [display_name(tier) for tier in current_app.config["ANALYTICS_PAID_TIERS"]]


def either(names: Sequence[str], last: str = "or") -> str:
    """``["Growth", "Scale", "Max"]`` -> ``"Growth, Scale or Max"``."""
    if len(names) <= 1:
        return "".join(names)
    return f"{', '.join(names[:-1])} {last} {names[-1]}"


def plan_required_message(tier: str | None) -> str:
    """The 403 ``ANALYTICS_NOT_AVAILABLE`` message: the plans that have analytics and the tenant's own."""
    message = f"Analytics require the {either(paid_plan_names())} plan"
    if tier:
        message += f"; this workspace is on the {display_name(tier)} plan"
    return message + "."


def upgrade_context(tier: str | None) -> dict[str, Any]:
    """What ``agentidp_analytics/partials/upgrade.html`` renders (documented for template overrides)."""
    return {
        "paid_plans": paid_plan_names(),
        "tenant_plan": display_name(tier) if tier else None,
        "upgrade_url": current_app.config["ANALYTICS_UPGRADE_URL"],
    }

