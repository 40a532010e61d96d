"""FER rewards: adversarial completions, both completion forms, the official variant, metric logging."""

import doctest
from collections import defaultdict

import pytest

from unifer.labels import CANONICAL_EMOTIONS, SUBSET_LABELS
from unifer.trainers import rewards
from unifer.trainers.rewards import (
    REWARD_FUNCS,
    accuracy_reward,
    format_reward,
    get_reward_funcs,
    official_accuracy_reward,
    official_format_reward,
)

RAF = list(SUBSET_LABELS["rafdb"])
FERPLUS = list(SUBSET_LABELS["ferplus"])
LONG_THINK = "The mouth corners rise and the cheeks lift. " * 2000


def wrap(answer, think="The mouth corners turn up and the cheeks rise."):
    return f"<think>{think}</think><answer>{answer}</answer>"


# (completion, solution, candidates, accuracy reward, format reward)
CASES = [
    # ---- correct, in every way the strict parser forgives ----
    (wrap("happiness"), "happiness", RAF, 1.0, 1.0),
    (wrap("HAPPINESS"), "happiness", RAF, 1.0, 1.0),  # wrong case
    (wrap("Happy"), "happiness", RAF, 1.0, 1.0),  # alias of the candidate
    (wrap("happiness"), "happy", FERPLUS, 1.0, 1.0),  # FERPlus names it "happy"
    (wrap("happy"), "happiness", None, 1.0, 1.0),  # no candidates: canonical emotions
    (wrap("The answer is: **Surprise**."), "surprise", RAF, 1.0, 1.0),  # filler and markdown
    (wrap("no expression"), "neutral", RAF, 1.0, 1.0),  # two-word alias
    ("<think>x</think>\n<answer>\nDisgust\n</answer>\n", "disgust", RAF, 1.0, 1.0),
    (wrap("\uff48\uff41\uff50\uff50\uff59"), "happiness", RAF, 1.0, 1.0),  # full-width letters (NFKC)
    (wrap(LONG_THINK), "happiness", RAF, 0.0, 1.0),  # long answer full of words
    (wrap("happiness", think=LONG_THINK), "happiness", RAF, 1.0, 1.0),  # very long reasoning is fine
    # ---- wrong label ----
    (wrap("sadness"), "happiness", RAF, 0.0, 1.0),
    ("<think>It is happiness.</think><answer>sadness</answer>", "happiness", RAF, 0.0, 1.0),  # label in think only
    # ---- hedges, several labels, negations ----
    (wrap("happiness or surprise"), "happiness", RAF, 0.0, 1.0),
    (wrap("happiness, sadness"), "happiness", RAF, 0.0, 1.0),
    (wrap("maybe happiness"), "happiness", RAF, 0.0, 1.0),
    (wrap("not sadness"), "happiness", RAF, 0.0, 1.0),
    (wrap("not happiness"), "happiness", RAF, 0.0, 1.0),
    (wrap("It isn't anger"), "anger", RAF, 0.0, 1.0),
    (wrap(", ".join(RAF)), "happiness", RAF, 0.0, 1.0),  # every candidate listed
    (wrap("happiness " * 500), "happiness", RAF, 0.0, 1.0),  # the label 500 times
    # ---- labels outside the item's candidates ----
    (wrap("contempt"), "happiness", RAF, 0.0, 1.0),
    (wrap("scorn"), "happiness", RAF, 0.0, 1.0),  # alias of a non-candidate
    (wrap("happinessss"), "happiness", RAF, 0.0, 1.0),
    # ---- empty or missing answers and tags ----
    (wrap(""), "happiness", RAF, 0.0, 0.0),
    (wrap("   "), "happiness", RAF, 0.0, 0.0),
    ("", "happiness", RAF, 0.0, 0.0),
    ("happiness", "happiness", RAF, 0.0, 0.0),  # no tags at all
    ("<think>The mouth corners turn up.</think> happiness", "happiness", RAF, 0.0, 0.0),
    ("<answer>happiness</answer>", "happiness", RAF, 1.0, 0.0),  # no think block
    (wrap("happiness", think=""), "happiness", RAF, 1.0, 0.0),  # empty think block
    ("<think>x</think><answer>happiness", "happiness", RAF, 0.0, 0.0),  # unclosed answer
    # ---- duplicated, misordered, nested, split tags ----
    (wrap("happiness") + "<answer>happiness</answer>", "happiness", RAF, 0.0, 0.0),
    ("<think>a</think><think>b</think><answer>happiness</answer>", "happiness", RAF, 1.0, 0.0),
    ("<answer>happiness</answer><think>x</think>", "happiness", RAF, 1.0, 0.0),
    ("<think><answer>sadness</answer></think><answer>happiness</answer>", "happiness", RAF, 0.0, 0.0),
    ("<think>x</think><answer>happi</answer><answer>ness</answer>", "happiness", RAF, 0.0, 0.0),
    (wrap("happiness") + " I hope this helps!", "happiness", RAF, 1.0, 0.0),  # trailing chatter
    ("<THINK>x</THINK><ANSWER>happiness</ANSWER>", "happiness", RAF, 1.0, 0.0),  # tags in the wrong case
    # ---- unicode tricks ----
    (wrap("h\u0430ppiness"), "happiness", RAF, 0.0, 1.0),  # Cyrillic a
    (wrap("happi\u200bness"), "happiness", RAF, 0.0, 1.0),  # zero-width space inside
    (wrap("happiness\u200b"), "happiness", RAF, 1.0, 1.0),  # trailing zero-width space
]


@pytest.mark.parametrize(
    "completion, solution, candidates, accuracy, fmt", CASES, ids=[f"{i}:{c[0][:40]!r}" for i, c in enumerate(CASES)]
)
def test_adversarial_completions(completion, solution, candidates, accuracy, fmt):
    assert accuracy_reward([completion], solution=[solution], candidate_labels=[candidates]) == [accuracy]
    assert format_reward([completion]) == [fmt]


def test_conversational_and_string_completions_score_alike():
    texts = [case[0] for case in CASES]
    conversational = [[{"role": "assistant", "content": text}] for text in texts]
    blocks = [[{"role": "assistant", "content": [{"type": "text", "text": text}]}] for text in texts]
    kwargs = {"solution": [c[1] for c in CASES], "candidate_labels": [c[2] for c in CASES]}
    expected = accuracy_reward(texts, **kwargs)
    assert accuracy_reward(conversational, **kwargs) == expected == accuracy_reward(blocks, **kwargs)
    assert format_reward(conversational) == format_reward(texts) == format_reward(blocks)


@pytest.mark.parametrize(
    "completion, solution, expected",
    [
        ("<answer>happiness</answer>", "happiness", 1.0),
        ("<think>x</think><answer> happiness </answer>", "happiness", 1.0),
        ("<answer>\nhappiness\n</answer>", "happiness", 1.0),  # newlines allowed, as officially
        ("<answer>Happiness</answer>", "happiness", 0.0),  # case-sensitive
        ("<answer>happy</answer>", "happiness", 0.0),  # no aliases
        ("<answer>happiness.</answer>", "happiness", 0.0),
        ("<answer>happiness</answer><answer>sadness</answer>", "happiness", 1.0),  # first block only
        ("happiness", "happiness", 1.0),  # no block: compared whole
        ("<answer>happiness</answer>", "<answer>happiness</answer>", 1.0),  # tagged solution is unwrapped
    ],
)
def test_official_accuracy_is_exact_match(completion, solution, expected):
    assert official_accuracy_reward([completion], solution=[solution]) == [expected]


def test_official_accuracy_compares_with_the_solution_as_released():
    """A released solution spelled unlike its candidate ("Happy") is the gold as it is, as in the official code."""
    completions = ["<answer>Happy</answer>", "<answer>happy</answer>", "<answer>happy</answer>"]
    kwargs = {
        "solution": ["happiness"] * 3,
        "candidate_labels": [FERPLUS] * 3,
        "source_solution": ["<answer>Happy</answer>", "<answer>Happy</answer>", None],  # None: spelled from labels
    }
    assert official_accuracy_reward(completions, **kwargs) == [1.0, 0.0, 1.0]


def test_official_accuracy_spells_the_solution_as_the_candidates_do():
    completions = ["<answer>happy</answer>", "<answer>happiness</answer>", "<answer>sad</answer>"]
    kwargs = {"solution": ["happiness"] * 3, "candidate_labels": [FERPLUS] * 3}
    assert official_accuracy_reward(completions, **kwargs) == [1.0, 0.0, 0.0]
    assert accuracy_reward(completions, **kwargs) == [1.0, 1.0, 0.0]  # the strict reward forgives the alias


# (completion, format, official_format): docs/training.md shows this table; the official regex is
# re.fullmatch(r"<think>.*?</think>\s*<answer>.*?</answer>", text, re.DOTALL).
FORMAT_CASES = [
    ("<think>Lips up.</think><answer>happy</answer>", 1.0, 1.0),
    ("<think>Lips up.</think>\n\n<answer>happy</answer>", 1.0, 1.0),  # whitespace between the blocks
    ("<think>Lips up.</think>\n<answer>happy</answer>\n", 1.0, 0.0),  # a trailing newline
    ("\n<think>Lips up.</think><answer>happy</answer>", 1.0, 0.0),  # a leading newline
    ("<think></think><answer>happy</answer>", 0.0, 1.0),  # empty reasoning
    ("<think>Lips up.</think><answer> </answer>", 0.0, 1.0),  # empty answer
    ("<think>a</think><answer>happy</answer><answer>sad</answer>", 0.0, 1.0),  # a second answer block
    ("<think>a</think><think>b</think><answer>happy</answer>", 0.0, 1.0),  # a second think block
    ("<think>It is <answer>sad</answer></think><answer>happy</answer>", 0.0, 1.0),  # answer tags in the reasoning
    ("<think>Lips up.</think>So:<answer>happy</answer>", 0.0, 0.0),  # text between the blocks
    ("<think>Lips up.</think><answer>happy</answer> Hope it helps!", 0.0, 0.0),  # text after the answer
    ("<answer>happy</answer>", 0.0, 0.0),  # no reasoning block
    ("<answer>happy</answer><think>Lips up.</think>", 0.0, 0.0),  # blocks in the wrong order
    ("<THINK>Lips up.</THINK><ANSWER>happy</ANSWER>", 0.0, 0.0),  # tags in upper case
    ("<think>Lips up.<answer>happy</answer>", 0.0, 0.0),  # unclosed reasoning
]


@pytest.mark.parametrize("completion, ours, official", FORMAT_CASES, ids=[repr(c[0][:40]) for c in FORMAT_CASES])
def test_format_and_official_format_case_by_case(completion, ours, official):
    assert format_reward([completion]) == [ours]
    assert official_format_reward([completion]) == [official]
    assert official_format_reward([[{"role": "assistant", "content": completion}]]) == [official]


def test_official_format_logs_its_rate():
    logged = defaultdict(list)
    official_format_reward([wrap("happy"), "happy"], log_metric=lambda name, value: logged[name].append(value))
    assert dict(logged) == {"fer/official_format_rate": [1.0, 0.0]}


def test_rewards_log_per_emotion_accuracy_and_format_rate():
    logged = defaultdict(list)

    def log_metric(name, value):
        logged[name].append(value)

    completions = [wrap("happy"), wrap("sad"), "sad", wrap("anger")]
    solutions = ["happiness", "happiness", "sadness", "anger"]
    accuracy_reward(completions, solution=solutions, log_metric=log_metric)
    format_reward(completions, log_metric=log_metric)
    assert dict(logged) == {
        "fer/accuracy/happiness": [1.0, 0.0],
        "fer/accuracy/sadness": [0.0],
        "fer/accuracy/anger": [1.0],
        "fer/format_rate": [1.0, 1.0, 0.0, 1.0],
    }


def test_registry_and_lookup():
    assert {
        "accuracy": accuracy_reward,
        "format": format_reward,
        "official_accuracy": official_accuracy_reward,
        "official_format": official_format_reward,
    } == REWARD_FUNCS
    assert get_reward_funcs(["format", "accuracy"]) == [format_reward, accuracy_reward]
    with pytest.raises(ValueError, match="Unknown reward function.*'acc'.*Allowed: accuracy, format"):
        get_reward_funcs(["acc"])


def test_accuracy_needs_a_solution_column():
    with pytest.raises(ValueError, match="'solution' column"):
        accuracy_reward([wrap("happy")])


def test_every_canonical_emotion_round_trips():
    completions = [wrap(emotion) for emotion in CANONICAL_EMOTIONS]
    assert accuracy_reward(completions, solution=list(CANONICAL_EMOTIONS)) == [1.0] * len(CANONICAL_EMOTIONS)


def test_docstring_examples():
    result = doctest.testmod(rewards)
    assert result.attempted > 0 and result.failed == 0
