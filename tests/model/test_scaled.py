"""model.scaled: a real architecture in miniature, built offline from the config.json and tokenizer openrs ships."""

import json

from openrs.model.lookup import estimated_parameters
from openrs.model.scaled import scaled_model_path


def test_r1_mini_is_r1_distills_architecture_and_tokenizer_at_its_own_sizes(tmp_path, monkeypatch, job):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setenv("OPENRS_CACHE", str(tmp_path))
    model = job("model=r1_mini").model
    path = scaled_model_path(model)
    assert path.parent == tmp_path and scaled_model_path(model) == path  # built once, then cached
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "qwen2" and config["vocab_size"] == 151936
    assert {k: config[k] for k in ("hidden_size", "num_hidden_layers", "num_key_value_heads")} == {
        "hidden_size": 64, "num_hidden_layers": 2, "num_key_value_heads": 1}  # fmt: skip
    built = AutoModelForCausalLM.from_pretrained(path)
    # The size the hardware check counted before building is the size built (biases and norms aside).
    assert abs(built.num_parameters() - estimated_parameters(model.model_dump())) < 0.01 * built.num_parameters()
    text = AutoTokenizer.from_pretrained(path).apply_chat_template([{"role": "user", "content": "1+1"}], tokenize=False,
                                                                    add_generation_prompt=True)  # fmt: skip
    assert text.endswith("<｜Assistant｜><think>\n")  # R1-Distill's template, with its prefill
