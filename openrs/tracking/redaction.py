"""No secret reaches MLflow: credentials inside URIs and the values of secret-looking environment variables
(names with TOKEN, SECRET, PASSWORD, API_KEY, ...) are replaced by *** (openrs.tracking redacts params, tags,
run names and the job.yaml artifact with it)."""

from __future__ import annotations

import os
import re

SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL|AUTH", re.IGNORECASE)
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def redact(text: str) -> str:
    """text without URI credentials (user:password@) and without the value of any secret-looking
    environment variable (6 characters or more)."""
    text = _USERINFO.sub("***@", text)
    for value in _secret_values():
        text = text.replace(value, "***")
    return text


def _secret_values() -> list[str]:
    for _ in range(10):
        try:
            return [v for k, v in os.environ.items() if SECRET_NAME.search(k) and len(v) >= 6]
        except (KeyError, RuntimeError):  # MLflow's telemetry thread changed the environment mid-read
            continue
    raise RuntimeError("the environment kept changing while openrs looked for secrets in it")
