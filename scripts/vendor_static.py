#!/usr/bin/env python3
"""Vendor the Analytics tab's browser libraries from npm into ``static/vendor/``.

Why vendor at all: ``pip install`` of the plugin must give a working tab with
no Node toolchain, and the host's CSP (``script-src 'self'``) forbids CDNs. So
the exact builds pinned by ``package-lock.json`` are committed, together with
their licences and a manifest (``VENDORED.json``) recording where every byte
came from.

Usage::

    python scripts/vendor_static.py          # re-vendor from the lock
    python scripts/vendor_static.py --check  # CI: fail if static/vendor/ drifted

Both modes run ``npm ci --ignore-scripts`` in a throw-away directory (never in
the repository, so no ``node_modules`` appears there and no package script
runs). ``--check`` rebuilds into a temporary folder and compares it with the
committed files, byte for byte, manifest included.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR_DIR = ROOT / "static" / "vendor"
MANIFEST_NAME = "VENDORED.json"


@dataclass(frozen=True)
class Asset:
    """One file taken from an installed npm package."""

    package: str
    source: str  # path inside node_modules/<package>/
    target: str  # file name inside static/vendor/


# Browser builds first, then the licences that must travel with them.
# chart.umd.min.js bundles @kurkle/color, so its licence ships too.
# Licence targets end in .txt because that is what setup.py packages.
ASSETS: tuple[Asset, ...] = (
    Asset("chart.js", "dist/chart.umd.min.js", "chart.umd.min.js"),
    Asset("chartjs-chart-matrix", "dist/chartjs-chart-matrix.min.js", "chartjs-chart-matrix.min.js"),
    Asset("htmx.org", "dist/htmx.min.js", "htmx.min.js"),
    Asset("chart.js", "LICENSE.md", "chart.js.LICENSE.txt"),
    Asset("@kurkle/color", "LICENSE.md", "kurkle-color.LICENSE.txt"),
    Asset("chartjs-chart-matrix", "LICENSE", "chartjs-chart-matrix.LICENSE.txt"),
    Asset("htmx.org", "LICENSE", "htmx.org.LICENSE.txt"),
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _npm_ci(workdir: Path) -> Path:
    """Install exactly the lock into ``workdir`` and return its node_modules."""
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(ROOT / name, workdir / name)
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm not found: install Node.js (only needed to re-vendor, never to pip install)")
    try:
        subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=workdir,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        registry = subprocess.run(
            [npm, "config", "get", "registry"], capture_output=True, text=True, check=False
        ).stdout.strip()
        sys.exit(
            f"npm ci failed (exit {exc.returncode}; npm's own error is above), so nothing was vendored "
            "and static/vendor/ is unchanged. It downloads the packages pinned in package-lock.json "
            f"from the npm registry ({registry or 'see: npm config get registry'}): check that this "
            "machine reaches it (network, proxy: npm config get proxy), then run this again."
        )
    return workdir / "node_modules"


def _lock_entry(lock: dict, package: str) -> dict:
    try:
        return lock["packages"][f"node_modules/{package}"]
    except KeyError:
        sys.exit(f"{package} is not in package-lock.json: add it to package.json and run npm install")


def build(dest: Path) -> None:
    """Write every asset and the manifest into ``dest`` (which must exist)."""
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="vendor-npm-") as tmp:
        modules = _npm_ci(Path(tmp))
        files = []
        for asset in ASSETS:
            entry = _lock_entry(lock, asset.package)
            installed = json.loads((modules / asset.package / "package.json").read_text(encoding="utf-8"))
            if installed["version"] != entry["version"]:
                sys.exit(f"{asset.package}: npm installed {installed['version']}, lock says {entry['version']}")
            target = dest / asset.target
            shutil.copyfile(modules / asset.package / asset.source, target)
            files.append(
                {
                    "file": asset.target,
                    "package": asset.package,
                    "version": entry["version"],
                    "integrity": entry["integrity"],
                    "source": f"node_modules/{asset.package}/{asset.source}",
                    "sha256": _sha256(target),
                }
            )
    manifest = {
        "generatedBy": "scripts/vendor_static.py from package-lock.json",
        "files": files,
    }
    (dest / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def expected_names() -> set[str]:
    return {a.target for a in ASSETS} | {MANIFEST_NAME}


def vendor() -> None:
    """Replace the vendored files with a fresh build from the lock."""
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vendor-out-") as tmp:
        out = Path(tmp)
        build(out)
        for stale in VENDOR_DIR.iterdir():
            if stale.is_file() and stale.name not in expected_names():
                stale.unlink()
        for name in sorted(expected_names()):
            shutil.copyfile(out / name, VENDOR_DIR / name)
    print(f"vendored {len(ASSETS)} files into {VENDOR_DIR.relative_to(ROOT)}/")


def check() -> list[str]:
    """Return the differences between static/vendor/ and a fresh build."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vendor-check-") as tmp:
        out = Path(tmp)
        build(out)
        committed = {p.name for p in VENDOR_DIR.iterdir() if p.is_file()} if VENDOR_DIR.is_dir() else set()
        for name in sorted(expected_names() - committed):
            problems.append(f"missing: static/vendor/{name}")
        for name in sorted(committed - expected_names()):
            problems.append(f"unexpected: static/vendor/{name}")
        for name in sorted(expected_names() & committed):
            if not filecmp.cmp(out / name, VENDOR_DIR / name, shallow=False):
                problems.append(f"differs from the lock: static/vendor/{name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="verify static/vendor/ matches the lock; change nothing")
    args = parser.parse_args(argv)
    if not args.check:
        vendor()
        return 0
    problems = check()
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print("run: python scripts/vendor_static.py  (then commit static/vendor/)", file=sys.stderr)
        return 1
    print("static/vendor/ matches package-lock.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
