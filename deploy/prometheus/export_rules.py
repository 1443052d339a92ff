"""Write deploy/prometheus/alerts.yml from the PrometheusRule in deploy/k8s/base/monitoring.yaml.

One source for the rules: the PrometheusRule (Prometheus Operator); this plain rules file is
for a Prometheus without the operator. tests/deploy checks the two agree.
Usage: python deploy/prometheus/export_rules.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "k8s" / "base" / "monitoring.yaml"
TARGET = HERE / "alerts.yml"
HEADER = """\
# Alert and recording rules of ai-backends for a plain Prometheus (rule_files:).
# Generated from the PrometheusRule in deploy/k8s/base/monitoring.yaml by
# deploy/prometheus/export_rules.py: edit that one. Tested by
# promtool test rules deploy/prometheus/alerts.test.yml
"""


def rule_groups() -> dict[str, Any]:
    """The ``spec`` (``groups:``) of the PrometheusRule object."""
    for document in yaml.safe_load_all(SOURCE.read_text()):
        if document and document.get("kind") == "PrometheusRule":
            return dict(document["spec"])
    raise SystemExit(f"no PrometheusRule in {SOURCE}")


def render() -> str:
    """The plain rules file's text."""
    return HEADER + yaml.safe_dump(rule_groups(), sort_keys=False, width=100)


if __name__ == "__main__":
    TARGET.write_text(render())
    print(f"wrote {TARGET}")
