"""What a reward sees of TRL's batch: completion text, the prompt's generation prefill, lengths."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def text_of(message: Any) -> str:
    """A completion or prompt as text: plain strings pass through; for conversational ones (a list of
    {"role", "content"} messages) the last message's content."""
    if isinstance(message, str):
        return message
    if isinstance(message, list) and message:
        content = message[-1].get("content", "")
        return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)
    return ""


def texts(completions: Sequence[Any]) -> list[str]:
    return [text_of(c) for c in completions]


def prefill(prompt: Any) -> str:
    """The part of the assistant turn that the chat template already wrote into the prompt.

    R1-Distill's template ends the prompt with `<think>\\n`, so its completions start inside the think
    block; a reward that judges structure must see that opening tag. Empty for conversational prompts
    and templates that open nothing."""
    if not isinstance(prompt, str):
        return ""
    start = prompt.rfind("<think>")
    if start == -1 or "</think>" in prompt[start:]:
        return ""
    return prompt[start:]


def lengths(
    completions: Sequence[Any], completion_ids: Sequence[Sequence[int]] | None, unit: str = "tokens"
) -> list[int]:
    """Completion lengths in tokens (needs completion_ids) or characters."""
    if unit == "chars":
        return [len(t) for t in texts(completions)]
    if completion_ids is None:
        raise ValueError("a token-length reward needs completion_ids (TRL passes them); or set length_unit: chars")
    return [len(ids) for ids in completion_ids]
