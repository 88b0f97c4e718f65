"""What makes a job an Optuna trial: the environment the Optuna sweeper (hydra_plugins/openrs_optuna) sets for
it, read by pruning and tracking, and the tag that ties the trial to its MLflow run."""

from __future__ import annotations

import base64
import json
import os

# Set by the Optuna sweeper for a job that is a trial (encode_trial's spec).
TRIAL_ENV = "OPENRS_OPTUNA_TRIAL"
# The MLflow tag of a trial's run, "study:number" (openrs.tracking): how the sweeper finds the run of a trial.
TRIAL_TAG = "openrs.optuna_trial"


def encode_trial(spec: dict) -> str:
    """TRIAL_ENV's value for a trial spec (storage, study, trial number, pruner): base64 JSON, so that any
    storage path or study name (quotes, backslashes, ${...}) survives Hydra's override grammar."""
    return base64.b64encode(json.dumps(spec).encode()).decode()


def trial_spec() -> dict | None:
    """The Optuna trial this job runs (encode_trial's spec, from TRIAL_ENV); None outside a search."""
    value = os.environ.get(TRIAL_ENV)
    return json.loads(base64.b64decode(value)) if value else None
