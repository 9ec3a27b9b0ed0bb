"""The rotation table's documented order, written out in Python: the oracle the SQL is checked against."""

from __future__ import annotations

from typing import Any

from agentidp_analytics_plugin.params import ROTATION_DEFAULT_SORT, ROTATION_SORT_KEYS


def sort_rows(rows: list[dict[str, Any]], sort: str, direction: str) -> list[dict[str, Any]]:
    """Rows in the order the table promises: by the column, then stalest first, then by name and id."""
    if sort not in ROTATION_SORT_KEYS:
        sort = ROTATION_DEFAULT_SORT
    desc = direction == "desc"
    ordered = sorted(rows, key=lambda r: (r["agentName"].lower(), r["agentId"]))  # the tie-break
    if sort == "stale":
        ordered = sorted(ordered, key=lambda r: (r["lastRotation"] is not None, r["lastRotation"] or ""))
        return sorted(ordered, key=lambda r: r["stale"], reverse=desc)
    if sort == "agent":
        return sorted(ordered, key=lambda r: r["agentName"].lower(), reverse=desc)
    if sort == "rotations":
        return sorted(ordered, key=lambda r: r["rotations"], reverse=desc)
    field = "lastRotation" if sort == "last_rotation" else "meanDaysBetween"
    present = sorted((r for r in ordered if r[field] is not None), key=lambda r: r[field], reverse=desc)
    missing = [r for r in ordered if r[field] is None]
    return missing + present if (sort == "last_rotation" and not desc) else present + missing
