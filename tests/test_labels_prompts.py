import json

import pytest

from unifer import labels, prompts
from unifer.labels import (
    ALIASES,
    CANONICAL_EMOTIONS,
    SUBSET_LABELS,
    normalize,
    subset_of,
    to_candidate,
    to_subset_label,
)

from .support import SHARED_FERBENCH, requires_shared


def test_every_subset_label_is_a_known_emotion_and_round_trips():
    for subset, names in SUBSET_LABELS.items():
        assert len(set(map(normalize, names))) == len(names), subset
        for name in names:
            assert to_subset_label(normalize(name), subset) == name


def test_canonical_round_trip_through_each_subset():
    for subset, names in SUBSET_LABELS.items():
        for emotion in map(normalize, names):
            assert normalize(to_subset_label(emotion, subset)) == emotion


@pytest.mark.parametrize(
    "alias, expected",
    [
        ("happy", "happiness"),
        ("Joy", "happiness"),
        ("joyful", "happiness"),
        ("SAD", "sadness"),
        ("sorrow", "sadness"),
        ("angry", "anger"),
        ("mad", "anger"),
        ("surprised", "surprise"),
        ("shock", "surprise"),
        ("afraid", "fear"),
        ("scared", "fear"),
        ("terror", "fear"),
        ("disgusted", "disgust"),
        ("revulsion", "disgust"),
        ("scorn", "contempt"),
        ("disdain", "contempt"),
        ("contemptuous", "contempt"),
        ("calm", "neutral"),
        ("expressionless", "neutral"),
        ("  No   Expression ", "neutral"),
    ],
)
def test_aliases(alias, expected):
    assert normalize(alias) == expected


def test_every_alias_maps_to_a_canonical_emotion():
    assert set(ALIASES.values()) == set(CANONICAL_EMOTIONS)


def test_unknown_label_error_lists_allowed_set():
    with pytest.raises(ValueError) as err:
        normalize("bored")
    message = str(err.value)
    assert "'bored'" in message
    assert all(emotion in message for emotion in CANONICAL_EMOTIONS)


def test_to_candidate_outside_candidates_raises():
    with pytest.raises(ValueError, match="not among the candidates"):
        to_subset_label("contempt", "rafdb")
    assert to_candidate("happy", SUBSET_LABELS["affectnet"]) == "happiness"


def test_unknown_subset_raises():
    with pytest.raises(ValueError, match="rafdb"):
        labels.subset_labels("ckplus")


def test_subset_of_requires_official_order():
    assert subset_of(SUBSET_LABELS["ferplus"]) == "ferplus"
    assert subset_of(reversed(SUBSET_LABELS["ferplus"])) is None


def test_paper_synonym_tables_cover_their_subset_labels():
    for subset, table in labels.PAPER_SYNONYMS.items():
        assert {label for label, _ in table} == set(SUBSET_LABELS[subset])


def test_question_rejects_bad_candidate_lists():
    with pytest.raises(ValueError, match="empty"):
        prompts.fer_question([])
    with pytest.raises(ValueError, match="same emotion"):
        prompts.fer_question(["happy", "happiness"])


def test_chat_messages_shape():
    messages = prompts.chat_messages("IMG", "Q?", system="S", response="R")
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[1]["content"] == [{"type": "image", "image": "IMG"}, {"type": "text", "text": "Q?"}]
    assert prompts.chat_messages(None, "Q?")[0]["content"][0] == {"type": "image"}


def test_direct_question_drops_think():
    question = prompts.fer_question(["happy", "sad"], reasoning=False)
    assert "<think>" not in question and "<answer></answer>" in question


@requires_shared
@pytest.mark.parametrize("subset", list(SUBSET_LABELS))
def test_prompt_reproduces_every_official_record(subset):
    records = json.loads((SHARED_FERBENCH / f"{subset}_qa.json").read_text())
    assert len(records) == labels.SUBSET_SIZES[subset]
    for record in records:
        assert tuple(record["candidate_labels"]) == SUBSET_LABELS[subset]
        assert prompts.fer_question(record["candidate_labels"]) == record["prompt"]
        assert record["true_label"] in SUBSET_LABELS[subset]
