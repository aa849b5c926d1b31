#!/usr/bin/env bash
# kafka-sasl.sh {start|stop|status|env}: a SECOND local Apache Kafka 4.x node (KRaft, broker
# and controller in one JVM) whose client listener demands SASL: SASL_PLAINTEXT with
# SCRAM-SHA-512, SCRAM-SHA-256 and PLAIN, on 127.0.0.1 only. For the test that runs the worker
# with credentials (tests/integration/test_kafka_sasl.py) and for trying the Kafka security
# settings by hand. It shares the jars of kafka.sh but nothing else: its own ports, its own
# data under .local/kafka-sasl, its own pid file; the plain broker of kafka.sh is not touched.
#
# The SCRAM users are written into the cluster metadata when the storage is formatted
# (kafka-storage format --add-scram), as a KRaft cluster requires for the broker's own
# inter-broker user; PLAIN users come from the listener's JAAS configuration.
#   broker      / broker-secret       the broker itself (inter-broker traffic)
#   orderstate  / orderstate-secret   the client the tests and `env` use
# Development credentials on loopback only; never reuse them anywhere else.
#
# With TLS material in .local/kafka-sasl/tls (broker.keystore.jks and truststore.jks, password
# "changeit", and the CA as ca.pem; tests/support/tls.py makes them with openssl and keytool),
# it also listens on SASL_SSL (the same SASL users over TLS) and on SSL with client
# certificates required (mutual TLS, no SASL), each on its own port.
#
#   start   start it (idempotent), wait until an authenticated client can fetch metadata
#   stop    stop the process this script started (by its recorded pid)
#   status  running or not (exit 0 / 3)
#   env     ORDERSTATE_KAFKA_* lines that point orderstate at it with SCRAM-SHA-512
#   tls-env the same over SASL_SSL (exit 3 when it runs without TLS)
#
# Environment: ORDERSTATE_LOCAL_KAFKA_SASL_PORT (19192), ORDERSTATE_LOCAL_KAFKA_SASL_CONTROLLER_PORT
# (19193), ORDERSTATE_LOCAL_KAFKA_SASL_SSL_PORT (19194), ORDERSTATE_LOCAL_KAFKA_SSL_PORT (19195),
# ORDERSTATE_LOCAL_KAFKA_HEAP (-Xms128m -Xmx512m here), ORDERSTATE_LOCAL_START_TIMEOUT,
# ORDERSTATE_LOCAL_STOP_TIMEOUT, ORDERSTATE_LOCAL_DIR, KAFKA_HOME, ORDERSTATE_JAVA.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SASL_PORT="${ORDERSTATE_LOCAL_KAFKA_SASL_PORT:-19192}"
SASL_CONTROLLER_PORT="${ORDERSTATE_LOCAL_KAFKA_SASL_CONTROLLER_PORT:-19193}"
SASL_SSL_PORT="${ORDERSTATE_LOCAL_KAFKA_SASL_SSL_PORT:-19194}"
SSL_PORT="${ORDERSTATE_LOCAL_KAFKA_SSL_PORT:-19195}"
SASL_DIR="$LOCAL_DIR/kafka-sasl"
TLS_DIR="$SASL_DIR/tls"
# Test material only: the stores hold a throw-away CA's certificates.
TLS_STORE_PASSWORD=changeit
PROPS="$SASL_DIR/server.properties"
DATA="$SASL_DIR/data"
LOGS="$SASL_DIR/logs"
SERVER_LOG="$LOGS/server.log"
CONSOLE_LOG="$LOGS/kafka.out"
PIDFILE="$SASL_DIR/kafka.pid"
HEAP="${ORDERSTATE_LOCAL_KAFKA_HEAP:--Xms128m -Xmx512m}"

BROKER_USER=broker
BROKER_PASSWORD=broker-secret
CLIENT_USER=orderstate
CLIENT_PASSWORD=orderstate-secret

usage() {
  echo "usage: $SCRIPT_NAME {start|stop|status|env|tls-env}" >&2
  exit 2
}

our_pid() {
  local pid
  [[ -f "$PIDFILE" ]] || return 1
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  pid_alive "$pid" && pid_matches "$pid" "kafka.Kafka $PROPS" || return 1
  printf '%s' "$pid"
}

running_port() {
  sed -n "s|^advertised.listeners=SASL_PLAINTEXT://[^:]*:\([0-9]*\).*|\1|p" "$PROPS" 2>/dev/null
}

# A bound port is not yet a working broker: kcat logs in and asks for metadata, as a client
# would. It logs in with PLAIN, not SCRAM: the librdkafka 2.0 of Debian's kcat fails the SCRAM
# exchange with credentials made by `kafka-storage format --add-scram` (aiokafka and the
# librdkafka 2.1x of confluent-kafka succeed with the same ones; the SASL test checks SCRAM
# with aiokafka). Without kcat the log line "Kafka Server started" has to do.
kafka_answers() {
  port_open "$LOCAL_HOST" "$SASL_PORT" || return 1
  if find_kcat; then
    "$KCAT" -L -b "$LOCAL_HOST:$SASL_PORT" -m 5 -X security.protocol=SASL_PLAINTEXT \
      -X sasl.mechanisms=PLAIN -X "sasl.username=$CLIENT_USER" \
      -X "sasl.password=$CLIENT_PASSWORD" >/dev/null 2>&1 || return 1
  fi
}

tls_ready() {
  [[ -f "$TLS_DIR/broker.keystore.jks" && -f "$TLS_DIR/truststore.jks" ]]
}

# The TLS listeners' part of the properties, when the material is there.
tls_properties() {
  local scram='org.apache.kafka.common.security.scram.ScramLoginModule required'
  local plain='org.apache.kafka.common.security.plain.PlainLoginModule required'
  cat <<EOF
ssl.keystore.type=JKS
ssl.keystore.location=$TLS_DIR/broker.keystore.jks
ssl.keystore.password=$TLS_STORE_PASSWORD
ssl.key.password=$TLS_STORE_PASSWORD
ssl.truststore.type=JKS
ssl.truststore.location=$TLS_DIR/truststore.jks
ssl.truststore.password=$TLS_STORE_PASSWORD
# SSL: a client certificate signed by the CA is the client's identity (mutual TLS, no SASL).
listener.name.ssl.ssl.client.auth=required
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=$scram;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=$scram;
listener.name.sasl_ssl.plain.sasl.jaas.config=$plain user_$CLIENT_USER="$CLIENT_PASSWORD";
EOF
}

write_properties() {
  mkdir -p "$DATA" "$LOGS"
  local scram='org.apache.kafka.common.security.scram.ScramLoginModule required'
  local plain='org.apache.kafka.common.security.plain.PlainLoginModule required'
  local listeners="SASL_PLAINTEXT://$LOCAL_HOST:$SASL_PORT"
  local map="SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:PLAINTEXT"
  if tls_ready; then
    listeners+=",SASL_SSL://$LOCAL_HOST:$SASL_SSL_PORT,SSL://$LOCAL_HOST:$SSL_PORT"
    map+=",SASL_SSL:SASL_SSL,SSL:SSL"
  fi
  cat >"$PROPS.tmp" <<EOF
# Generated by deploy/local/kafka-sasl.sh on each start; edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$LOCAL_HOST:$SASL_CONTROLLER_PORT
# Clients and the broker itself authenticate on SASL_PLAINTEXT (and, with TLS material, on
# SASL_SSL and SSL). The controller listener is plain, bound to loopback, and serves only the
# quorum, as in kafka.sh.
listeners=$listeners,CONTROLLER://$LOCAL_HOST:$SASL_CONTROLLER_PORT
advertised.listeners=$listeners
listener.security.protocol.map=$map
inter.broker.listener.name=SASL_PLAINTEXT
controller.listener.names=CONTROLLER
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=$scram username="$BROKER_USER" password="$BROKER_PASSWORD";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=$scram;
listener.name.sasl_plaintext.plain.sasl.jaas.config=$plain username="$BROKER_USER" password="$BROKER_PASSWORD" user_$BROKER_USER="$BROKER_PASSWORD" user_$CLIENT_USER="$CLIENT_PASSWORD";
log.dirs=$DATA

$(single_node_properties)
EOF
  if tls_ready; then tls_properties >>"$PROPS.tmp"; fi
  mv "$PROPS.tmp" "$PROPS"
}

# The SCRAM credentials go into the first metadata records, so the broker can authenticate
# its own inter-broker connection before any admin tool could add users.
format_storage() {
  [[ -f "$DATA/meta.properties" ]] && return 0
  local id
  id="$(new_cluster_id)"
  say "formatting KRaft storage in $DATA with SCRAM users $BROKER_USER and $CLIENT_USER ..."
  if ! "$JAVA" -Xmx256m -Dlog4j2.configurationFile="$LOCAL_SCRIPTS/log4j2.yaml" \
    -Dkafka.logs.dir="$LOGS" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool \
    format --ignore-formatted -t "$id" -c "$PROPS" \
    --add-scram "SCRAM-SHA-512=[name=$BROKER_USER,password=$BROKER_PASSWORD]" \
    --add-scram "SCRAM-SHA-512=[name=$CLIENT_USER,password=$CLIENT_PASSWORD]" \
    --add-scram "SCRAM-SHA-256=[name=$CLIENT_USER,password=$CLIENT_PASSWORD]" \
    >"$LOGS/format.log" 2>&1; then
    show_tail 30 "$LOGS/format.log"
    die "formatting the storage in $DATA failed (output above)." \
      "Remove $SASL_DIR (it holds only test data) and start again."
  fi
}

new_log() {
  tail -c "+$((LOG_OFFSET + 1))" "$SERVER_LOG" 2>/dev/null || true
}

fail_start() {
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  if pid_alive "$pid" && pid_matches "$pid" "kafka.Kafka $PROPS"; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PIDFILE"
  show_tail 30 "$SERVER_LOG" "$CONSOLE_LOG"
  die "$@"
}

wait_ready() {
  local pid="$1" deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! pid_alive "$pid"; then
      if new_log | grep -qE 'Address already in use|BindException'; then
        fail_start "port $SASL_PORT or $SASL_CONTROLLER_PORT was taken while the broker started." \
          "Free it, or set ORDERSTATE_LOCAL_KAFKA_SASL_PORT / ORDERSTATE_LOCAL_KAFKA_SASL_CONTROLLER_PORT."
      fi
      fail_start "the SASL broker (pid $pid) exited during start-up; the log above says why." \
        "Fix the cause and run: deploy/local/kafka-sasl.sh start"
    fi
    if new_log | grep -q 'Kafka Server started' && kafka_answers; then
      return 0
    fi
    sleep 0.25
  done
  fail_start "the SASL broker did not become ready within ${START_TIMEOUT}s (ORDERSTATE_LOCAL_START_TIMEOUT); it was stopped." \
    "Read the log lines above; on a slow machine raise ORDERSTATE_LOCAL_START_TIMEOUT."
}

start() {
  mkdir -p "$SASL_DIR"
  exec 9>"$SASL_DIR/.start.lock"
  flock 9

  local pid t0=$SECONDS
  if pid="$(our_pid)"; then
    local running
    running="$(running_port)"
    if [[ -n "$running" && "$running" != "$SASL_PORT" ]]; then
      die "already running on $LOCAL_HOST:$running (pid $pid), not on the requested port $SASL_PORT." \
        "Run deploy/local/kafka-sasl.sh stop first to change ports."
    fi
    LOG_OFFSET="$(cat "$SASL_DIR/.log_offset" 2>/dev/null || echo 0)"
    wait_ready "$pid"
    say "already running (pid $pid, $LOCAL_HOST:$SASL_PORT)"
    return 0
  fi
  rm -f "$PIDFILE"

  find_java || die "$JAVA_PROBLEM." "Install it: $(java_install_hint)."
  resolve_kafka_libs
  compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null ||
    die "no Kafka jars in $KAFKA_LIBS." \
      "Run deploy/local/kafka-jars.sh (or make kafka-jars), or set KAFKA_HOME to an unpacked Kafka 4.x."

  local port ports=("$SASL_PORT" "$SASL_CONTROLLER_PORT")
  if tls_ready; then ports+=("$SASL_SSL_PORT" "$SSL_PORT"); fi
  for port in "${ports[@]}"; do
    if port_taken "$port"; then
      die "port $port on $LOCAL_HOST is already taken by another process$(port_owner "$port"); this script did not start it." \
        "Stop that process, or choose other ports: ORDERSTATE_LOCAL_KAFKA_SASL_PORT=... ORDERSTATE_LOCAL_KAFKA_SASL_CONTROLLER_PORT=..."
    fi
  done

  write_properties
  format_storage

  LOG_OFFSET=0
  [[ -f "$SERVER_LOG" ]] && LOG_OFFSET="$(stat -c %s "$SERVER_LOG")"
  echo "$LOG_OFFSET" >"$SASL_DIR/.log_offset"
  : >"$CONSOLE_LOG"
  say "starting the SASL broker on $LOCAL_HOST:$SASL_PORT ..."
  # As in kafka.sh: own session, and the pid file names the JVM itself.
  # shellcheck disable=SC2016,SC2086
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDFILE" \
    "$JAVA" $HEAP -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOCAL_SCRIPTS/log4j2.yaml" -Dkafka.logs.dir="$LOGS" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$PROPS" \
    </dev/null >"$CONSOLE_LOG" 2>&1 9>&- &
  wait_for 5 test -s "$PIDFILE" || fail_start "the broker process did not start (no pid recorded)."
  pid="$(cat "$PIDFILE")"
  wait_ready "$pid"
  ok "ready on $LOCAL_HOST:$SASL_PORT with SASL (pid $pid, $((SECONDS - t0)) s)"
}

stop() {
  mkdir -p "$SASL_DIR"
  exec 9>"$SASL_DIR/.start.lock"
  flock 9
  local pid
  if ! pid="$(our_pid)"; then
    rm -f "$PIDFILE"
    say "not running"
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_for "$STOP_TIMEOUT" pid_gone "$pid"; then
    warn "pid $pid did not stop within ${STOP_TIMEOUT}s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_for 5 pid_gone "$pid" || die "pid $pid survived SIGKILL."
  fi
  rm -f "$PIDFILE"
  say "stopped (pid $pid)"
}

status() {
  local pid
  if pid="$(our_pid)"; then
    local tls=''
    if running_tls; then tls=", SASL_SSL on $SASL_SSL_PORT, SSL on $SSL_PORT"; fi
    echo "kafka-sasl running  pid $pid  $LOCAL_HOST:$(running_port) (SASL_PLAINTEXT$tls)"
    return 0
  fi
  echo "kafka-sasl stopped            $LOCAL_HOST:$SASL_PORT (SASL_PLAINTEXT)"
  return 3
}

# TLS listeners of the running broker (its properties), not of the material on disk now.
running_tls() {
  grep -q '^ssl.truststore.location=' "$PROPS" 2>/dev/null
}

tls_env_lines() {
  if ! our_pid >/dev/null || ! running_tls; then
    echo "$SCRIPT_NAME: the SASL broker does not run with TLS listeners" >&2
    exit 3
  fi
  echo "ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS=$LOCAL_HOST:$SASL_SSL_PORT"
  echo "ORDERSTATE_KAFKA_SECURITY_PROTOCOL=SASL_SSL"
  echo "ORDERSTATE_KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
  echo "ORDERSTATE_KAFKA_SASL_USERNAME=$CLIENT_USER"
  echo "ORDERSTATE_KAFKA_SASL_PASSWORD=$CLIENT_PASSWORD"
  echo "ORDERSTATE_KAFKA_SSL_CAFILE=$TLS_DIR/ca.pem"
}

env_lines() {
  echo "ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS=$LOCAL_HOST:$SASL_PORT"
  echo "ORDERSTATE_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"
  echo "ORDERSTATE_KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
  echo "ORDERSTATE_KAFKA_SASL_USERNAME=$CLIENT_USER"
  echo "ORDERSTATE_KAFKA_SASL_PASSWORD=$CLIENT_PASSWORD"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  env) env_lines ;;
  tls-env) tls_env_lines ;;
  *) usage ;;
esac
