#!/usr/bin/env bash
# postgres.sh {start|stop|status|crash}: a private PostgreSQL server for this checkout, from the
# distribution's binaries, on 127.0.0.1 only, with its data under .local/postgres. It never
# touches the distribution's own cluster (Debian's on 5432) or its socket directory.
#
# Environment: ORDERSTATE_LOCAL_PG_PORT (15432), ORDERSTATE_LOCAL_PG_FAST (0; 1 turns off
# fsync, synchronous_commit and full_page_writes), ORDERSTATE_LOCAL_START_TIMEOUT (90 s),
# ORDERSTATE_LOCAL_STOP_TIMEOUT (30 s), ORDERSTATE_LOCAL_DIR, ORDERSTATE_PG_BINDIR,
# ORDERSTATE_LOCAL_PG_OS_USER (postgres; used only when run as root),
# ORDERSTATE_LOCAL_PG_TLS_DIR (unset; a directory with server.pem and server.key: TCP clients
# must then use TLS, as tests/integration/test_postgres_tls.py does with sslmode=verify-full).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PG_ROLE=orderstate
PG_PASSWORD=orderstate
PG_DATABASES=(orderstate orderstate_test)

usage() {
  echo "usage: $SCRIPT_NAME {start|stop|status|crash}" >&2
  exit 2
}

# PostgreSQL refuses to run as root, and sessions and CI run as root: then the server runs as
# the unprivileged user the Debian package creates, and owns the data directory.
if ((EUID == 0)); then
  PG_OS_USER="${ORDERSTATE_LOCAL_PG_OS_USER:-postgres}"
else
  PG_OS_USER="$(id -un)"
fi

# runuser (util-linux) rather than su: no PAM session, no login shell, arguments passed as-is.
PG_AS=()
if ((EUID == 0)); then PG_AS=(runuser -u "$PG_OS_USER" --); fi
as_pg() { "${PG_AS[@]}" "$@"; }

# Where the cluster lives. Normally .local/postgres; but as root the postgres user must be able
# to reach it, and a checkout under /root (mode 0700) is out of its reach, so then the cluster
# moves to a per-checkout directory under /tmp. The choice depends only on the checkout path,
# so start, stop and status always agree.
PG_DIR_NOTE=''
choose_dirs() {
  PG_DIR="$LOCAL_DIR/postgres"
  if ((EUID == 0)) && ! pg_user_can_reach "$LOCAL_DIR"; then
    PG_DIR="/tmp/orderstate-pg-$(printf '%s' "$LOCAL_DIR" | sha256sum | cut -c1-12)"
    PG_DIR_NOTE="the '$PG_OS_USER' user cannot reach $LOCAL_DIR, so the cluster lives in $PG_DIR"
  fi
  PG_DATA="$PG_DIR/data"
  PG_LOG="$PG_DIR/postgres.log"
  PG_RUN="$PG_DIR/run"
  # A unix socket path may hold 107 bytes; a deep checkout would not fit.
  if ((${#PG_RUN} + ${#PG_PORT} + 12 > 100)); then
    PG_RUN="/tmp/orderstate-pg-run-$(printf '%s' "$PG_DIR" | sha256sum | cut -c1-12)"
  fi
}

# True if every directory from / down to $1 (or its nearest existing ancestor) can be
# traversed by PG_OS_USER.
pg_user_can_reach() {
  local dir="$1"
  while [[ ! -d "$dir" ]]; do dir="$(dirname "$dir")"; done
  as_pg test -x "$dir" 2>/dev/null
}

require_binaries() {
  find_pg_bindir || die "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; looked in: $PG_LOOKED_IN." \
    "Install them: apt-get install postgresql (or run deploy/local/prereqs.sh)," \
    "or set ORDERSTATE_PG_BINDIR to the directory that holds them."
  if ((EUID == 0)) && ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    die "running as root, which PostgreSQL refuses, and there is no '$PG_OS_USER' user to run it as." \
      "apt-get install postgresql creates it; or set ORDERSTATE_LOCAL_PG_OS_USER to an unprivileged user; or run as a normal user."
  fi
}

pg_ctl_() { as_pg "$PG_BINDIR/pg_ctl" -D "$PG_DATA" "$@"; }

# The postmaster pid, if our cluster runs (pg_ctl reads data/postmaster.pid and checks it).
our_pid() {
  [[ -f "$PG_DATA/postmaster.pid" ]] || return 1
  pg_ctl_ status >/dev/null 2>&1 || return 1
  head -n 1 "$PG_DATA/postmaster.pid"
}

# postmaster.pid's fourth line is the port the running server listens on.
running_port() {
  sed -n 4p "$PG_DATA/postmaster.pid" 2>/dev/null
}

psql_() {
  as_pg "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$PG_PORT" -U "$PG_ROLE" "$@"
}

pg_answers() {
  port_open "$LOCAL_HOST" "$PG_PORT" &&
    as_pg "$PG_BINDIR/pg_isready" -q -h "$PG_RUN" -p "$PG_PORT" -U "$PG_ROLE" -d postgres
}

init_cluster() {
  [[ -f "$PG_DATA/PG_VERSION" ]] && return 0
  # A data directory without PG_VERSION is what an interrupted initdb leaves; it holds nothing.
  rm -rf "$PG_DATA"
  say "initialising a new cluster in $PG_DATA ..."
  # C collation: the same ordering on every machine, and the fastest.
  if ! as_pg "$PG_BINDIR/initdb" -D "$PG_DATA" -U "$PG_ROLE" -E UTF8 --locale=C \
    --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1; then
    show_tail 30 "$PG_DIR/initdb.log"
    die "initdb failed in $PG_DATA (output above)." \
      "Remove $PG_DIR and start again; check that $PG_OS_USER can write there."
  fi
  # Local (socket) connections are trusted: the socket directory is private to the server's
  # user (unix_socket_permissions 0700). TCP, the only way clients connect, needs the password.
  if [[ -n "${ORDERSTATE_LOCAL_PG_TLS_DIR:-}" ]]; then
    cat >"$PG_DATA/pg_hba.conf" <<'EOF'
# Generated by deploy/local/postgres.sh (ORDERSTATE_LOCAL_PG_TLS_DIR: TLS only over TCP).
local     all all                trust
hostssl   all all 127.0.0.1/32   scram-sha-256
hostnossl all all 127.0.0.1/32   reject
EOF
  else
    cat >"$PG_DATA/pg_hba.conf" <<'EOF'
# Generated by deploy/local/postgres.sh.
local all all                trust
host  all all 127.0.0.1/32   scram-sha-256
EOF
  fi
  printf "\ninclude_if_exists = 'orderstate.conf'\n" >>"$PG_DATA/postgresql.conf"
  chown "$PG_OS_USER": "$PG_DATA/pg_hba.conf" "$PG_DATA/postgresql.conf" 2>/dev/null || true
}

# Rewritten on every start so that port and ORDERSTATE_LOCAL_PG_FAST overrides take effect.
write_conf() {
  local run_quoted="${PG_RUN//\'/\'\'}"
  {
    echo "# Generated by deploy/local/postgres.sh on each start; edit the script, not this file."
    echo "listen_addresses = '$LOCAL_HOST'"
    echo "port = $PG_PORT"
    echo "unix_socket_directories = '$run_quoted'"
    echo "unix_socket_permissions = 0700"
    echo "max_connections = 200"
    echo "password_encryption = 'scram-sha-256'"
    echo "log_line_prefix = '%m [%p] %q%u@%d '"
    echo "log_timezone = 'UTC'"
    echo "timezone = 'UTC'"
    if [[ -n "${ORDERSTATE_LOCAL_PG_TLS_DIR:-}" ]]; then
      echo "ssl = on"
      echo "ssl_cert_file = '$PG_DIR/tls/server.pem'"
      echo "ssl_key_file = '$PG_DIR/tls/server.key'"
    fi
    if [[ "${ORDERSTATE_LOCAL_PG_FAST:-0}" == 1 ]]; then
      # Test speed over durability: a crash of the machine can corrupt this cluster. Only for
      # throw-away dev/CI data; the default keeps PostgreSQL's safe settings.
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
  } >"$PG_DATA/orderstate.conf"
  if ((EUID == 0)); then chown "$PG_OS_USER": "$PG_DATA/orderstate.conf"; fi
  if [[ -n "${ORDERSTATE_LOCAL_PG_TLS_DIR:-}" ]]; then
    # The server refuses a key that others can read; it gets its own copies.
    mkdir -p "$PG_DIR/tls"
    cp "$ORDERSTATE_LOCAL_PG_TLS_DIR/server.pem" "$ORDERSTATE_LOCAL_PG_TLS_DIR/server.key" "$PG_DIR/tls/"
    chmod 0600 "$PG_DIR/tls/server.key"
    if ((EUID == 0)); then chown -R "$PG_OS_USER": "$PG_DIR/tls"; fi
  fi
}

# Idempotent: the role's password and the databases, on every start, so a cluster from an
# older version of this script is brought up to date too.
provision() {
  psql_ -d postgres -c "ALTER ROLE $PG_ROLE WITH SUPERUSER LOGIN PASSWORD '$PG_PASSWORD'" >/dev/null
  local db
  for db in "${PG_DATABASES[@]}"; do
    # \gexec runs the CREATE only when the SELECT returns it: no error if it exists. Fed on
    # stdin because -c does not take SQL and a backslash command together.
    psql_ -d postgres >/dev/null <<SQL
SELECT format('CREATE DATABASE %I OWNER %I', '$db', '$PG_ROLE')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$db') \gexec
SQL
  done
}

start() {
  require_binaries
  choose_dirs
  [[ -z "$PG_DIR_NOTE" ]] || say "$PG_DIR_NOTE"
  mkdir -p "$PG_DIR" "$PG_RUN"
  if ((EUID == 0)); then
    chown "$PG_OS_USER": "$PG_DIR" "$PG_RUN"
    [[ -d "$PG_DATA" ]] && [[ "$(stat -c %U "$PG_DATA")" != "$PG_OS_USER" ]] && chown -R "$PG_OS_USER": "$PG_DATA"
    if ! as_pg test -w "$PG_DIR"; then
      die "the '$PG_OS_USER' user cannot write $PG_DIR (a parent directory is not searchable by it)." \
        "Set ORDERSTATE_LOCAL_DIR to a directory it can reach, e.g. /tmp/orderstate-local."
    fi
  fi
  chmod 0700 "$PG_RUN"
  # Serialises concurrent starts; fd 9 is closed for the server so the lock ends with us.
  exec 9>"$PG_DIR/.start.lock"
  flock 9

  local pid t0=$SECONDS
  if pid="$(our_pid)"; then
    local running
    running="$(running_port)"
    if [[ -n "$running" && "$running" != "$PG_PORT" ]]; then
      die "already running on $LOCAL_HOST:$running (pid $pid), not on the requested port $PG_PORT." \
        "One server per data directory: run deploy/local/postgres.sh stop first to change ports, or use another ORDERSTATE_LOCAL_DIR."
    fi
    if wait_for "$START_TIMEOUT" pg_answers; then
      provision
      say "already running (pid $pid, $LOCAL_HOST:$PG_PORT)"
      return 0
    fi
    show_tail 30 "$PG_LOG"
    die "our PostgreSQL (pid $pid) runs but does not answer on $LOCAL_HOST:$PG_PORT." \
      "It may have been started with another ORDERSTATE_LOCAL_PG_PORT; run deploy/local/postgres.sh stop, then start."
  fi

  if port_taken "$PG_PORT"; then
    die "port $PG_PORT on $LOCAL_HOST is already taken by another process$(port_owner "$PG_PORT"); this script did not start it." \
      "Stop that process, or choose another port: ORDERSTATE_LOCAL_PG_PORT=..."
  fi

  init_cluster
  write_conf
  # One previous log is kept for looking back after a restart.
  [[ -f "$PG_LOG" ]] && mv -f "$PG_LOG" "$PG_LOG.1"
  : >"$PG_LOG"
  if ((EUID == 0)); then chown "$PG_OS_USER": "$PG_LOG"; fi
  say "starting $("$PG_BINDIR/postgres" --version | sed 's/^postgres (PostgreSQL) /PostgreSQL /') on $LOCAL_HOST:$PG_PORT ..."
  # pg_ctl -w waits for readiness itself; `timeout` is the hard limit in case it hangs. fd 9
  # (the lock) is closed so the server does not hold it.
  local rc=0
  timeout "$((START_TIMEOUT + 5))" "${PG_AS[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" \
    -w -t "$START_TIMEOUT" start >"$PG_DIR/pg_ctl.log" 2>&1 9>&- || rc=$?
  if ((rc != 0)); then
    show_tail 30 "$PG_LOG" "$PG_DIR/pg_ctl.log"
    if ((rc == 124)) || grep -q 'did not start in time' "$PG_DIR/pg_ctl.log"; then
      # A server still coming up must not linger unseen; it may not have written its pid yet.
      wait_for 5 test -f "$PG_DATA/postmaster.pid" || true
      pg_ctl_ stop -m immediate -w -t 10 >/dev/null 2>&1 || true
      die "PostgreSQL did not become ready within ${START_TIMEOUT}s (ORDERSTATE_LOCAL_START_TIMEOUT); it was stopped." \
        "Read the log lines above; on a slow machine raise ORDERSTATE_LOCAL_START_TIMEOUT."
    fi
    if grep -q 'Address already in use' "$PG_LOG" 2>/dev/null; then
      die "port $PG_PORT was taken while PostgreSQL started." "Free it, or set ORDERSTATE_LOCAL_PG_PORT."
    fi
    if grep -q 'incompatible with server' "$PG_LOG" "$PG_DIR/pg_ctl.log" 2>/dev/null; then
      die "$PG_DATA was created by another PostgreSQL major version." \
        "It holds only dev data: remove $PG_DIR and start again."
    fi
    die "PostgreSQL failed to start; the log lines above say why." \
      "Fix the cause and run: deploy/local/postgres.sh start"
  fi
  wait_for 10 pg_answers || die "PostgreSQL started but does not answer on $LOCAL_HOST:$PG_PORT; see $PG_LOG."
  provision
  ok "ready on $LOCAL_HOST:$PG_PORT (pid $(our_pid), $((SECONDS - t0)) s)"
}

stop() {
  require_binaries
  choose_dirs
  local pid
  if ! pid="$(our_pid)"; then
    say "not running"
    return 0
  fi
  if ! pg_ctl_ stop -m fast -w -t "$STOP_TIMEOUT" >/dev/null 2>&1; then
    warn "fast shutdown did not finish within ${STOP_TIMEOUT}s; using immediate shutdown"
    pg_ctl_ stop -m immediate -w -t 10 >/dev/null 2>&1 ||
      die "could not stop PostgreSQL (pid $pid); see $PG_LOG."
  fi
  say "stopped (pid $pid)"
}

# For fault-injection runs: an immediate shutdown (what a crash looks like to clients, and
# crash recovery on start), then the server at once again.
crash() {
  require_binaries
  choose_dirs
  local pid
  pid="$(our_pid)" || die "not running"
  timeout 60 "${PG_AS[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -m immediate -w \
    -t "$START_TIMEOUT" restart >"$PG_DIR/pg_ctl.log" 2>&1 ||
    { show_tail 30 "$PG_LOG" "$PG_DIR/pg_ctl.log"; die "immediate restart failed"; }
  wait_for 10 pg_answers || die "PostgreSQL restarted but does not answer; see $PG_LOG."
  ok "restarted after an immediate shutdown (pid $pid -> $(our_pid))"
}

# Exit 0 when running, 3 when not (LSB convention).
status() {
  require_binaries
  choose_dirs
  local pid
  if pid="$(our_pid)"; then
    echo "postgres  running  pid $pid  $LOCAL_HOST:$(running_port)"
    return 0
  fi
  echo "postgres  stopped            $LOCAL_HOST:$PG_PORT"
  return 3
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  crash) crash ;;
  *) usage ;;
esac
