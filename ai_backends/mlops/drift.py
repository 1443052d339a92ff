"""Drift monitoring: recent classifications against the training reference, with Evidently.

``DriftService.report(limit)`` takes the last ``limit`` rows of the prediction log, compares
the four measurements and the distribution of predicted classes with the reference the
training wrote (``reference_iris.csv``), using Evidently's ``DataDriftPreset``, writes the
HTML report atomically and returns a JSON summary.

With the 120-row reference, Evidently tests each measurement with the two-sample
Kolmogorov-Smirnov test and the predicted class with chi-square; a column drifts when the
test's p-value is below 0.05. ``p_value`` is that p-value (small = drift), as in
Evidently's own reports; ``drift_score`` is the specification's score, ``1 - p_value``
(large = drift). ``statistical_test`` names the test as the specification does
(``kolmogorov_smirnov``, ``chi_square``); ``test_method`` is Evidently's own name.

``monitoring_status`` grades the share of drifted columns (4 measurements + predicted class):

=========  ==========================  ========================================
status     drifted columns             meaning
=========  ==========================  ========================================
NO_DRIFT   none                        inputs look like the training data
LOW_DRIFT     1 of 5 (share < 0.3)        watch it; one column moved
MEDIUM_DRIFT  2 of 5 (share < 0.5)        investigate; retraining recommended
HIGH_DRIFT    3 or more (share >= 0.5)    Evidently's "dataset drift"; retrain
=========  ==========================  ========================================

Evidently and pandas are imported inside ``report``: ``import evidently`` takes seconds.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ai_backends.classify.model import FEATURES
from ai_backends.classify.predlog import PredictionStore
from ai_backends.classify.training import REFERENCE_FILE, write_atomic
from ai_backends.core import metrics
from ai_backends.core.errors import Conflict, Unavailable

HTML_FILE = "drift_report.html"
PREDICTION_COLUMN = "predicted_class"
LOW_SHARE = 0.3
HIGH_SHARE = 0.5  # Evidently's default drift_share: dataset drift from half the columns


# Evidently's method names -> the specification's names of the tests.
TEST_NAMES = {"K-S p_value": "kolmogorov_smirnov", "chi-square p_value": "chi_square",
              "Z-test p_value": "z_test", "Jensen-Shannon distance": "jensen_shannon",
              "Wasserstein distance (normed)": "wasserstein"}


def statistical_test_name(method: str) -> str:
    """The specification's snake_case name of an Evidently drift method."""
    known = TEST_NAMES.get(method)
    if known:
        return known
    words = method.replace("p_value", "").replace("-", " ").split()
    return "_".join(word.lower() for word in words) or "unknown"


def monitoring_status(share: float) -> str:
    """NO_DRIFT, LOW_DRIFT, MEDIUM_DRIFT or HIGH_DRIFT for a share of drifted columns."""
    if share <= 0:
        return "NO_DRIFT"
    if share < LOW_SHARE:
        return "LOW_DRIFT"
    if share < HIGH_SHARE:
        return "MEDIUM_DRIFT"
    return "HIGH_DRIFT"


def read_log_tail(log: PredictionStore, limit: int) -> tuple[Any, int]:
    """The last ``limit`` rows of the store as a DataFrame, and the total row count.

    The store reads only those rows (the CSV file backwards from its end, PostgreSQL by its
    primary key), never the whole history.
    """
    import pandas as pd

    columns = [*FEATURES, PREDICTION_COLUMN]
    rows, total = log.tail(limit)
    return pd.DataFrame(rows, columns=columns), total


class DriftService:
    """Builds drift reports from the prediction log and the training reference."""

    def __init__(self, log: PredictionStore, data_dir: str | Path, min_samples: int) -> None:
        self.log = log
        self.data_dir = Path(data_dir)
        self.min_samples = min_samples
        # One report at a time: each is CPU-bound, and they share one HTML file.
        self._lock = threading.Lock()

    @property
    def reference_path(self) -> Path:
        """The training reference written by ``training.train``."""
        return self.data_dir / REFERENCE_FILE

    @property
    def html_path(self) -> Path:
        """Where the latest HTML report is written."""
        return self.data_dir / HTML_FILE

    def report(self, limit: int) -> dict[str, Any]:
        """Compare the last ``limit`` classifications with the reference; write the HTML."""
        import pandas as pd

        if not self.reference_path.exists():
            raise Unavailable(f"no reference data at {self.reference_path}; train the model "
                              "first (scripts/train_iris_model.py)", retry_after=60)
        current, total = read_log_tail(self.log, limit)
        if current.empty:
            raise Conflict(
                "a drift report needs logged classifications and the prediction log is "
                "empty: classify some flowers and ask again",
                available_samples=total, min_samples=self.min_samples,
            )
        # Fewer rows than DRIFT_MIN_SAMPLES still get a report (the specification's
        # walkthrough asks after a handful of requests), flagged as not to be trusted.
        sufficient = len(current) >= self.min_samples
        reference = pd.read_csv(self.reference_path)
        # The forest fits its training split exactly, so the training labels are also the
        # distribution of classes the model predicted on the reference.
        reference = reference.rename(columns={"target_name": PREDICTION_COLUMN})
        reference = reference[[*FEATURES, PREDICTION_COLUMN]]
        current[PREDICTION_COLUMN] = current[PREDICTION_COLUMN].astype(str)
        with self._lock:
            snapshot = _run_evidently(current, reference)
            write_atomic(self.html_path, _snapshot_html(snapshot))
        summary = _summarize(snapshot.dict()["metrics"])
        summary["prediction_drift"].update({
            "current_distribution": _shares(current[PREDICTION_COLUMN]),
            "reference_distribution": _shares(reference[PREDICTION_COLUMN]),
        })
        drifted = [name for name, entry in summary["features"].items() if entry["drift_detected"]]
        drifted.sort(key=lambda name: -summary["features"][name]["drift_score"])
        status = monitoring_status(summary["share"])
        metrics.DRIFT_STATUS.set(metrics.DRIFT_LEVELS[status])
        return {
            "drift_analysis": {
                "drift_detected": summary["count"] > 0,
                "overall_drift_score": summary["share"],
                "drifted_columns": summary["count"],
                "feature_drift_scores": summary["features"],
                "prediction_drift": summary["prediction_drift"],
                "analysis_timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            },
            "data_summary": {
                "reference_samples": len(reference),
                "analyzed_samples": len(current),
                "total_production_samples": total,
                "min_samples": self.min_samples,
                "sufficient_samples": sufficient,
            },
            "recommendations": {
                "retrain_model": sufficient and status in {"MEDIUM_DRIFT", "HIGH_DRIFT"},
                "investigate_features": drifted,
                "monitoring_status": status,
                "note": None if sufficient else (
                    f"only {len(current)} classifications analysed (limit={limit}, "
                    f"{total} logged); below {self.min_samples} the tests have little "
                    "power: classify more before acting on this report"),
            },
            "html_report": "/api/v1/drift-report/html",
        }


def _run_evidently(current: Any, reference: Any) -> Any:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=list(FEATURES),
                                categorical_columns=[PREDICTION_COLUMN])
    return Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )


def _snapshot_html(snapshot: Any) -> bytes:
    """The report as one self-contained HTML page."""
    return str(snapshot.get_html_str(as_iframe=False)).encode()


def _summarize(metrics: list[dict[str, Any]]) -> dict[str, Any]:
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
