"""The Grafana dashboard and the PrometheusRule query only metrics that orderstate exports.

The exported names come from the code itself: ``orderstate.metrics`` is imported and every
metric family in prometheus_client's registry (what ``/metrics`` serves, the process and
Python collectors included) is expanded to the sample names Prometheus stores (``_total``,
``_bucket``, ``_sum``, ``_count``). Every PromQL expression of the dashboard (panel targets and
template variables) and of the rendered PrometheusRule must name only those. The dashboard
must parse as JSON, and the rule groups are written out for ``promtool check rules`` and
``promtool test rules``.

Usage: python deploy/lint/check_observability.py --dashboard DASHBOARD.json \
           --rules-out RULES.yaml RENDERED.yaml...
Runs with the project's virtual environment (it imports orderstate.metrics).
"""

import argparse
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import REGISTRY

import orderstate.metrics  # noqa: F401 -- registers orderstate's metrics in REGISTRY

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "gauge": ("",),
    "info": ("_info",),
    "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    "unknown": ("",),
}
_KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan", "start", "end",
}  # fmt: skip
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLES = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENTIFIER = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)(\s*\()?")


def exported_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        for suffix in _SUFFIXES[family.type]:
            names.add(family.name + suffix)
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects (functions, keywords and labels removed)."""
    text = _STRINGS.sub(" ", expr)
    text = _VARIABLES.sub(" ", text)
    previous = None
    while previous != text:  # nested braces and brackets, innermost first
        previous = text
        text = _MATCHERS.sub(" ", text)
        text = _RANGES.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    found = set()
    for match in _IDENTIFIER.finditer(text):
        name, call = match.group(1), match.group(2)
        if call or name.lower() in _KEYWORDS:
            continue
        found.add(name)
    return found


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if "expr" in target:
                yield f"panel {panel.get('title')!r}", target["expr"]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query", "") if isinstance(query, dict) else str(query or "")
        # label_values(metric, label) and query_result(expr): the PromQL inside.
        inner = re.fullmatch(r"\s*(?:label_values|query_result)\((.*)\)\s*", text, re.S)
        if inner:
            text = (
                re.sub(r",\s*\w+\s*$", "", inner.group(1)) if "label_values" in text else inner[1]
            )
        yield f"variable {variable.get('name')!r}", text


def rule_groups(rendered: list[Path]) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = []
    for path in rendered:
        with path.open(encoding="utf-8") as handle:
            for doc in yaml.safe_load_all(handle):
                if isinstance(doc, dict) and doc.get("kind") == "PrometheusRule":
                    groups.extend(doc["spec"]["groups"])
    return groups


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dashboard", type=Path, required=True)
    parser.add_argument("--rules-out", type=Path, required=True, help="rule groups for promtool")
    parser.add_argument("rendered", type=Path, nargs="+", help="`helm template` output files")
    args = parser.parse_args()
    problems: list[str] = []
    exported = exported_names()

    try:
        dashboard = json.loads(args.dashboard.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        problems.append(f"{args.dashboard}: not JSON: {exc}")
        dashboard = {}
    queries = list(dashboard_queries(dashboard))
    if dashboard and not queries:
        problems.append(f"{args.dashboard}: no queries found")

    # One set of rules is enough for promtool; every render's rules are checked for names.
    groups = rule_groups(args.rendered)
    if not groups:
        problems.append("no render contains a PrometheusRule: enable one in a linted values file")
    for group in groups:
        for rule in group["rules"]:
            queries.append((f"alert {rule.get('alert') or rule.get('record')}", rule["expr"]))
            if "alert" in rule and "runbook_url" not in rule.get("annotations", {}):
                problems.append(f"alert {rule['alert']}: no runbook_url annotation")

    for where, expr in queries:
        names = metric_names(expr)
        if not names:
            problems.append(f"{where}: no metric found in {expr!r}")
        for name in sorted(names - exported):
            problems.append(f"{where}: {name} is not a metric orderstate exports")

    unique = list({g["name"]: g for g in reversed(groups)}.values())[::-1]
    args.rules_out.write_text(yaml.safe_dump({"groups": unique}, sort_keys=False), "utf-8")
    # Several renders carry the same rules: say each problem once.
    for item in dict.fromkeys(problems):
        print(f"check_observability: {item}", file=sys.stderr)  # noqa: T201 -- a command-line tool
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
