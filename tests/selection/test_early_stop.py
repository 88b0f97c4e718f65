from pathlib import Path

import numpy as np
import pytest
from simulated_runs import simulate_run
from transformers import TrainerControl, TrainerState


def test_early_stop_ends_training_once_degradation_is_confirmed(tmp_path, make_job, write_eval):
    from openrs.selection.early_stop import EarlyStop

    job = make_job(tmp_path, "eval.every_steps=50", "hardware=a40x4", "trainer.global_batch_size=72",
                   "trainer.max_steps=500")  # fmt: skip
    curve = [0, 0.05, 0.05, -0.15, -0.15, -0.15, -0.15]  # peak at 50, a 20-point drop from step 150
    results = simulate_run(np.random.default_rng(1), 500, 4, curve)
    callback, state = EarlyStop(job, is_main_process=True), TrainerState()
    callback.on_train_begin(None, state, TrainerControl())
    for step in sorted(results):
        write_eval(Path(job.output_dir), {step: results[step]})
        state.global_step, control = step, TrainerControl()
        callback.on_step_end(None, state, control)
        if control.should_training_stop:
            break
    assert state.global_step == 200 and control.should_save  # onset 150, confirmed at the next evaluation
    stop = state.log_history[-1]
    assert stop["early_stop/onset_step"] == 150 and stop["cost/gpu_hours"] == pytest.approx(4 * stop["cost/hours"])
    assert stop["cost/usd_saved"] == pytest.approx(stop["cost/gpu_hours_saved"] * job.hardware.gpu_hourly_usd)
