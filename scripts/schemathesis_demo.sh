#!/usr/bin/env bash
# Fuzz the analytics JSON API of the reference host demo with schemathesis.
#
# Starts examples/reference_idp (installed in the active environment, with the
# plugin) on a scratch SQLite database, seeds the demo tenants, takes a tenant
# API token for "acme" and runs `schemathesis run docs/openapi.yaml` against
# it. Fails on any 5xx or response that does not match the document.
#
# Rate limits are off for the run (or it would mostly see 429s). Two checks are
# excluded on purpose, see tests/test_schemathesis.py: "positive data acceptance"
# (the period rules tie parameters to each other and to today, which JSON
# Schema cannot express) and "negative data rejection" (unknown query
# parameters are ignored, as documented).
#
# Environment: PYTHON (default: python), SCHEMATHESIS (default: next to PYTHON), PORT (default: 5077),
# MAX_EXAMPLES (default: 50), REDIS_URL (optional: cache and limits on Redis).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
PORT="${PORT:-5077}"
MAX_EXAMPLES="${MAX_EXAMPLES:-50}"
SCHEMATHESIS="${SCHEMATHESIS:-$(dirname "$(command -v "${PYTHON}")")/schemathesis}"
WORK="$(mktemp -d)"
export DATABASE_URL="${DATABASE_URL:-sqlite:///${WORK}/demo.sqlite}"
export FLASK_APP=reference_idp

cleanup() {
  if [[ -n "${SERVER_PID:-}" ]]; then kill "${SERVER_PID}" 2>/dev/null || true; wait "${SERVER_PID}" 2>/dev/null || true; fi
  rm -rf "${WORK}"
}
trap cleanup EXIT

cd "${WORK}"  # run the demo from outside the source tree: the installed packages are what is tested
"${PYTHON}" -m flask idp seed-demo >/dev/null
TOKEN="$("${PYTHON}" -m flask idp token acme | tail -n 1)"

"${PYTHON}" - "${PORT}" <<'PY' &
import sys
from werkzeug.serving import run_simple
from reference_idp import create_app

app = create_app({"ANALYTICS_RATELIMIT_ENABLED": False, "ANALYTICS_SCHEDULER_ENABLED": False})
run_simple("127.0.0.1", int(sys.argv[1]), app, threaded=True)
PY
SERVER_PID=$!

for _ in $(seq 1 100); do
  # Any HTTP answer (401 without a token) means the server is up.
  if "${PYTHON}" -c "
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen('http://127.0.0.1:${PORT}/analytics/usage-summary')
except urllib.error.HTTPError:
    pass
except OSError:
    sys.exit(1)" 2>/dev/null; then break; fi
  sleep 0.2
done

"${SCHEMATHESIS}" run "${ROOT}/docs/openapi.yaml" \
  --url "http://127.0.0.1:${PORT}" \
  --header "Authorization: Bearer ${TOKEN}" \
  --checks all \
  --exclude-checks positive_data_acceptance,negative_data_rejection \
  --max-examples "${MAX_EXAMPLES}" \
  --mode positive
