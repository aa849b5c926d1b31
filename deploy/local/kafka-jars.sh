#!/usr/bin/env bash
# Resolves the Apache Kafka broker's runtime jars from Maven Central into .local/kafka/libs,
# once: a stamp holds the hash of deploy/local/pom.xml, so later runs return at once and a
# version bump in the pom re-resolves by itself.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -n "${KAFKA_HOME:-}" ]]; then
  resolve_kafka_libs
  say "KAFKA_HOME is set: kafka.sh will use $KAFKA_LIBS; nothing to resolve."
  exit 0
fi

POM="$LOCAL_SCRIPTS/pom.xml"
STAMP="$KAFKA_LOCAL_LIBS/.pom.sha256"
want="$(sha256sum "$POM" | cut -d' ' -f1)"

up_to_date() {
  [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]] && compgen -G "$KAFKA_LOCAL_LIBS/kafka_2.13-*.jar" >/dev/null
}

if up_to_date; then
  exit 0
fi

mkdir -p "$KAFKA_DIR"
# Two parallel `make` jobs must not resolve into the same directory at once.
exec 9>"$KAFKA_DIR/.jars.lock"
flock 9
if up_to_date; then
  exit 0
fi

find_mvn || die "Maven ($MVN) is not on PATH; it is needed once to fetch the Kafka jars from Maven Central." \
  "Install it: apt-get install maven (or run deploy/local/prereqs.sh)," \
  "or set KAFKA_HOME to an unpacked Apache Kafka 4.x distribution."

# Swapping jars under a running broker would make its lazy class loading fail later.
pidfile="$KAFKA_DIR/kafka.pid"
if [[ -f "$pidfile" ]] && pid_matches "$(cat "$pidfile")" kafka.Kafka; then
  die "deploy/local/pom.xml changed while the local Kafka broker is running." \
    "Stop it first: deploy/local/kafka.sh stop (or services.sh down), then run this again."
fi

say "resolving Kafka jars from Maven Central into $KAFKA_LOCAL_LIBS (once) ..."
# A fresh directory, moved into place when complete: copy-dependencies into the old one would
# leave jars of the previous version beside the new ones, and the broker would load both.
tmp="$(mktemp -d "$KAFKA_DIR/libs.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# mktemp makes it 0700; the jars are public, and another user may run the broker from them.
chmod 0755 "$tmp"
# Maven's own output (hundreds of lines) goes to a log; a count of the files it has fetched
# shows that it is working: one updating line at a terminal, a line every 10 s in CI.
"$MVN" -B -f "$POM" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp/.mvn.log" 2>&1 &
mvn_pid=$!
started=$SECONDS
while pid_alive "$mvn_pid"; do
  sleep 1
  fetched="$(grep -c '^Downloaded from' "$tmp/.mvn.log" || true)"
  if [[ -t 1 ]]; then
    printf '\r%s: %d files fetched from Maven Central (%d s) ' "$SCRIPT_NAME" "$fetched" $((SECONDS - started))
  elif (((SECONDS - started) % 10 == 0)); then
    say "$fetched files fetched from Maven Central ($((SECONDS - started)) s)"
  fi
done
[[ -t 1 ]] && printf '\n'
if ! wait "$mvn_pid"; then
  cat "$tmp/.mvn.log" >&2
  die "Maven could not resolve the jars listed in deploy/local/pom.xml (output above)." \
    "Check that Maven Central is reachable (a proxy in ~/.m2/settings.xml?) and retry."
fi
rm -f "$tmp/.mvn.log"
compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null ||
  die "Maven finished but copied no kafka_2.13 jar into $tmp; check deploy/local/pom.xml."
printf '%s\n' "$want" >"$tmp/.pom.sha256"
rm -rf "$KAFKA_LOCAL_LIBS"
mv "$tmp" "$KAFKA_LOCAL_LIBS"
trap - EXIT
ok "$(find "$KAFKA_LOCAL_LIBS" -name '*.jar' | wc -l) jars in $KAFKA_LOCAL_LIBS"
