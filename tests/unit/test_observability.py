"""The shipped alert rules and Grafana dashboard, checked with the real promtool."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from promql_sources import (
    ALERTS,
    DASHBOARD,
    alert_exprs,
    dashboard_exprs,
    metric_names,
    missing_metrics,
    promtool_check_rules,
)

RULES_TEST = Path(__file__).parent / "data" / "sparsiflow-alerts-test.yaml"


def test_rules_file_passes_promtool() -> None:
    done = promtool_check_rules(ALERTS)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(alert_exprs())} rules found" in done.stdout


def test_alerts_fire_on_promtool_scenarios() -> None:
    done = subprocess.run(
        ["promtool", "test", "rules", RULES_TEST.name],
        cwd=RULES_TEST.parent,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULES_TEST.read_text())["tests"]
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert tested == set(alert_exprs()), "every alert has a scenario in which it fires"


def test_required_alerts_are_present() -> None:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert {r["alert"] for r in rules} == {
        "SparsiflowWorkerDown",
        "SparsiflowNoWorkerUp",
        "SparsiflowConsumerLagGrowing",
        "SparsiflowDeadLetterRateHigh",
        "SparsiflowKappaAboveBound",
        "SparsiflowNoProgress",
        "SparsiflowCheckpointTooOld",
    }
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert {"summary", "description"} <= rule["annotations"].keys()
        assert rule["for"]


def test_every_expression_is_valid_promql(tmp_path: Path) -> None:
    exprs = {**dashboard_exprs(), **alert_exprs()}
    rules = [{"record": f"check:expr_{i}", "expr": e} for i, e in enumerate(exprs.values())]
    wrapped = tmp_path / "wrapped.yaml"
    wrapped.write_text(yaml.safe_dump({"groups": [{"name": "syntax", "rules": rules}]}))
    done = promtool_check_rules(wrapped)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


def test_an_empty_scrape_lacks_what_dashboard_and_alerts_use() -> None:
    missing = missing_metrics("")
    assert missing["alert SparsiflowKappaAboveBound"] == {
        "sparsiflow_kappa",
        "sparsiflow_kappa_bound",
    }
    assert len(missing) == len(dashboard_exprs()) + len(alert_exprs()) - 1  # absent(up == 1)


def test_a_broken_expression_is_caught(tmp_path: Path) -> None:
    wrapped = tmp_path / "broken.yaml"
    rule = {"record": "check:broken", "expr": "sum by (le (rate(x[5m]))"}
    wrapped.write_text(yaml.safe_dump({"groups": [{"name": "syntax", "rules": [rule]}]}))
    assert promtool_check_rules(wrapped).returncode != 0


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (graph) (rate(a_total{graph=~"x|y"}[5m]))', {"a_total"}),
        ("b > on (job, instance) group_left () (max by (job) (c) > 0)", {"b", "c"}),
        ("time() - d_seconds > 1e-3 and absent(up == 1)", {"d_seconds", "up"}),
        (
            'histogram_quantile(0.99, sum by (le) (rate(e_bucket[5m]))) or f{le="1"}',
            {"e_bucket", "f"},
        ),
    ],
)
def test_metric_names_are_extracted(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_dashboard_structure() -> None:
    dash = json.loads(DASHBOARD.read_text())
    assert dash["uid"] == "sparsiflow-worker"
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["graph"]["datasource"]["uid"] == "${datasource}"
    panels = dash["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"])
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("throughput", "latency", "lag", "dlq", "density", "kappa", "engine time"):
        assert topic in titles
    exprs = " ".join(dashboard_exprs().values())
    assert "histogram_quantile(0.99" in exprs
    assert 'graph=~".*"' in exprs, "per-graph panels follow the graph variable"
