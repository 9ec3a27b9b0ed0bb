"""The published contract: the OpenAPI document shipped inside the installed package."""

from __future__ import annotations

import functools
from importlib.resources import files
from typing import Any

import jsonschema_rs
import yaml
from flask.testing import FlaskClient
from werkzeug.test import TestResponse


@functools.cache
def _spec() -> dict[str, Any]:
    return yaml.safe_load(files("agentidp_analytics_plugin").joinpath("openapi.yaml").read_text(encoding="utf-8"))


def schema_errors(schema_name: str, body: Any) -> list[str]:
    """Why ``body`` does not match ``#/components/schemas/<schema_name>`` (empty when it does)."""
    validator = jsonschema_rs.validator_for(
        {"$ref": f"#/components/schemas/{schema_name}", "components": _spec()["components"]}, validate_formats=True
    )
    return [str(error) for error in validator.iter_errors(body)]


def api_get(client: FlaskClient, path: str, key: str | None, **params: str) -> TestResponse:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return client.get(path, query_string=params, headers=headers)
