# shellcheck shell=bash
# shellcheck disable=SC2034  # variables here are used by the scripts that source this file
# Shared by the scripts in deploy/local: paths, messages, tool lookup, port checks, waiting.
# Sourced, never run; the caller has already done `set -euo pipefail`.
#
# Every lookup honours an override (ORDERSTATE_JAVA, ORDERSTATE_MVN, ORDERSTATE_PG_BINDIR,
# ORDERSTATE_KCAT) so a developer can point at a non-standard install, and so a test can
# simulate a missing tool without uninstalling it.

# The repo root follows from this file's location, so the scripts work from any cwd.
ORDERSTATE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
LOCAL_SCRIPTS="$ORDERSTATE_ROOT/deploy/local"

# Absolute, because postgres and java get these paths after we may have changed user or cwd.
LOCAL_DIR="${ORDERSTATE_LOCAL_DIR:-$ORDERSTATE_ROOT/.local}"
case "$LOCAL_DIR" in
  /*) ;;
  *) LOCAL_DIR="$PWD/$LOCAL_DIR" ;;
esac

KAFKA_PORT="${ORDERSTATE_LOCAL_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${ORDERSTATE_LOCAL_KAFKA_CONTROLLER_PORT:-19093}"
PG_PORT="${ORDERSTATE_LOCAL_PG_PORT:-15432}"
START_TIMEOUT="${ORDERSTATE_LOCAL_START_TIMEOUT:-90}"
STOP_TIMEOUT="${ORDERSTATE_LOCAL_STOP_TIMEOUT:-30}"
# Only loopback: these are unauthenticated dev services.
LOCAL_HOST=127.0.0.1

SCRIPT_NAME="$(basename "$0")"

# Colour only for a person at a terminal; logs and CI output stay plain.
if [[ -t 2 && -z "${NO_COLOR:-}" && "${TERM:-dumb}" != dumb ]]; then
  _RED=$'\e[31m' _YELLOW=$'\e[33m' _GREEN=$'\e[32m' _RESET=$'\e[0m'
else
  _RED='' _YELLOW='' _GREEN='' _RESET=''
fi

say() { printf '%s: %s\n' "$SCRIPT_NAME" "$*"; }
ok() { printf '%s: %s%s%s\n' "$SCRIPT_NAME" "$_GREEN" "$*" "$_RESET"; }
warn() { printf '%s: %s%s%s\n' "$SCRIPT_NAME" "$_YELLOW" "$*" "$_RESET" >&2; }
# Each message starts with the script name and says what to do, so it can be acted on from a
# CI log without reading the script.
die() {
  printf '%s: %s%s%s\n' "$SCRIPT_NAME" "$_RED" "$1" "$_RESET" >&2
  shift
  local line
  for line in "$@"; do printf '  %s\n' "$line" >&2; done
  exit 1
}

# Prints the last lines of each existing file, for failures that a log explains.
show_tail() {
  local n="$1" f
  shift
  for f in "$@"; do
    [[ -s "$f" ]] || continue
    printf -- '--- last %s lines of %s ---\n' "$n" "$f" >&2
    tail -n "$n" "$f" >&2
  done
}

# True when something accepts TCP connections on host:port. Uses bash's /dev/tcp so it needs
# no nc/ss; the subshell and timeout keep a filtered port from hanging the caller.
port_open() {
  # shellcheck disable=SC2016  # $1/$2 expand in the inner shell, on purpose
  timeout 2 bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$1" "$2" 2>/dev/null
}

# Names who listens on a port, when ss can tell (root sees every process), for error messages.
port_owner() {
  local port="$1" out
  command -v ss >/dev/null 2>&1 || return 0
  out="$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'users:(([^)]*))' | head -n 1 || true)"
  [[ -n "$out" ]] && printf ' (%s)' "$out"
  return 0
}

# Also catches a listener on 0.0.0.0 or another loopback address, which would make our bind
# fail although a connect to 127.0.0.1 might not show it.
port_taken() {
  local port="$1"
  port_open "$LOCAL_HOST" "$port" && return 0
  if command -v ss >/dev/null 2>&1; then
    [[ -n "$(ss -Hltn "sport = :$port" 2>/dev/null)" ]] && return 0
  fi
  return 1
}

# wait_for SECONDS COMMAND...: polls COMMAND until it succeeds or SECONDS pass.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  while ((SECONDS < deadline)); do
    "$@" && return 0
    sleep 0.25
  done
  "$@"
}

# A zombie counts as dead: our daemons are re-parented to pid 1, and a sandbox's pid 1 may
# reap late, while kill -0 still succeeds on the zombie.
pid_alive() {
  local state
  [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null || return 1
  # The state follows the last ')': the command name before it may contain spaces.
  state="$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1 || true)"
  [[ "$state" != Z && "$state" != X ]]
}

pid_gone() {
  ! pid_alive "$1"
}

# pid_matches PID TEXT: the process's command line contains TEXT. Guards against a recycled
# pid: we only ever signal a process that still runs the command we started.
pid_matches() {
  local pid="$1" text="$2" cmdline
  [[ -r "/proc/$pid/cmdline" ]] || return 1
  cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
  [[ "$cmdline" == *"$text"* ]]
}

# ---- tool lookup --------------------------------------------------------------------------

# Sets PYTHON_BIN and PYTHON_VERSION to the first Python >= 3.11 that can make a virtual
# environment: $PYTHON when set (and only that), else the newest python3.N on PATH, then
# python3. Returns 1 with PYTHON_PROBLEM saying what was found instead.
find_python() {
  PYTHON_BIN='' PYTHON_VERSION='' PYTHON_PROBLEM=''
  local candidates=(python3.14 python3.13 python3.12 python3.11 python3) candidate version
  local seen=()
  [[ -n "${PYTHON:-}" ]] && candidates=("$PYTHON")
  for candidate in "${candidates[@]}"; do
    command -v "$candidate" >/dev/null 2>&1 || continue
    # A pyenv shim of a version that is not installed fails here and is skipped.
    version="$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" ||
      continue
    if ! "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      seen+=("$candidate is $version")
    elif ! "$candidate" -c 'import ensurepip, venv' 2>/dev/null; then
      seen+=("$candidate ($version) lacks the venv module: apt-get install python$version-venv")
    else
      # The interpreter itself, not a wrapper (a pyenv shim): uv compares it with the one of
      # an existing .venv, and would rebuild the environment on every run otherwise.
      PYTHON_BIN="$("$candidate" -c 'import sys; print(sys.executable)')" PYTHON_VERSION="$version"
      return 0
    fi
  done
  if ((${#seen[@]})); then
    PYTHON_PROBLEM="$(printf '%s; ' "${seen[@]}")"
    PYTHON_PROBLEM="${PYTHON_PROBLEM%; }"
  else
    PYTHON_PROBLEM="none of ${candidates[*]} is on PATH"
  fi
  return 1
}

# Dies with what to do when find_python finds nothing.
require_python() {
  find_python ||
    die "no Python >= 3.11 that can make a virtual environment: $PYTHON_PROBLEM." \
      "Install one (Debian 12 or later: apt-get install python3 python3-venv; Ubuntu 22.04:" \
      "apt-get install python3.11 python3.11-venv), or name one: make install PYTHON=/path/to/python3.12"
}

# uv installs the project's packages from uv.lock. Its version is pyproject.toml's
# [tool.uv] required-version (one place); it lives in its own small environment under .local.
UV_DIR="$LOCAL_DIR/uv"
UV="$UV_DIR/bin/uv"

ensure_uv() {
  local want have=''
  want="$(sed -n 's/^required-version = "==\(.*\)"$/\1/p' "$ORDERSTATE_ROOT/pyproject.toml")"
  [[ -n "$want" ]] || die "pyproject.toml names no uv version ([tool.uv] required-version = \"==X.Y.Z\")."
  [[ -x "$UV" ]] && have="$("$UV" --version 2>/dev/null | awk '{print $2}')"
  [[ "$have" == "$want" ]] && return 0
  require_python
  say "installing uv $want from PyPI into $UV_DIR (once) ..."
  rm -rf "$UV_DIR"
  "$PYTHON_BIN" -m venv "$UV_DIR"
  "$UV_DIR/bin/python" -m pip install --disable-pip-version-check --quiet "uv==$want" ||
    die "pip could not install uv $want (output above)." "Check that PyPI is reachable and retry."
}


# Sets JAVA and JAVA_MAJOR, or returns 1 with JAVA_PROBLEM describing why.
find_java() {
  JAVA='' JAVA_MAJOR='' JAVA_PROBLEM=''
  local candidate version
  if [[ -n "${ORDERSTATE_JAVA:-}" ]]; then
    candidate="$ORDERSTATE_JAVA"
  elif [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
    candidate="$JAVA_HOME/bin/java"
  else
    candidate="$(command -v java 2>/dev/null || true)"
  fi
  if [[ -z "$candidate" ]] || ! command -v "$candidate" >/dev/null 2>&1; then
    JAVA_PROBLEM="Kafka 4 needs Java 17 or newer, and no java was found (looked at ORDERSTATE_JAVA, \$JAVA_HOME/bin/java, PATH)"
    return 1
  fi
  # `java -version` prints e.g. `openjdk version "17.0.15"` or `"1.8.0_412"` on stderr.
  version="$("$candidate" -version 2>&1 | sed -n 's/.* version "\([^"]*\)".*/\1/p' | head -n 1)"
  if [[ -z "$version" ]]; then
    JAVA_PROBLEM="$candidate does not run or prints no version"
    return 1
  fi
  if [[ "$version" == 1.* ]]; then
    JAVA_MAJOR="$(cut -d. -f2 <<<"$version")"
  else
    JAVA_MAJOR="${version%%[.+-]*}"
  fi
  JAVA="$candidate"
  if ((JAVA_MAJOR < 17)); then
    JAVA_PROBLEM="$candidate is Java $version; Kafka 4 needs Java 17 or newer"
    return 1
  fi
}

java_install_hint() {
  printf '%s' "apt-get install openjdk-17-jdk-headless (or run deploy/local/prereqs.sh), or point ORDERSTATE_JAVA at a java >= 17"
}

find_mvn() {
  MVN="${ORDERSTATE_MVN:-mvn}"
  command -v "$MVN" >/dev/null 2>&1
}

find_kcat() {
  KCAT="${ORDERSTATE_KCAT:-kcat}"
  command -v "$KCAT" >/dev/null 2>&1
}

# Chromium, for the web console's browser tests (tests/browser), driven by Playwright through
# its executable path: Debian's build, never a browser Playwright downloads itself.
find_chromium() {
  CHROMIUM="${ORDERSTATE_CHROMIUM:-}"
  if [[ -z "$CHROMIUM" ]]; then
    CHROMIUM="$(command -v chromium 2>/dev/null || command -v chromium-browser 2>/dev/null || echo chromium)"
  fi
  [[ -x "$CHROMIUM" ]]
}

# PgBouncer, for the test that migrates through a transaction-mode pooler. Debian installs it
# in /usr/sbin, which is not on a normal user's PATH.
find_pgbouncer() {
  PGBOUNCER="${ORDERSTATE_PGBOUNCER:-}"
  if [[ -z "$PGBOUNCER" ]]; then
    PGBOUNCER="$(command -v pgbouncer 2>/dev/null || echo /usr/sbin/pgbouncer)"
  fi
  [[ -x "$PGBOUNCER" ]]
}

# Sets PG_BINDIR to a directory holding the PostgreSQL server tools. Debian keeps them out of
# PATH under /usr/lib/postgresql/<major>/bin, and pg_config may come from libpq-dev without a
# server, so each candidate must really contain initdb and pg_ctl.
PG_LOOKED_IN=''
find_pg_bindir() {
  PG_BINDIR='' PG_LOOKED_IN=''
  local dir candidates=()
  if [[ -n "${ORDERSTATE_PG_BINDIR:-}" ]]; then
    # An explicit choice is final: falling back would hide a typo.
    candidates=("$ORDERSTATE_PG_BINDIR")
  else
    if command -v pg_config >/dev/null 2>&1; then
      dir="$(pg_config --bindir 2>/dev/null || true)"
      [[ -n "$dir" ]] && candidates+=("$dir")
    fi
    while IFS= read -r dir; do
      candidates+=("$dir")
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -V -r)
    dir="$(command -v initdb 2>/dev/null || true)"
    [[ -n "$dir" ]] && candidates+=("$(dirname "$(readlink -f "$dir")")")
  fi
  for dir in "${candidates[@]}"; do
    PG_LOOKED_IN+="${PG_LOOKED_IN:+, }$dir"
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
      PG_BINDIR="$dir"
      return 0
    fi
  done
  [[ -n "$PG_LOOKED_IN" ]] || PG_LOOKED_IN="pg_config --bindir, /usr/lib/postgresql/*/bin, PATH"
  return 1
}

# ---- kafka classpath ----------------------------------------------------------------------

KAFKA_DIR="$LOCAL_DIR/kafka"
KAFKA_LOCAL_LIBS="$KAFKA_DIR/libs"

# Sets KAFKA_LIBS: $KAFKA_HOME/libs when KAFKA_HOME is set (a developer's own distribution),
# else the jars kafka-jars.sh resolved from Maven Central.
resolve_kafka_libs() {
  if [[ -n "${KAFKA_HOME:-}" ]]; then
    [[ -d "$KAFKA_HOME/libs" ]] ||
      die "KAFKA_HOME=$KAFKA_HOME has no libs/ directory." \
        "Point KAFKA_HOME at an unpacked Apache Kafka 4.x distribution, or unset it to use the jars from deploy/local/pom.xml."
    KAFKA_LIBS="$KAFKA_HOME/libs"
  else
    KAFKA_LIBS="$KAFKA_LOCAL_LIBS"
  fi
}

# Broker settings both local brokers (kafka.sh, kafka-sasl.sh) share: one node, dev data.
single_node_properties() {
  cat <<EOF
# Topics are declared by the service's own setup, as in production; a typo must fail.
auto.create.topics.enable=false
num.partitions=6
default.replication.factor=1
min.insync.replicas=1

# One broker: every internal topic must be satisfiable with a single replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Fewer internal partitions than the defaults (50): creating them is most of the delay of the
# first consumer group or transaction on a fresh broker, and one node gains nothing from more.
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10

# Tests join and leave groups constantly; the default 3 s wait before the first rebalance
# would add up to minutes.
group.initial.rebalance.delay.ms=0

# Dev data: bounded on disk, never needed for long.
log.retention.hours=24
log.retention.bytes=1073741824
log.segment.bytes=104857600
EOF
}

# A Kafka cluster id is 16 random bytes in URL-safe base64 without padding, the format of
# `kafka-storage.sh random-uuid`; made here to save a JVM start. Kafka rejects ids that
# start with '-', so those are drawn again.
new_cluster_id() {
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    [[ "$id" == -* ]] || break
  done
  printf '%s' "$id"
}
