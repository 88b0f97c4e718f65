"""Every config knob with its meaning, written from the schemas' field docstrings, the one place knobs are
documented (conf/ YAML comments say what a preset is and why it picks a value). `openrs-config > conf/README.md`
regenerates the reference; tests/test_structure.py fails when it is stale."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from openrs.config.curate import CurateConfig
from openrs.config.hardware import AutoHardwareConfig
from openrs.config.job import JobConfig

HEADER = """# Config reference

The output of `openrs-config`, written from the field docstrings of openrs's config schemas,
the one place a knob is documented; do not edit by hand. The YAML files of this folder hold the values
(defaults in `config.yaml`, options in the groups) and say what each preset is and why it picks a value. Change
one value with `group.key=value`; `python -m openrs --cfg job` prints a composed job. The Hydra plugins' configs
(`hydra/sweeper/`, `hydra/launcher/`) have no schema here: their YAML comments document them, as curate.yaml's
do for `shared_steps`, curation steps the presets name as `${shared_steps.NAME}`.
"""


def _type(annotation: Any) -> str:
    """The annotation as markdown: `int` \\| `null`, `list` of `str`, `dict` of `str` to `int`, `a` \\| `b`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping"
    if typing.get_origin(annotation) is typing.Literal:
        return " \\| ".join(f"`{a}`" if a is not None else "`null`" for a in typing.get_args(annotation))
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return " \\| ".join(dict.fromkeys(_type(a) for a in typing.get_args(annotation)))  # unique, in order
    if annotation is type(None):
        return "`null`"
    if typing.get_origin(annotation) is typing.Annotated:
        return _type(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) is dict:
        key, value = typing.get_args(annotation)
        return f"`dict` of {_type(key)} to {_type(value)}"
    if typing.get_args(annotation):  # list[X], tuple[X, X]
        return f"`{typing.get_origin(annotation).__name__}` of " + ", ".join(
            dict.fromkeys(map(_type, typing.get_args(annotation)))
        )
    return f"`{getattr(annotation, '__name__', annotation)}`"


_BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "min_length": "length >="}


def _models(annotation: Any) -> list[type[BaseModel]]:
    """The schemas an annotation holds (a field typed `X | None` or `list[X]` documents X's fields below it)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in _models(a)]


def fields(model: type[BaseModel], prefix: str) -> list[tuple[str, str, str]]:
    """(dotted key, type, docstring) of every field of `model` and of the schemas below it, depth first."""
    rows = []
    for name, info in model.model_fields.items():
        key = f"{prefix}.{name}" if prefix else name
        subs = _models(info.annotation)
        if info.description or not subs:  # a mapping without its own docstring is its keys below
            kind = _type(info.annotation) + "".join(f", {_BOUNDS[b]} {getattr(m, b)}" for m in info.metadata
                                                   for b in _BOUNDS if hasattr(m, b))  # fmt: skip
            rows.append((key, kind, " ".join((info.description or "").split())))
        for sub in subs:
            # A list of several schemas (curation steps) labels each by the value that picks it: steps[dedupe].
            tag = _discriminator(sub) if len(subs) > 1 else ""
            rows += fields(sub, f"{key}[{tag}]" if typing.get_origin(info.annotation) is list else key)
    return rows


def _discriminator(model: type[BaseModel]) -> str:
    """The one value of the schema's first field when it is a one-value Literal (a step's `step`), else ""."""
    first = next(iter(model.model_fields.values())).annotation
    values = typing.get_args(first) if typing.get_origin(first) is typing.Literal else ()
    return str(values[0]) if len(values) == 1 else ""


SCHEMAS: list[tuple[str, type[BaseModel], str]] = [
    ("A job (`python -m openrs`, `python -m openrs.evaluation`; conf/config.yaml and its groups)", JobConfig, ""),
    ("hardware=auto (conf/hardware/auto.yaml)", AutoHardwareConfig, "hardware.auto"),
    ("A curation (`python -m openrs.curate`; conf/curate.yaml and conf/curate/)", CurateConfig, "curate"),
]


def reference() -> str:
    """The markdown of conf/README.md."""
    out = [HEADER]
    for title, model, prefix in SCHEMAS:
        out += [f"## {title}\n", "| key | type | meaning |", "|---|---|---|"]
        for key, kind, doc in fields(model, prefix):
            out.append(f"| `{key}` | {kind} | " + doc.replace("|", r"\|") + " |")
        out.append("")
    return "\n".join(out)

