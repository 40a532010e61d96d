"""The FERBench question and the chat-message form that model, harness, trainers and Space all send."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from .labels import validate_candidates

QUESTION_TEMPLATE = (
    "As an expert in facial expression recognition, which expression is most prominent in this image? "
    "Please select your answer from the following candidate labels: {labels}. "
    "Provide your detailed reasoning between the <think></think> tags, "
    "and then give your final answer between the <answer></answer> tags."
)

#: The fast path (``reasoning=False``): same question, answer block only.
DIRECT_QUESTION_TEMPLATE = (
    "As an expert in facial expression recognition, which expression is most prominent in this image? "
    "Please select your answer from the following candidate labels: {labels}. "
    "Give only your final answer between the <answer></answer> tags."
)

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."

#: Generation budget, in tokens, for a reasoning answer (``<think>…</think><answer>…</answer>``) when none is given:
#: the default of ``unifer eval``, the engines, the Space and CoT curation.
REASONING_MAX_NEW_TOKENS = 1024

# The inverse of the templates: "candidate labels: a, b, c." (up to the first period after the colon).
_CANDIDATE_LIST = re.compile(r"candidate labels:\s*([^.]*)\.", re.IGNORECASE)


def fer_question(candidates: Sequence[str], *, reasoning: bool = True) -> str:
    """The FERBench question for a candidate list; with the official lists it equals the official prompt.

    >>> fer_question(["happy", "sad"]).split("labels: ")[1][:11]
    'happy, sad.'
    """
    template = QUESTION_TEMPLATE if reasoning else DIRECT_QUESTION_TEMPLATE
    return template.format(labels=", ".join(validate_candidates(candidates)))


def candidates_in_question(question: str) -> tuple[str, ...]:
    """The candidate labels a FER question lists, validated (ValueError when there is no valid list).

    >>> candidates_in_question(fer_question(["happy", "sad"]))
    ('happy', 'sad')
    """
    match = _CANDIDATE_LIST.search(question)
    if match is None:
        raise ValueError("no 'candidate labels: a, b, c.' list in the question")
    return validate_candidates([name.strip() for name in match.group(1).split(",")])


def chat_messages(
    image: Any, question: str, *, system: str | None = None, response: str | None = None
) -> list[dict[str, Any]]:
    """Messages in the transformers chat format: an optional system turn, a user turn holding the image and the
    question, and (for training data) the assistant's response.

    ``image`` may be anything the caller's processor accepts (a PIL image, or None to leave a placeholder that a
    collator fills from an ``images`` column, as TRL does).
    """
    image_part: dict[str, Any] = {"type": "image"}
    if image is not None:
        image_part["image"] = image
    messages: list[dict[str, Any]] = []
    if system is not None:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    messages.append({"role": "user", "content": [image_part, {"type": "text", "text": question}]})
    if response is not None:
        messages.append({"role": "assistant", "content": [{"type": "text", "text": response}]})
    return messages
