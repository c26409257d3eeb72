#!/usr/bin/env bash
# A local Mayan EDMS 4.12.2 for mailroom's delivery tests, on 127.0.0.1 only.
#
#   scripts/mayan.sh install   apt packages, a Python venv with Mayan, the database (slow once)
#   scripts/mayan.sh start     install if needed, start redis, the web API and one worker,
#                              create a token, seed the fixtures, write the env file
#   scripts/mayan.sh stop      stop what start started, by the PIDs it recorded
#   scripts/mayan.sh status    running or not (exit 0 when the API answers, 3 when not)
#   scripts/mayan.sh reset     delete every document and the per-unit cabinets: an empty
#                              DMS for the next test, in seconds; fixtures and token stay
#   scripts/mayan.sh purge     stop, then delete the data (the venv stays)
#
# Every command is idempotent: `start` on a running instance only refreshes the env file.
#
# Processes (each started in its own session, PIDs under $HOME_DIR/run):
#   redis-server   broker, results and locks for celery       127.0.0.1:$REDIS_PORT
#   gunicorn       Mayan's web app, REST API under /api/v4/    127.0.0.1:$PORT
#   celery         one worker for all of Mayan's queues (stores files, parses PDFs)
# Data: SQLite in WAL mode and the document files, under $HOME_DIR/data.
#
# The env file ($HOME_DIR/env, mode 0600, KEY=value lines without quotes) holds what a
# test needs to connect: MAYAN_URL (API base), MAILROOM_DMS_TOKEN, MAYAN_DOCUMENT_TYPE(_ID),
# MAYAN_CABINET(_ID) (the parent of the per-unit cabinets), MAYAN_METADATA_<NAME>_ID per
# metadata type, MAYAN_USER and MAYAN_PASSWORD (the local admin, for the web UI).
#
# Settings (environment):
#   MAILROOM_MAYAN_HOME=/var/lib/mailroom-mayan  MAILROOM_MAYAN_PORT=8731
#   MAILROOM_MAYAN_REDIS_PORT=6731  MAILROOM_MAYAN_WORKERS=2 (celery concurrency)
#   MAILROOM_MAYAN_PYTHON=python3   MAILROOM_MAYAN_READY_TIMEOUT=300 (seconds)
#
# Only Debian's packages and PyPI are used. Mayan's web UI assets (fetched from npm at
# setup) are skipped: the REST API does not need them. Automatic OCR is off: mailroom's
# PDFs carry their text already, and OCR would only compete for the two cores.
set -euo pipefail

MAYAN_VERSION=4.12.2
HOME_DIR=${MAILROOM_MAYAN_HOME:-/var/lib/mailroom-mayan}
PORT=${MAILROOM_MAYAN_PORT:-8731}
REDIS_PORT=${MAILROOM_MAYAN_REDIS_PORT:-6731}
WORKERS=${MAILROOM_MAYAN_WORKERS:-2}
PYTHON=${MAILROOM_MAYAN_PYTHON:-python3}
READY_TIMEOUT=${MAILROOM_MAYAN_READY_TIMEOUT:-300}
ADMIN_USER=mailroom
# A local, loopback-only test instance: the password protects nothing of value and is
# written only to the 0600 env file. The tests use the token.
ADMIN_PASSWORD=mailroom-local-test

VENV=$HOME_DIR/venv
DATA=$HOME_DIR/data
RUN=$HOME_DIR/run
LOGS=$HOME_DIR/logs
ENV_FILE=$HOME_DIR/env
SETTINGS_ENV=$RUN/mayan-settings.sh
BASE=http://127.0.0.1:$PORT
API=$BASE/api/v4

# The fixtures mailroom's tests and example profile use.
DOCUMENT_TYPE=Eingangspost
PARENT_CABINET=Posteingang
METADATA_TYPES="mailroom_id document_id unit received pages case"

say() { printf '[mayan.sh %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() { say "ERROR: $*"; exit 1; }

# ------------------------------------------------------------------ process helpers
# runs PIDFILE PATTERN: the PID in PIDFILE is alive and its command line contains PATTERN
runs() {
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2"
}
redis_runs() { runs "$RUN/redis.pid" "redis-server 127.0.0.1:$REDIS_PORT"; }
web_runs() { runs "$RUN/gunicorn.pid" "$VENV/bin/gunicorn"; }
worker_runs() { runs "$RUN/celery.pid" "$VENV/bin/celery"; }
api_answers() {
  [ "$(curl -s -o /dev/null -m 10 -w '%{http_code}' -u "$ADMIN_USER:$ADMIN_PASSWORD" "$API/document_types/")" = 200 ]
}
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# stop_pid NAME PATTERN SIGNAL: signal the recorded PID, wait up to 15 s, then KILL it and
# whatever is left in its process group (started with setsid, so the group is its own)
stop_pid() {
  local name=$1 pattern=$2 sig=$3 file=$RUN/$1.pid pid p
  if ! runs "$file" "$pattern"; then
    [ -e "$file" ] && say "$name: not running (stale pid file removed)"
    rm -f "$file"
    return 0
  fi
  pid=$(cat "$file")
  say "stopping $name (pid $pid)"
  kill "-$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  for p in $pid $(pgrep -g "$pid" 2>/dev/null || true); do
    if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -qF -- "$pattern"; then
      say "$name: pid $p still there after 15 s, killing it"
      kill -KILL "$p" 2>/dev/null || true
    fi
  done
  rm -f "$file"
}

# ------------------------------------------------------------------ Mayan's settings
write_settings() {
  mkdir -p "$RUN" "$LOGS"
  cat >"$SETTINGS_ENV" <<EOF
export DJANGO_SETTINGS_MODULE=mayan.settings.production
export MAYAN_MEDIA_ROOT='$DATA'
export MAYAN_DATABASES="{'default':{'ENGINE':'django.db.backends.sqlite3','NAME':'$DATA/db.sqlite3','OPTIONS':{'timeout':60,'transaction_mode':'IMMEDIATE','init_command':'PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;'}}}"
export MAYAN_CELERY_BROKER_URL='redis://127.0.0.1:$REDIS_PORT/0'
export MAYAN_CELERY_RESULT_BACKEND='redis://127.0.0.1:$REDIS_PORT/1'
export MAYAN_LOCK_MANAGER_BACKEND=mayan.apps.lock_manager.backends.redis_lock.RedisLock
export MAYAN_LOCK_MANAGER_BACKEND_ARGUMENTS="{'redis_url':'redis://127.0.0.1:$REDIS_PORT/2'}"
export MAYAN_ALLOWED_HOSTS="['127.0.0.1','localhost']"
export MAYAN_AUTOADMIN_USERNAME='$ADMIN_USER'
export MAYAN_AUTOADMIN_PASSWORD='$ADMIN_PASSWORD'
export MAYAN_AUTOADMIN_EMAIL='mailroom@example.invalid'
export MAYAN_OCR_AUTO_OCR=false
export MAYAN_REST_API_THROTTLING_ENABLED=false
export PYTHONWARNINGS=ignore
EOF
}

start_redis() {
  redis_runs && return 0
  port_taken "$REDIS_PORT" && fail "port $REDIS_PORT is taken (set MAILROOM_MAYAN_REDIS_PORT)"
  say "starting redis on 127.0.0.1:$REDIS_PORT"
  STARTED_REDIS=1
  setsid redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --databases 4 --dir "$RUN" >"$LOGS/redis.log" 2>&1 </dev/null &
  echo $! >"$RUN/redis.pid"
  for _ in $(seq 1 50); do
    redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
    sleep 0.2
  done
  tail -20 "$LOGS/redis.log" >&2
  fail "redis did not answer"
}

# ------------------------------------------------------------------ install
# python3-dev: python-ldap is built from source (Python.h), when python3 is Debian's own
APT_PACKAGES="redis-server curl gcc libldap2-dev libsasl2-dev libmagic1 file gnupg poppler-utils
 ghostscript libimage-exiftool-perl tesseract-ocr tesseract-ocr-deu tesseract-ocr-eng
 python3-venv python3-dev"

install_apt() {
  local missing="" p
  for p in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  say "apt-get install$missing"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086 # $missing is a list of words
  { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends $missing; } \
    >"$LOGS/apt.log" 2>&1 || { tail -30 "$LOGS/apt.log" >&2; fail "apt-get failed (log: $LOGS/apt.log)"; }
}

install_venv() {
  # the marker alone is not enough: the interpreter the venv was made from may be gone
  [ -e "$VENV/.mayan-$MAYAN_VERSION" ] && "$VENV/bin/python" -c 'import mayan, celery, gunicorn' 2>/dev/null &&
    return 0
  say "creating $VENV with mayan-edms==$MAYAN_VERSION (a few minutes)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  # kombu[redis]: the redis client for the broker, at the kombu version Mayan pins
  "$VENV/bin/pip" install -q --disable-pip-version-check "mayan-edms==$MAYAN_VERSION" 'kombu[redis]==5.7.0' >"$LOGS/pip.log" 2>&1 ||
    { tail -30 "$LOGS/pip.log" >&2; fail "pip install failed (log: $LOGS/pip.log)"; }
  # Mayan routes its tasks to named queues; its own supervisord template lists them.
  # Rendered against a throwaway media folder so that it writes nothing into the data.
  (
    # shellcheck disable=SC1090
    . "$SETTINGS_ENV"
    unset MAYAN_DATABASES
    export MAYAN_MEDIA_ROOT=$HOME_DIR/.template-media
    "$VENV/bin/mayan-edms.py" platforms_template supervisord
    rc=$?
    rm -rf "$HOME_DIR/.template-media"
    exit $rc
  ) >"$LOGS/supervisord-template.txt" 2>&1 ||
    { tail -20 "$LOGS/supervisord-template.txt" >&2; fail "cannot render Mayan's supervisord template"; }
  grep -o -- '--queues=[^ "]*' "$LOGS/supervisord-template.txt" | sed 's/^--queues=//' | paste -sd, >"$VENV/.celery-queues" || true
  [ -s "$VENV/.celery-queues" ] || fail "no celery queues in Mayan's supervisord template ($LOGS/supervisord-template.txt)"
  touch "$VENV/.mayan-$MAYAN_VERSION"
}

install_database() {
  [ -e "$DATA/.initialized" ] && return 0
  say "creating the database (migrations, admin user; about two minutes)"
  rm -rf "$DATA"   # a half-made database from an interrupted setup
  (
    # shellcheck disable=SC1090
    . "$SETTINGS_ENV"
    "$VENV/bin/mayan-edms.py" common_initial_setup --no-dependencies
  ) >"$LOGS/setup.log" 2>&1 ||
    { tail -30 "$LOGS/setup.log" >&2; fail "Mayan's initial setup failed (log: $LOGS/setup.log)"; }
  touch "$DATA/.initialized"
}

cmd_install() {
  local t0=$SECONDS
  mkdir -p "$HOME_DIR" "$RUN" "$LOGS"
  chmod 700 "$HOME_DIR"
  write_settings
  install_apt
  # Mayan checks the broker whenever it starts, for the setup commands too
  start_redis
  install_venv
  install_database
  # `install` alone leaves nothing running that it did not find running
  if [ "$STARTED_REDIS" = 1 ] && [ "${1:-}" != keep-redis ]; then
    stop_pid redis "redis-server 127.0.0.1:$REDIS_PORT" TERM
  fi
  say "installed in $((SECONDS - t0)) s ($HOME_DIR)"
}

# ------------------------------------------------------------------ start
obtain_token() {
  curl -sf -m 30 -H 'Accept: application/json' -X POST \
    --data-urlencode "username=$ADMIN_USER" --data-urlencode "password=$ADMIN_PASSWORD" \
    "$API/auth/token/obtain/" | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

# Creates what is missing of the fixtures and writes the env file.
seed_and_write_env() {
  local token
  token=$(obtain_token) || fail "cannot obtain an API token"
  MAYAN_API=$API MAYAN_TOKEN=$token DOCUMENT_TYPE=$DOCUMENT_TYPE PARENT_CABINET=$PARENT_CABINET \
    METADATA_TYPES=$METADATA_TYPES "$VENV/bin/python" - >"$RUN/seed.env" <<'PY'
import json, os, urllib.request

api, token = os.environ["MAYAN_API"], os.environ["MAYAN_TOKEN"]

def call(method, path, body=None):
    request = urllib.request.Request(
        api + path, method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Token " + token, "Accept": "application/json",
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
        return json.loads(text) if text else None

def all_of(path):
    items, url = [], path + ("&" if "?" in path else "?") + "page_size=100"
    while url:
        page = call("GET", url)
        items += page["results"]
        url = page.get("next")
        if url:
            url = url[len(api):] if url.startswith(api) else url.split("/api/v4", 1)[1]
    return items

def ensure(path, key, body):
    for item in all_of(path):
        if item.get(key) == body[key]:
            return item
    return call("POST", path, body)

document_type = ensure("/document_types/", "label", {"label": os.environ["DOCUMENT_TYPE"]})
metadata = {}
for name in os.environ["METADATA_TYPES"].split():
    metadata[name] = ensure("/metadata_types/", "name", {"name": name, "label": name})["id"]
linked = {item["metadata_type"]["id"]
          for item in all_of("/document_types/%d/metadata_types/" % document_type["id"])}
for metadata_id in metadata.values():
    if metadata_id not in linked:
        # optional: Mayan adds no empty entry for it at upload
        call("POST", "/document_types/%d/metadata_types/" % document_type["id"],
             {"metadata_type_id": metadata_id, "required": False})
cabinets = [c for c in all_of("/cabinets/")
            if c["label"] == os.environ["PARENT_CABINET"] and not c.get("parent_id")]
cabinet = cabinets[0] if cabinets else call(
    "POST", "/cabinets/", {"label": os.environ["PARENT_CABINET"], "parent": None})
print("MAYAN_DOCUMENT_TYPE=%s" % document_type["label"])
print("MAYAN_DOCUMENT_TYPE_ID=%d" % document_type["id"])
print("MAYAN_CABINET=%s" % cabinet["label"])
print("MAYAN_CABINET_ID=%d" % cabinet["id"])
for name, metadata_id in metadata.items():
    print("MAYAN_METADATA_%s_ID=%d" % (name.upper(), metadata_id))
PY
  local tmp=$ENV_FILE.tmp
  (
    umask 077
    {
      echo "# written by scripts/mayan.sh start; sourced by tests and scripts"
      echo "MAYAN_VERSION=$MAYAN_VERSION"
      echo "MAYAN_URL=$API/"
      echo "MAYAN_USER=$ADMIN_USER"
      echo "MAYAN_PASSWORD=$ADMIN_PASSWORD"
      echo "MAILROOM_DMS_TOKEN=$token"
      cat "$RUN/seed.env"
    } >"$tmp"
  )
  mv "$tmp" "$ENV_FILE"
}

cmd_start() {
  local t0=$SECONDS
  write_settings
  if redis_runs && web_runs && worker_runs && api_answers; then
    seed_and_write_env
    say "running at $API/ (env: $ENV_FILE)"
    return 0
  fi
  if [ -e "$RUN/gunicorn.pid" ] || [ -e "$RUN/celery.pid" ]; then
    say "a part of an earlier instance is left: stopping it first"
    cmd_stop
  fi
  cmd_install keep-redis
  port_taken "$PORT" && fail "port $PORT is taken (set MAILROOM_MAYAN_PORT)"
  start_redis
  # shellcheck disable=SC1090
  . "$SETTINGS_ENV"
  say "starting the celery worker (concurrency $WORKERS)"
  : >"$LOGS/celery.log"
  setsid "$VENV/bin/celery" -A mayan worker --concurrency="$WORKERS" -Ofair \
    --queues="$(cat "$VENV/.celery-queues")" --hostname="mailroom-mayan@%h" --loglevel=INFO \
    >>"$LOGS/celery.log" 2>&1 </dev/null &
  echo $! >"$RUN/celery.pid"
  say "starting gunicorn on $BASE"
  setsid "$VENV/bin/gunicorn" --bind "127.0.0.1:$PORT" --workers 2 --timeout 300 \
    --graceful-timeout 5 --chdir "$HOME_DIR" mayan.wsgi >"$LOGS/gunicorn.log" 2>&1 </dev/null &
  echo $! >"$RUN/gunicorn.pid"
  local deadline=$((SECONDS + READY_TIMEOUT))
  until api_answers; do
    web_runs || { tail -30 "$LOGS/gunicorn.log" >&2; fail "gunicorn exited (log: $LOGS/gunicorn.log)"; }
    [ $SECONDS -lt $deadline ] || { fail "the API did not answer within ${READY_TIMEOUT} s (log: $LOGS/gunicorn.log)"; }
    sleep 0.5
  done
  until grep -q ' ready\.' "$LOGS/celery.log"; do
    worker_runs || { tail -30 "$LOGS/celery.log" >&2; fail "the celery worker exited (log: $LOGS/celery.log)"; }
    [ $SECONDS -lt $deadline ] || { fail "the worker was not ready within ${READY_TIMEOUT} s (log: $LOGS/celery.log)"; }
    sleep 0.5
  done
  seed_and_write_env
  say "ready in $((SECONDS - t0)) s at $API/ (env: $ENV_FILE)"
}

# ------------------------------------------------------------------ stop, status, reset
cmd_stop() {
  stop_pid celery "$VENV/bin/celery" TERM &
  stop_pid gunicorn "$VENV/bin/gunicorn" INT &
  wait
  stop_pid redis "redis-server 127.0.0.1:$REDIS_PORT" TERM
  say "stopped"
}

cmd_status() {
  local state=0 name check
  for name in redis:redis_runs gunicorn:web_runs celery:worker_runs; do
    check=${name#*:}
    name=${name%%:*}
    if "$check"; then
      say "$name: running (pid $(cat "$RUN/$name.pid"))"
    else
      say "$name: not running"
      state=3
    fi
  done
  if [ $state = 0 ] && api_answers; then
    say "the API answers at $API/ (env: $ENV_FILE)"
  else
    say "the API does not answer"
    state=3
  fi
  return $state
}

# Deletes every document: into the trash, then out of it, and the cabinets below the
# parent cabinet (the per-unit cabinets mailroom creates on demand). Both deletions are
# tasks of Mayan's worker (the API answers 202 at once). Waits until the documents list
# is empty and every trashed document is on its way out; the worker finishes emptying
# the trash in the background (trashed documents are in no list a test reads, and the
# next reset deletes what is left).
cmd_reset() {
  { web_runs && worker_runs; } || fail "Mayan is not running (scripts/mayan.sh start)"
  [ -s "$ENV_FILE" ] || fail "no $ENV_FILE (scripts/mayan.sh start writes it)"
  # token, not password: Mayan hashes a password on every request (slow on purpose)
  # shellcheck disable=SC1090
  (. "$ENV_FILE"; MAYAN_API=$API PARENT_CABINET_ID=$MAYAN_CABINET_ID TOKEN=$MAILROOM_DMS_TOKEN \
    "$VENV/bin/python" -) <<'PY'
import json, os, sys, time, urllib.error, urllib.request

api = os.environ["MAYAN_API"]
parent = int(os.environ["PARENT_CABINET_ID"])
auth = "Token " + os.environ["TOKEN"]

def call(method, path):
    request = urllib.request.Request(api + path, method=method,
                                     headers={"Authorization": auth, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        if method == "DELETE" and e.code == 404:
            return None  # gone already
        raise

def ids(path):
    # a list that includes a document the worker is deleting can fail with 500 (Mayan
    # resolves the document's relations after it is gone): ask again
    for attempt in range(20):
        try:
            return [item["id"] for item in call("GET", path + "?page_size=100")["results"]]
        except urllib.error.HTTPError as e:
            if e.code < 500 or attempt == 19:
                raise
            time.sleep(0.25)

started = time.time()
for cabinet in call("GET", "/cabinets/?page_size=100")["results"]:
    if cabinet["parent_id"] == parent:  # its own children go with it
        call("DELETE", "/cabinets/%d/" % cabinet["id"])
trashed_asked, deleted_asked = set(), set()
while True:
    documents, trashed = ids("/documents/"), ids("/trashed_documents/")
    if not documents and set(trashed) <= deleted_asked:
        break
    if time.time() - started > 300:
        sys.exit("[mayan.sh] reset: documents still there after 300 s: is the worker running?")
    for document_id in set(documents) - trashed_asked:
        call("DELETE", "/documents/%d/" % document_id)
        trashed_asked.add(document_id)
    for document_id in set(trashed) - deleted_asked:
        call("DELETE", "/trashed_documents/%d/" % document_id)
        deleted_asked.add(document_id)
    time.sleep(0.2)
print("[mayan.sh] reset: %d documents deleted in %.1f s"
      % (len(trashed_asked | deleted_asked), time.time() - started), file=sys.stderr)
PY
}

cmd_purge() {
  cmd_stop
  say "deleting $DATA and $ENV_FILE"
  rm -rf "$DATA" "$ENV_FILE" "$RUN/seed.env"
}

STARTED_REDIS=0
# A failed install or start stops what it started (a failed start: the whole instance).
on_exit() {
  local rc=$?
  [ $rc = 0 ] && return 0
  case "$COMMAND" in
    install) [ "$STARTED_REDIS" = 1 ] && stop_pid redis "redis-server 127.0.0.1:$REDIS_PORT" TERM ;;
    start) cmd_stop ;;
    *) return 0 ;;
  esac
  say "$COMMAND failed (exit $rc); logs in $LOGS"
}
COMMAND=${1:-}
trap on_exit EXIT

case "$COMMAND" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  purge) cmd_purge ;;
  *)
    echo "usage: $0 install|start|stop|status|reset|purge" >&2
    exit 2
    ;;
esac
