"""Where a model comes from, before anything loads: its size from config.json alone, and a clear error when it
cannot be had."""

import re

import pytest

from openrs.__main__ import describe
from openrs.base.errors import ConfigError
from openrs.model.lookup import SHIPPED_MODELS, architecture, check_available, estimated_parameters, parameter_count

R1 = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"


def test_the_shipped_r1_distill_architecture_counts_its_published_size():
    # 1.78B without biases and norms (the model card says 1.5B for the non-embedding part, 1.78B in all).
    assert architecture(R1) is not None and R1 in SHIPPED_MODELS
    assert parameter_count(architecture(R1)) == pytest.approx(1.777e9, rel=0.005)


@pytest.mark.parametrize("model", ["tiny", "r1_mini", "r1_distill_qwen_1p5b"])
def test_a_built_model_counts_its_own_size_not_its_architectures(model, job):
    low, high = {"tiny": (0.5e6, 2e6), "r1_mini": (15e6, 25e6), "r1_distill_qwen_1p5b": (1.7e9, 1.9e9)}[model]
    built = job(f"model={model}")
    assert low < estimated_parameters(built.model.model_dump()) < high


def test_the_plan_names_a_scaled_model_as_scaled_with_its_size(job):
    plan = describe(job("+experiment=exp3", "model=r1_mini"))
    assert plan.startswith(f"job exp3: {R1} scaled down (19.5M parameters, randomly initialised) on ")
    tiny = describe(job("+experiment=smoke"))
    assert tiny.startswith("job smoke: openrs tiny model (") and "warm-started on arithmetic" in tiny.splitlines()[0]


def test_a_model_that_cannot_be_had_is_named_with_the_fix(tmp_path, monkeypatch, job):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    missing = job(f"model.name_or_path={tmp_path / 'nothing'}", "model=r1_distill_qwen_1p5b").model
    with pytest.raises(ConfigError, match="no model directory there"):
        check_available(missing)
    unknown = job("model=r1_mini", "model.name_or_path=owner/not-cached").model
    with pytest.raises(ConfigError, match="model.scaled builds from its config.json, which is not on this machine"):
        check_available(unknown)
    with pytest.raises(ConfigError, match="not in the Hugging Face cache and HF_HUB_OFFLINE is set"):
        check_available(job("model=r1_distill_qwen_1p5b", "model.name_or_path=owner/x").model)


@pytest.mark.parametrize(
    ("config", "message"),
    [('{"model_type": "qwen2", "hidden_size": ', "is not valid JSON (line 1, column 40: Expecting value)"),
     ('{"hidden_size": 64}', "has no model_type, so transformers cannot build the model"),
     (b"\xff\xfe", "is not valid JSON")],
)  # fmt: skip
def test_a_corrupt_local_model_is_named_before_anything_loads(tmp_path, config, message, job):
    (tmp_path / "config.json").write_bytes(config if isinstance(config, bytes) else config.encode())
    model = job(f"model.name_or_path={tmp_path}", "model=r1_distill_qwen_1p5b").model
    expected = f"model.name_or_path={tmp_path}: {tmp_path / 'config.json'} {message}"
    with pytest.raises(ConfigError, match=re.escape(expected)):
        check_available(model)
