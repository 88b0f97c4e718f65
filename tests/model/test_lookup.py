"""Where a model comes from, before anything loads: its size from config.json alone, and a clear error when it
cannot be had."""

import re
import shutil

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


def test_a_local_model_folder_without_weights_is_refused_and_one_with_them_passes(tmp_path, job):
    shutil.copytree(SHIPPED_MODELS[R1], tmp_path / "model")  # config.json and tokenizer, no weights
    model = job(f"model.name_or_path={tmp_path / 'model'}", "model=r1_distill_qwen_1p5b").model
    expected = (f"model.name_or_path={model.name_or_path}: {tmp_path / 'model'} has a config.json but no weights "
                "(none of *.safetensors, pytorch_model*.bin, *.index.json): download the model again")  # fmt: skip
    with pytest.raises(ConfigError, match=re.escape(expected)):
        check_available(model)
    for weights in ("model.safetensors", "pytorch_model-00001-of-00002.bin", "model.safetensors.index.json"):
        (tmp_path / "model" / weights).write_bytes(b"")
        check_available(model)
        (tmp_path / "model" / weights).unlink()


def test_a_training_job_on_a_folder_without_weights_stops_before_anything_is_written(tmp_path, run_openrs):
    shutil.copytree(SHIPPED_MODELS[R1], tmp_path / "model")
    model, out, store = tmp_path / "model", tmp_path / "run", tmp_path / "mlflow.db"
    proc = run_openrs("-m", "openrs", "+experiment=smoke", "model.tiny=null", f"model.name_or_path={model}",
                      f"hydra.run.dir={out}", f"tracking.uri=sqlite:///{store}")  # fmt: skip
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr[-2000:]
    assert proc.stderr.startswith(f"openrs: model.name_or_path={model}: ") and "no weights" in proc.stderr
    assert not (out / "job.yaml").exists() and not store.exists()


def test_the_size_of_a_corrupt_config_is_refused_in_one_line_and_an_unknown_layout_is_of_unknown_size(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "qwen2", "hidden_size": ')
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path / 'config.json'} is not valid JSON (line 1, column")):
        estimated_parameters({"name_or_path": str(tmp_path)})
    (tmp_path / "config.json").write_text('["qwen2"]')
    with pytest.raises(ConfigError, match="holds a JSON list, not a model's config"):
        estimated_parameters({"name_or_path": str(tmp_path)})
    (tmp_path / "config.json").write_text('{"model_type": "gpt2", "n_embd": 768}')
    assert estimated_parameters({"name_or_path": str(tmp_path)}) is None
