import json
import random
import re
import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, precision_recall_fscore_support

from unifer import commands as cli
from unifer.labels import CANONICAL_EMOTIONS, SUBSET_LABELS, SUBSETS
from unifer.metrics.prediction_files import load_predictions
from unifer.metrics.reports import format_table, write_report
from unifer.metrics.scoring import score

from .support import SHARED_FERBENCH, requires_shared

RAF = list(SUBSET_LABELS["rafdb"])
FERPLUS = list(SUBSET_LABELS["ferplus"])


def wrap(answer, think="The mouth corners turn up."):
    return f"<think>{think}</think><answer>{answer}</answer>"


# ------------------------------------------------------------------------------------------- strict, by hand

HSA = ["happiness", "sadness", "anger"]
STRICT_RESPONSES = [
    wrap("happy"),  # gold happiness -> happiness (alias), correct, well formed
    wrap("sad"),  # gold happiness -> sadness, wrong
    "<answer>sadness</answer>",  # gold sadness   -> sadness, correct, not well formed (no think)
    wrap("happy or sad"),  # gold sadness   -> unparsed (two labels), well formed
    wrap("anger"),  # gold anger     -> anger, correct
    "It is anger.",  # gold anger     -> unparsed (no answer block)
]
STRICT_GOLD = ["happiness", "happiness", "sadness", "sadness", "anger", "anger"]


def test_strict_figures_by_hand():
    r = score(STRICT_RESPONSES, STRICT_GOLD, candidate_labels=[HSA] * 6, bootstrap=0)
    assert r["extraction"] == "strict" and r["n"] == 6 and r["errors"] == 0
    assert r["accuracy"] == 0.5  # items 1, 3, 5
    # happiness P=1/1 R=1/2 F1=2/3; sadness P=1/2 (items 2, 3 predicted) R=1/2 F1=1/2; anger P=1 R=1/2 F1=2/3
    assert r["per_class"] == {
        "happiness": {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2},
        "sadness": {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2},
        "anger": {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2},
    }
    assert r["macro_precision"] == pytest.approx(2.5 / 3)
    assert r["macro_recall"] == 0.5 and r["uar"] == 0.5
    assert r["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 2 / 3) / 3)  # 11/18
    assert r["confusion_labels"] == ["happiness", "sadness", "anger", "unparsed"]
    assert r["confusion_matrix"] == [[1, 1, 0, 0], [0, 1, 0, 1], [0, 0, 1, 1]]
    assert r["unparsed_count"] == 2 and r["unparsed_rate"] == pytest.approx(1 / 3)
    assert r["well_formed_rate"] == pytest.approx(4 / 6)  # all but items 3 and 6
    assert r["accuracy_ci95"] is None
    json.dumps(r)  # plain Python types only


def test_docstring_examples():
    import doctest

    import unifer.metrics.scoring

    result = doctest.testmod(unifer.metrics.scoring)
    assert result.attempted > 0 and result.failed == 0


def test_a_candidate_neither_gold_nor_predicted_enters_no_macro_average():
    # Same items, plus "fear" as a candidate that no item has as gold and none answers: the averages stay over
    # happiness, sadness and anger, as in test_strict_figures_by_hand.
    r = score(STRICT_RESPONSES, STRICT_GOLD, candidate_labels=[HSA + ["fear"]] * 6, bootstrap=0)
    assert r["macro_recall"] == 0.5
    assert r["uar"] == 0.5
    assert r["macro_precision"] == pytest.approx(2.5 / 3)
    assert r["per_class"]["fear"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}


def test_strict_references_take_aliases_and_reject_labels_outside_the_candidates():
    r = score([wrap("happiness"), wrap("angry")], ["Happy", "anger"], subsets=["ferplus", "ferplus"], bootstrap=0)
    assert r["per_subset"]["ferplus"]["accuracy"] == 1.0  # "Happy" -> happy, "anger" -> angry
    assert r["per_subset"]["ferplus"]["per_class"]["happy"]["support"] == 1
    with pytest.raises(ValueError, match=r"references\[1\] = 'contempt'.*candidate"):
        score([wrap("fear"), wrap("fear")], ["fear", "contempt"], subsets=["rafdb", "rafdb"])


def test_strict_counts_error_items_as_unparsed():
    r = score([wrap("fear"), wrap("fear")], ["fear", "fear"], errors=[False, True], bootstrap=0)
    assert r["accuracy"] == 0.5 and r["errors"] == 1 and r["unparsed_count"] == 1
    assert r["well_formed_rate"] == 0.5  # a failed generation is not well formed


ADVERSARIAL = [
    wrap(", ".join(RAF)),  # every label: paper mode picks the first (surprise)
    wrap("surprise or fear"),
    wrap("maybe surprise"),
    wrap("not fear, surprise"),
    "<answer>surprise</answer><answer>fear</answer>",
    "<think>surprise</think>",  # label only in the reasoning
    wrap("surprised?! no, fear"),
    wrap("SURPRISE surprise"),
]


@pytest.mark.filterwarnings("ignore:A single label was found")  # the official pooled matrix has one class here
def test_strict_mode_is_not_gamed_by_adversarial_answers():
    gold = ["surprise"] * len(ADVERSARIAL)
    strict = score(ADVERSARIAL, gold, subsets=["rafdb"] * len(gold), bootstrap=0)
    paper = score(ADVERSARIAL, gold, subsets=["rafdb"] * len(gold), extraction="paper", bootstrap=0)
    assert strict["accuracy"] == 0.0 and strict["unparsed_count"] == len(gold)
    assert strict["per_subset"]["rafdb"]["confusion_matrix"][0] == [0] * 7 + [len(gold)]
    assert paper["per_subset"]["rafdb"]["accuracy"] == 1.0  # the official substring walk


def test_strict_subsets_pool_into_canonical_overall():
    responses = [wrap("anger"), wrap("angry"), wrap("happy"), wrap("contempt"), wrap("no idea")]
    gold = ["anger", "angry", "happy", "contempt", "sad"]
    subsets = ["rafdb", "ferplus", "ferplus", "ferplus", "sfew_2.0"]
    r = score(responses, gold, subsets=subsets, bootstrap=0)
    assert list(r["per_subset"]) == ["rafdb", "ferplus", "sfew_2.0"]
    assert r["per_subset"]["ferplus"]["accuracy"] == 1.0
    assert r["per_subset"]["sfew_2.0"]["unparsed_count"] == 1
    overall = r["overall"]
    # RAF-DB offers no contempt, FERPlus does: the pool's classes are all eight, in canonical order.
    assert overall["confusion_labels"] == [*CANONICAL_EMOTIONS, "unparsed"]
    assert overall["per_class"]["anger"]["support"] == 2  # "anger" (RAF-DB) + "angry" (FERPlus)
    assert overall["per_class"]["happiness"]["support"] == 1
    assert overall["accuracy"] == pytest.approx(4 / 5)
    assert r["accuracy"] == overall["accuracy"] and r["macro_f1"] == overall["macro_f1"]
    assert "per_class" not in r and "confusion_matrix" not in r  # tables stay in overall


def test_strict_without_subsets_pools_differing_candidate_lists_by_emotion():
    r = score([wrap("angry"), wrap("anger")], ["angry", "anger"], candidate_labels=[FERPLUS, RAF], bootstrap=0)
    assert r["accuracy"] == 1.0
    assert r["per_class"]["anger"]["support"] == 2


def test_one_candidate_list_per_subset_and_matching_lengths():
    with pytest.raises(ValueError, match="subset 'rafdb'"):
        score([wrap("fear")] * 2, ["fear"] * 2, candidate_labels=[RAF, RAF[::-1]], subsets=["rafdb"] * 2)
    with pytest.raises(ValueError, match="Candidate lists differ"):
        score([wrap("fear")] * 2, ["fear"] * 2, candidate_labels=[RAF, RAF[::-1]], extraction="paper")
    with pytest.raises(ValueError, match="`references` has 1 entries"):
        score([wrap("fear")] * 2, ["fear"])
    with pytest.raises(ValueError, match="extraction mode"):
        score([wrap("fear")], ["fear"], extraction="lenient")


# -------------------------------------------------------------------------------------------- paper, by hand


def test_paper_figures_by_hand_unknown_is_a_class_and_errors_are_skipped():
    responses = [
        "<answer>happiness</answer>",  # gold happiness -> happiness
        "<answer>I'm not sure</answer>",  # gold happiness -> unknown (no label, no synonym anywhere)
        "<answer>unhappiness</answer>",  # gold sadness   -> happiness (substring quirk)
        "<answer>sadness</answer>",  # gold sadness   -> sadness
        "ERROR: CUDA out of memory",  # gold anger     -> error, skipped
        "<answer>anger</answer>",  # gold anger     -> anger
    ]
    gold = ["happiness", "happiness", "sadness", "sadness", "anger", "anger"]
    r = score(responses, gold, subsets=["rafdb"] * 6, errors=[0, 0, 0, 0, 1, 0], extraction="paper", bootstrap=0)
    s = r["per_subset"]["rafdb"]
    assert (s["total"], s["errors"], s["unknowns"], s["valid"], s["n"]) == (6, 1, 1, 5, 5)
    assert s["accuracy"] == pytest.approx(3 / 5)
    # Classes = gold ∪ predicted = anger, happiness, sadness, unknown:
    # P = (1 + 1/2 + 1 + 0)/4, R = (1 + 1/2 + 1/2 + 0)/4, F1 = (1 + 1/2 + 2/3 + 0)/4.
    assert s["precision"] == pytest.approx(0.625) and s["macro_precision"] == s["precision"]
    assert s["recall"] == pytest.approx(0.5)  # 2/3 if "unknown" were not a class
    assert s["f1"] == pytest.approx(13 / 24) and s["macro_f1"] == s["f1"]
    assert s["uar"] == pytest.approx(2 / 3)  # the extra: candidate classes with gold items only
    assert s["confusion_labels"] == RAF
    matrix = np.array(s["confusion_matrix"])
    assert matrix.sum() == 4  # the unknown prediction has no column
    assert matrix[RAF.index("sadness"), RAF.index("happiness")] == 1
    assert [c["emotion"] for c in s["per_class"]] == RAF
    sad = s["per_class"][RAF.index("sadness")]
    assert sad == {"emotion": "sadness", "precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert s["unparsed_count"] == 1 and s["well_formed_rate"] == 0.0


def test_paper_ferplus_sadness_is_sad_and_synonyms_follow_the_inferred_subset():
    r = score(
        ["<answer>sadness</answer>", "<answer>happiness</answer>"],
        ["sad", "happy"],
        subsets=["ferplus"] * 2,
        extraction="paper",
        bootstrap=0,
    )
    assert r["per_subset"]["ferplus"]["accuracy"] == 1.0  # "sad" ⊂ "sadness"; "happiness" via the synonym table
    # Without subsets the candidate list names the subset, and so its synonym table ("scorn" -> contempt).
    assert score(["I see scorn."], ["contempt"], candidate_labels=[FERPLUS], extraction="paper")["accuracy"] == 1.0
    assert score(["I see scorn."], ["neutral"], candidate_labels=[RAF], extraction="paper")["unknowns"] == 1


def test_paper_overall_merges_only_angry_happy_sad():
    responses = [
        "<answer>anger</answer>",  # rafdb   anger   -> anger
        "<answer>angry</answer>",  # ferplus angry   -> angry   (-> anger)
        "<answer>happiness</answer>",  # ferplus happy   -> happy via synonyms (-> happiness)
        "<answer>anger</answer>",
    ]  # ferplus contempt -> angry via synonyms (-> anger), wrong
    gold = ["anger", "angry", "happy", "contempt"]
    r = score(responses, gold, subsets=["rafdb", "ferplus", "ferplus", "ferplus"], extraction="paper", bootstrap=0)
    o = r["overall"]
    assert o["confusion_labels"] == ["anger", "contempt", "happiness"]  # sorted(set(gold)) after mapping
    assert o["confusion_matrix"] == [[2, 0, 0], [1, 0, 0], [0, 0, 1]]
    assert o["accuracy"] == 0.75 and r["accuracy"] == 0.75
    # anger P=2/3 R=1 F1=0.8; contempt 0 0 0; happiness 1 1 1
    assert o["precision"] == pytest.approx(5 / 9)
    assert o["recall"] == pytest.approx(2 / 3)
    assert o["f1"] == pytest.approx(0.6)
    assert (o["total"], o["errors"], o["unknowns"], o["valid"]) == (4, 0, 0, 4)


# ------------------------------------------------------------------- differential test against the official code
# A straight transcription of the official UniFER evaluator (eval_<subset>/code/eval_unifer.py and
# eval_total/code/eval_unifer.py), kept independent of unifer.labels so a drift there is caught.

OFFICIAL_MAPPINGS = {
    "rafdb": {
        "anger": ["angry"],
        "disgust": ["revulsion", "repulsion"],
        "fear": ["terror", "fright"],
        "happiness": ["joy", "happy"],
        "sadness": ["sad"],
        "neutral": ["normal", "calm", "blank"],
        "surprise": ["shock", "astonishment"],
    },
    "ferplus": {
        "angry": ["anger"],
        "contempt": ["scorn", "disdain"],
        "disgust": ["revulsion", "repulsion"],
        "fear": ["terror", "fright"],
        "happy": ["joy", "happiness"],
        "sad": ["sorrow", "unhappy"],
        "neutral": ["normal", "calm", "blank"],
        "surprise": ["shock", "astonishment"],
    },
    "affectnet": {
        "anger": ["angry", "mad"],
        "contempt": ["scorn", "disdain"],
        "disgust": ["revulsion", "repulsion"],
        "fear": ["terror", "fright"],
        "happiness": ["joy", "happy"],
        "sadness": ["sad"],
        "neutral": ["normal", "calm", "blank"],
        "surprise": ["shock", "astonishment"],
    },
    "sfew_2.0": {
        "angry": ["anger", "mad"],
        "disgust": ["revulsion", "repulsion"],
        "fear": ["terror", "fright"],
        "happy": ["joy", "happiness"],
        "sad": ["sorrow", "unhappy"],
        "neutral": ["normal", "calm", "blank"],
        "surprise": ["shock", "astonishment"],
    },
}


def official_extract(response, candidate_labels, mapping, sfew_subset_script=False):
    if sfew_subset_script:
        answer_match = re.search(r"<answer>(.*?)</answer>", response, re.DOTALL)
    else:
        answer_match = re.search(r"<answer>\s*(.*?)\s*</answer>", response, re.IGNORECASE)
    if answer_match:
        answer_text = answer_match.group(1).strip().lower()
        for label in candidate_labels:
            if label.lower() == answer_text.lower():
                return label
            if label.lower() in answer_text.lower():
                return label
    response_lower = response.lower()
    for label in candidate_labels:
        if re.search(rf"\b{label}\b", response_lower):
            return label
        if label in response_lower:
            return label
    for label, alternatives in mapping.items():
        if any(alt in response_lower for alt in alternatives):
            return label
    return "unknown"


def official_figures(true_labels, pred_labels, candidate_labels):
    accuracy = accuracy_score(true_labels, pred_labels)
    precision, recall, f1, _ = precision_recall_fscore_support(
        true_labels, pred_labels, average="macro", zero_division=0
    )
    conf_matrix = confusion_matrix(true_labels, pred_labels, labels=candidate_labels)
    class_report = classification_report(
        true_labels,
        pred_labels,
        labels=candidate_labels,
        zero_division=0,
        target_names=candidate_labels,
        output_dict=True,
    )
    per_class_stats = [
        {
            "emotion": e,
            "precision": class_report[e]["precision"],
            "recall": class_report[e]["recall"],
            "f1": class_report[e]["f1-score"],
            "support": class_report[e]["support"],
        }
        for e in candidate_labels
    ]
    return {
        "overall": {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1},
        "per_class": per_class_stats,
        "confusion_matrix": conf_matrix.tolist(),
    }


def official_subset_script(results, subset):
    true_labels, pred_labels, errors, unknowns = [], [], 0, 0
    for item in results:
        if "error" in item and item["error"]:
            errors += 1
            continue
        candidate_labels = item["candidate_labels"]
        pred_label = official_extract(
            item["model_response"],
            candidate_labels,
            OFFICIAL_MAPPINGS[subset],
            sfew_subset_script=subset == "sfew_2.0",
        )
        true_labels.append(item["true_label"])
        pred_labels.append(pred_label)
        unknowns += pred_label == "unknown"
    counts = {"total": len(results), "errors": errors, "unknowns": unknowns, "valid": len(true_labels)}
    return official_figures(true_labels, pred_labels, candidate_labels), counts


def official_total_script(results_by_subset):
    true_labels, pred_labels, errors, unknowns = [], [], 0, 0
    for subset, results in results_by_subset.items():
        for item in results:
            if "error" in item and item["error"]:
                errors += 1
                continue
            pred_label = official_extract(item["model_response"], item["candidate_labels"], OFFICIAL_MAPPINGS[subset])
            true_labels.append(item["true_label"])
            pred_labels.append(pred_label)
            unknowns += pred_label == "unknown"
    label_mapping = {"angry": "anger", "happy": "happiness", "sad": "sadness"}
    true_labels = [label_mapping.get(item, item) for item in true_labels]
    pred_labels = [label_mapping.get(item, item) for item in pred_labels]
    counts = {
        "total": sum(map(len, results_by_subset.values())),
        "errors": errors,
        "unknowns": unknowns,
        "valid": len(true_labels),
    }
    return official_figures(true_labels, pred_labels, sorted(list(set(true_labels)))), counts


WORDS = sorted(
    {w for labels in SUBSET_LABELS.values() for w in labels}
    | {w for m in OFFICIAL_MAPPINGS.values() for alts in m.values() for w in alts}
    | {"unhappiness", "surprised", "scared", "smiling", "upset", "unknown", "none", "tired"}
)


def synthetic_response(rng, gold, candidates):
    """A model-like response: clean, aliased, hedged, upper-case, multi-line, untagged, unknown or truncated."""
    label = gold if rng.random() < 0.6 else rng.choice(candidates)
    other = rng.choice(WORDS)
    think = rng.choice(
        [
            "The mouth corners turn up.",
            f"Looks {other} at first.",
            "Brows lowered; eyes narrowed.",
            f"Either {rng.choice(candidates)} or {other}.",
            "",
        ]
    )
    kind = rng.randrange(12)
    answer = {
        0: label,
        1: label.capitalize(),
        2: f"  {label.upper()}. ",
        3: other,
        4: f"maybe {label} or {other}",
        5: f"\n{label}\n",
        6: f"{other}\nor {label}",
        7: "unknown",
        8: f"The answer is {label}",
        9: "",
        10: f"not {other}",
        11: f"{label}/{rng.choice(candidates)}",
    }[kind]
    shape = rng.randrange(8)
    if shape == 0:
        return f"<THINK>{think}</THINK><ANSWER>{answer}</ANSWER>"
    if shape == 1:
        return f"<think>{think}</think>\n<Answer>{answer}</Answer>"
    if shape == 2:
        return f"{think} So the expression is {answer}."  # no tags at all
    if shape == 3:
        return f"<think>{think}</think><answer>{answer}"  # truncated
    return f"<think>{think}</think><answer>{answer}</answer>"


def synthetic_results(items_by_subset, seed):
    """Official-format result lists: the index items plus model_response and, for a few, error: true."""
    rng = random.Random(seed)
    results = {}
    for subset, items in items_by_subset.items():
        results[subset] = []
        for item in items:
            result = {**item, "model_response": synthetic_response(rng, item["true_label"], item["candidate_labels"])}
            if rng.random() < 0.02:
                result.update(model_response="ERROR: CUDA out of memory", error=True)
            results[subset].append(result)
    return results


def synthetic_items(seed, per_subset):
    rng = random.Random(seed)
    return {
        s: [{"true_label": rng.choice(labels), "candidate_labels": list(labels)} for _ in range(per_subset[s])]
        for s, labels in SUBSET_LABELS.items()
    }


def score_results(results_by_subset, **kwargs):
    flat = [(subset, item) for subset, items in results_by_subset.items() for item in items]
    return score(
        [item["model_response"] for _, item in flat],
        [item["true_label"] for _, item in flat],
        candidate_labels=[item["candidate_labels"] for _, item in flat],
        subsets=[s for s, _ in flat],
        errors=[item.get("error", False) for _, item in flat],
        **kwargs,
    )


def assert_matches_official(ours, reference, counts):
    exact = pytest.approx(reference["overall"], abs=1e-12, rel=0)
    assert {k: ours[k] for k in ("accuracy", "precision", "recall", "f1")} == exact
    assert {k: ours[f"macro_{k}"] for k in ("precision", "recall", "f1")} == pytest.approx(
        {k: reference["overall"][k] for k in ("precision", "recall", "f1")}, abs=1e-12, rel=0
    )
    assert ours["confusion_matrix"] == reference["confusion_matrix"]
    assert len(ours["per_class"]) == len(reference["per_class"])
    for mine, theirs in zip(map(dict, ours["per_class"]), reference["per_class"]):
        assert mine.pop("emotion") == theirs.pop("emotion")
        assert mine == pytest.approx(theirs, abs=1e-12, rel=0)
    assert {k: ours[k] for k in counts} == counts


def check_against_official(results_by_subset):
    ours = score_results(results_by_subset, extraction="paper", bootstrap=0)
    for subset, results in results_by_subset.items():
        assert_matches_official(ours["per_subset"][subset], *official_subset_script(results, subset))
    assert_matches_official(ours["overall"], *official_total_script(results_by_subset))
    return ours


def test_paper_mode_equals_the_official_scripts_on_synthetic_responses():
    results = synthetic_results(
        synthetic_items(0, {"rafdb": 550, "ferplus": 550, "affectnet": 550, "sfew_2.0": 350}), seed=1
    )
    ours = check_against_official(results)
    # The generator must reach the quirks the comparison is meant to cover.
    assert ours["overall"]["unknowns"] > 20 and ours["overall"]["errors"] > 10
    sfew = results["sfew_2.0"]
    per_subset = [
        official_extract(i["model_response"], i["candidate_labels"], OFFICIAL_MAPPINGS["sfew_2.0"], True) for i in sfew
    ]
    pooled = [
        official_extract(i["model_response"], i["candidate_labels"], OFFICIAL_MAPPINGS["sfew_2.0"]) for i in sfew
    ]
    assert sum(a != b for a, b in zip(per_subset, pooled)) > 5  # SFEW's two scripts really disagree


@requires_shared
@pytest.mark.slow
def test_paper_mode_equals_the_official_scripts_on_the_ferbench_index():
    items = {s: json.loads((SHARED_FERBENCH / f"{s}_qa.json").read_text()) for s in SUBSETS}
    ours = check_against_official(synthetic_results(items, seed=2))
    assert ours["overall"]["total"] == 11072


# ------------------------------------------------------------------------------------------------ bootstrap


def test_bootstrap_is_seeded_and_matches_resampling_items():
    rng = np.random.default_rng(5)
    correct = rng.random(300) < 0.7
    responses = [wrap("fear") if c else wrap("anger") for c in correct]
    gold = ["fear"] * len(correct)
    first = score(responses, gold, bootstrap=2000, seed=3)["accuracy_ci95"]
    assert first == score(responses, gold, bootstrap=2000, seed=3)["accuracy_ci95"]
    # Percentiles move in steps of 1/n, so small resamples show that the seed matters.
    assert len({tuple(score(responses, gold, bootstrap=30, seed=seed)["accuracy_ci95"]) for seed in range(5)}) > 1
    low, high = first
    assert low < correct.mean() < high
    # The same interval as the textbook bootstrap that resamples item indices.
    resampled = correct[rng.integers(0, len(correct), size=(20000, len(correct)))].mean(axis=1)
    assert first == pytest.approx(list(np.percentile(resampled, [2.5, 97.5])), abs=0.012)
    assert score([wrap("fear")] * 4, ["fear"] * 4, bootstrap=100)["accuracy_ci95"] == [1.0, 1.0]
    assert score([wrap("fear")], ["fear"], bootstrap=0)["accuracy_ci95"] is None


# ----------------------------------------------------------------------------------------- loading and reports


def test_load_predictions_skips_a_torn_last_line(tmp_path, caplog):
    path = tmp_path / "predictions.jsonl"
    rows = [
        {"id": "a", "subset": "rafdb", "label": "fear", "response": wrap("fear"), "candidate_labels": RAF},
        {"id": "b", "subset": "ferplus", "label": "happy", "response": wrap("joy")},
    ]  # no candidate_labels
    path.write_text("\n".join(json.dumps(r) for r in rows) + '\n{"id": "c", "subset": "raf')
    data = load_predictions(path)
    assert "torn last line 3" in caplog.text
    assert data == {
        "responses": [wrap("fear"), wrap("joy")],
        "references": ["fear", "happy"],
        "candidate_labels": [RAF, FERPLUS],
        "subsets": ["rafdb", "ferplus"],
        "errors": [False, False],
        "ids": ["a", "b"],
    }
    assert score(**data, bootstrap=0)["accuracy"] == 1.0
    path.write_text('{"broken\n' + json.dumps(rows[0]) + "\n")
    with pytest.raises(ValueError, match="line 1 is not a JSON record"):
        load_predictions(path)


def test_stored_parse_is_checked_against_todays_parse(tmp_path, caplog):
    rows = [
        {"id": "a", "subset": "rafdb", "label": "fear", "response": wrap("fear"), "parsed_label": "fear"},
        {"id": "b", "subset": "rafdb", "label": "fear", "response": wrap("fear"), "parsed_label": "anger"},
        {"id": "c", "subset": "rafdb", "label": "anger", "response": "no answer", "parsed_label": None},
    ]
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = load_predictions(path)
    assert data["stored_labels"] == ["fear", "anger", None] and data["ids"] == ["a", "b", "c"]
    result = score(**data, bootstrap=0)
    assert result["stored_parse"] == {"checked": 3, "disagreements": 1, "examples": ["b"]}
    assert result["accuracy"] == pytest.approx(2 / 3)  # scored with today's parse: b is right
    assert "parse differently" in caplog.text
    rows[1].pop("parsed_label")  # an older file without a stored parse: nothing to compare
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert "stored_labels" not in load_predictions(path)


def test_load_predictions_reads_official_results(tmp_path):
    odd = ["fear", "anger"]  # not an official list: the subset comes from the file name
    (tmp_path / "sfew_2.0_model_results.json").write_text(
        json.dumps(
            [
                {"true_label": "fear", "model_response": wrap("fear"), "candidate_labels": odd},
                {"true_label": "anger", "model_response": "ERROR: boom", "candidate_labels": odd, "error": True},
            ]
        )
    )
    (tmp_path / "results.json").write_text(
        json.dumps([{"true_label": "sad", "model_response": wrap("sad"), "candidate_labels": FERPLUS}])
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data = load_predictions([tmp_path / "sfew_2.0_model_results.json", str(tmp_path / "results.json")])
    assert data["subsets"] == ["sfew_2.0", "sfew_2.0", "ferplus"]
    assert data["errors"] == [False, True, False]
    assert data["references"] == ["fear", "anger", "sad"]
    (tmp_path / "mystery.json").write_text(
        json.dumps([{"true_label": "fear", "model_response": "", "candidate_labels": odd}])
    )
    with pytest.raises(ValueError, match="rename it"):
        load_predictions(tmp_path / "mystery.json")


@pytest.mark.slow
def test_write_report_writes_metrics_markdown_and_figures(tmp_path):
    from PIL import Image

    responses = [wrap("anger"), wrap("angry"), wrap("happy"), wrap("maybe sad")]
    result = score(
        responses,
        ["anger", "angry", "happy", "sad"],
        subsets=["rafdb", "ferplus", "ferplus", "sfew_2.0"],
        bootstrap=100,
    )
    out = write_report(result, tmp_path / "report", config={"model": "tiny", "seed": 0})
    assert json.loads((out / "metrics.json").read_text()) == result
    markdown = (out / "report.md").read_text()
    assert "| overall | 4 | 0 | 0.7500 |" in markdown
    assert "## Per class: ferplus" in markdown and "| angry | 1.0000 | 1.0000 | 1.0000 | 1 |" in markdown
    assert '| model | `"tiny"` |' in markdown and "| scikit-learn |" in markdown
    for name in ("rafdb", "ferplus", "sfew_2.0", "overall"):
        with Image.open(out / f"confusion_{name}.png") as image:
            assert image.format == "PNG" and image.size[0] > 200
    paper = write_report(
        score(
            responses,
            ["anger", "angry", "happy", "sad"],
            extraction="paper",
            subsets=["rafdb", "ferplus", "ferplus", "sfew_2.0"],
            bootstrap=0,
        ),
        tmp_path / "paper",
    )  # "maybe sad" counts here
    assert "| overall | 4 | 0 | 1.0000 | – |" in (paper / "report.md").read_text()
    assert (paper / "confusion_overall.png").stat().st_size > 0


def test_unifer_score_cli_matches_score(tmp_path, capsys):
    results = synthetic_results(
        synthetic_items(7, {"rafdb": 40, "ferplus": 40, "affectnet": 40, "sfew_2.0": 40}), seed=8
    )
    paths = []
    for subset, items in results.items():
        paths.append(str(tmp_path / f"{subset}_results.json"))
        (tmp_path / f"{subset}_results.json").write_text(json.dumps(items))
    out = tmp_path / "out"
    assert (
        cli.main(
            ["score", *paths, "--extraction", "paper", "--bootstrap", "200", "--seed", "1", "--output-dir", str(out)]
        )
        == 0
    )
    expected = score_results(results, extraction="paper", bootstrap=200, seed=1)
    printed = capsys.readouterr().out
    assert printed.startswith(format_table(expected) + "\n")
    assert json.loads((out / "metrics.json").read_text()) == expected
    assert (out / "confusion_sfew_2.0.png").exists()
    assert cli.main(["score", str(tmp_path / "missing_results.json")]) == 2  # one clear error line
    assert "error" in capsys.readouterr().err


def test_answer_only_prompts_are_held_to_the_answer_only_format():
    responses = ["<answer>fear</answer>", "<think>x</think><answer>fear</answer>", "fear"]
    asked_for_answer = score(responses, ["fear"] * 3, reasoning=False, bootstrap=0)
    assert asked_for_answer["well_formed_rate"] == pytest.approx(1 / 3)
    assert score(responses, ["fear"] * 3, bootstrap=0)["well_formed_rate"] == pytest.approx(1 / 3)
    assert score(responses[:1], ["fear"], reasoning=[False], bootstrap=0)["well_formed_rate"] == 1.0
    assert score(responses[:1], ["fear"], bootstrap=0)["well_formed_rate"] == 0.0


def test_zero_support_classes_read_n_a_in_the_report(tmp_path):
    result = score([wrap("fear")], ["fear"], candidate_labels=[RAF], bootstrap=0)
    report = (write_report(result, tmp_path) / "report.md").read_text()
    assert "| anger | n/a | n/a | n/a | 0 (no gold items) |" in report
    assert "| fear | 1.0000 | 1.0000 | 1.0000 | 1 |" in report
