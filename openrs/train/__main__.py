"""One training rank of a launched job: `python -m openrs.train OUTPUT_DIR/job.yaml` (run by accelerate).

Reads the resolved job written by the Hydra controller instead of composing configs again."""

import os
import signal
import sys
from pathlib import Path

import yaml

from openrs.config.job import JobConfig
from openrs.run_folder import PREEMPTED_MARKER
from openrs.train.processes import end_with_parent
from openrs.train.recipe import train


def main(job_file: str) -> None:
    # torchrun leaves its ranks running when it is killed: end with it, after a checkpoint once training runs
    # (openrs.train's handler). Until then SIGTERM ends the rank: it was ignored by inheritance from torchrun.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    end_with_parent(os.getppid(), signal.SIGTERM)
    with open(job_file) as f:
        job = JobConfig.model_validate(yaml.safe_load(f))
    if train(job) is None and os.environ.get("RANK", "0") == "0":
        # The controller may not have been signalled itself (SLURM signals every process): tell it.
        (Path(job.output_dir) / PREEMPTED_MARKER).touch()


if __name__ == "__main__":
    main(sys.argv[1])
