"""The temperature of the loss's log-probabilities, apart from the sampling temperature.

TRL 1.x divides the logits by `args.temperature` before it computes the policy's, the old policy's and the
reference's per-token log-probabilities (a fused LM head, `trl.trainer.utils.add_fused_lm_head`, patched into
each model's forward with that temperature when the trainer is built); the paper's TRL (69ad852, before PR 3029)
used the raw logits while vLLM sampled at 0.7. TRL has no switch for it, so the head is patched again with the
temperature asked for: generation still samples at `args.temperature`, only the scored log-probabilities change.
"""

from __future__ import annotations

from trl.trainer.utils import add_fused_lm_head


def score_at_temperature(trainer, temperature: float) -> None:
    """Make `trainer` (a built GRPOTrainer) compute every log-probability of its loss from logits / temperature."""
    # The policy's head also yields the entropy (TRL's entropy metric and masks); the reference's only log-probs.
    models = [(trainer.accelerator.unwrap_model(trainer.model), ("log_probs", "entropy"))]
    if trainer.ref_model is not None:
        models.append((trainer.accelerator.unwrap_model(trainer.ref_model), ("log_probs",)))
    for model, outputs in models:
        del model.forward  # TRL's patched forward, an attribute of the instance; the class's forward is left
        add_fused_lm_head(model, temperature, trainer.args.cast_lm_head_to_fp32, outputs)
