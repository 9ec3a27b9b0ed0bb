"""Reading a Prometheus text exposition the way Prometheus does, for the metrics tests."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

SPEC_METRICS = [
    ("agentidp_analytics_query_duration_ms", "histogram"),
    ("agentidp_analytics_cache_hits_total", "counter"),
    ("agentidp_analytics_cache_misses_total", "counter"),
    ("agentidp_analytics_aggregation_job_duration_ms", "gauge"),
    ("agentidp_analytics_aggregation_job_last_run", "gauge"),
]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample as ``{(name, sorted labels): value}``; a sample seen twice fails the test."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in found, f"{key} exposed twice"
            found[key] = sample.value
    return found


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, tuple(sorted(labels.items()))))


def type_lines(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"# TYPE {name} ")]
