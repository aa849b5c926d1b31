#!/usr/bin/env bash
# run.sh: what `make run` does after the native services are up: start orderstate (migrate,
# topics, worker, relay, order monitor and REST API in one process), publish a simulation
# through it, print the summary (with the monitor's alerts and live counts), and keep
# orderstate running until Ctrl-C.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$ORDERSTATE_ROOT"
while IFS='=' read -r name value; do
  export "$name=$value"
done < <("$LOCAL_SCRIPTS/services.sh" env)
export ORDERSTATE_LOG_FORMAT="${ORDERSTATE_LOG_FORMAT:-json}"

BIN="$ORDERSTATE_ROOT/.venv/bin"
LOG="$LOCAL_DIR/orderstate.log"
OPS_PORT="${ORDERSTATE_RUN_OPS_PORT:-9102}"
mkdir -p "$LOCAL_DIR"

"$BIN/orderstate" run --ops-port "$OPS_PORT" >>"$LOG" 2>&1 &
pid=$!
stopped_with=0
# Stops orderstate if it still runs; its exit code goes to stopped_with.
stop() {
  trap - INT TERM EXIT
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping orderstate (pid $pid) ..."
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || stopped_with=$?
  fi
}
# Ctrl-C is the documented way to stop: orderstate shuts down as on SIGTERM, and the script
# ends with its exit code (0), so make reports no error.
on_signal() {
  stop
  say "orderstate stopped (exit code $stopped_with); the services stay up: make services-down"
  exit "$stopped_with"
}
trap on_signal INT TERM
trap stop EXIT

say "orderstate starting (pid $pid), log: $LOG"
deadline=$((SECONDS + 90))
ready() {
  "$BIN/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
    "http://127.0.0.1:$OPS_PORT/readyz" >/dev/null 2>&1
}
until ready; do
  if ! kill -0 "$pid" 2>/dev/null; then
    die "orderstate exited during start-up; last lines of $LOG:
$(tail -n 30 "$LOG")"
  fi
  ((SECONDS < deadline)) || die "orderstate was not ready within 90 s; see $LOG"
  sleep 0.5
done
say "orderstate is ready: http://127.0.0.1:$OPS_PORT/readyz"

"$BIN/orderstate" simulate --orders "${ORDERSTATE_SIM_ORDERS:-2000}" --shops "${ORDERSTATE_SIM_SHOPS:-5}" \
  --seed "${ORDERSTATE_SIM_SEED:-$RANDOM}" --monitor-metrics "http://127.0.0.1:$OPS_PORT/metrics"

# The web console, with a key for one simulated shop: printed once, stored only as a hash.
demo_shop="${ORDERSTATE_CONSOLE_DEMO_SHOP:-shop-1}"
demo_key="$("$BIN/orderstate" apikey create --shop "$demo_shop" --label "console (make run)" 2>/dev/null)" ||
  die "could not create the console's login key for $demo_shop; see $LOG"
say ""
say "Web console: http://127.0.0.1:${ORDERSTATE_API_PORT:-8000}/ui/"
say "  log in as $demo_shop with this key (shown once; orderstate apikey revoke ends it):"
say "  $demo_key"
say ""
say "orderstate keeps running. Try:"
say "  curl -s http://127.0.0.1:$OPS_PORT/metrics | grep -E '^orderstate_(events_total|monitor_open_alerts)'"
say "  KEY=\$($BIN/orderstate apikey create --shop shop-1); curl -s -H \"API-KEY: \$KEY\" 'http://127.0.0.1:${ORDERSTATE_API_PORT:-8000}/v2/alerts?filters[status]=open'"
say "  kcat -b $ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS -C -t orderstate.order-alerts.v1 -c 3 -e"
say "  kcat -b $ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS -C -t orderstate.order-events.v1 -c 3 -e"
say "  psql $ORDERSTATE_DATABASE_URL -c 'select state, count(*) from orders group by 1'"
say "Logs: $LOG. Press Ctrl-C to stop orderstate (the services stay up: make services-down)."
wait "$pid"
