"""`openrs-curate` (or `python -m openrs.curate`): build a training set from its sources through named steps
(openrs.curate.pipeline).

openrs-curate                                    # curate=deepscaler_local: DeepScaleR, decontaminated
openrs-curate curate=open_s1 hardware=h100x1    # the paper's open-s1 from s1 (a GPU judges difficulty)
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf
from pydantic import BaseModel, ValidationError

from openrs import CONF_DIR
from openrs.base.errors import ConfigError
from openrs.config.curate import CurateConfig, DifficultyStepConfig
from openrs.config.job import JobConfig
from openrs.config.schema import describe_errors
from openrs.curate.pipeline import curate
from openrs.data.files import CURATED_FILE, local_file
from openrs.resolve.load import load_job


def load_curate(cfg: DictConfig) -> tuple[CurateConfig, JobConfig]:
    """Validate the curate node and the rest of the config (model, prompt, grading, hardware of the judge)."""

    class Root(BaseModel):  # so that errors name their key from the top: curate.steps[2].threshold
        curate: CurateConfig

    raw = OmegaConf.to_container(cfg, resolve=True)
    raw = {k: v for k, v in raw.items() if k not in ("hydra", "shared_steps")}  # shared_steps: conf/curate.yaml
    try:
        curate_cfg = Root.model_validate({"curate": raw.pop("curate", None)}).curate
    except ValidationError as err:
        raise ConfigError(describe_errors(err)) from None
    # The model is the difficulty step's judge: without one, nothing trains or generates.
    return curate_cfg, load_job(raw, trains=any(isinstance(s, DifficultyStepConfig) for s in curate_cfg.steps))


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="curate")
def main(cfg: DictConfig) -> None:
    try:
        curate_cfg, job = load_curate(cfg)
        for source in curate_cfg.sources:  # a missing local file fails before anything loads
            local_file(source.path)
        manifest = curate(curate_cfg, job, Path(job.output_dir))
    except ConfigError as err:
        print(f"openrs.curate: {err}", file=sys.stderr)
        sys.exit(2)
    out = manifest["output"]
    print(f"openrs.curate: {out['rows']} rows in {Path(job.output_dir) / CURATED_FILE}; manifest.json beside it")


if __name__ == "__main__":
    main()
