import pytest

from unifer.answers import UNKNOWN, extract_label, is_well_formed, parse
from unifer.labels import SUBSET_LABELS

RAF = SUBSET_LABELS["rafdb"]
FERPLUS = SUBSET_LABELS["ferplus"]
AFFECT = SUBSET_LABELS["affectnet"]
SFEW = SUBSET_LABELS["sfew_2.0"]


def wrap(answer, think="The mouth corners turn up."):
    return f"<think>{think}</think><answer>{answer}</answer>"


STRICT_CASES = [
    # (response, candidates, expected)
    (wrap("happiness"), RAF, "happiness"),
    (wrap("Happiness."), RAF, "happiness"),
    (wrap("  HAPPINESS!  "), RAF, "happiness"),
    (wrap("happy"), RAF, "happiness"),  # alias -> the candidate's own name
    (wrap("happiness"), FERPLUS, "happy"),
    (wrap("Joy"), FERPLUS, "happy"),
    (wrap("The answer is: anger"), RAF, "anger"),  # filler words allowed
    (wrap("Final answer: **Surprise**"), RAF, "surprise"),
    (wrap("'sad'"), SFEW, "sad"),
    (wrap("\u201cneutral\u201d"), SFEW, "neutral"),
    (wrap("no expression"), RAF, "neutral"),  # a two-word alias beats the word "no"
    (wrap("The answer is no expression."), RAF, "neutral"),
    (wrap("contempt"), AFFECT, "contempt"),
    ("<answer>fear</answer>", RAF, "fear"),  # no think block: still a label (format scored apart)
    ("<think>x</think>\n<answer>\nDisgust\n</answer>\n", RAF, "disgust"),
    ("<THINK>x</THINK><ANSWER>fear</ANSWER>", RAF, "fear"),
    # ---- adversarial: no label ----
    (wrap("happy or sad"), RAF, None),
    (wrap("happiness, sadness"), RAF, None),
    (wrap("happiness and surprise"), RAF, None),
    (wrap("happiness/surprise"), RAF, None),
    (wrap("not happy"), RAF, None),
    (wrap("not-happy"), RAF, None),
    (wrap("It isn't anger"), RAF, None),
    (wrap("no anger"), RAF, None),
    (wrap("maybe fear"), RAF, None),
    (wrap("probably fear"), RAF, None),
    (wrap("fear?"), RAF, "fear"),  # punctuation alone is trimmed
    (wrap("fear (or surprise)"), RAF, None),
    (wrap(""), RAF, None),
    (wrap("   "), RAF, None),
    (wrap("contempt"), RAF, None),  # not a RAF-DB candidate
    (wrap("scorn"), SFEW, None),  # alias of a label outside the candidates
    (wrap("surprise, fear, disgust, happiness, sadness, anger, neutral"), RAF, None),
    ("<think>It is happiness.</think>", RAF, None),  # no answer block
    ("happiness", RAF, None),
    ("<answer>happiness</answer><answer>sadness</answer>", RAF, None),
    ("<answer>happiness</answer><answer>happiness</answer>", RAF, None),
    ("<answer>happiness", RAF, None),  # unclosed
    ("happiness</answer>", RAF, None),
    ("<think><answer>sad</answer></think><answer>happiness</answer>", RAF, None),
    (wrap("happinessss"), RAF, None),
    (wrap("unhappiness"), RAF, "sadness"),  # a real alias, not a substring trick
    (wrap("I cannot tell"), RAF, None),
    (wrap("none of the above"), RAF, None),
    (wrap("happy happy"), RAF, None),
    (wrap("A"), RAF, None),
]


@pytest.mark.parametrize("response, candidates, expected", STRICT_CASES)
def test_strict_extraction(response, candidates, expected):
    assert extract_label(response, candidates) == expected


def test_doctests_of_the_vocabulary_modules():
    import doctest

    import unifer.answers
    import unifer.labels
    import unifer.prompts

    for module in (unifer.answers, unifer.labels, unifer.prompts):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_strict_custom_labels_match_literally():
    assert extract_label(wrap("Confused"), ["confused", "happiness"]) == "confused"
    assert extract_label(wrap("bored"), ["confused", "happiness"]) is None


@pytest.mark.parametrize(
    "response, well_formed",
    [
        (wrap("happy"), True),
        ("  \n" + wrap("happy") + "\n ", True),
        ("<think>a</think>\n\n<answer>b</answer>", True),
        ("Sure! " + wrap("happy"), False),
        (wrap("happy") + " Hope this helps.", False),
        ("<answer>happy</answer><think>a</think>", False),
        ("<think>a</think><think>b</think><answer>happy</answer>", False),
        (wrap("happy") + "<answer>sad</answer>", False),
        ("<think>a<think>b</think><answer>happy</answer>", False),
        ("<think></think><answer>happy</answer>", False),
        ("<think>a</think><answer> </answer>", False),
        ("<think>a</think><answer>happy", False),
        ("<THINK>a</THINK><ANSWER>happy</ANSWER>", False),
        ("", False),
    ],
)
def test_well_formed(response, well_formed):
    assert is_well_formed(response) is well_formed
    assert parse(response).well_formed is well_formed


def test_parse_parts():
    parsed = parse("<think>  Brows down. </think><answer> anger </answer>")
    assert (parsed.think, parsed.answer, parsed.well_formed) == ("Brows down.", "anger", True)
    assert parse("no tags").think is None and parse("no tags").answer is None


# ---------------- paper mode: one case per rule of the official evaluator ----------------


@pytest.mark.parametrize(
    "response, candidates, expected",
    [
        # (a) answer block: equality, then substring, candidates walked in list order
        ("<answer>fear</answer>", RAF, "fear"),
        ("<answer>Sadness</answer>", RAF, "sadness"),
        # substring: "surprise" comes first in RAF-DB's order, so it wins over "fear"
        ("<answer>fear and surprise</answer>", RAF, "surprise"),
        # FERPlus: "sad" is found as a substring of "sadness"
        ("<answer>sadness</answer>", FERPLUS, "sad"),
        # negation is not understood by the official evaluator
        ("<answer>not happy</answer>", FERPLUS, "happy"),
        # white space inside the tags (newlines too) is dropped by \s*
        ("<answer>\n  anger \n</answer>", RAF, "anger"),
        # the answer text may not span newlines: block skipped, falls to (b) over the whole response
        ("<think>sadness shows</think><answer>ang\ner</answer>", RAF, "sadness"),
        # case-insensitive tags
        ("<ANSWER>disgust</ANSWER>", RAF, "disgust"),
        # (a) only the first answer block counts
        ("<answer>neutral</answer><answer>fear</answer>", RAF, "neutral"),
        # (a) matches nothing -> (b) candidates in order over the whole lowercased response
        ("<think>The person shows FEAR and happiness</think><answer>joy</answer>", RAF, "fear"),
        ("I see sadness and surprise", RAF, "surprise"),
        # (b) substring, not word: "sadness" contains "sad" for SFEW
        ("pure sadness", SFEW, "sad"),
        # (c) synonym table in its order: anger (angry) before happiness (happy)
        ("They look happy but also angry", RAF, "anger"),
        ("pure joy", RAF, "happiness"),
        ("a blank stare", AFFECT, "neutral"),
        ("so mad", AFFECT, "anger"),
        ("so mad", RAF, UNKNOWN),  # RAF-DB's table has no "mad"
        ("full of scorn", FERPLUS, "contempt"),
        ("deep sorrow", SFEW, "sad"),
        ("in shock", SFEW, "surprise"),
        ("angry", FERPLUS, "angry"),
        # (c) "unhappy" contains "happy": FERPlus candidate walk (b) finds "happy" first
        ("unhappy", FERPLUS, "happy"),
        # (d) nothing at all
        ("I cannot say.", RAF, UNKNOWN),
        ("", SFEW, UNKNOWN),
    ],
)
def test_paper_extraction(response, candidates, expected):
    assert extract_label(response, candidates, mode="paper") == expected


def test_paper_sfew_subset_script_differs_only_in_answer_block():
    multiline = "<think>happy?</think><answer>\nsad\n</answer>"
    assert extract_label(multiline, SFEW, mode="paper") == "sad"
    # the SFEW per-subset script is case-sensitive: an upper-case block is ignored there ...
    upper = "<think>I thought fear</think><ANSWER>sad</ANSWER>"
    assert extract_label(upper, SFEW, mode="paper", script="subset") == "fear"
    # ... but the pooled script reads it
    assert extract_label(upper, SFEW, mode="paper", script="overall") == "sad"
    # and may span newlines, where the common pattern may not
    spanning = "<think>neutral</think><answer>sur\nprise</answer>"
    assert extract_label(spanning, SFEW, mode="paper", script="subset") == "neutral"
    both = "<answer>very\nsad</answer> or angry?"
    assert extract_label(both, SFEW, mode="paper", script="subset") == "sad"
    assert extract_label(both, SFEW, mode="paper", script="overall") == "angry"


def test_paper_mode_explicit_subset_overrides_inference():
    # a reordered list is not an official one; naming the subset still selects its synonym table
    candidates = list(reversed(AFFECT))
    assert extract_label("so mad", candidates, mode="paper") == UNKNOWN
    assert extract_label("so mad", candidates, mode="paper", subset="affectnet") == "anger"


def test_unknown_mode_raises():
    with pytest.raises(ValueError, match="strict"):
        extract_label("x", RAF, mode="fuzzy")
