"""openrs: GRPO fine-tuning of small reasoning models on math, composed with Hydra."""

import os
from pathlib import Path

__version__ = "0.1.0"

# The wheel carries conf/ inside the package; a source checkout keeps it at the top of the repo.
_PACKAGED_CONF = Path(__file__).parent / "conf"
CONF_DIR = _PACKAGED_CONF if _PACKAGED_CONF.is_dir() else Path(__file__).parent.parent / "conf"
TRAINING_CONFIG = "config"  # conf/config.yaml: the training job's config (openrs.__main__)


def cache_dir() -> Path:
    """Where the models built here and cached grades live: $OPENRS_CACHE, else ~/.cache/openrs."""
    return Path(os.environ.get("OPENRS_CACHE", Path.home() / ".cache" / "openrs"))
