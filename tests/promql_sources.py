"""The PromQL of the shipped dashboard and alert rules, and the metric names it references.

Test helper (importable from every test: ``tests/`` is on ``sys.path`` through its conftest).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

__all__ = [
    "ALERTS",
    "DASHBOARD",
    "alert_exprs",
    "dashboard_exprs",
    "metric_names",
    "missing_metrics",
    "promtool_check_metrics",
    "promtool_check_rules",
]

REPO = Path(__file__).resolve().parents[1]
ALERTS = REPO / "helm" / "sparsiflow" / "files" / "sparsiflow-alerts.yaml"
DASHBOARD = REPO / "helm" / "sparsiflow" / "files" / "sparsiflow-dashboard.json"
# Grafana replaces these before a query reaches Prometheus; any valid value checks the syntax.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$graph": ".*"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACES = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w:.])([A-Za-z_:][\w:]*)\b(?!\s*\()")
# Series Prometheus itself adds to every target.
SCRAPE_SERIES = {"up"}
_KEYWORDS = {"and", "or", "unless", "offset", "bool", "inf", "nan", "atan2"}


def dashboard_exprs() -> dict[str, str]:
    """``"panel title/refId"`` -> query, Grafana variables substituted."""
    exprs = {}
    for panel in json.loads(DASHBOARD.read_text())["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(name, value)
            exprs[f"{panel['title']}/{target['refId']}"] = expr
    return exprs


def alert_exprs() -> dict[str, str]:
    """Alert name -> expression of every rule in the rules file."""
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def metric_names(expr: str) -> set[str]:
    """Metric names an expression selects (label names, functions and keywords left out)."""
    bare = _GROUPING.sub(" ", _BRACES.sub(" ", _STRING.sub('""', expr)))
    return {name for name in _IDENT.findall(bare) if name not in _KEYWORDS}


def missing_metrics(exposition: str) -> dict[str, set[str]]:
    """Per dashboard query and alert, the metric names it uses that a scrape body lacks."""
    from prometheus_client.parser import text_string_to_metric_families

    exported = {s.name for f in text_string_to_metric_families(exposition) for s in f.samples}
    exported |= SCRAPE_SERIES
    uses = {f"dashboard {k}": v for k, v in dashboard_exprs().items()}
    uses |= {f"alert {k}": v for k, v in alert_exprs().items()}
    found = {where: metric_names(expr) - exported for where, expr in uses.items()}
    return {where: names for where, names in found.items() if names}


def promtool_check_rules(path: Path) -> subprocess.CompletedProcess[str]:
    """Run ``promtool check rules`` on ``path``."""
    return subprocess.run(
        ["promtool", "check", "rules", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def promtool_check_metrics(exposition: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run ``promtool check metrics`` (the exposition-format linter) on a scrape body."""
    return subprocess.run(
        ["promtool", "check", "metrics"],
        input=exposition,
        check=False,
        capture_output=True,
        timeout=60,
    )
