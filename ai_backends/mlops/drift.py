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

Evidently and pandas never load in the calling process, so neither an API worker nor the
model host keeps their ~280 MB: a child process (``drift_job.py``) computes each report and
ends ``DRIFT_JOB_LINGER_SECONDS`` after its last one (0, the default: at once). With a model
host (run.py's stack) the host starts that child, one per machine; without one, each API
worker starts its own.
"""

from __future__ import annotations

import json

# Runs our own module with fixed arguments; the rows go through stdin.
import subprocess  # nosec B404
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ai_backends.classify.model import FEATURES
from ai_backends.classify.predlog import PredictionStore
from ai_backends.classify.training import REFERENCE_FILE
from ai_backends.core import metrics
from ai_backends.core.errors import Conflict, Unavailable

HTML_FILE = "drift_report.html"
PREDICTION_COLUMN = "predicted_class"
LOW_SHARE = 0.3
HIGH_SHARE = 0.5  # Evidently's default drift_share: dataset drift from half the columns
JOB_TIMEOUT_SECONDS = 300.0  # a report on 10,000 rows takes seconds; the first one imports


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


def job_rows(rows: list[dict[str, Any]]) -> list[list[Any]]:
    """Logged rows as the drift job reads them: four measurements and the predicted class."""
    return [[float(row[name]) for name in FEATURES] + [str(row[PREDICTION_COLUMN])]
            for row in rows]


class DriftJobs:
    """Runs drift reports in ``python -m ai_backends.mlops.drift_job``, a child process that
    stays ``linger`` seconds after its last report, ready for the next one.

    Evidently and pandas (about 230 MB, 3-5 s to import) thus live in the child only while
    reports are asked for, never in the API worker. With ``linger`` 0 (the default) each
    report has a process of its own; with more, a burst of reports pays the import once.
    """

    def __init__(self, linger: float) -> None:
        self.linger = linger
        self._process: subprocess.Popen[str] | None = None
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def run(self, rows: list[list[Any]], reference: Path, html: Path) -> dict[str, Any]:
        """One report's summary on ``job_rows``; Unavailable when the job fails (with its
        reason)."""
        job = {"rows": rows, "reference": str(reference), "html": str(html)}
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            process = self._process
            if process is None or process.poll() is not None:
                process = self._process = subprocess.Popen(  # nosec B603
                    [sys.executable, "-m", "ai_backends.mlops.drift_job"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    text=True, cwd=Path(__file__).resolve().parents[2])
            assert process.stdin is not None and process.stdout is not None
            try:
                process.stdin.write(json.dumps(job) + "\n")
                process.stdin.flush()
                line = process.stdout.readline()
            except OSError:
                line = ""
            if not line:
                self._stop(process)
                raise Unavailable("the drift report process ended without an answer",
                                  retry_after=60)
            answer: dict[str, Any] = json.loads(line)
            if self.linger > 0:
                self._timer = threading.Timer(self.linger, self._expire, args=(process,))
                self._timer.daemon = True
                self._timer.start()
            else:
                self._stop(process)
        if "error" in answer:
            raise Unavailable(f"the drift report failed: {answer['error']}", retry_after=60)
        return answer

    def _expire(self, process: subprocess.Popen[str]) -> None:
        with self._lock:
            if self._process is process:
                self._stop(process)

    def _stop(self, process: subprocess.Popen[str]) -> None:
        """End the child (closing its stdin ends its loop); caller holds the lock."""
        self._process = None
        try:
            if process.stdin is not None:
                process.stdin.close()
            process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()


def host_report(host_url: str, rows: list[list[Any]], timeout: float) -> dict[str, Any]:
    """One report computed by the model host (``POST /drift-report``); Unavailable when it
    cannot answer."""
    import requests

    try:
        response = requests.post(f"{host_url.rstrip('/')}/drift-report", json={"rows": rows},
                                 timeout=timeout)
    except requests.RequestException as exc:
        raise Unavailable(f"the model host at {host_url} (drift reports) unreachable: "
                          f"{type(exc).__name__}", retry_after=10) from exc
    if response.status_code != 200:
        try:
            reason = str(response.json()["error"])
        except (ValueError, KeyError, TypeError):
            reason = response.text[:200]
        raise Unavailable(f"the drift report failed: {reason}", retry_after=30)
    summary: dict[str, Any] = response.json()
    return summary


class DriftService:
    """Builds drift reports from the prediction log and the training reference."""

    def __init__(self, log: PredictionStore, data_dir: str | Path, min_samples: int,
                 job_linger: float = 0.0, host_url: str = "") -> None:
        self.log = log
        self.host_url = host_url  # the model host computes reports when there is one
        self.jobs = DriftJobs(job_linger)
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
        if not self.reference_path.exists():
            raise Unavailable(f"no reference data at {self.reference_path}; train the model "
                              "first (scripts/train_iris_model.py)", retry_after=60)
        rows, total = self.log.tail(limit)
        if not rows:
            raise Conflict(
                "a drift report needs logged classifications and the prediction log is "
                "empty: classify some flowers and ask again",
                available_samples=total, min_samples=self.min_samples,
            )
        # Fewer rows than DRIFT_MIN_SAMPLES still get a report (the specification's
        # walkthrough asks after a handful of requests), flagged as not to be trusted.
        sufficient = len(rows) >= self.min_samples
        with self._lock:
            if self.host_url:
                summary = host_report(self.host_url, job_rows(rows), JOB_TIMEOUT_SECONDS)
            else:
                summary = self.jobs.run(job_rows(rows), self.reference_path, self.html_path)
        reference_samples = summary["reference_samples"]
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
                "reference_samples": reference_samples,
                "analyzed_samples": len(rows),
                "total_production_samples": total,
                "min_samples": self.min_samples,
                "sufficient_samples": sufficient,
            },
            "recommendations": {
                "retrain_model": sufficient and status in {"MEDIUM_DRIFT", "HIGH_DRIFT"},
                "investigate_features": drifted,
                "monitoring_status": status,
                "note": None if sufficient else (
                    f"only {len(rows)} classifications analysed (limit={limit}, "
                    f"{total} logged); below {self.min_samples} the tests have little "
                    "power: classify more before acting on this report"),
            },
            "html_report": "/api/v1/drift-report/html",
        }
