"""Alert rules: promtool checks and unit-tests them; they use metrics the service exports."""

from __future__ import annotations

import importlib.util
import re
from typing import Any

import pytest
import yaml

from ai_backends.core import metrics
from tests.deploy.conftest import DEPLOY, find_tool, run_tool

pytestmark = pytest.mark.unit
RULES = DEPLOY / "prometheus" / "alerts.yml"
RULE_TESTS = DEPLOY / "prometheus" / "alerts.test.yml"
# Exporters' metrics the rules also use: Prometheus itself, redis_exporter, postgres_exporter
# and CloudNativePG.
EXPORTER_METRICS = {"up", "redis_up", "pg_up", "cnpg_collector_up"}
PROMQL_WORDS = {"sum", "max", "min", "avg", "rate", "increase", "histogram_quantile", "absent",
                "by", "without", "and", "or", "unless", "offset", "on", "ignoring", "le"}


def _promtool() -> str:
    return find_tool("promtool", "apt-get install prometheus: the Debian package ships it")


def test_promtool_checks_the_rules() -> None:
    output = run_tool([_promtool(), "check", "rules", str(RULES)])
    assert "SUCCESS" in output


@pytest.mark.slow  # promtool evaluates a day of samples: about 6 s
def test_alerts_fire_on_the_conditions_they_page_for() -> None:
    run_tool([_promtool(), "test", "rules", str(RULE_TESTS)])


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _exported() -> set[str]:
    """Series names the service's metrics produce (counters _total, histograms _bucket...)."""
    names = set()
    for value in vars(metrics).values():
        name = getattr(value, "_name", None)
        kind = getattr(value, "_type", None)
        if not name:
            continue
        if kind == "counter":
            names.add(f"{name}_total")
        elif kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
        else:
            names.add(name)
    return names


def test_rules_use_only_metrics_that_exist() -> None:
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    known = _exported() | recorded | EXPORTER_METRICS
    assert "http_requests_total" in known and "drift_monitoring_status" in known
    for rule in _rules():
        expr = re.sub(r'\{[^}]*\}|"[^"]*"|\[[^\]]*\]', " ", rule["expr"])
        expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", " ", expr)
        names = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr)) - PROMQL_WORDS
        names = {n for n in names if not re.fullmatch(r"\d+[smhdw]|[smhdw]", n)}
        assert names <= known, (rule.get("alert") or rule["record"], names - known)


def test_the_operator_every_paging_concern_is_covered() -> None:
    alerts = " ".join(rule["expr"] for rule in _rules() if "alert" in rule)
    for metric in ("drift_monitoring_status", 'status=~"5.."', "http_request_duration_seconds",
                   'status="503"', "cache_lookups_total", "sidecar_requests_total",
                   "redis_up", "pg_up"):
        assert metric in alerts, metric


def test_the_plain_rules_file_is_the_prometheusrule() -> None:
    spec = importlib.util.spec_from_file_location(
        "export_rules", DEPLOY / "prometheus" / "export_rules.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert RULES.read_text() == module.render(), "run python deploy/prometheus/export_rules.py"
