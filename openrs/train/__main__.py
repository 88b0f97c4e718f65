"""One training rank of a launched job: `python -m openrs.train OUTPUT_DIR/job.yaml [CHECKPOINT]` (run by
accelerate; CHECKPOINT: the one to resume from, resolved by the controller).

Reads the resolved job written by the Hydra controller instead of composing configs again."""

import os
import signal
import sys
from pathlib import Path

import yaml

from openrs.base.processes import end_with_parent
from openrs.config.job import JobConfig
from openrs.run_folder import PREEMPTED_MARKER
from openrs.train import preemption
from openrs.train.recipe import train


def main(job_file: str, checkpoint: Path | None) -> None:
    # torchrun leaves its ranks running when it is killed: end with it (SIGTERM: stop at once while loading, after
    # a checkpoint once training runs). The rank handles SIGTERM, which it inherited ignored from torchrun.
    preemption.handler.install("loading")
    end_with_parent(os.getppid(), signal.SIGTERM)
    with open(job_file) as f:
        job = JobConfig.model_validate(yaml.safe_load(f))
    final, lost_a_rank = None, False
    try:
        final = train(job, checkpoint)
    except preemption.Preempted as stop:
        print(f"openrs: {stop}: nothing to save", file=sys.stderr)
    except Exception as err:
        # A rank told to stop while it loads may wait in a collective for a rank that stopped before it, and lose
        # it: stopped, not failed. Any other error, and any error once training runs, is a failure.
        if not preemption.handler.signalled() or preemption.handler.phase == "training":
            raise
        print(f"openrs: stopped while loading; a rank that stopped first left: {type(err).__name__}: {err}"[:500],
              file=sys.stderr)  # fmt: skip
        lost_a_rank = True
    if final is None and os.environ.get("RANK", "0") == "0":
        # The controller may not have been signalled itself (SLURM signals every process): tell it.
        (Path(job.output_dir) / PREEMPTED_MARKER).touch()
    if lost_a_rank:  # a normal exit would abort in the broken process group's destructors
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]) if len(sys.argv) > 2 else None)
