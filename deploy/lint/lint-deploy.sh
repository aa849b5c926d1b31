#!/usr/bin/env bash
# lint-deploy.sh: static validation of everything in deploy/, for `make lint` and CI. No Docker
# engine or Kubernetes cluster is needed (or used):
#   hadolint         deploy/Dockerfile
#   ShellCheck       deploy/local/*.sh, deploy/lint/*.sh
#   ruff, mypy       deploy/lint/*.py
#   compose-spec     deploy/compose.yaml against the Compose Specification (compose-go)
#   helm lint        the chart, strict, with each values file
#   helm template    renders of the default values, values-production.yaml and the lint-only
#                    files in deploy/lint/values/, plus renders that must FAIL (worker above
#                    the partition count, missing Secrets, a misspelt value that
#                    values.schema.json refuses, ...) with the chart's message
#   kubernetes-validate  every rendered object, strictly, against the bundled OpenAPI schemas
#                    of Kubernetes 1.30 (the chart's minimum) and 1.37; only the CRD kinds
#                    listed below may lack a schema
#   check_manifests  orderstate's own rules (deploy/lint/check_manifests.py): probes, PDBs,
#                    selectors, preStop and grace periods, Ingress paths, KEDA pacing, ...
#   check_observability  the dashboard parses and every query of it and of the PrometheusRule
#                    names a metric that services/orderstate/metrics.py exports
#   promtool         `check rules` on the rendered PrometheusRule and `test rules` with the
#                    alert unit tests in deploy/lint/alerts-test.yaml
#   checkov          policy checks of the renders and the Dockerfile; accepted findings, with
#                    their reasons, are in deploy/lint/checkov.yaml
# Tools are installed by deploy/lint/tools.sh on first use. One line per step on success;
# the failing step's output otherwise. Renders are left in .local/lint/rendered for reading.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=../local/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/lib.sh"

cd "$ORDERSTATE_ROOT"
LINT_DIR="$LOCAL_DIR/lint"
TOOLS="$LINT_DIR/bin"
TOOLS_VENV="$LINT_DIR/venv/bin"
PROJECT_VENV="$ORDERSTATE_ROOT/.venv/bin"
CHART=deploy/helm/orderstate
RENDERED="$LINT_DIR/rendered"
# The rendered PrometheusRule's groups and the alert tests, for promtool.
RULES_DIR="$LINT_DIR/rules"
KUBE_VERSIONS=(1.30.0 1.37.0)
# Custom resources of optional integrations; kubernetes-validate has no schema for them.
# check_manifests.py checks the fields orderstate relies on.
CRD_KINDS='ScaledObject|TriggerAuthentication|ServiceMonitor|PrometheusRule'

"$ORDERSTATE_ROOT/deploy/lint/tools.sh"
[[ -x "$PROJECT_VENV/python" ]] || die "no project virtual environment in .venv." "Run make venv first."

LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT

# step NAME COMMAND...: runs COMMAND quietly; prints its output and stops if it fails.
step() {
  local name="$1" t0 ms
  shift
  t0="${EPOCHREALTIME/./}"
  if ! "$@" >"$LOG" 2>&1; then
    cat "$LOG" >&2
    die "$name failed (output above)."
  fi
  ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
  printf '%s: ok  %-20s %3d.%d s\n' "$SCRIPT_NAME" "$name" $((ms / 1000)) $((ms % 1000 / 100))
}

helm_() {
  "$TOOLS/helm" "$@"
}

# The values files every render and lint uses: "" is the chart's defaults.
VALUES_FILES=("" "$CHART/values-production.yaml" deploy/lint/values/*.yaml)

values_args() {
  [[ -z "$1" ]] || printf '%s\n' -f "$1"
}

render_name() {
  if [[ -z "$1" ]]; then echo default; else basename "$1" .yaml; fi
}

helm_lint_all() {
  local file
  for file in "${VALUES_FILES[@]}"; do
    # shellcheck disable=SC2046  # values_args prints whole words
    helm_ lint --strict --quiet "$CHART" $(values_args "$file")
  done
}

render_all() {
  local file
  rm -rf "$RENDERED"
  mkdir -p "$RENDERED"
  for file in "${VALUES_FILES[@]}"; do
    # shellcheck disable=SC2046
    helm_ template orderstate "$CHART" --namespace orderstate \
      --kube-version "${KUBE_VERSIONS[-1]}" $(values_args "$file") \
      >"$RENDERED/$(render_name "$file").yaml"
  done
  # The production example under another release name: every selector must follow it.
  helm_ template shop-orders "$CHART" --namespace shop --kube-version "${KUBE_VERSIONS[-1]}" \
    -f "$CHART/values-production.yaml" >"$RENDERED/values-production-other-release.yaml"
}

# must_fail MESSAGE --set ...: the render must fail, and say MESSAGE.
must_fail() {
  local want="$1" out
  shift
  if out="$(helm_ template orderstate "$CHART" "$@" 2>&1)"; then
    echo "rendered, but should have failed with: $want ($*)"
    return 1
  fi
  if [[ "$out" != *"$want"* ]]; then
    printf 'failed without the expected message "%s" (%s):\n%s\n' "$want" "$*" "$out"
    return 1
  fi
}

refusals() {
  must_fail "worker.replicas=7 exceeds kafka.partitions=6" --set worker.replicas=7
  must_fail "worker.keda.maxReplicas=13 exceeds kafka.partitions=12" \
    -f "$CHART/values-production.yaml" --set worker.keda.maxReplicas=13
  must_fail "monitor.replicas=7 exceeds kafka.partitions=6" --set monitor.replicas=7
  must_fail "kafka.bootstrapServers is required" --set kafka.bootstrapServers=
  must_fail "database.existingSecret is required" --set database.existingSecret=
  must_fail "apiAuth.existingSecret is required" --set apiAuth.existingSecret=
  must_fail "needs kafka.sasl.existingSecret" --set kafka.securityProtocol=SASL_SSL
  must_fail "kafka.sasl.mechanism=GSSAPI" -f "$CHART/values-production.yaml" \
    --set kafka.sasl.mechanism=GSSAPI
  must_fail "does not use TLS" --set kafka.tls.caSecret=ca
  must_fail "only ORDERSTATE_* settings belong in config" --set config.LOG_LEVEL=DEBUG
  # values.schema.json: a misspelt or mistyped value fails instead of being ignored.
  must_fail "additional properties 'kedaa' not allowed" --set worker.kedaa.enabled=true
  must_fail "additional properties 'preStopSleep' not allowed" --set api.preStopSleep=10
  must_fail "/api/replicas" --set api.replicas=two
  must_fail "ingress.host is required" --set ingress.enabled=true
}

validate_schemas() {
  local version out unknown
  for version in "${KUBE_VERSIONS[@]}"; do
    out="$("$TOOLS_VENV/kubernetes-validate" --strict --quiet -k "$version" "$RENDERED"/*.yaml 2>&1)" || {
      echo "$out"
      return 1
    }
    # A missing schema is only a warning to kubernetes-validate; here only the CRDs may lack one
    # (a typo in apiVersion or kind would otherwise pass unvalidated).
    unknown="$(grep -i "couldn't find schema" <<<"$out" | grep -vE "kind ($CRD_KINDS) " || true)"
    if [[ -n "$unknown" ]]; then
      echo "$unknown"
      return 1
    fi
  done
}

ruff_() {
  "$PROJECT_VENV/ruff" check deploy/lint
  "$PROJECT_VENV/ruff" format --check deploy/lint
}

observability() {
  mkdir -p "$RULES_DIR"
  # The production example enables the PrometheusRule; its rules go to promtool.
  "$PROJECT_VENV/python" deploy/lint/check_observability.py \
    --dashboard "$CHART/dashboards/orderstate.json" --rules-out "$RULES_DIR/rules.yaml" \
    "$RENDERED/values-production.yaml" "$RENDERED"/*.yaml
}

# promtool resolves a test file's rule_files next to the test file.
promtool_() {
  "$TOOLS/promtool" check rules "$RULES_DIR/rules.yaml"
  cp deploy/lint/alerts-test.yaml "$RULES_DIR/alerts-test.yaml"
  "$TOOLS/promtool" test rules "$RULES_DIR/alerts-test.yaml"
}

# compose-spec resolves paths (build context) relative to the working directory.
compose_spec() {
  (cd deploy && "$TOOLS/compose-spec" compose.yaml)
}

checkov_() {
  BC_SKIP_MAPPING=TRUE "$TOOLS_VENV/checkov" --config-file deploy/lint/checkov.yaml \
    --directory "$RENDERED" --file deploy/Dockerfile
}

step hadolint "$TOOLS_VENV/hadolint" --config deploy/lint/hadolint.yaml deploy/Dockerfile
step shellcheck "$TOOLS_VENV/shellcheck" -x deploy/local/*.sh deploy/lint/*.sh
step "ruff deploy/lint" ruff_
step "mypy deploy/lint" "$PROJECT_VENV/mypy" --strict deploy/lint/check_manifests.py \
  deploy/lint/check_observability.py
step compose-spec compose_spec
step "helm lint" helm_lint_all
step "helm template" render_all
step "helm refusals" refusals
step kubernetes-validate validate_schemas
step check_manifests "$PROJECT_VENV/python" deploy/lint/check_manifests.py \
  --compose deploy/compose.yaml "$RENDERED"/*.yaml
step check_observability observability
step promtool promtool_
step checkov checkov_
ok "deploy files valid: $(find "$RENDERED" -name '*.yaml' | wc -l) renders in $RENDERED"
