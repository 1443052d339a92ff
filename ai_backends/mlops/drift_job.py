"""One drift report computed with Evidently, in a process of its own.

    python -m ai_backends.mlops.drift_job   (one job per line on stdin, one answer per line out)

``DriftService.report`` (``drift.py``) starts it and keeps it for a while after its last
report: Evidently and pandas (about 230 MB, 3-5 s to import) live here, never in an API
worker. Each job is one JSON line ``{"rows": [[4 measurements, predicted class], ...],
"reference": path, "html": path}``; the process writes the HTML report atomically and
answers with the per-column results (or ``{"error": ...}``) as one JSON line. It ends when
its stdin closes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ai_backends.classify.model import FEATURES
from ai_backends.classify.training import write_atomic
from ai_backends.mlops.drift import PREDICTION_COLUMN, statistical_test_name


def evaluate(rows: list[list[Any]], reference_path: Path, html_path: Path) -> dict[str, Any]:
    """Compare ``rows`` with the reference, write the HTML, return the summary."""
    import pandas as pd

    current = pd.DataFrame(rows, columns=[*FEATURES, PREDICTION_COLUMN])
    current[PREDICTION_COLUMN] = current[PREDICTION_COLUMN].astype(str)
    reference = pd.read_csv(reference_path)
    # The forest fits its training split exactly, so the training labels are also the
    # distribution of classes the model predicted on the reference.
    reference = reference.rename(columns={"target_name": PREDICTION_COLUMN})
    reference = reference[[*FEATURES, PREDICTION_COLUMN]]
    snapshot = _run_evidently(current, reference)
    write_atomic(html_path, str(snapshot.get_html_str(as_iframe=False)).encode())
    summary = summarize(snapshot.dict()["metrics"])
    summary["prediction_drift"].update({
        "current_distribution": _shares(current[PREDICTION_COLUMN]),
        "reference_distribution": _shares(reference[PREDICTION_COLUMN]),
    })
    summary["reference_samples"] = len(reference)
    return summary


def _run_evidently(current: Any, reference: Any) -> Any:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=list(FEATURES),
                                categorical_columns=[PREDICTION_COLUMN])
    return Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )


def summarize(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-column results and the drifted share from the snapshot's metric list."""
    features: dict[str, Any] = {}
    prediction: dict[str, Any] = {}
    count, share = 0, 0.0
    for metric in metrics:
        config = metric.get("config", {})
        kind = str(config.get("type", ""))
        if kind.endswith("DriftedColumnsCount"):
            count = int(metric["value"]["count"])
            share = float(metric["value"]["share"])
        elif kind.endswith("ValueDrift"):
            score = float(metric["value"])
            threshold = float(config["threshold"])
            method = str(config.get("method", ""))
            # p-value tests drift below the threshold; distance measures above it.
            drifted = score < threshold if "p_value" in method else score >= threshold
            p_value = "p_value" in method
            entry = {
                "drift_detected": drifted,
                # The specification's score: large = drift (1 - p for a p-value test).
                "drift_score": round(1.0 - score, 6) if p_value else score,
                "p_value": score if p_value else None,
                "statistical_test": statistical_test_name(method),
                "test_method": method,
                "threshold": threshold,
            }
            if config.get("column") == PREDICTION_COLUMN:
                prediction = entry
            else:
                features[str(config["column"])] = entry
    return {"features": features, "prediction_drift": prediction, "count": count,
            "share": share}


def _shares(column: Any) -> dict[str, float]:
    counts = column.value_counts(normalize=True).sort_index()
    return {str(name): round(float(value), 4) for name, value in counts.items()}


def main() -> int:
    """Answer each job line of stdin with one summary line on stdout, until stdin closes."""
    answers, sys.stdout = sys.stdout, sys.stderr  # a library's print cannot break the protocol
    for line in sys.stdin:
        try:
            job = json.loads(line)
            answer = evaluate(job["rows"], Path(job["reference"]), Path(job["html"]))
        except Exception as exc:  # the caller turns it into a 503 with this reason
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
