"""Packaging for agentidp-analytics-plugin.

The top-level ``templates/``, ``static/`` and ``migrations/`` folders are mapped
*into* the package so that a plain ``pip install .`` (not editable) ships a
working plugin: Jinja finds its templates, the blueprint serves its assets and
Alembic finds the revision, all through ``importlib.resources``.
"""

from pathlib import Path

from setuptools import setup

PACKAGE = "agentidp_analytics_plugin"

setup(
    name="agentidp-analytics-plugin",
    version="0.1.0",
    description="Advanced Analytics for a Flask-based Agent IdP: nightly roll-up, JSON API, HTMX dashboard tab.",
    long_description=Path("README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=[
        PACKAGE,
        f"{PACKAGE}.queries",
        f"{PACKAGE}.ui",
        f"{PACKAGE}.templates",
        f"{PACKAGE}.static",
        f"{PACKAGE}.migrations",
        f"{PACKAGE}.migrations.versions",
    ],
    package_dir={
        PACKAGE: PACKAGE,
        f"{PACKAGE}.templates": "templates",
        f"{PACKAGE}.static": "static",
        f"{PACKAGE}.migrations": "migrations",
        f"{PACKAGE}.migrations.versions": "migrations/versions",
    },
    package_data={
        f"{PACKAGE}.templates": ["**/*.html"],
        f"{PACKAGE}.static": ["*.js", "*.css", "vendor/*.js", "vendor/*.json", "vendor/*.txt"],
        f"{PACKAGE}.migrations": ["*.md"],
        f"{PACKAGE}.migrations.versions": ["*.py"],
        PACKAGE: ["py.typed", "openapi.yaml"],
    },
    include_package_data=False,
    # Lower bounds are tested by `tox -e lowest` (constraints-lowest.txt), the newest
    # releases by `tox -e newest`; upper bounds stop at the next major version.
    install_requires=[
        "Flask>=2.2.5,<4",
        "Werkzeug>=2.2.3",
        "Flask-SQLAlchemy>=3.0.3,<4",
        "SQLAlchemy>=2.0.42,<2.2",
        "Flask-Migrate>=4.0,<5",
        "alembic>=1.9",
        "Flask-Caching>=2.0.2,<3",
        "Flask-APScheduler>=1.12,<2",
        "APScheduler>=3.10.2,<4",
        "Flask-Limiter>=3.2,<5",
        "prometheus-flask-exporter>=0.22,<0.24",
        "prometheus-client>=0.20",
        "redis>=4.5",
        "Jinja2>=3.1.2",
        "click>=8.1.3",
    ],
    extras_require={
        "postgresql": ["psycopg[binary]>=3.1.8"],
        # redis-py parses replies in C when hiredis is installed: a cache hit of a
        # multi-megabyte answer reads it about 6 times faster (docs/benchmarks.md).
        "hiredis": ["hiredis>=3.0"],
    },
    entry_points={
        "agentidp.plugins": ["analytics = agentidp_analytics_plugin:analytics"],
    },
    classifiers=[
        "Framework :: Flask",
        "Programming Language :: Python :: 3",
    ],
)
