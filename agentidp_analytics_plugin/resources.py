"""Where the package data (templates, static files, migrations) lives.

Installed, it sits inside the package (setup.py maps the top-level folders in).
In a source checkout imported directly (``flask`` puts the current directory
on sys.path, so running it from the repository root imports the source tree),
the folders are at the top level instead.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE = "agentidp_analytics_plugin"


def data_dir(name: str) -> str:
    """Absolute path of the ``templates``, ``static`` or ``migrations`` folder."""
    try:
        return str(files(f"{PACKAGE}.{name}"))
    except ModuleNotFoundError:
        return str(Path(__file__).resolve().parent.parent / name)
