"""Checks of the rendered Helm manifests and compose.yaml that only orderstate can make.

Schema validators know Kubernetes and Compose, not orderstate. This knows the settings model:

- every ORDERSTATE_* name is a real setting (pydantic-settings ignores unknown ones silently,
  so a misspelt variable would be a setting that never applies);
- the settings each process gets, with placeholders for the values in Secrets, pass the
  settings model's own validation, the policy file it mounts loads, and its ports and
  probes fit together;
- the worker (and the monitor, also a consumer group) never runs more replicas than there are
  partitions, fixed or scaled by KEDA;
- a worker is a static group member (ORDERSTATE_KAFKA_GROUP_INSTANCE_ID from its pod's name)
  only in a StatefulSet, whose pods keep their names: a Deployment's pod would come back as a
  new static member and its old one would hold its partitions for the session timeout;
- the migration hook mounts nothing the release creates (it runs before they exist);
- KEDA and ServiceMonitor objects point at objects that exist in the same render, and KEDA
  limits how fast it changes the worker count (each change is a group rebalance);
- every selector (Service, PodDisruptionBudget, topology spread) selects the pods it is for,
  whatever the release is called, and no budget forbids every eviction;
- readiness probes wait longer than /readyz may take; the api pauses before SIGTERM (preStop)
  and every grace period covers the pause plus the process's drain;
- the Ingress routes only the REST API (/v2), never /metrics, /healthz or /readyz;
- in compose.yaml, start-order conditions point at services that can satisfy them, and Kafka
  keeps its data in its volume.

Usage: python deploy/lint/check_manifests.py --compose deploy/compose.yaml RENDERED.yaml...
Runs with the project's virtual environment (it imports orderstate.settings).
"""

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from orderstate.domain import PolicyError
from orderstate.policy_config import read_policy_book
from orderstate.settings import Settings

SETTINGS = {f"ORDERSTATE_{name.upper()}": name for name in Settings.model_fields}
# Secret values are not in the render; these stand in for them (not the dev defaults, which
# production refuses).
PLACEHOLDERS = {
    "ORDERSTATE_DATABASE_URL": "postgresql://orderstate:placeholder@db.invalid:5432/orderstate",
}
# How long /readyz may take: PostgreSQL (2 s), and Kafka (3 s, at the same time) in the worker,
# relay and monitor (services/orderstate/health/readiness.py).
READYZ_S = {"api": 2, "worker": 3, "relay": 3, "monitor": 3}
# What a process needs after SIGTERM: the api its ORDERSTATE_API_SHUTDOWN_TIMEOUT_S; a worker
# its batch, a commit and leaving the group; a relay its publish round; a monitor its batch
# (published and stored), a commit and leaving the group.
DRAIN_S = {"worker": 30, "relay": 10, "monitor": 20}
OPS_PATHS = ("/metrics", "/healthz", "/readyz")
KEDA_KAFKA_AUTH_PARAMS = {
    "username", "password", "sasl", "tls", "ca", "cert", "key", "keyPassword", "unsafeSsl",
}  # fmt: skip


# The long-running workloads: the worker is a StatefulSet while worker.staticMembership is on.
WORKLOADS = ("Deployment", "StatefulSet")


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")


def _docs(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [d for d in yaml.safe_load_all(handle) if isinstance(d, dict)]


def _name(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    if obj.get("kind") in {"Deployment", "Job", "StatefulSet", "DaemonSet"}:
        spec: dict[str, Any] = obj["spec"]["template"]["spec"]
        return spec
    return None


def _settings_env(
    container: dict[str, Any], config_maps: dict[str, dict[str, str]], where: str, p: Problems
) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef", {}).get("name")
        if ref is not None:
            if ref not in config_maps:
                p.add(where, f"envFrom names ConfigMap {ref!r}, which the chart does not render")
            env.update(config_maps.get(ref, {}))
    for item in container.get("env", []):
        name = item["name"]
        if "value" in item:
            env[name] = str(item["value"])
        elif "valueFrom" in item:
            env[name] = PLACEHOLDERS.get(name, f"placeholder-for-{name.lower()}")
    return env


def check_settings(env: dict[str, str], where: str, p: Problems) -> Settings | None:
    unknown = sorted(n for n in env if n.startswith("ORDERSTATE_") and n not in SETTINGS)
    for name in unknown:
        p.add(where, f"{name} is not an orderstate setting (misspelt? see settings.py)")
    values = {SETTINGS[n]: v for n, v in env.items() if n in SETTINGS}
    try:
        # model_validate reads no environment: only what the manifest sets counts.
        return Settings.model_validate(values)
    except ValidationError as exc:
        p.add(where, f"orderstate would refuse these settings:\n{exc}")
        return None


def _check_policy(
    *,
    settings: Settings,
    spec: dict[str, Any],
    container: dict[str, Any],
    config_maps: dict[str, dict[str, str]],
    where: str,
    p: Problems,
) -> None:
    if settings.policy_file is None:
        return
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        directory = mount["mountPath"].rstrip("/")
        if settings.policy_file.parent != Path(directory):
            continue
        source = volumes.get(mount["name"], {}).get("configMap", {}).get("name")
        content = config_maps.get(source or "", {}).get(settings.policy_file.name)
        if content is None:
            break
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / settings.policy_file.name
            path.write_text(content, encoding="utf-8")
            try:
                read_policy_book(path)
            except PolicyError as exc:
                p.add(where, f"the policy file does not load: {exc}")
        return
    p.add(where, f"ORDERSTATE_POLICY_FILE={settings.policy_file} is not mounted from a ConfigMap")


def _check_ports(container: dict[str, Any], env: dict[str, str]) -> list[str]:
    problems = []
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe not in container:
            problems.append(f"has no {probe}")
            continue
        port = container[probe].get("httpGet", {}).get("port")
        if port not in ports and port not in ports.values():
            problems.append(f"{probe} uses port {port!r}, which the container does not declare")
    path = {
        probe: container.get(probe, {}).get("httpGet", {}).get("path")
        for probe in ("livenessProbe", "readinessProbe")
    }
    if path != {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}:
        problems.append(f"probes must be /healthz (liveness) and /readyz (readiness), not {path}")
    args = container.get("args", [])
    if "--ops-port" not in args:
        return [*problems, "no --ops-port: /healthz, /readyz and /metrics would not be served"]
    ops = int(args[args.index("--ops-port") + 1])
    if ports.get("ops") != ops:
        problems.append(f"--ops-port {ops} is not the container port named 'ops' {ports}")
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if container.get(probe, {}).get("httpGet", {}).get("port") not in ("ops", ops):
            problems.append(f"{probe} must ask the ops port: the api's http port serves no probe")
    if args[:1] == ["api"] and int(env.get("ORDERSTATE_API_PORT", "8000")) != ports.get("http"):
        problems.append(f"ORDERSTATE_API_PORT is not the container port named 'http' {ports}")
    return problems


def check_render(path: Path, p: Problems) -> None:
    objects = _docs(path)
    label = path.name
    config_maps = {
        o["metadata"]["name"]: {k: str(v) for k, v in (o.get("data") or {}).items()}
        for o in objects
        if o.get("kind") == "ConfigMap"
    }
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for o in objects:
        by_kind.setdefault(o["kind"], {})[o["metadata"]["name"]] = o
    partitions: int | None = None

    for obj in objects:
        spec = _pod_spec(obj)
        if spec is None:
            continue
        where = f"{label} {_name(obj)}"
        hook = obj.get("metadata", {}).get("annotations", {}).get("helm.sh/hook", "")
        for container in spec.get("containers", []):
            env = _settings_env(container, config_maps, where, p)
            settings = check_settings(env, where, p)
            if settings is None:
                continue
            partitions = settings.topic_partitions
            if hook:
                _check_hook(
                    obj=obj, spec=spec, container=container, by_kind=by_kind, where=where, p=p
                )
            else:
                _check_policy(
                    settings=settings,
                    spec=spec,
                    container=container,
                    config_maps=config_maps,
                    where=where,
                    p=p,
                )
            if obj["kind"] in WORKLOADS:
                for problem in _check_ports(container, env):
                    p.add(where, problem)
                for problem in _check_shutdown(obj, container, settings):
                    p.add(where, problem)
                for problem in _check_membership(obj, container):
                    p.add(where, problem)

    if partitions is not None:
        _check_worker_bound(by_kind, partitions, label, p)
    _check_references(by_kind, label, p)
    _check_selectors(by_kind, label, p)
    _check_ingress(by_kind, label, p)


def _component(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["labels"].get("app.kubernetes.io/component", ""))


def _workloads(by_kind: dict[str, dict[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {name: o for kind in WORKLOADS for name, o in by_kind.get(kind, {}).items()}


def _check_membership(workload: dict[str, Any], container: dict[str, Any]) -> list[str]:
    instance = next(
        (e for e in container.get("env", []) if e["name"] == "ORDERSTATE_KAFKA_GROUP_INSTANCE_ID"),
        None,
    )
    stateful = workload["kind"] == "StatefulSet"
    if instance is None:
        return ["a StatefulSet without ORDERSTATE_KAFKA_GROUP_INSTANCE_ID"] if stateful else []
    if _component(workload) != "worker":
        return ["only the worker is a static group member"]
    if not stateful:
        return [
            "ORDERSTATE_KAFKA_GROUP_INSTANCE_ID in a Deployment: its pods get new names, and "
            "each would leave a static member behind holding partitions for the session"
        ]
    field = instance.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
    problems = []
    if field != "metadata.name":
        problems.append(
            "ORDERSTATE_KAFKA_GROUP_INSTANCE_ID must come from the pod's name (fieldRef "
            f"metadata.name), not {instance}: every replica needs its own stable id"
        )
    if workload["spec"].get("podManagementPolicy") != "Parallel":
        problems.append(
            "podManagementPolicy is not Parallel: a worker would wait for the one before it"
        )
    return problems


def _check_shutdown(
    deployment: dict[str, Any], container: dict[str, Any], settings: Settings
) -> list[str]:
    problems = []
    component = _component(deployment)
    spec = deployment["spec"]["template"]["spec"]
    timeout = container.get("readinessProbe", {}).get("timeoutSeconds", 1)
    if component in READYZ_S and timeout <= READYZ_S[component]:
        problems.append(
            f"readinessProbe.timeoutSeconds {timeout} does not exceed the {READYZ_S[component]} s "
            "that /readyz may take: a slow answer would count as a failure"
        )
    pause = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    if component == "api" and pause < 1:
        problems.append(
            "the api has no preStop sleep: uvicorn would stop accepting while the endpoint is "
            "still in the Service (502s during rollouts and drains)"
        )
    drain = settings.api_shutdown_timeout_s if component == "api" else DRAIN_S.get(component, 0)
    grace = spec.get("terminationGracePeriodSeconds", 30)
    if grace < pause + drain:
        problems.append(
            f"terminationGracePeriodSeconds {grace} < preStop {pause} s + drain {drain} s: "
            "Kubernetes would kill the process while it drains"
        )
    return problems


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if set(selector) - {"matchLabels"}:
        return False  # matchExpressions are not used by the chart; refuse rather than guess
    wanted: dict[str, str] = selector.get("matchLabels", {})
    return bool(wanted) and wanted.items() <= labels.items()


def _check_selectors(
    by_kind: dict[str, dict[str, dict[str, Any]]], label: str, p: Problems
) -> None:
    workloads = _workloads(by_kind)
    pods = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in workloads.items()}
    for name, deployment in workloads.items():
        where = f"{label} {deployment['kind']}/{name}"
        own = pods[name]
        if not _selects(deployment["spec"]["selector"], own):
            p.add(where, "spec.selector does not select the pod template's labels")
        spec = deployment["spec"]["template"]["spec"]
        for constraint in spec.get("topologySpreadConstraints", []):
            selector = constraint.get("labelSelector", {})
            if not _selects(selector, own):
                p.add(where, f"a topologySpreadConstraint selects {selector}, not its own pods")
            others = [n for n, labels in pods.items() if n != name and _selects(selector, labels)]
            if others:
                p.add(where, f"a topologySpreadConstraint also selects the pods of {others}")
    for kind in ("Service", "PodDisruptionBudget"):
        for name, obj in by_kind.get(kind, {}).items():
            selector = obj["spec"]["selector"]
            selector = selector if kind == "PodDisruptionBudget" else {"matchLabels": selector}
            chosen = [n for n, labels in pods.items() if _selects(selector, labels)]
            if len(chosen) != 1:
                p.add(
                    f"{label} {kind}/{name}", f"selects the pods of {chosen}, not of one workload"
                )
                continue
            if kind == "PodDisruptionBudget":
                _check_budget(obj, by_kind, chosen[0], f"{label} {kind}/{name}", p)


def _replicas_at_least(by_kind: dict[str, dict[str, dict[str, Any]]], deployment: str) -> int:
    for hpa in by_kind.get("HorizontalPodAutoscaler", {}).values():
        if hpa["spec"]["scaleTargetRef"]["name"] == deployment:
            return int(hpa["spec"].get("minReplicas", 1))
    for scaled in by_kind.get("ScaledObject", {}).values():
        if scaled["spec"]["scaleTargetRef"]["name"] == deployment:
            return int(scaled["spec"].get("minReplicaCount", 0))
    return int(_workloads(by_kind)[deployment]["spec"].get("replicas", 1))


def _check_budget(
    pdb: dict[str, Any],
    by_kind: dict[str, dict[str, dict[str, Any]]],
    deployment: str,
    where: str,
    p: Problems,
) -> None:
    replicas = _replicas_at_least(by_kind, deployment)
    spec = pdb["spec"]
    if "maxUnavailable" in spec:
        allowed = int(spec["maxUnavailable"])
    else:
        allowed = replicas - int(spec["minAvailable"])
    if allowed < 1 and replicas > 0:
        p.add(
            where,
            f"allows no eviction at {replicas} replica(s) ({spec}): it would block node drains; "
            "use maxUnavailable: 1",
        )


def _check_ingress(by_kind: dict[str, dict[str, dict[str, Any]]], label: str, p: Problems) -> None:
    services = by_kind.get("Service", {})
    for name, ingress in by_kind.get("Ingress", {}).items():
        where = f"{label} Ingress/{name}"
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                prefix = path["path"]
                if path.get("pathType") != "Prefix" or not prefix.startswith("/v2"):
                    p.add(where, f"routes {prefix!r}; only the REST API's /v2 prefix belongs here")
                exposed = [o for o in OPS_PATHS if o.startswith(prefix.rstrip("/") + "/")]
                if prefix in ("", "/") or exposed:
                    p.add(where, f"{prefix!r} would expose {list(OPS_PATHS)}")
                backend = path["backend"]["service"]
                service = services.get(backend["name"])
                if service is None or _component(service) != "api":
                    p.add(where, f"backend {backend['name']!r} is not the api Service")
                    continue
                ports = {port.get("name") for port in service["spec"]["ports"]}
                if backend["port"].get("name") not in ports:
                    p.add(where, f"backend port {backend['port']} is not a port of the api Service")


def _check_hook(
    *,
    obj: dict[str, Any],
    spec: dict[str, Any],
    container: dict[str, Any],
    by_kind: dict[str, dict[str, dict[str, Any]]],
    where: str,
    p: Problems,
) -> None:
    hooks = set(obj["metadata"]["annotations"]["helm.sh/hook"].split(","))
    if not {"pre-install", "pre-upgrade"} <= hooks:
        p.add(where, f"the migration must be a pre-install and pre-upgrade hook, not {hooks}")
    if container.get("args") != ["migrate"]:
        p.add(where, f"the hook must run `orderstate migrate`, not {container.get('args')}")
    # A pre-install hook runs before the release's own objects exist.
    made_here = {
        (kind, name)
        for kind, named in by_kind.items()
        for name, o in named.items()
        if "helm.sh/hook" not in o.get("metadata", {}).get("annotations", {})
    }
    refs = [("ConfigMap", s["configMapRef"]["name"]) for s in container.get("envFrom", [])]
    refs += [
        ("ConfigMap", v["configMap"]["name"]) for v in spec.get("volumes", []) if "configMap" in v
    ]
    refs += [
        ("Secret", v["secret"]["secretName"]) for v in spec.get("volumes", []) if "secret" in v
    ]
    refs += [("ServiceAccount", spec.get("serviceAccountName", "default"))]
    for ref in refs:
        if ref in made_here:
            p.add(
                where,
                f"the pre-install hook uses {ref[0]}/{ref[1]}, which the release creates after it",
            )


def _check_worker_bound(
    by_kind: dict[str, dict[str, dict[str, Any]]], partitions: int, label: str, p: Problems
) -> None:
    for name, deployment in _workloads(by_kind).items():
        component = deployment["metadata"]["labels"].get("app.kubernetes.io/component")
        replicas = deployment["spec"].get("replicas")
        if component in ("worker", "monitor") and replicas is not None and replicas > partitions:
            p.add(
                f"{label} {deployment['kind']}/{name}",
                f"{replicas} {component}s > {partitions} partitions",
            )
    for name, scaled in by_kind.get("ScaledObject", {}).items():
        maximum = scaled["spec"].get("maxReplicaCount", 100)
        if maximum > partitions:
            p.add(
                f"{label} ScaledObject/{name}",
                f"maxReplicaCount {maximum} > {partitions} partitions",
            )


def _check_scaling_pace(scaled: dict[str, Any], where: str, p: Problems) -> None:
    behavior = (scaled["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {})).get(
        "behavior", {}
    )
    for direction in ("scaleUp", "scaleDown"):
        if not behavior.get(direction, {}).get("policies"):
            p.add(
                where,
                f"no HPA behavior.{direction} policies: every scale step is a rebalance "
                "of the whole consumer group; limit how fast KEDA takes them",
            )


def _check_references(
    by_kind: dict[str, dict[str, dict[str, Any]]], label: str, p: Problems
) -> None:
    workloads = _workloads(by_kind)
    for name, scaled in by_kind.get("ScaledObject", {}).items():
        where = f"{label} ScaledObject/{name}"
        ref = scaled["spec"]["scaleTargetRef"]
        target = ref["name"]
        if target not in workloads:
            p.add(where, f"scaleTargetRef {target!r} is not a workload of this release")
        elif ref.get("kind", "Deployment") != workloads[target]["kind"]:
            p.add(
                where,
                f"scaleTargetRef names a {ref.get('kind', 'Deployment')}, but {target!r} is a "
                f"{workloads[target]['kind']}",
            )
        _check_scaling_pace(scaled, where, p)
        for trigger in scaled["spec"]["triggers"]:
            meta = trigger["metadata"]
            for key in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
                if not isinstance(meta.get(key), str) or not meta[key]:
                    p.add(where, f"kafka trigger metadata.{key} must be a non-empty string")
            auth = trigger.get("authenticationRef", {}).get("name")
            if auth is not None and auth not in by_kind.get("TriggerAuthentication", {}):
                p.add(where, f"authenticationRef {auth!r} is not rendered")
    for name, auth in by_kind.get("TriggerAuthentication", {}).items():
        for ref in auth["spec"].get("secretTargetRef", []):
            if ref["parameter"] not in KEDA_KAFKA_AUTH_PARAMS:
                p.add(
                    f"{label} TriggerAuthentication/{name}",
                    f"unknown parameter {ref['parameter']!r}",
                )
    services = by_kind.get("Service", {})
    for name, service in services.items():
        # /metrics and /readyz must not reach clients: only a headless Service (nothing routes
        # through it) may carry an ops port.
        exposed = {port.get("targetPort") for port in service["spec"]["ports"]}
        if "ops" in exposed and service["spec"].get("clusterIP") != "None":
            p.add(f"{label} Service/{name}", "exposes the ops port but is not headless")
    for name, monitor in by_kind.get("ServiceMonitor", {}).items():
        wanted = monitor["spec"]["selector"]["matchLabels"].items()
        selected = [s for s in services.values() if wanted <= s["metadata"]["labels"].items()]
        ports = {port.get("name") for s in selected for port in s["spec"]["ports"]}
        for endpoint in monitor["spec"]["endpoints"]:
            if endpoint["port"] not in ports:
                p.add(
                    f"{label} ServiceMonitor/{name}",
                    f"no selected Service has port {endpoint['port']!r}",
                )


def _check_kafka_keeps_data(
    service: dict[str, Any], env: dict[str, str], where: str, p: Problems
) -> None:
    # Without KAFKA_LOG_DIRS the apache/kafka image writes to /tmp in the container layer:
    # recreating the container loses topics and offsets while PostgreSQL keeps its own.
    mounts = [str(v).split(":")[1] for v in service.get("volumes", []) if ":" in str(v)]
    dirs = [d for d in env.get("KAFKA_LOG_DIRS", "").split(",") if d]
    if not dirs:
        p.add(
            where, "KAFKA_LOG_DIRS is not set: Kafka would keep its data in /tmp of the container"
        )
    for directory in dirs:
        if not any(directory == m or directory.startswith(m.rstrip("/") + "/") for m in mounts):
            p.add(where, f"KAFKA_LOG_DIRS {directory} is not on a mounted volume {mounts}")


def _check_compose_orderstate(
    service: dict[str, Any], env: dict[str, str], where: str, p: Problems
) -> None:
    # The image runs in production mode unless told otherwise, which refuses the development
    # secrets this file relies on.
    if "ORDERSTATE_ENVIRONMENT" not in env:
        p.add(where, "sets no ORDERSTATE_ENVIRONMENT: the image's default is production")
    command = [str(c) for c in service.get("command", [])]
    probe = " ".join(str(t) for t in (service.get("healthcheck") or {}).get("test", []))
    if "--ops-port" in command and probe:
        ops = command[command.index("--ops-port") + 1]
        if f":{ops}/readyz" not in probe:
            p.add(where, f"its healthcheck does not ask /readyz on its ops port {ops}")


def check_compose(path: Path, p: Problems) -> None:
    services: dict[str, dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))[
        "services"
    ]
    for name, service in services.items():
        where = f"{path.name} service {name}"
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        if service.get("image", "").startswith("apache/kafka"):
            _check_kafka_keeps_data(service, env, where, p)
        if service.get("image", "").startswith("orderstate"):
            check_settings(env, where, p)
            _check_compose_orderstate(service, env, where, p)
        for target, condition in (service.get("depends_on") or {}).items():
            if target not in services:
                p.add(where, f"depends_on {target!r}, which is not a service")
                continue
            wanted = condition.get("condition") if isinstance(condition, dict) else None
            other = services[target]
            if wanted == "service_healthy" and "healthcheck" not in other:
                image_has_one = other.get("image", "").startswith("orderstate")
                if not image_has_one:
                    p.add(where, f"waits for {target} to be healthy, which has no healthcheck")
            if wanted == "service_completed_successfully" and other.get("restart") not in {
                "no",
                None,
            }:
                p.add(
                    where,
                    f"waits for {target} to complete, but {target} restarts ({other['restart']})",
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compose", type=Path, help="compose.yaml to check as well")
    parser.add_argument("rendered", type=Path, nargs="+", help="`helm template` output files")
    args = parser.parse_args()
    problems = Problems()
    for path in args.rendered:
        check_render(path, problems)
    if args.compose is not None:
        check_compose(args.compose, problems)
    for item in problems.items:
        print(f"check_manifests: {item}", file=sys.stderr)  # noqa: T201 -- a command-line tool
    return 1 if problems.items else 0


if __name__ == "__main__":
    sys.exit(main())
