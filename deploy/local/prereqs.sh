#!/usr/bin/env bash
# prereqs.sh: checks the system tools the native services need: a Python >= 3.11 (checked
# first, never installed here), java >= 17 (Kafka 4), Maven (fetches the Kafka jars once), the
# PostgreSQL server binaries, kcat and PgBouncer (both used by tests), and openssl and keytool
# (the TLS tests make their own certificate authority and the broker's Java key stores), and
# chromium with a font (the web console's browser tests).
# As root on Debian it installs what is missing with apt-get, because every new machine and
# CI run starts without them; anywhere else it prints the command and exits 1.
# One line when everything is there. ORDERSTATE_PREREQS_NO_INSTALL=1 only reports.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PROBLEMS=()
PACKAGES=()

# Debian 12 has openjdk-17; later releases only newer JDKs, which serve as well.
java_package() {
  if apt-cache policy openjdk-17-jdk-headless 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    echo openjdk-17-jdk-headless
  else
    echo default-jdk-headless
  fi
}

check() {
  PROBLEMS=() PACKAGES=()
  if ! find_java; then
    PROBLEMS+=("java >= 17: $JAVA_PROBLEM")
    PACKAGES+=(java)
  fi
  # With KAFKA_HOME the jars come from that distribution, and Maven is not needed.
  if [[ -z "${KAFKA_HOME:-}" ]] && ! find_mvn; then
    PROBLEMS+=("mvn: $MVN not on PATH (fetches the Kafka jars from Maven Central once)")
    PACKAGES+=(maven)
  fi
  if ! find_pg_bindir; then
    PROBLEMS+=("PostgreSQL server (initdb, pg_ctl, postgres): not found in $PG_LOOKED_IN")
    PACKAGES+=(postgresql)
  fi
  if ! find_kcat; then
    PROBLEMS+=("kcat: $KCAT not on PATH (the tests use it as an independent Kafka client)")
    PACKAGES+=(kcat)
  fi
  if ! find_pgbouncer; then
    PROBLEMS+=("pgbouncer: $PGBOUNCER not found (a test migrates through it in transaction mode)")
    PACKAGES+=(pgbouncer)
  fi
  if ! command -v openssl >/dev/null 2>&1; then
    PROBLEMS+=("openssl: not on PATH (the TLS tests make their own certificate authority)")
    PACKAGES+=(openssl)
  fi
  if ! command -v keytool >/dev/null 2>&1; then
    PROBLEMS+=("keytool: not on PATH (the TLS tests make the broker's key stores; the JDK has it)")
    [[ " ${PACKAGES[*]} " == *" java "* ]] || PACKAGES+=(java)
  fi
  if ! find_chromium; then
    PROBLEMS+=("chromium: $CHROMIUM not found (the web console's browser tests drive it)")
    PACKAGES+=(chromium)
  fi
  # Installed without its recommended fonts, chromium would draw every letter as a box.
  if [[ ! -d /usr/share/fonts/truetype/dejavu ]] && ! ls /usr/share/fonts/truetype/liberation* >/dev/null 2>&1; then
    PROBLEMS+=("fonts: neither DejaVu nor Liberation is installed (chromium draws the console's text with them)")
    PACKAGES+=(fonts-dejavu-core)
  fi
  ((${#PROBLEMS[@]} == 0))
}

summary() {
  local pg_version jars=mvn
  pg_version="$("$PG_BINDIR/postgres" --version 2>/dev/null | awk '{print $3}')"
  [[ -n "${KAFKA_HOME:-}" ]] && jars="KAFKA_HOME=$KAFKA_HOME"
  say "ok: python $PYTHON_VERSION, java $JAVA_MAJOR, $jars, PostgreSQL ${pg_version:-?} ($PG_BINDIR), kcat, pgbouncer, openssl, keytool, chromium"
}

report_and_exit() {
  local p
  {
    echo "$SCRIPT_NAME: missing prerequisites:"
    for p in "${PROBLEMS[@]}"; do echo "  - $p"; done
    local sudo=''
    ((EUID == 0)) || sudo='sudo '
    echo "Install them (Debian/Ubuntu):"
    echo "  ${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${PACKAGES[*]/java/openjdk-17-jdk-headless}"
  } >&2
  exit 1
}

# The interpreter first: it is not installed with apt here (which Python to use is the
# developer's choice), so a missing one is said before apt-get takes its minutes.
require_python

if check; then
  summary
  exit 0
fi

can_install() {
  ((EUID == 0)) && [[ -f /etc/debian_version ]] && command -v apt-get >/dev/null 2>&1 &&
    [[ "${ORDERSTATE_PREREQS_NO_INSTALL:-0}" != 1 ]]
}

if ! can_install; then
  report_and_exit
fi

say "missing: ${PROBLEMS[*]}"
say "installing ${PACKAGES[*]} with apt-get (once per machine; a few minutes) ..."
export DEBIAN_FRONTEND=noninteractive
apt_log="$(mktemp)"
trap 'rm -f "$apt_log"' EXIT
if ! apt-get update -qq >"$apt_log" 2>&1; then
  cat "$apt_log" >&2
  die "apt-get update failed (output above)." "Fix the package sources, or install by hand: ${PACKAGES[*]}"
fi
to_install=()
for p in "${PACKAGES[@]}"; do
  if [[ "$p" == java ]]; then to_install+=("$(java_package)"); else to_install+=("$p"); fi
done
# The postgresql package may start its own cluster on 5432; ours is separate (postgres.sh).
if ! apt-get install -y -qq --no-install-recommends "${to_install[@]}" >"$apt_log" 2>&1; then
  tail -n 30 "$apt_log" >&2
  die "apt-get install ${to_install[*]} failed (output above)." "Install them by hand and run this again."
fi

if check; then
  summary
  exit 0
fi
# Installed but still not found: an override (ORDERSTATE_JAVA, ORDERSTATE_PG_BINDIR, ...)
# points elsewhere, or the distribution put the tools where we do not look.
warn "apt-get installed ${to_install[*]}, but they are still not found; check ORDERSTATE_JAVA, ORDERSTATE_MVN, ORDERSTATE_PG_BINDIR, ORDERSTATE_KCAT."
report_and_exit
