"""A smoke training job with vLLM on a CPU, for tests/e2e/test_vllm.py:
`python tests/apps/cpu_vllm_job.py MODE OUTPUT_DIR [OVERRIDE ...]`. `python -m openrs` refuses to train on a CPU
with vLLM (openrs.__main__.CPU_VLLM_CANNOT_TRAIN), so this runs what it would have run. colocate: the training in
this process, which fails at TRL's first weight sync into the engine. server: openrs's controller
(openrs.train.launch.launch), which starts the vLLM server, waits until it
is healthy, then the training rank, which fails at TRL's first weight sync to the server."""

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from openrs import CONF_DIR
from openrs.config.load import load_job

if __name__ == "__main__":
    mode, out = sys.argv[1], Path(sys.argv[2])
    overrides = ["+experiment=smoke", "hardware=cpu", f"hardware.vllm_mode={mode}", f"output_dir={out}", *sys.argv[3:]]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        job = load_job(compose("config", overrides=overrides))
    out.mkdir(parents=True, exist_ok=True)
    if mode == "colocate":
        from openrs.train.recipe import train

        train(job)
    else:
        from openrs.train.launch import launch

        sys.exit(launch(job, out / "job.yaml"))
