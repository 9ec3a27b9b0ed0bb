"""What one more request hook of each kind costs a bare Flask request, in instructions (valgrind's callgrind).

The call-pattern hook needs the request context (the host's caller
resolver reads it), the final status and a start time. Flask offers several
places for that; this counts what each adds, empty, to a trivial route
(``GET /api/ping`` answering ``ok``, WSGI calls straight into the app):

* ``after``: an app-wide ``after_request`` function;
* ``teardown``: an app-wide ``teardown_request`` function;
* ``signal``: a ``request_finished`` receiver connected for the app;
* ``before``: an app-wide ``before_request`` function;
* ``wsgi``: a WSGI middleware (``app.wsgi_app`` wrapped);
* ``dispatch``: a wrapper around the app's ``full_dispatch_request`` (what the plugin uses).

Each kind runs twice under callgrind after the same warm-up, with no
requests and with ``--requests``; the difference over the requests is the
instructions per request, unaffected by the machine's load.

    python benchmarks/bench_flask_hooks.py [--requests 1000]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from typing import Any

from flask import Flask, Response, request_finished
from werkzeug.test import EnvironBuilder

KINDS = ("bare", "after", "teardown", "signal", "before", "wsgi", "dispatch")
WARM_UP = 300


def build(kind: str) -> Flask:
    app = Flask(kind)

    @app.get("/api/ping")
    def ping() -> str:
        return "ok"

    if kind == "after":
        app.after_request(lambda response: response)
    elif kind == "teardown":
        app.teardown_request(lambda error: None)
    elif kind == "signal":

        def received(sender: Flask, response: Response, **extra: Any) -> None:
            pass

        request_finished.connect(received, app, weak=False)
    elif kind == "before":
        app.before_request(lambda: None)
    elif kind == "wsgi":
        inner = app.wsgi_app

        def middleware(environ: dict[str, Any], start_response: Any) -> Any:
            return inner(environ, start_response)

        app.wsgi_app = middleware  # type: ignore[method-assign]
    elif kind == "dispatch":
        dispatch = app.full_dispatch_request

        def full_dispatch_request() -> Response:
            return dispatch()

        app.full_dispatch_request = full_dispatch_request  # type: ignore[method-assign]
    return app


def run(kind: str, requests: int) -> None:
    """What runs under valgrind."""
    template = EnvironBuilder(path="/api/ping").get_environ()
    wsgi = build(kind).wsgi_app

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        assert status.startswith("200")

    for _ in range(WARM_UP + requests):
        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO()
        body = wsgi(environ, start_response)
        b"".join(body)
        if hasattr(body, "close"):
            body.close()


def instructions(kind: str, requests: int) -> int:
    counts = []
    for n in (0, requests):
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__]
            + ["--run", kind, "--requests", str(n)],
            env={**os.environ, "PYTHONHASHSEED": "0"},
            capture_output=True,
            text=True,
            check=True,
        )
        (line,) = [text for text in done.stderr.splitlines() if "Collected :" in text]
        counts.append(int(line.rsplit(":", 1)[1]))
    return (counts[1] - counts[0]) // requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--run", help=argparse.SUPPRESS)  # the child under valgrind
    args = parser.parse_args()
    if args.run:
        run(args.run, args.requests)
        return
    bare = instructions("bare", args.requests)
    print(f"{'kind':9} {'instr/request':>14} {'added':>8}")
    print(f"{'bare':9} {bare:14,} {'-':>8}")
    for kind in KINDS[1:]:
        count = instructions(kind, args.requests)
        print(f"{kind:9} {count:14,} {count - bare:+8,}")


if __name__ == "__main__":
    main()
