#!/usr/bin/env python3
"""Retake docs/analytics-tab.png: the Analytics tab of a freshly seeded demo, as acme sees it.

Runs the demo the way scripts/demo does (the reference IdP with the plugin,
``idp seed-demo``, ``flask run``) on a scratch SQLite file, signs in as acme and
screenshots the tab in Debian's Chromium with the browser tests' launch settings.
It needs an interpreter with the plugin, the reference host and Playwright
installed, which the browser tests' tox env has::

    tox -e browser --notest && .tox/browser/bin/python -P scripts/screenshot_tab.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # appended: the installed packages win over the source tree

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, _wait_for, log_in, wait_for_charts  # noqa: E402

TARGET = ROOT / "docs" / "analytics-tab.png"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="tab-screenshot-") as folder:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_") and k != "REDIS_URL"}
        env.update(DATABASE_URL=f"sqlite:///{folder}/demo.sqlite", SECRET_KEY="screenshot", IDP_PLUGINS="analytics")
        flask = [sys.executable, "-m", "flask", "--app", "reference_idp"]
        subprocess.run([*flask, "idp", "seed-demo"], env=env, cwd=folder, check=True, capture_output=True)
        port = _free_port()
        server = subprocess.Popen(
            [*flask, "run", "--port", str(port), "--no-reload"],
            env=env,
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for(port, server)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
                base = f"http://127.0.0.1:{port}"
                log_in(page, base, "acme")
                page.goto(f"{base}/analytics/")
                wait_for_charts(page, count=3)
                page.wait_for_selector("#aa-body-rotations[data-state=ready]")
                page.screenshot(path=TARGET, full_page=True)
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(f"wrote {TARGET.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
