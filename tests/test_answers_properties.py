"""Property-based tests (hypothesis) for ``unifer.answers``: the contracts every scorer, reward and demo relies on.

The example-based cases live in ``test_answers.py``; these draw responses and candidate lists at random from the
label vocabularies (``unifer.labels``), the tags, filler words and arbitrary unicode.
"""

from collections import Counter

from hypothesis import example, given, settings
from hypothesis import strategies as st

from unifer.answers import UNKNOWN, ParsedResponse, extract_label, is_well_formed, parse
from unifer.labels import ALIASES, CANONICAL_EMOTIONS, SUBSET_LABELS, SUBSETS, normalize

# Fast and deterministic: derandomized, no example database, no per-example deadline.
FAST = settings(max_examples=150, deadline=None, database=None, derandomize=True)

# Every label name the vocabularies use: canonical emotions and the subsets' own names ("angry", "happy", ...).
VOCABULARY = sorted(set(CANONICAL_EMOTIONS).union(*SUBSET_LABELS.values()))
TAGS = ["<think>", "</think>", "<answer>", "</answer>", "<ANSWER>", "</Answer>", "<Think>", "</THINK>"]
# Every character Python counts as white space (str.isspace / the regex \s), not only ASCII.
WHITESPACE = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
# Words the strict parser treats as neutral filler, and phrases made only of them (README: "The answer is").
FILLER_PHRASES = [
    "",
    "The answer is",
    "Answer:",
    "Final answer:",
    "The facial expression is",
    "The face shows",
    "It is",
    "The predicted emotion:",
]

# ---- strategies -------------------------------------------------------------------------------------------------

official_lists = st.sampled_from([SUBSET_LABELS[s] for s in SUBSETS])


@st.composite
def valid_candidates(draw):
    """A candidate list naming each emotion at most once, in a random order, in canonical or subset naming."""
    emotions = draw(st.lists(st.sampled_from(CANONICAL_EMOTIONS), min_size=1, max_size=8, unique=True))
    names = []
    for emotion in emotions:
        spellings = sorted({name for name in VOCABULARY if normalize(name) == emotion})
        names.append(draw(st.sampled_from(spellings)))
    return names


# Any non-empty list of distinct vocabulary names, even one that names an emotion twice ("happy", "happiness").
any_candidates = st.one_of(
    official_lists.map(list),
    valid_candidates(),
    st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=12, unique=True),
)

whitespace = st.text(alphabet=WHITESPACE, max_size=4)
# Reasoning text: anything without a tag (no '<' or '>'), not white space only.
think_text = st.text(alphabet=st.characters(exclude_characters="<>"), min_size=1, max_size=40).filter(
    lambda text: text.strip()
)

fragments = st.one_of(
    st.sampled_from(TAGS),
    st.sampled_from(VOCABULARY + sorted(ALIASES)),
    st.sampled_from(["the", "answer", "is", "or", "not", "maybe", "and", ",", ".", "!", ":", "*", "'", "-"]),
    whitespace,
    st.text(max_size=8),
)
noise = st.one_of(st.text(max_size=20), st.lists(fragments, max_size=6).map("".join))
# Arbitrary unicode, response-like text assembled from tags, labels, aliases, filler and noise, and think/answer
# blocks around noise.
responses = st.one_of(
    st.text(),
    st.lists(fragments, max_size=25).map("".join),
    st.builds("<think>{}</think><answer>{}</answer>".format, noise, noise),
)


def well_formed(think, label, pads):
    """``<think>…</think><answer>label</answer>`` with the white space ``pads`` around and inside the blocks."""
    p = pads
    return f"{p[0]}<think>{p[1]}{think}{p[2]}</think>{p[3]}<answer>{p[4]}{label}{p[5]}</answer>{p[6]}"


# ---- strict extraction ------------------------------------------------------------------------------------------


# Answer blocks around one word that is a candidate, another vocabulary name or alias, a filler word or noise, with
# filler and punctuation around it: strict extraction answers some of them and refuses others.
ANSWER_WORDS = VOCABULARY + sorted(ALIASES) + ["the", "answer", "not", "maybe", "happy or sad"]


@st.composite
def responses_around_candidates(draw, candidates):
    word = draw(st.sampled_from(candidates) | st.sampled_from(candidates) | st.sampled_from(ANSWER_WORDS) | noise)
    filler = draw(st.sampled_from(FILLER_PHRASES))
    punctuation = draw(st.sampled_from(["", ".", "!", "**"]))
    return f"<think>{draw(noise)}</think><answer>{filler} {punctuation}{word}{punctuation}</answer>"


def test_strict_returns_only_a_candidate_or_none():
    answered, refused = [], []

    @FAST
    @given(candidates=any_candidates, data=st.data())
    def check(candidates, data):
        text = data.draw(responses | responses_around_candidates(candidates) | responses_around_candidates(candidates))
        label = extract_label(text, candidates)
        assert label is None or label in candidates
        (refused if label is None else answered).append(label)

    check()
    # Both outcomes were reached: the membership check ran on real answers, not only on refusals.
    assert len(answered) >= 20 and len(refused) >= 20, (len(answered), len(refused))


@FAST
@given(candidates=any_candidates, data=st.data())
def test_strict_answer_made_of_labels_and_filler_is_a_candidate_or_none(candidates, data):
    # Answers built from the vocabulary, aliases and filler hit the matcher's lookup paths, not just its rejections.
    words = data.draw(
        st.lists(
            st.sampled_from(VOCABULARY + sorted(ALIASES) + ["the", "answer", "is", "not", "or"]),
            min_size=1,
            max_size=5,
        )
    )
    label = extract_label(f"<think>x</think><answer>{' '.join(words)}</answer>", candidates)
    assert label is None or label in candidates


@FAST
@given(candidates=valid_candidates(), data=st.data())
def test_strict_reads_a_candidate_through_case_punctuation_filler_and_aliases(candidates, data):
    target = data.draw(st.sampled_from(candidates))
    spelling = data.draw(st.sampled_from(sorted(a for a, e in ALIASES.items() if e == normalize(target))))
    spelling = "".join(data.draw(st.sampled_from([c.lower(), c.upper()])) for c in spelling)
    filler = data.draw(st.sampled_from(FILLER_PHRASES))
    punctuation = data.draw(st.sampled_from(["", ".", "!", "**", "'", '"', ":"]))
    answer = f"{filler} {punctuation}{spelling}{punctuation}"
    assert extract_label(f"<think>Brows and mouth.</think><answer>{answer}</answer>", candidates) == target


@FAST
@given(candidates=valid_candidates(), data=st.data())
def test_strict_refuses_two_labels_hedges_and_negations(candidates, data):
    first = data.draw(st.sampled_from(candidates))
    others = [c for c in candidates if c != first]
    forms = [f"not {first}", f"maybe {first}", f"{first} or {first}s", f"no {first}"]
    if others:
        second = data.draw(st.sampled_from(others))
        forms += [f"{first} or {second}", f"{first}, {second}", f"{first} and {second}", f"{first}/{second}"]
    answer = data.draw(st.sampled_from(forms))
    assert extract_label(f"<think>x</think><answer>{answer}</answer>", candidates) is None


# ---- well-formed responses --------------------------------------------------------------------------------------


@FAST
@given(
    candidates=valid_candidates(), think=think_text, pads=st.lists(whitespace, min_size=7, max_size=7), data=st.data()
)
@example(candidates=["happy"], think="x", pads=["\n", " ", "\t", "\r\n", "\u00a0", "\u2003", "\u3000"], data=None).via(
    "unicode white space in every gap"
)
def test_well_formed_response_survives_white_space_around_its_blocks(candidates, think, pads, data):
    label = data.draw(st.sampled_from(candidates)) if data is not None else candidates[0]
    compact = well_formed(think.strip(), label, [""] * 7)
    padded = well_formed(think, label, pads)
    expected = ParsedResponse(think=think.strip(), answer=label, well_formed=True)
    assert parse(compact) == expected
    assert parse(padded) == expected
    assert is_well_formed(padded)
    assert extract_label(padded, candidates) == label


@FAST
@given(
    subset=st.sampled_from(SUBSETS),
    think=think_text,
    pads=st.lists(whitespace, min_size=7, max_size=7),
    script=st.sampled_from(["subset", "overall"]),
    data=st.data(),
)
def test_paper_mode_keeps_the_label_of_a_well_formed_response(subset, think, pads, script, data):
    candidates = SUBSET_LABELS[subset]
    label = data.draw(st.sampled_from(candidates))
    assert extract_label(well_formed(think, label, pads), candidates, mode="paper", script=script) == label


# ---- parse is total ---------------------------------------------------------------------------------------------


@FAST
@given(text=responses)
def test_parse_never_raises_and_is_consistent(text):
    parsed = parse(text)
    assert isinstance(parsed, ParsedResponse)
    assert parsed.well_formed is is_well_formed(text)
    for part in (parsed.think, parsed.answer):
        assert part is None or part == part.strip()
    if parsed.well_formed:
        # Exactly one non-empty think block and one non-empty answer block.
        assert parsed.think and parsed.answer
    if parsed.answer is not None:
        assert text.lower().count("<answer>") == 1


# The slots of ``<think>body</think><answer>body</answer>`` with white space between, and ways to spoil each one.
# A response is well formed exactly when no slot is spoiled: the expected value comes from how the text was built.
# (White space inside a block belongs to its body, so only the pads outside the blocks can be spoiled.)
SHAPE = [
    "pad",
    "<think>",
    "space",
    "body",
    "space",
    "</think>",
    "pad",
    "<answer>",
    "space",
    "body",
    "space",
    "</answer>",
    "pad",
]
SPOILABLE = [slot for slot, kind in enumerate(SHAPE) if kind != "space"]
SPOILED_TAG = {
    "<think>": ["", "<Think>", "<answer>", "<think><think>"],
    "</think>": ["", "</THINK>", "</answer>"],
    "<answer>": ["", "<ANSWER>", "<think>", "<answer><answer>"],
    "</answer>": ["", "</Answer>", "</think>", "</answer></answer>"],
}
SPOILED_BODY = ["", " ", "\n\t", "a</think>b", "<answer>x", "x<THINK>y", "</answer>"]
SPOILED_PAD = ["Sure!", "x", "<think>a</think>", "<answer>b</answer>", "."]


@st.composite
def shaped_responses(draw):
    """(text, whether it is well formed by construction): the think-then-answer shape with 0–3 slots spoiled."""
    spoiled = draw(st.one_of(st.just(frozenset()), st.frozensets(st.sampled_from(SPOILABLE), min_size=1, max_size=3)))
    parts = []
    for slot, kind in enumerate(SHAPE):
        if slot in spoiled:
            options = SPOILED_PAD if kind == "pad" else SPOILED_BODY if kind == "body" else SPOILED_TAG[kind]
            parts.append(draw(st.sampled_from(options)))
        elif kind in ("pad", "space"):
            parts.append(draw(whitespace))
        elif kind == "body":
            parts.append(draw(think_text))
        else:
            parts.append(kind)
    return "".join(parts), not spoiled


def test_is_well_formed_only_for_a_think_then_answer_shape():
    seen = Counter()

    @FAST
    @given(shaped=shaped_responses())
    def check(shaped):
        text, expected = shaped
        assert is_well_formed(text) is expected, text
        assert parse(text).well_formed is expected
        seen[expected] += 1

    check()
    assert seen[True] >= 20 and seen[False] >= 20, seen  # both shapes were generated, not only rejections


# ---- paper mode is total ----------------------------------------------------------------------------------------


@FAST
@given(text=responses, candidates=any_candidates, script=st.sampled_from(["subset", "overall"]))
def test_paper_mode_is_total_and_returns_a_candidate_or_unknown(text, candidates, script):
    # No explicit subset: the synonym table is used only when the candidates are an official list.
    label = extract_label(text, candidates, mode="paper", script=script)
    assert label == UNKNOWN or label in candidates


@FAST
@given(text=responses, subset=st.sampled_from(SUBSETS), script=st.sampled_from(["subset", "overall"]))
def test_paper_mode_with_an_official_subset_returns_a_candidate_or_unknown(text, subset, script):
    candidates = SUBSET_LABELS[subset]
    label = extract_label(text, candidates, mode="paper", subset=subset, script=script)
    assert label == UNKNOWN or label in candidates


@FAST
@given(
    text=responses,
    candidates=any_candidates,
    subset=st.sampled_from([None, *SUBSETS]),
    script=st.sampled_from(["subset", "overall"]),
)
def test_paper_mode_never_raises_for_any_subset_and_candidates(text, candidates, subset, script):
    assert isinstance(extract_label(text, candidates, mode="paper", subset=subset, script=script), str)


def test_paper_mode_with_an_explicit_subset_and_fewer_candidates_stays_within_them():
    # The docstring promises "a member of candidates or 'unknown'"; the rafdb synonym step once answered 'anger'.
    candidates = ["happiness", "sadness"]
    assert extract_label("<answer>angry</answer>", candidates, mode="paper", subset="rafdb") in [*candidates, UNKNOWN]


def test_strict_with_no_candidates_is_none():
    assert extract_label("<answer>happy</answer>", []) is None
