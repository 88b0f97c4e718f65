"""The base of every config schema (frozen, no unknown keys, a docstring per field) and how pydantic's
validation errors read as one ConfigError message."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class Schema(BaseModel):
    # allow_inf_nan=False: inf or nan cannot train anything (a learning rate of inf ends "done" with non-finite
    # weights), so every float of every schema must be finite.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False)


def _dotted(loc: tuple[Any, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def describe_errors(err: ValidationError, under: str = "") -> str:
    """The ConfigError message of a validation error: one line per problem, each naming its key, dotted from the
    top of the job (a schema validated on its own, such as hardware.auto, passes its place in `under`)."""
    lines = []
    for e in err.errors():
        # Model-level validators put their full sentence in msg; field errors get key = value prefix.
        loc = tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        loc = (under, *loc) if under else loc
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "value_error":
            lines.append(msg if not loc else f"{_dotted(loc)}: {msg}")
        elif e["type"] == "extra_forbidden":
            lines.append(f"{_dotted(loc)}: unknown key; valid keys are listed by --cfg job for this group")
        elif e["type"] == "missing":
            lines.append(f"{_dotted(loc)}: missing; add it to the group's YAML or pass {_dotted(loc)}=VALUE")
        else:
            lines.append(f"{_dotted(loc)}={e.get('input')!r}: {msg}")
    return "invalid config:\n  " + "\n  ".join(lines)
