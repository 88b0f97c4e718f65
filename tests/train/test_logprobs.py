"""trainer.logprob_temperature: the loss's log-probabilities from logits / that temperature, sampling untouched."""

import pytest
import torch

from openrs.train.recipe import build_trainer

SAMPLING_TEMPERATURE = 0.5


@pytest.fixture(scope="session")
def trainer_for(job):
    """trainer_for(out, logprob_temperature): the smoke job's GRPO trainer, its output folder out."""

    def build(out, logprob_temperature: str):
        # beta > 0: a reference model, whose log-probabilities feed the KL term, is built and must follow too.
        smoke = job("+experiment=smoke", f"trainer.temperature={SAMPLING_TEMPERATURE}", "trainer.beta=0.04",
                    f"trainer.logprob_temperature={logprob_temperature}", "eval.every_steps=null", "tracking=none",
                    output_dir=str(out))  # fmt: skip
        return build_trainer(smoke)

    return build


def reference_logps(model, ids: torch.Tensor, keep: int, temperature: float) -> torch.Tensor:
    """log p(token) of the last `keep` tokens of each row from the model's full logits / temperature."""
    with torch.no_grad():
        logits = model(input_ids=ids).logits[:, -keep - 1 : -1] / temperature
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, ids[:, -keep:, None])[..., 0]


@pytest.mark.parametrize(("knob", "expected"), [("1.0", 1.0), ("null", SAMPLING_TEMPERATURE)])
def test_policy_and_reference_log_probabilities_use_the_logprob_temperature(tmp_path, knob, expected, trainer_for):
    trainer = trainer_for(tmp_path, knob)
    assert trainer.temperature == SAMPLING_TEMPERATURE  # generation samples at the sampling temperature either way
    ids = torch.randint(3, trainer.processing_class.vocab_size, (2, 12), generator=torch.Generator().manual_seed(0))
    keep = 5
    for model in (trainer.model, trainer.ref_model):
        got, _, _ = trainer._get_per_token_logps_and_entropies(model, ids, torch.ones_like(ids), keep)
        torch.testing.assert_close(got.detach(), reference_logps(model, ids, keep, expected), rtol=1e-4, atol=1e-4)
        other = SAMPLING_TEMPERATURE if expected == 1.0 else 1.0
        assert not torch.allclose(got.detach(), reference_logps(model, ids, keep, other), atol=1e-3)
