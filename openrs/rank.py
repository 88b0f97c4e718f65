"""One training rank of a launched job: `python -m openrs.rank OUTPUT_DIR/job.yaml` (run by accelerate).

Reads the resolved job written by the Hydra controller instead of composing configs again."""

import sys

import yaml

from openrs.config import JobConfig
from openrs.train import train


def main(job_file: str) -> None:
    with open(job_file) as f:
        job = JobConfig.model_validate(yaml.safe_load(f))
    train(job)


if __name__ == "__main__":
    main(sys.argv[1])
