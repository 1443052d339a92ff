"""GenerationService configuration and parameter bounds (no model runs)."""

from __future__ import annotations

import pytest

from ai_backends.core.errors import InvalidInput
from ai_backends.llm import GenerationParams
from ai_backends.llm.backends import default_model_path, to_role_messages
from ai_backends.llm.service import GenerationService, check_params, single_turn

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("params, field", [
    (GenerationParams(max_tokens=0), "max_tokens"),
    (GenerationParams(max_tokens=100_000), "max_tokens"),
    (GenerationParams(temperature=-1.0), "temperature"),
    (GenerationParams(temperature=9.0), "temperature"),
    (GenerationParams(seed=-5), "seed"),
])
def test_out_of_range_params_are_rejected(params: GenerationParams, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_params(params)
    assert caught.value.extra["errors"][0]["field"] == field


def test_bad_backend_settings_fail_at_startup() -> None:
    with pytest.raises(ValueError, match="LLM_BACKEND"):
        GenerationService("gpt")
    with pytest.raises(ValueError, match="OLLAMA_BASE_URL"):
        GenerationService("ollama")


def test_llamacpp_mode_names_the_packaged_model_without_loading_it() -> None:
    service = GenerationService("llamacpp")
    assert service.backend == "llamacpp" and service.model == "SmolLM2-135M-Instruct"
    assert default_model_path().endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    probe = service.probe(0.3)
    assert probe.up and "loads on first use" in probe.detail


def test_system_and_user_text_stay_separate_messages() -> None:
    roles = to_role_messages(single_turn("system text", "user text"))
    assert roles == [{"role": "system", "content": "system text"},
                     {"role": "user", "content": "user text"}]
