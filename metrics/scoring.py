"""Scoring FER responses: accuracy, macro precision/recall/F1, UAR, confusion matrices, bootstrap CIs.

Two extraction modes, both implemented by ``unifer.answers``:

* ``strict`` (default): a response counts only when its single answer block names exactly one candidate. Anything
  else is *unparsed*: always wrong, never a class (its own confusion-matrix column). Failed generations
  (``errors``) are kept and count as unparsed, so a crashing model cannot raise its score.
* ``paper``: the official UniFER evaluator, figure by figure: error items are skipped, an unparsable response
  becomes the class ``"unknown"`` (which lowers macro recall), and the pooled "overall" figures merge only
  angry/happy/sad into anger/happiness/sadness.

Pure functions on lists (numpy + scikit-learn); :mod:`unifer.metrics.reports` turns results into reports.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, precision_recall_fscore_support

from unifer.answers import UNKNOWN, extract_label, is_well_formed
from unifer.labels import (
    CANONICAL_EMOTIONS,
    PAPER_OVERALL_MAP,
    SUBSETS,
    normalize,
    subset_labels,
    subset_of,
    to_candidate,
    validate_candidates,
)

logger = logging.getLogger(__name__)

#: Strict mode's confusion-matrix column for responses that name no candidate (no emotion has this name).
UNPARSED = "unparsed"

# Keys of a figures dict that are tables rather than headline numbers.
_TABLES = ("per_class", "confusion_matrix", "confusion_labels")


@dataclass(frozen=True)
class _Items:
    """The scored items, one entry per item in every field."""

    responses: list[str]
    references: list[str]
    candidates: list[tuple[str, ...]]
    errors: list[bool]
    reasoning: list[bool]

    def well_formed(self, i: int) -> bool:
        return not self.errors[i] and is_well_formed(self.responses[i], reasoning=self.reasoning[i])


def score(
    responses: Sequence[str | None],
    references: Sequence[str],
    *,
    candidate_labels: Sequence[Sequence[str]] | None = None,
    subsets: Sequence[str] | None = None,
    errors: Sequence[Any] | None = None,
    extraction: Literal["strict", "paper"] = "strict",
    bootstrap: int = 1000,
    seed: int = 0,
    stored_labels: Sequence[str | None] | None = None,
    ids: Sequence[str] | None = None,
    reasoning: Sequence[bool] | bool = True,
) -> dict[str, Any]:
    """Score model responses against gold labels.

    ``candidate_labels``: each item's candidates (default: its subset's official list when ``subsets`` is given,
    else the eight canonical emotions). ``subsets``: each item's FERBench subset; adds ``per_subset`` and a pooled
    ``overall`` (whose headline numbers are also copied to the top level). ``errors``: truthy where generation
    failed. ``bootstrap``: resamples for ``accuracy_ci95`` (0 disables it). See the module docstring for the modes.
    ``stored_labels``: the strict parse stored when the responses were generated (``parsed_label``); responses are
    always parsed again here, and items where the two differ (a parser changed since) are counted and named in
    ``stored_parse`` (``ids`` name them; default: their index). ``reasoning``: whether each item was asked for
    reasoning (one bool for all): the well-formed rate checks ``<think>…</think><answer>…</answer>``, or a lone
    ``<answer>…</answer>`` for an answer-only prompt.

    >>> r = score(["<answer>happy</answer>", "<answer>sad or angry</answer>"], ["happiness", "sadness"],
    ...           bootstrap=0)
    >>> r["accuracy"], r["unparsed_count"], r["per_class"]["happiness"]["f1"]
    (0.5, 1, 1.0)
    """
    if extraction not in ("strict", "paper"):
        raise ValueError(f"Unknown extraction mode {extraction!r}; use 'strict' or 'paper'.")
    items = _items(responses, references, candidate_labels, subsets, errors, reasoning)
    groups = _groups(items, subsets)
    if extraction == "paper":
        result = _score_paper(items, groups, subsets is not None, bootstrap, seed)
    else:
        result = _score_strict(items, groups, subsets is not None, bootstrap, seed)
    if stored_labels is not None:
        result["stored_parse"] = _compare_stored_parse(items, stored_labels, ids)
    return result


def _compare_stored_parse(
    items: _Items, stored_labels: Sequence[str | None], ids: Sequence[str] | None
) -> dict[str, Any]:
    """Where the strict parse stored at generation time differs from today's (a parser changed in between)."""
    if len(stored_labels) != len(items.responses):
        raise ValueError(
            f"`stored_labels` has {len(stored_labels)} entries but `responses` has "
            f"{len(items.responses)}; give one per item."
        )
    names = list(ids) if ids is not None else list(range(len(items.responses)))
    differ = [
        names[i]
        for i, stored in enumerate(stored_labels)
        if not items.errors[i] and stored != extract_label(items.responses[i], items.candidates[i])
    ]
    if differ:
        logger.warning(
            "%d item(s) parse differently now than when they were generated (first: %s); scored with today's parse.",
            len(differ),
            differ[:3],
        )
    return {"checked": len(stored_labels), "disagreements": len(differ), "examples": differ[:10]}


def _items(responses, references, candidate_labels, subsets, errors, reasoning) -> _Items:
    """Check the inputs' lengths and resolve every item's candidate list."""
    n = len(responses)
    if n == 0:
        raise ValueError("Nothing to score: `responses` is empty.")
    for name, column in (
        ("references", references),
        ("candidate_labels", candidate_labels),
        ("subsets", subsets),
        ("errors", errors),
        ("reasoning", None if isinstance(reasoning, bool) else reasoning),
    ):
        if column is not None and len(column) != n:
            raise ValueError(f"`{name}` has {len(column)} entries but `responses` has {n}; give one per item.")
    if candidate_labels is not None:
        candidates = [tuple(c) for c in candidate_labels]
    elif subsets is not None:
        candidates = [subset_labels(s) for s in subsets]
    else:
        candidates = [CANONICAL_EMOTIONS] * n
    for distinct in set(candidates):
        validate_candidates(distinct)
    return _Items(
        responses=["" if r is None else r for r in responses],
        references=list(references),
        candidates=candidates,
        errors=[bool(e) for e in errors] if errors is not None else [False] * n,
        reasoning=[reasoning] * n if isinstance(reasoning, bool) else [bool(r) for r in reasoning],
    )


def _groups(items: _Items, subsets: Sequence[str] | None) -> dict[str | None, list[int]]:
    """Item indices per subset (one group, keyed None, without subsets), known subsets in the paper's order."""
    groups: dict[str | None, list[int]] = {}
    for i, subset in enumerate(subsets if subsets is not None else [None] * len(items.responses)):
        groups.setdefault(subset, []).append(i)
    if subsets is not None:
        for subset, indices in groups.items():
            _same_candidates(items, subset, indices)
    order = {s: k for k, s in enumerate(SUBSETS)}
    return dict(sorted(groups.items(), key=lambda group: order.get(group[0], len(order))))


def _same_candidates(items: _Items, subset: str | None, indices: list[int]) -> None:
    """A subset's macro averages and confusion matrix need one candidate list for all of its items."""
    first = indices[0]
    for i in indices:
        if items.candidates[i] != items.candidates[first]:
            name = "the items" if subset is None else f"subset {subset!r}"
            raise ValueError(
                f"Candidate lists differ within {name}: item {first} has {list(items.candidates[first])}, item {i} "
                f"has {list(items.candidates[i])}. Give every item of a subset the same candidates, or pass "
                "`subsets` to score differing lists separately."
            )


def _strict_gold(items: _Items, i: int) -> str:
    try:
        return to_candidate(items.references[i], items.candidates[i])
    except ValueError as err:
        raise ValueError(
            f"references[{i}] = {items.references[i]!r} is not among item {i}'s candidate labels "
            f"{list(items.candidates[i])} ({err}). Fix the gold label or pass the item's `candidate_labels`."
        ) from None


def _score_strict(items: _Items, groups, with_subsets: bool, bootstrap: int, seed: int) -> dict[str, Any]:
    n = len(items.responses)
    golds = [_strict_gold(items, i) for i in range(n)]
    preds = [None if items.errors[i] else extract_label(items.responses[i], items.candidates[i]) for i in range(n)]
    formed = [items.well_formed(i) for i in range(n)]
    if not with_subsets:
        if len(set(items.candidates)) == 1:
            figures = _strict_figures(golds, preds, items.candidates[0], formed, items.errors, bootstrap, seed)
        else:  # differing candidate lists without subsets: compare emotions, not the lists' spellings
            figures = _strict_pooled(items, golds, preds, formed, bootstrap, seed)
        return {"extraction": "strict", **figures}
    per_subset = {
        subset: _strict_figures(
            [golds[i] for i in idx],
            [preds[i] for i in idx],
            items.candidates[idx[0]],
            [formed[i] for i in idx],
            [items.errors[i] for i in idx],
            bootstrap,
            seed,
        )
        for subset, idx in groups.items()
    }
    overall = _strict_pooled(items, golds, preds, formed, bootstrap, seed)
    return _with_overall("strict", per_subset, overall)


def _strict_pooled(items: _Items, golds, preds, formed, bootstrap, seed) -> dict[str, Any]:
    """Strict figures over all items, whatever their candidate lists, every label mapped to its canonical emotion."""
    offered = {normalize(c) for candidates in set(items.candidates) for c in candidates}
    emotions = tuple(e for e in CANONICAL_EMOTIONS if e in offered)
    return _strict_figures(
        [normalize(g) for g in golds],
        [None if p is None else normalize(p) for p in preds],
        emotions,
        formed,
        items.errors,
        bootstrap,
        seed,
    )


def _strict_figures(
    golds: list[str],
    preds: list[str | None],
    candidates: Sequence[str],
    formed: list[bool],
    errors: list[bool],
    bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    """Strict figures of one group: golds are candidates, predictions candidates or None (unparsed)."""
    labels = list(candidates)
    y_pred = [UNPARSED if p is None else p for p in preds]
    precision, recall, f1, support = precision_recall_fscore_support(
        golds, y_pred, labels=labels, average=None, zero_division=0
    )
    # Gold labels are never UNPARSED, so the matrix's last row is empty: drop it.
    matrix = confusion_matrix(golds, y_pred, labels=[*labels, UNPARSED])[:-1]
    correct = np.array([g == p for g, p in zip(golds, preds)])
    unparsed = preds.count(None)
    return {
        "n": len(golds),
        "errors": sum(errors),
        "accuracy": float(correct.mean()),
        "accuracy_ci95": _accuracy_ci(correct, bootstrap, seed),
        # Unparsed is no class: it lowers its gold class's recall but is not averaged as a class of its own.
        **macro_averages(golds, y_pred, not_a_class=UNPARSED),
        "unparsed_count": unparsed,
        "unparsed_rate": unparsed / len(golds),
        "well_formed_rate": float(np.mean(formed)),
        "per_class": {
            label: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "confusion_matrix": matrix.tolist(),
        "confusion_labels": [*labels, UNPARSED],
    }


def macro_averages(golds: Sequence[str], preds: Sequence[str], *, not_a_class: str | None = None) -> dict[str, float]:
    """Macro precision, recall and F1, and UAR: the one definition both extraction modes report.

    The macro averages run over the classes that occur, in the gold labels or the predictions (scikit-learn's
    ``labels=None``, as the official UniFER evaluator calls it), each class weighted alike, ``zero_division=0``.
    UAR (unweighted average recall) is the mean recall over the classes present in the gold labels. A candidate
    that is neither gold nor predicted enters neither. So ``macro_recall == uar`` unless a class is predicted that
    no item has as gold (its recall, 0, enters ``macro_recall`` only).

    Args:
        golds: gold labels, one per item.
        preds: predicted labels, one per item.
        not_a_class: a prediction that is no class (strict mode's unparsed): wrong for its item's gold class,
            never averaged as a class itself.

    Returns:
        ``macro_precision``, ``macro_recall``, ``macro_f1`` and ``uar``.

    Example:
        >>> macro_averages(["fear"], ["fear"])  # one item: one class, recall 1 (not 1/8 over all emotions)
        {'macro_precision': 1.0, 'macro_recall': 1.0, 'macro_f1': 1.0, 'uar': 1.0}
    """
    classes = sorted(set(golds) | {p for p in preds if p != not_a_class})
    precision, recall, f1, support = precision_recall_fscore_support(
        golds, preds, labels=classes, average=None, zero_division=0
    )
    return {
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "macro_f1": float(f1.mean()),
        "uar": float(recall[support > 0].mean()),
    }


def _score_paper(items: _Items, groups, with_subsets: bool, bootstrap: int, seed: int) -> dict[str, Any]:
    if not with_subsets:
        indices = groups[None]
        _same_candidates(items, None, indices)
        # One group: its candidate list, when it is an official one, picks the synonym table.
        golds, preds, formed = _paper_predictions(items, indices, subset_of(items.candidates[0]), "subset")
        figures = _paper_figures(golds, preds, items.candidates[0], formed, len(indices), bootstrap, seed)
        return {"extraction": "paper", **figures}
    per_subset, pooled_golds, pooled_preds, pooled_formed = {}, [], [], []
    for subset, indices in groups.items():
        golds, preds, formed = _paper_predictions(items, indices, subset, "subset")
        per_subset[subset] = _paper_figures(
            golds, preds, items.candidates[indices[0]], formed, len(indices), bootstrap, seed
        )
        # The pooled script extracts again (SFEW 2.0 with the common pattern), then merges three names.
        _, preds, _ = _paper_predictions(items, indices, subset, "overall")
        pooled_golds += [PAPER_OVERALL_MAP.get(label, label) for label in golds]
        pooled_preds += [PAPER_OVERALL_MAP.get(label, label) for label in preds]
        pooled_formed += formed
    overall = _paper_figures(
        pooled_golds, pooled_preds, sorted(set(pooled_golds)), pooled_formed, len(items.responses), bootstrap, seed
    )
    return _with_overall("paper", per_subset, overall)


def _paper_predictions(
    items: _Items, indices: list[int], subset: str | None, script: str
) -> tuple[list[str], list[str], list[bool]]:
    """Gold labels, official predictions and format validity of a subset's items, error items skipped."""
    kept = [i for i in indices if not items.errors[i]]
    if not kept:
        raise ValueError(f"Every item of {subset or 'the input'} is an error; there is nothing to score.")
    golds = [items.references[i] for i in kept]
    preds = [
        extract_label(items.responses[i], items.candidates[i], mode="paper", subset=subset, script=script)
        for i in kept
    ]
    return golds, preds, [items.well_formed(i) for i in kept]


def _paper_figures(
    golds: list[str],
    preds: list[str],
    candidates: Sequence[str],
    formed: list[bool],
    total: int,
    bootstrap: int,
    seed: int,
) -> dict[str, Any]:
    """The official evaluator's figures for one subset (or the pool), plus uniform aliases and extras."""
    labels = list(candidates)
    # As the official scripts call scikit-learn: the macro averages run over the union of gold and predicted
    # labels (so "unknown" is a class), the matrix and report over the candidate list.
    accuracy = accuracy_score(golds, preds)
    macro = macro_averages(golds, preds)
    matrix = confusion_matrix(golds, preds, labels=labels)
    report = classification_report(golds, preds, labels=labels, zero_division=0, target_names=labels, output_dict=True)
    per_class = [
        {
            "emotion": e,
            "precision": report[e]["precision"],
            "recall": report[e]["recall"],
            "f1": report[e]["f1-score"],
            "support": report[e]["support"],
        }
        for e in labels
    ]
    correct = np.array([g == p for g, p in zip(golds, preds)])
    unknowns = preds.count(UNKNOWN)
    return {
        "total": total,
        "errors": total - len(golds),
        "unknowns": unknowns,
        "valid": len(golds),
        "accuracy": float(accuracy),
        "precision": macro["macro_precision"],
        "recall": macro["macro_recall"],
        "f1": macro["macro_f1"],
        "per_class": per_class,
        "confusion_matrix": matrix.tolist(),
        "confusion_labels": labels,
        # Uniform names shared with strict mode, and extras the official scripts do not compute.
        "n": len(golds),
        **macro,
        "accuracy_ci95": _accuracy_ci(correct, bootstrap, seed),
        "unparsed_count": unknowns,
        "unparsed_rate": unknowns / len(golds),
        "well_formed_rate": float(np.mean(formed)),
    }


def _with_overall(extraction: str, per_subset: dict, overall: dict) -> dict[str, Any]:
    headline = {key: value for key, value in overall.items() if key not in _TABLES}
    return {"extraction": extraction, **headline, "per_subset": per_subset, "overall": overall}


def _accuracy_ci(correct: np.ndarray, bootstrap: int, seed: int) -> list[float] | None:
    """95% interval of the accuracy of ``correct`` (None when ``bootstrap`` is 0): see :func:`accuracy_interval`."""
    return accuracy_interval(float(correct.mean()), len(correct), bootstrap, seed) if bootstrap else None


def accuracy_interval(accuracy: float, n: int, resamples: int = 1000, seed: int = 0) -> list[float]:
    """95% percentile-bootstrap interval of an accuracy over ``n`` items.

    Resampling n items with replacement and counting the correct ones is exactly a Binomial(n, accuracy) draw,
    so the bootstrap distribution is sampled directly instead of through a (resamples x n) index matrix.
    """
    rng = np.random.default_rng(seed)
    low, high = np.percentile(rng.binomial(n, accuracy, size=resamples) / n, [2.5, 97.5])
    return [float(low), float(high)]


def paired_lift(
    before: Sequence[bool], after: Sequence[bool], resamples: int = 10_000, seed: int = 0
) -> dict[str, Any]:
    """Accuracy gained from ``before`` to ``after`` on the same items, with its 95% paired-bootstrap interval.

    Args:
        before, after: whether each item was answered right, item ``i`` at position ``i`` in both.
        resamples: bootstrap resamples; seed: their random generator's seed.

    Returns:
        ``lift`` (after's accuracy minus before's), ``ci95``, ``n``, ``fixed`` (wrong before, right after) and
        ``broken`` (the reverse). Items are resampled with replacement, each keeping both of its answers, so the
        interval reflects only the items whose answer changed.

    Example:
        >>> lift = paired_lift([True, False, False, True], [True, True, True, False])
        >>> lift["lift"], lift["fixed"], lift["broken"], lift["n"]
        (0.25, 2, 1, 4)
    """
    if len(before) != len(after):
        raise ValueError(f"`before` has {len(before)} items but `after` has {len(after)}; pair them item by item.")
    if not len(before):
        raise ValueError("Nothing to compare: `before` and `after` are empty.")
    change = np.asarray(after, dtype=bool).astype(float) - np.asarray(before, dtype=bool).astype(float)
    n = len(change)
    means = change[np.random.default_rng(seed).integers(0, n, (resamples, n))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {
        "lift": float(change.mean()),
        "ci95": [float(low), float(high)],
        "n": n,
        "fixed": int((change > 0).sum()),
        "broken": int((change < 0).sum()),
    }


def mcnemar_exact(fixed: int, broken: int) -> float:
    """McNemar's test of two paired evaluations, exact (binomial) and two-sided: the probability that, were an
    item as likely to be fixed as broken, the ``fixed + broken`` items whose answer changed split at least this
    unevenly. Items right or wrong in both runs do not enter it.

    Example:
        >>> mcnemar_exact(8, 2)  # 2 * (C(10,0) + C(10,1) + C(10,2)) / 2**10
        0.109375
    """
    changed = fixed + broken
    if changed == 0:
        return 1.0
    tail = sum(math.comb(changed, k) for k in range(min(fixed, broken) + 1)) / 2**changed
    return min(1.0, 2 * tail)


def compare_paired(
    before: Sequence[bool], after: Sequence[bool], resamples: int = 10_000, seed: int = 0
) -> dict[str, Any]:
    """Two evaluations of the same items, paired: each accuracy, and :func:`paired_lift`'s difference, interval,
    items fixed and broken, plus :func:`mcnemar_exact`'s p-value (``mcnemar_p``).

    Example:
        >>> result = compare_paired([True, False, False, True], [True, True, True, False])
        >>> result["accuracy_before"], result["accuracy_after"], result["lift"], result["mcnemar_p"]
        (0.5, 0.75, 0.25, 1.0)
    """
    lift = paired_lift(before, after, resamples, seed)
    return {
        "accuracy_before": float(np.mean(before)),
        "accuracy_after": float(np.mean(after)),
        **lift,
        "mcnemar_p": mcnemar_exact(lift["fixed"], lift["broken"]),
    }
