"""Loading a composed config into a JobConfig, with every check that runs before anything heavy imports: the
schemas, hardware=auto, the output folder, the local data files' columns and the batch split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from pydantic import ValidationError

from openrs import CONF_DIR
from openrs.base.errors import ConfigError
from openrs.config.job import JobConfig
from openrs.config.reward import GradingConfig
from openrs.config.schema import describe_errors
from openrs.data.files import check_local_columns
from openrs.resolve.auto_hardware import resolve_auto
from openrs.resolve.output_dir import unusable


def load_job(cfg: DictConfig | dict[str, Any], *, trains: bool = True) -> JobConfig:
    """Validate a composed config (Hydra DictConfig or plain dict) into a JobConfig.

    Raises ConfigError with every problem found, each naming key, bad value and the valid choices. trains=False
    (curation without a judge) accepts a model that hardware=auto would not train on this machine."""
    raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    raw, hardware_refusal = resolve_auto({k: v for k, v in raw.items() if k != "hydra"})
    try:
        job = JobConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(describe_errors(err)) from None
    # An output_dir set apart from Hydra's run folder (which the UsableOutputDir callback checked) is first
    # written when the job claims it, after its checks: a file or a read-only place there would end in a traceback.
    if problem := unusable(Path(job.output_dir)):
        raise ConfigError(f"output_dir={job.output_dir}: {problem}; choose another folder")
    check_local_columns(job.data)
    if hardware_refusal is not None and trains:
        raise ConfigError(hardware_refusal)
    job.batch  # noqa: B018 - raises ConfigError when the hardware cannot reach the global batch
    return job


def default_grading() -> GradingConfig:
    """reward.grading as conf/config.yaml sets it."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        grading = compose("config").reward.grading
    return GradingConfig.model_validate(OmegaConf.to_container(grading, resolve=True))
