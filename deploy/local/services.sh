#!/usr/bin/env bash
# services.sh {up|down|status|env}: the native services the integration tests and `make run`
# need, PostgreSQL and Kafka, on 127.0.0.1, without Docker.
#   up      start both (idempotent: running services are left as they are)
#   down    stop both; only the processes these scripts started and recorded
#   status  one line per service; always exits 0 (it is a report)
#   env     KEY=value lines for the services' addresses, for `eval` or a test harness
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

up() {
  "$LOCAL_SCRIPTS/kafka-jars.sh"
  # PostgreSQL first: it starts in about a second, so a broken PostgreSQL setup fails fast
  # instead of after the broker's start-up.
  "$LOCAL_SCRIPTS/postgres.sh" start
  "$LOCAL_SCRIPTS/kafka.sh" start
}

down() {
  # Both are attempted even if the first fails, so nothing is left running.
  local rc=0
  "$LOCAL_SCRIPTS/kafka.sh" stop || rc=1
  "$LOCAL_SCRIPTS/postgres.sh" stop || rc=1
  return "$rc"
}

status() {
  "$LOCAL_SCRIPTS/postgres.sh" status || true
  "$LOCAL_SCRIPTS/kafka.sh" status || true
}

env_lines() {
  echo "ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS=$LOCAL_HOST:$KAFKA_PORT"
  echo "ORDERSTATE_DATABASE_URL=postgresql://orderstate:orderstate@$LOCAL_HOST:$PG_PORT/orderstate"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  env) env_lines ;;
  *)
    echo "usage: $SCRIPT_NAME {up|down|status|env}" >&2
    exit 2
    ;;
esac
