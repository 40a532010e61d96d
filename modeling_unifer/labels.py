"""The FER vocabulary: canonical emotions, FERBench subsets' label sets, aliases, and the paper's synonym tables.

This module is data plus three small lookups. Every other part of UniFER (prompts, answer parsing, metric,
rewards, data builders, model, Space) reads label names from here, so a label set is written down exactly once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence

#: The eight canonical emotions, in AffectNet's order (the superset of every FERBench subset).
CANONICAL_EMOTIONS: tuple[str, ...] = (
    "neutral",
    "happiness",
    "sadness",
    "surprise",
    "fear",
    "disgust",
    "anger",
    "contempt",
)

#: FERBench subsets in the paper's order, each with its candidate labels in the official prompt order.
SUBSET_LABELS: dict[str, tuple[str, ...]] = {
    "rafdb": ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"),
    "ferplus": ("angry", "contempt", "disgust", "fear", "happy", "neutral", "sad", "surprise"),
    "affectnet": ("neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt"),
    "sfew_2.0": ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"),
}
SUBSETS: tuple[str, ...] = tuple(SUBSET_LABELS)

#: Item counts of the official FERBench index files (11,072 in all).
SUBSET_SIZES: dict[str, int] = {"rafdb": 3068, "ferplus": 3573, "affectnet": 4000, "sfew_2.0": 431}

#: Alias -> canonical emotion. Keys are case-folded; multi-word aliases are space-separated.
ALIASES: dict[str, str] = {
    **{name: name for name in CANONICAL_EMOTIONS},
    # happiness
    "happy": "happiness",
    "joy": "happiness",
    "joyful": "happiness",
    "joyous": "happiness",
    "smiling": "happiness",
    "smile": "happiness",
    "cheerful": "happiness",
    "glad": "happiness",
    "delighted": "happiness",
    "pleased": "happiness",
    "elated": "happiness",
    "content": "happiness",
    # sadness
    "sad": "sadness",
    "sorrow": "sadness",
    "sorrowful": "sadness",
    "unhappy": "sadness",
    "unhappiness": "sadness",
    "grief": "sadness",
    "grieving": "sadness",
    "melancholy": "sadness",
    "downcast": "sadness",
    "depressed": "sadness",
    "crying": "sadness",
    # anger
    "angry": "anger",
    "mad": "anger",
    "rage": "anger",
    "furious": "anger",
    "fury": "anger",
    "irritated": "anger",
    "annoyed": "anger",
    "annoyance": "anger",
    "irritation": "anger",
    # surprise
    "surprised": "surprise",
    "shock": "surprise",
    "shocked": "surprise",
    "astonishment": "surprise",
    "astonished": "surprise",
    "amazed": "surprise",
    "amazement": "surprise",
    "startled": "surprise",
    # fear
    "afraid": "fear",
    "scared": "fear",
    "terror": "fear",
    "terrified": "fear",
    "fright": "fear",
    "frightened": "fear",
    "fearful": "fear",
    "anxious": "fear",
    "anxiety": "fear",
    "panic": "fear",
    # disgust
    "disgusted": "disgust",
    "revulsion": "disgust",
    "repulsion": "disgust",
    "repulsed": "disgust",
    "revolted": "disgust",
    "aversion": "disgust",
    # contempt
    "scorn": "contempt",
    "disdain": "contempt",
    "contemptuous": "contempt",
    "scornful": "contempt",
    "disdainful": "contempt",
    "sneer": "contempt",
    "sneering": "contempt",
    "smirk": "contempt",
    # neutral
    "calm": "neutral",
    "expressionless": "neutral",
    "blank": "neutral",
    "no expression": "neutral",
    "neutral expression": "neutral",
    "impassive": "neutral",
    "normal": "neutral",
}

#: The official evaluator's fallback synonym tables, per subset, in the order the scripts walk them.
#: Written as data once; ``unifer.answers`` (paper mode) is their only reader.
PAPER_SYNONYMS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "rafdb": (
        ("anger", ("angry",)),
        ("disgust", ("revulsion", "repulsion")),
        ("fear", ("terror", "fright")),
        ("happiness", ("joy", "happy")),
        ("sadness", ("sad",)),
        ("neutral", ("normal", "calm", "blank")),
        ("surprise", ("shock", "astonishment")),
    ),
    "ferplus": (
        ("angry", ("anger",)),
        ("contempt", ("scorn", "disdain")),
        ("disgust", ("revulsion", "repulsion")),
        ("fear", ("terror", "fright")),
        ("happy", ("joy", "happiness")),
        ("sad", ("sorrow", "unhappy")),
        ("neutral", ("normal", "calm", "blank")),
        ("surprise", ("shock", "astonishment")),
    ),
    "affectnet": (
        ("anger", ("angry", "mad")),
        ("contempt", ("scorn", "disdain")),
        ("disgust", ("revulsion", "repulsion")),
        ("fear", ("terror", "fright")),
        ("happiness", ("joy", "happy")),
        ("sadness", ("sad",)),
        ("neutral", ("normal", "calm", "blank")),
        ("surprise", ("shock", "astonishment")),
    ),
    "sfew_2.0": (
        ("angry", ("anger", "mad")),
        ("disgust", ("revulsion", "repulsion")),
        ("fear", ("terror", "fright")),
        ("happy", ("joy", "happiness")),
        ("sad", ("sorrow", "unhappy")),
        ("neutral", ("normal", "calm", "blank")),
        ("surprise", ("shock", "astonishment")),
    ),
}

#: The official pooled "overall" script's gold/prediction mapping (only these three names are merged).
PAPER_OVERALL_MAP: dict[str, str] = {"angry": "anger", "happy": "happiness", "sad": "sadness"}


def fold(text: str) -> str:
    """Case-fold, NFKC-normalise and collapse white space, so lookups ignore typography."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def normalize(label: str) -> str:
    """Map any known emotion name or alias to its canonical emotion.

    >>> normalize("Happy")
    'happiness'
    >>> normalize("scorn")
    'contempt'
    """
    canonical = ALIASES.get(fold(label))
    if canonical is None:
        raise ValueError(
            f"Unknown emotion label {label!r}. Allowed: the canonical emotions {', '.join(CANONICAL_EMOTIONS)}"
            f" or one of their aliases ({', '.join(sorted(a for a in ALIASES if a not in CANONICAL_EMOTIONS))})."
        )
    return canonical


def subset_labels(subset: str) -> tuple[str, ...]:
    """The candidate labels of a FERBench subset, in official order."""
    try:
        return SUBSET_LABELS[subset]
    except KeyError:
        raise ValueError(f"Unknown FERBench subset {subset!r}. Allowed: {', '.join(SUBSETS)}.") from None


def to_candidate(label: str, candidates: Sequence[str]) -> str:
    """Return the member of ``candidates`` that names the same emotion as ``label``.

    >>> to_candidate("happiness", SUBSET_LABELS["ferplus"])
    'happy'
    """
    canonical = normalize(label)
    for candidate in candidates:
        if normalize(candidate) == canonical:
            return candidate
    raise ValueError(f"Label {label!r} ({canonical}) is not among the candidates: {', '.join(candidates)}.")


def to_subset_label(label: str, subset: str) -> str:
    """Name an emotion the way a FERBench subset names it (``anger`` -> ``angry`` for FERPlus)."""
    return to_candidate(label, subset_labels(subset))


def subset_of(candidates: Iterable[str]) -> str | None:
    """The FERBench subset whose official candidate list equals ``candidates`` exactly, or None."""
    candidates = tuple(candidates)
    for subset, labels in SUBSET_LABELS.items():
        if labels == candidates:
            return subset
    return None


def validate_candidates(candidates: Sequence[str]) -> tuple[str, ...]:
    """Check a candidate list: non-empty, every name known, no emotion listed twice."""
    candidates = tuple(candidates)
    if not candidates:
        raise ValueError(
            f"The candidate label list is empty; give at least one emotion, e.g. {', '.join(CANONICAL_EMOTIONS)}."
        )
    seen: dict[str, str] = {}
    for candidate in candidates:
        canonical = normalize(candidate)
        if canonical in seen:
            raise ValueError(
                f"Candidates {seen[canonical]!r} and {candidate!r} name the same emotion "
                f"({canonical}); list each emotion once."
            )
        seen[canonical] = candidate
    return candidates
