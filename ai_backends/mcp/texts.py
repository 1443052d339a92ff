"""Long texts of the MCP server: its instructions and the model health review prompt."""

from __future__ import annotations

SERVER_INSTRUCTIONS = """\
Tools and documents of the ai-backends-py service: an ONNX Iris classifier, a local LLM,
conversation memory with a semantic cache, drift monitoring and an MLflow model registry.
Measurements are lengths in centimetres (at most 100). A tool that fails answers with the same
reason the HTTP API gives (for example "Validation Failed (422): ..." naming the field, or
"Service Unavailable (503): ... (retry after N s)" when a dependency is down)."""

HEALTH_REVIEW_INTRO = """\
Review the health of the model "{model_name}" served by ai-backends-py.
The documents below are attached: {attached}.
{missing}
Please answer with:
1. What the model is: type, version, training date, hold-out accuracy, feature names.
2. Whether its inputs drift from the training data: which features, how strongly, and
   whether that is enough to distrust the predictions (say so plainly when no drift data
   is attached or too few predictions were logged to judge).
3. Risks you see (stale model, low accuracy, drifting features, missing data).
4. Concrete next steps, for example retraining, promoting another registered version
   with the set_model_alias tool, or collecting more predictions before judging.
{focus}Keep it short: a few sentences per point, and quote the numbers you rely on."""

HEALTH_REVIEW_FOCUS = "Pay special attention to: {focus}\n"
