#!/usr/bin/env bash
# The docker-compose topology without Docker: PostgreSQL, Redis, gunicorn and a real Celery worker,
# with production settings (DEBUG=0). Needs PostgreSQL (trust auth, user postgres) and Redis on
# 127.0.0.1 and the virtualenv from `make install`. Prints one line per check; exits non-zero on
# any failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY=.venv/bin/python
PORT="${TOPOLOGY_PORT:-8765}"
BASE="http://127.0.0.1:${PORT}"
DB=portal_topology
PSQL=(env PGOPTIONS=--client-min-messages=warning psql -h 127.0.0.1 -U postgres -X -q -v ON_ERROR_STOP=1)

[ -x "$PY" ] || { echo "FAIL  $PY is missing: run 'make install' first"; exit 1; }

failures=0
ok()   { echo "ok    $*"; }
fail() { echo "FAIL  $*"; failures=$((failures + 1)); }
die()  { echo "FAIL  $*"; exit 1; }

WORK="$(mktemp -d -t topology.XXXXXX)"
GUNICORN_PID=""
WORKER_PID=""

stop() {
    local pid
    for pid in $GUNICORN_PID $WORKER_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $GUNICORN_PID $WORKER_PID; do
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}

on_exit() {
    local status=$?
    stop
    if [ "$status" -ne 0 ] || [ "$failures" -ne 0 ]; then
        for log in "$WORK"/*.log; do
            [ -s "$log" ] || continue
            echo "----- last lines of $(basename "$log") -----"
            tail -n 40 "$log"
        done
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# Production settings, as docker-compose.yml gives them (plain HTTP here, hence no SSL redirect).
export DEBUG=0
SECRET_KEY="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(48))')"
FIELD_ENCRYPTION_KEY="$("$PY" -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')"
export SECRET_KEY FIELD_ENCRYPTION_KEY
export SECURE_SSL_REDIRECT=0
export ALLOWED_HOSTS=127.0.0.1,localhost
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/${DB}"
export REDIS_URL=redis://127.0.0.1:6379/14
export STATIC_ROOT="$WORK/static"
export MEDIA_ROOT="$WORK/media"
unset SQLITE_PATH CSRF_TRUSTED_ORIGINS SECURE_HSTS_SECONDS

echo "== production topology: gunicorn on $BASE, PostgreSQL database $DB, Redis db 14"

pg_isready -h 127.0.0.1 -q || die "PostgreSQL is not accepting connections on 127.0.0.1"
[ "$(redis-cli -h 127.0.0.1 ping 2>/dev/null)" = "PONG" ] || die "Redis does not answer on 127.0.0.1"
if curl -s -o /dev/null --max-time 2 "$BASE/"; then
    die "port $PORT is already in use (set TOPOLOGY_PORT)"
fi

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS ${DB} WITH (FORCE)" \
    && "${PSQL[@]}" -d postgres -c "CREATE DATABASE ${DB}" \
    || die "could not recreate database $DB"
ok "fresh database $DB"
redis-cli -h 127.0.0.1 -n 14 flushdb >/dev/null || die "could not empty Redis db 14"
ok "empty Redis db 14"

"$PY" manage.py migrate --noinput -v 0 >"$WORK/migrate.log" 2>&1 || die "migrate"
ok "migrate"
"$PY" manage.py collectstatic --noinput -v 0 >"$WORK/collectstatic.log" 2>&1 || die "collectstatic"
[ -s "$STATIC_ROOT/staticfiles.json" ] || die "collectstatic wrote no manifest (staticfiles.json)"
ok "collectstatic (manifest written)"
if command -v msgfmt >/dev/null 2>&1; then
    "$PY" manage.py compilemessages --ignore=.venv -v 0 >"$WORK/compilemessages.log" 2>&1 \
        || die "compilemessages"
    ok "compilemessages"
else
    echo "skip  compilemessages (no msgfmt; the committed .mo files are used)"
fi
"$PY" manage.py seed_demo >"$WORK/seed_demo.log" 2>&1 || die "seed_demo"
ok "seed_demo"

# Its control socket goes in the scratch directory, not a shared ~/.gunicorn/gunicorn.ctl.
XDG_RUNTIME_DIR="$WORK" .venv/bin/gunicorn governance.wsgi:application -b "127.0.0.1:${PORT}" -w 2 --timeout 60 \
    --access-logfile - >"$WORK/gunicorn.log" 2>&1 &
GUNICORN_PID=$!
.venv/bin/celery -A governance worker --pool=solo -l warning >"$WORK/celery.log" 2>&1 &
WORKER_PID=$!

healthy=""
for _ in $(seq 1 60); do
    kill -0 "$GUNICORN_PID" 2>/dev/null || die "gunicorn exited during start-up"
    if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE/healthz")" = "200" ]; then
        healthy=1
        break
    fi
    sleep 0.5
done
[ -n "$healthy" ] || die "GET /healthz did not answer 200 within 30 s"
ok "GET /healthz -> 200"

expect_200() {
    local path="$1" code
    rm -f "$WORK/body"
    code="$(curl -s -o "$WORK/body" -w '%{http_code}' --max-time 20 "$BASE$path" || true)"
    if [ "$code" != "200" ]; then
        fail "GET $path -> ${code:-no answer} (want 200)"
    elif [ ! -s "$WORK/body" ]; then
        fail "GET $path -> 200 with an empty body"
    else
        ok "GET $path -> 200 ($(wc -c <"$WORK/body") bytes)"
    fi
}

expect_200 /
expect_200 /api/v1/schema/
expect_200 /static/governance/css/portal.css
# The pages link the hashed name from WhiteNoise's manifest; that file must be served too.
curl -s --max-time 20 "$BASE/" >"$WORK/home.html" || true
hashed="$(grep -o '/static/governance/css/portal\.[0-9a-f]\{12\}\.css' "$WORK/home.html" | head -n 1 || true)"
if [ -n "$hashed" ]; then
    expect_200 "$hashed"
else
    fail "the home page does not link the hashed stylesheet (manifest storage not in use?)"
fi

kill -0 "$WORKER_PID" 2>/dev/null || die "the Celery worker exited"
result="$(timeout 90 "$PY" manage.py shell -c \
    "from party_org.tasks import verify_org_tree; r = verify_org_tree.delay(); print(r.get(timeout=60))" \
    2>"$WORK/task.log" | tail -n 1 || true)"
if [ "$result" = "0" ]; then
    ok "verify_org_tree through Redis and the worker -> 0"
else
    fail "verify_org_tree through Redis and the worker -> '${result}' (want 0)"
fi

if [ "$failures" -ne 0 ]; then
    echo "== production topology: $failures check(s) failed"
    exit 1
fi
echo "== production topology: all checks passed"
