#!/usr/bin/env python3
"""How long the heatmap of the largest gallery state (500 agents x 90 days) takes to draw.

Not a timed test (timings vary by machine); run it by hand:

    .venv/bin/python benchmarks/heatmap_render.py [--runs 5]

It serves the gallery on a free port, opens it in headless Chromium
(/usr/bin/chromium) with animation off, presses "Show all 500 agents", and
reports two numbers per run: ``build`` (data-render-ms, measured by
analytics.js around new Chart(...), which includes the first full draw since
animation is off) and ``swap-to-ready`` (from the click to the new canvas
being ready: request, HTML parse, htmx swap and chart build).

Measured 2026-11-25 on the project's CI machine (Debian Chromium, 1280 px,
39,571 active cells of 45,000): build 621 ms median of 5 (range 600-670 ms),
swap-to-ready 1,050 ms. Most of the swap is the 1.3 MB fragment, chiefly the
500 x 90 table alternative; loading that table on demand would halve it.
Exits non-zero if the median build takes a second or more.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import threading
from pathlib import Path

from flask import Flask
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentidp_analytics_plugin import config as settings
from agentidp_analytics_plugin.blueprint import analytics_blueprint

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _app() -> Flask:
    app = Flask(__name__)
    settings.apply_defaults(app.config)
    app.config["ANALYTICS_GALLERY_ENABLED"] = True
    app.register_blueprint(analytics_blueprint())
    return app


def main() -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    server = make_server("127.0.0.1", 0, _app(), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/analytics/_gallery"
    builds, swaps = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for _ in range(args.runs):
            page = browser.new_page(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
            page.goto(url)
            page.wait_for_selector("#aa-heatmap-canvas-agents-500[data-chart-ready=true]")
            page.evaluate(
                """() => { window.__clicked = performance.now();
                           document.getElementById('aa-heatmap-toggle-agents-500').click(); }"""
            )
            page.wait_for_function(
                """() => { const b = document.getElementById('aa-body-heatmap-agents-500');
                           const c = document.getElementById('aa-heatmap-canvas-agents-500');
                           return b.dataset.agentsShown === '500' && c && c.dataset.chartReady === 'true'; }""",
                timeout=30_000,
            )
            build, swap, cells = page.evaluate(
                """() => { const c = document.getElementById('aa-heatmap-canvas-agents-500');
                           return [parseFloat(c.dataset.renderMs), performance.now() - window.__clicked,
                                   window.analyticsCharts.get(c.id).data.datasets[0].data.length]; }"""
            )
            builds.append(build)
            swaps.append(swap)
            print(f"cells={cells} build={build:.0f} ms swap-to-ready={swap:.0f} ms")
            page.close()
        browser.close()
    server.shutdown()
    build_ms, swap_ms = statistics.median(builds), statistics.median(swaps)
    print(f"median of {args.runs}: build {build_ms:.0f} ms, swap-to-ready {swap_ms:.0f} ms")
    return 0 if statistics.median(builds) < 1000 else 1


if __name__ == "__main__":
    sys.exit(main())
