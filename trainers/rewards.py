"""Verifiable FER rewards for GRPO, as plain functions with TRL's reward signature.

Each function takes the sampled ``completions`` (strings, or conversational lists of messages) plus the dataset
columns TRL forwards as keyword arguments (``solution``, ``candidate_labels``, ``source_solution``), and returns
one float per completion. ``accuracy`` and ``format`` parse with :mod:`unifer.answers`, the same code that scores
evaluation, so a reward of 1.0 means the benchmark would count the answer as correct; ``official_accuracy`` and
``official_format`` are the official UniFER rewards, to reproduce the paper's run.

When TRL passes its ``log_metric`` hook (``GRPOTrainer`` does), the rewards also log per-emotion accuracy
(``fer/accuracy/<emotion>``) and the format rates (``fer/format_rate``, ``fer/official_format_rate``), averaged
like TRL's own ``rewards/*`` metrics, so a run shows which expressions improve.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from unifer.answers import extract_label, is_well_formed, official_answer_text
from unifer.labels import CANONICAL_EMOTIONS, normalize, to_candidate


def completion_text(completion: str | list[dict[str, Any]]) -> str:
    """The text of one completion: a string as is, or the text of a conversational completion's messages.

    >>> completion_text([{"role": "assistant", "content": "<answer>sad</answer>"}])
    '<answer>sad</answer>'
    >>> completion_text([{"role": "assistant", "content": [{"type": "text", "text": "sad"}]}])
    'sad'
    """
    if isinstance(completion, str):
        return completion
    return "".join(_content_text(message.get("content")) for message in completion)


def _content_text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(part.get("text") or "" for part in content if part.get("type") == "text")


def _solutions(solution: Sequence[str] | None, reward: str) -> Sequence[str]:
    if solution is None:
        raise ValueError(f"{reward} needs the gold label: give the dataset a 'solution' column (one label per row).")
    return solution


def _log_rates(
    log_metric: Callable[[str, float], None] | None, prefix: str, solutions: Sequence[str], rewards: list[float]
) -> None:
    """Log one value per completion under ``prefix/<emotion>``; TRL averages them over the batch and processes."""
    if log_metric is None:
        return
    for gold, reward in zip(solutions, rewards):
        log_metric(f"{prefix}/{normalize(gold)}", reward)


def _log_each(log_metric: Callable[[str, float], None] | None, name: str, rewards: list[float]) -> None:
    """Log every completion's reward under ``name`` (TRL averages them over the batch and processes)."""
    if log_metric is not None:
        for reward in rewards:
            log_metric(name, reward)


def accuracy_reward(
    completions: list,
    solution: Sequence[str] | None = None,
    candidate_labels: Sequence[Sequence[str] | None] | None = None,
    **kwargs,
) -> list[float]:
    """1.0 when the single ``<answer>`` block names exactly one of the item's candidates and it is the solution.

    Strict parsing (:func:`unifer.answers.extract_label`): case, punctuation, filler words ("The answer is") and
    aliases ("happy" for "happiness") are forgiven; no answer, an empty answer, two labels, hedges, negations and
    labels outside the candidates earn 0.0. Without ``candidate_labels`` the eight canonical emotions are the
    candidates.

    >>> accuracy_reward(["<think>Lips up.</think><answer>Happy</answer>"], solution=["happiness"])
    [1.0]
    >>> accuracy_reward(["<answer>happy or sad</answer>", "<answer>not sad</answer>"], solution=["sad", "sad"])
    [0.0, 0.0]
    >>> accuracy_reward([[{"role": "assistant", "content": "<answer>contempt</answer>"}]],
    ...                 solution=["contempt"], candidate_labels=[["happiness", "sadness"]])
    [0.0]
    """
    solutions = _solutions(solution, "accuracy_reward")
    candidates = candidate_labels or [None] * len(completions)
    rewards = []
    for completion, gold, labels in zip(completions, solutions, candidates):
        label = extract_label(completion_text(completion), labels or CANONICAL_EMOTIONS)
        rewards.append(float(label is not None and normalize(label) == normalize(gold)))
    _log_rates(kwargs.get("log_metric"), "fer/accuracy", solutions, rewards)
    return rewards


def official_accuracy_reward(
    completions: list,
    solution: Sequence[str] | None = None,
    candidate_labels: Sequence[Sequence[str] | None] | None = None,
    source_solution: Sequence[str | None] | None = None,
    **kwargs,
) -> list[float]:
    """The official UniFER accuracy reward: the stripped text of the first ``<answer>`` block must equal the
    solution exactly (case-sensitive, no aliases). As in the official code, a completion without an answer block
    is compared whole, and a solution wrapped in answer tags is unwrapped. The gold is the row's
    ``source_solution`` (the solution exactly as released, which the RLVR builder keeps) when the dataset has it;
    otherwise the canonical ``solution`` spelled as the item's candidates spell it ("happy" for FERPlus). Use it
    to reproduce the paper's run.

    >>> official_accuracy_reward(["<answer> happiness </answer>", "<answer>Happiness</answer>"],
    ...                          solution=["happiness", "happiness"])
    [1.0, 0.0]
    >>> official_accuracy_reward(["<answer>happy</answer>", "<answer>happiness</answer>"],
    ...                          solution=["happiness"] * 2, candidate_labels=[["happy", "sad"]] * 2)
    [1.0, 0.0]
    >>> official_accuracy_reward(["<answer>Happy</answer>"], solution=["happiness"],
    ...                          candidate_labels=[["happy", "sad"]], source_solution=["<answer>Happy</answer>"])
    [1.0]
    """
    solutions = _solutions(solution, "official_accuracy_reward")
    candidates = candidate_labels or [None] * len(completions)
    sources = source_solution or [None] * len(completions)
    golds = [
        official_answer_text(source)
        if source is not None
        else (to_candidate(official_answer_text(gold), labels) if labels else official_answer_text(gold))
        for gold, labels, source in zip(solutions, candidates, sources)
    ]
    rewards = [
        float(official_answer_text(completion_text(completion)) == gold)
        for completion, gold in zip(completions, golds)
    ]
    _log_rates(kwargs.get("log_metric"), "fer/official_accuracy", golds, rewards)
    return rewards


def format_reward(completions: list, **kwargs) -> list[float]:
    """1.0 when the completion is exactly one non-empty ``<think>`` block then one non-empty ``<answer>`` block,
    with nothing else around them (:func:`unifer.answers.is_well_formed`); repeated or nested tags score 0.0.

    >>> format_reward(["<think>Brows raised.</think>\\n<answer>surprise</answer>", "<answer>surprise</answer>"])
    [1.0, 0.0]
    """
    rewards = [float(is_well_formed(completion_text(completion))) for completion in completions]
    _log_each(kwargs.get("log_metric"), "fer/format_rate", rewards)
    return rewards


#: The official UniFER format check (R1-V's): a think block, optional whitespace, an answer block, nothing else.
OFFICIAL_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)


def official_format_reward(completions: list, **kwargs) -> list[float]:
    """The official UniFER format reward: 1.0 when ``re.fullmatch(r"<think>.*?</think>\\s*<answer>.*?</answer>",
    text, re.DOTALL)`` matches. Laxer than :func:`format_reward`: empty blocks, tags inside the blocks and repeated
    blocks pass (docs/training.md compares the two case by case).

    >>> official_format_reward(["<think></think><answer></answer>", "<think>a</think><answer>b</answer> ok"])
    [1.0, 0.0]
    """
    rewards = [float(OFFICIAL_FORMAT.fullmatch(completion_text(completion)) is not None) for completion in completions]
    _log_each(kwargs.get("log_metric"), "fer/official_format_rate", rewards)
    return rewards


#: Reward functions by the names ``UniFERGRPOConfig.reward_funcs`` accepts.
REWARD_FUNCS: dict[str, Callable[..., list[float]]] = {
    "accuracy": accuracy_reward,
    "format": format_reward,
    "official_accuracy": official_accuracy_reward,
    "official_format": official_format_reward,
}


def get_reward_funcs(names: Sequence[str]) -> list[Callable[..., list[float]]]:
    """The reward functions registered under ``names``, in order.

    >>> [f.__name__ for f in get_reward_funcs(["accuracy", "format"])]
    ['accuracy_reward', 'format_reward']
    """
    unknown = [name for name in names if name not in REWARD_FUNCS]
    if unknown:
        raise ValueError(
            f"Unknown reward function(s) {', '.join(map(repr, unknown))}. Allowed: {', '.join(REWARD_FUNCS)}."
        )
    return [REWARD_FUNCS[name] for name in names]
