"""A Hydra app for the GPU-slot launcher tests: each job writes its pid when it starts, records the GPUs it
saw and when it ran, then fails when told to; one kills its own process instead, one exits as a preempted
job does."""

import json
import os
import signal
import sys
import time

import hydra
from hydra.core.hydra_config import HydraConfig


@hydra.main(version_base="1.3", config_path=None, config_name="app")
def main(cfg) -> int:
    start, out = time.time(), HydraConfig.get().runtime.output_dir
    with open(os.path.join(out, "pid"), "w") as f:
        f.write(str(os.getpid()))
    time.sleep(cfg.seconds)
    if cfg.job == cfg.die:
        os.kill(os.getpid(), signal.SIGKILL)
    if cfg.job == cfg.get("exit"):
        sys.exit(124)
    record = {"devices": os.environ["CUDA_VISIBLE_DEVICES"], "start": start, "end": time.time(), "pid": os.getpid()}
    with open(os.path.join(out, "ran.json"), "w") as f:
        json.dump(record, f)
    if cfg.job == cfg.fail:
        raise RuntimeError(f"job {cfg.job} fails on purpose")
    return cfg.job


if __name__ == "__main__":
    main()
