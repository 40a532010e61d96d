"""unifer.answers: the behaviours the mutation benchmark (benchmarks/mutation.py) found untested. Expected values
are the official evaluator's rules and the strict parser's contract, worked out by hand."""

import dataclasses

import pytest

from unifer.answers import extract_label, parse, text_before_answer
from unifer.labels import SUBSET_LABELS

RAF = SUBSET_LABELS["rafdb"]
SFEW = SUBSET_LABELS["sfew_2.0"]


def runtime(text):
    """``text`` as a string built at run time (as options parsed from a command line are), not an interned literal."""
    return "".join(list(text))


def test_text_before_answer_keeps_everything_without_a_tag_and_nothing_before_a_leading_one():
    assert text_before_answer("no tags at all") == "no tags at all"
    assert text_before_answer("<answer>sad</answer>") == ""
    assert text_before_answer("x<ANSWER>sad</ANSWER>") == "x"


def test_strict_needs_exactly_one_closing_tag():
    assert extract_label("<think>x</think><answer>happy</answer></answer>", RAF) is None


def test_strict_reads_a_label_followed_by_filler_and_a_long_answer():
    # One-word labels are tried before the next word when two-word aliases ("no expression") exist.
    assert extract_label("<think>x</think><answer>happy face</answer>", RAF) == "happiness"
    assert extract_label("<think>x</think><answer>sad expression shown in this image</answer>", RAF) is None
    # Past 256 words (where CPython stops sharing int objects) the parser still ends at the last word.
    assert extract_label(f"<think>x</think><answer>{'the ' * 300}sad</answer>", RAF) == "sadness"


def test_modes_and_scripts_are_compared_by_value_and_unknown_modes_refused():
    text = "<think>fear</think><Answer>happy</Answer>"
    assert extract_label(text, SFEW, mode=runtime("paper"), script=runtime("subset")) == "fear"  # case-sensitive
    assert extract_label(text, SFEW, mode="paper", script="overall") == "happy"
    assert extract_label("<think>x</think><answer>sad</answer>", RAF, mode=runtime("strict")) == "sadness"
    for mode in ("exact", "rough", "zzz"):  # below "paper", between "paper" and "strict", above "strict"
        with pytest.raises(ValueError, match="Unknown extraction mode"):
            extract_label("<answer>sad</answer>", RAF, mode=mode)


def test_only_sfew_per_subset_reading_is_case_sensitive():
    # RAF-DB's script reads upper-case tags: the answer block wins over "fear" in the reasoning.
    assert extract_label("<think>fear</think><ANSWER>happiness</ANSWER>", RAF, mode="paper") == "happiness"
    assert extract_label("<think>fear</think><ANSWER>happy</ANSWER>", SFEW, mode="paper", subset="sfew_2.0") == "fear"


def test_paper_mode_reads_the_answer_block_without_its_tags():
    # "answer" is inside the tags themselves; only the block's text, "think", may be matched.
    assert extract_label("<answer>think</answer>", ["answer", "think"], mode="paper") == "think"


def test_parsed_responses_are_immutable_values():
    parsed = parse("<think>a</think><answer>b</answer>")
    assert {parsed, parse("<think>a</think><answer>b</answer>")} == {parsed}  # hashable, equal by value
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.answer = "c"
