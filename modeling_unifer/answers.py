"""Answer parsing: the one implementation that the metric, rewards, harness, curation and Space all call.

Two extraction modes:

* ``strict`` (default): the single ``<answer>`` block must consist of exactly one candidate label (case, spacing,
  surrounding punctuation and aliases forgiven; neutral filler such as "The answer is" allowed). Anything else —
  no block, several blocks, an empty block, two labels, a hedge, a negation, a label outside the candidates — is
  no label (``None``). This is what we score and reward by default: it cannot be gamed by listing labels.
* ``paper``: the official UniFER evaluator's extraction, quirks included, so published numbers can be reproduced.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from .labels import ALIASES, PAPER_SYNONYMS, fold, subset_of

UNKNOWN = "unknown"  # the official evaluator's label for an unparsable response

_TAG = re.compile(r"</?(?:think|answer)>", re.IGNORECASE)
_WELL_FORMED = re.compile(r"\s*<think>(.*?)</think>\s*<answer>(.*?)</answer>\s*", re.DOTALL)
_ANSWER_ONLY = re.compile(r"\s*<answer>(.*?)</answer>\s*", re.DOTALL)
_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL | re.IGNORECASE)
_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_ANSWER_OPEN = re.compile(r"<answer>", re.IGNORECASE)
_ANSWER_CLOSE = re.compile(r"</answer>", re.IGNORECASE)

# The official scripts' answer-block patterns: the common one (and the pooled "overall" script's, for every
# subset), and the SFEW 2.0 per-subset script's case-sensitive, newline-spanning variant.
_PAPER_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.IGNORECASE)
_PAPER_SFEW_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
# The official UniFER GRPO reward's pattern: first block, newlines allowed, tags case-sensitive.
_OFFICIAL_REWARD_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)

# Words that may surround the label in a strict answer without changing its meaning. Hedges ("maybe", "or"),
# negations ("not", "no") and anything else are deliberately absent: a word outside this set voids the answer.
_FILLER = frozenset(
    [
        "the",
        "a",
        "an",
        "answer",
        "final",
        "my",
        "is",
        "it",
        "it's",
        "its",
        "this",
        "that",
        "of",
        "in",
        "image",
        "face",
        "facial",
        "person",
        "subject",
        "shows",
        "showing",
        "displays",
        "displaying",
        "expresses",
        "expression",
        "emotion",
        "label",
        "class",
        "category",
        "predicted",
        "prediction",
        "most",
        "prominent",
        "dominant",
        "primary",
        "main",
    ]
)
_NON_WORD = re.compile(r"[^\w' ]+")


@dataclass(frozen=True)
class ParsedResponse:
    """A response split into its reasoning and answer.

    ``think``: the first think block's text, stripped (None when there is none).
    ``answer``: the text of the answer block, stripped, when there is exactly one (None otherwise).
    ``well_formed``: exactly one non-empty think block followed by exactly one non-empty answer block, with
    nothing but white space around them and no tag repeated or nested.
    """

    think: str | None
    answer: str | None
    well_formed: bool


def is_well_formed(text: str, reasoning: bool = True) -> bool:
    """Whether ``text`` is ``<think>…</think>`` then ``<answer>…</answer>`` and nothing else; with
    ``reasoning=False`` (the answer-only prompt), whether it is one ``<answer>…</answer>`` block and nothing else.

    >>> is_well_formed("<think>Mouth corners up.</think><answer>happy</answer>")
    True
    >>> is_well_formed("<think>a</think><answer>happy</answer><answer>sad</answer>")
    False
    >>> is_well_formed("<answer>happy</answer>", reasoning=False)
    True
    """
    match = (_WELL_FORMED if reasoning else _ANSWER_ONLY).fullmatch(text)
    if match is None:
        return False
    # Empty blocks would earn the format for free; a tag inside a block means a repeated or nested block.
    return all(part.strip() and not _TAG.search(part) for part in match.groups())


def _single_answer(text: str) -> str | None:
    """The answer block's text when the response has exactly one answer block."""
    if len(_ANSWER_OPEN.findall(text)) != 1 or len(_ANSWER_CLOSE.findall(text)) != 1:
        return None
    match = _ANSWER_BLOCK.search(text)
    return match.group(1).strip() if match else None


def parse(text: str) -> ParsedResponse:
    """Split a response into think text, answer text and format validity.

    >>> parse("<think>Brows raised.</think> <answer> Surprise </answer>")
    ParsedResponse(think='Brows raised.', answer='Surprise', well_formed=True)
    """
    think = _THINK_BLOCK.search(text)
    return ParsedResponse(
        think=think.group(1).strip() if think else None,
        answer=_single_answer(text),
        well_formed=is_well_formed(text),
    )


def text_before_answer(text: str) -> str:
    """The part of a response before its first ``<answer>`` tag (all of it when there is none): the reasoning a
    candidate answer is scored after.

    >>> text_before_answer("<think>Brows down.</think><answer>anger</answer>")
    '<think>Brows down.</think>'
    """
    cut = text.lower().find("<answer>")
    return text if cut < 0 else text[:cut]


def reasoned_unasked(text: str, reasoning: bool) -> bool:
    """Whether a response to the answer-only prompt (``reasoning=False``) began reasoning instead: it opens a
    ``<think>`` block (a model trained always to reason).

    >>> reasoned_unasked("<think>The brows", reasoning=False), reasoned_unasked("<answer>sad</answer>", False)
    (True, False)
    """
    return not reasoning and text.lstrip().lower().startswith("<think")


def official_answer_text(text: str) -> str:
    """How the official UniFER reward reads a completion: the stripped first ``<answer>`` block (case-sensitive
    tags, newlines allowed), or the whole stripped text when there is none.

    >>> official_answer_text("<think>x</think><answer> happy </answer>"), official_answer_text(" sad ")
    ('happy', 'sad')
    """
    match = _OFFICIAL_REWARD_ANSWER.search(text)
    return (match.group(1) if match else text).strip()


def _candidate_lookup(candidates: Sequence[str]) -> dict[str, str]:
    """Folded name or alias -> candidate. Known emotions answer to all their aliases; other labels literally."""
    by_canonical = {}
    for candidate in candidates:
        canonical = ALIASES.get(fold(candidate))
        if canonical is not None:
            by_canonical.setdefault(canonical, candidate)
    lookup = {alias: by_canonical[canonical] for alias, canonical in ALIASES.items() if canonical in by_canonical}
    lookup.update({fold(candidate): candidate for candidate in candidates})
    return lookup


def _answer_words(answer: str) -> list[str]:
    """The answer's words, case-folded, with punctuation removed."""
    text = unicodedata.normalize("NFKC", answer).casefold().replace("\u2019", "'")
    return [word.strip("'") for word in _NON_WORD.sub(" ", text).split() if word.strip("'")]


def _strict_label(text: str, candidates: Sequence[str]) -> str | None:
    answer = _single_answer(text)
    if not answer or not candidates:
        return None
    lookup = _candidate_lookup(candidates)
    longest = max(len(key.split()) for key in lookup)
    words, mentions, i = _answer_words(answer), [], 0
    while i < len(words):
        # Longest label or alias phrase starting here ("no expression" before "no"), else a filler word.
        for size in range(min(longest, len(words) - i), 0, -1):
            label = lookup.get(" ".join(words[i : i + size]))
            if label is not None:
                mentions.append(label)
                i += size
                break
        else:
            if words[i] not in _FILLER:
                return None
            i += 1
    return mentions[0] if len(mentions) == 1 else None


def _paper_label(text: str, candidates: Sequence[str], subset: str | None, script: str) -> str:
    # Mirrors the official eval scripts step by step (they use str.lower(), not casefold).
    pattern = _PAPER_SFEW_ANSWER if subset == "sfew_2.0" and script == "subset" else _PAPER_ANSWER
    match = pattern.search(text)
    if match:
        answer_text = match.group(1).strip().lower()
        for label in candidates:
            if label.lower() == answer_text or label.lower() in answer_text:
                return label
    response_lower = text.lower()
    # The scripts test `\b{label}\b` before `label in response_lower`; for word-character labels the
    # substring test alone gives the same first hit.
    for label in candidates:
        if label in response_lower:
            return label
    for label, synonyms in PAPER_SYNONYMS.get(subset or "", ()):
        # The official lists always hold the table's labels; a shorter list must not get a label it lacks.
        if label in candidates and any(synonym in response_lower for synonym in synonyms):
            return label
    return UNKNOWN


def extract_label(
    text: str,
    candidates: Sequence[str],
    mode: Literal["strict", "paper"] = "strict",
    *,
    subset: str | None = None,
    script: Literal["subset", "overall"] = "subset",
) -> str | None:
    """The candidate label a response answers with.

    ``strict`` returns a member of ``candidates`` or None. ``paper`` returns a member of ``candidates`` or
    ``"unknown"``, exactly as the official evaluator does; its synonym table is chosen by ``subset`` (inferred
    from ``candidates`` when they are an official list; no synonym step otherwise). ``script="subset"`` follows
    the per-subset scripts (SFEW 2.0's differs), ``script="overall"`` the pooled script.

    >>> extract_label("<think>...</think><answer>Happy.</answer>", ["happiness", "sadness"])
    'happiness'
    >>> extract_label("<answer>happy or sad</answer>", ["happiness", "sadness"]) is None
    True
    >>> extract_label("I think it is sad", ["happiness", "sadness"], mode="paper", subset="rafdb")
    'sadness'
    """
    if mode == "strict":
        return _strict_label(text, candidates)
    if mode == "paper":
        return _paper_label(text, candidates, subset or subset_of(candidates), script)
    raise ValueError(f"Unknown extraction mode {mode!r}; use 'strict' or 'paper'.")
