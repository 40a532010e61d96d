"""Candidate probabilities are the model's own: each candidate scored as the continuation of the tokens the model
generated, up to where its answer begins, tokenized as the model would generate it (tiny random model).

Expected values come from separate forward passes over one unpadded sequence each, built here from the text the
model would write (its tokenizer's own tokens), not from the scorer's cutting logic."""

import math
import sys
from types import SimpleNamespace

import pytest
import torch

from unifer.data.synfer import draw_face
from unifer.inference import (
    Generation,
    TransformersEngine,
    answer_continuations,
    generate_predictions,
    make_requests,
    stream_prediction,
)

CANDIDATES = ("happiness", "neutral", "sadness", "anger")
REASONING = "<think>The mouth corners rise.</think>"


@pytest.fixture(scope="module")
def engine(tiny_model_path):
    return TransformersEngine(tiny_model_path)


@pytest.fixture(scope="module")
def request_(engine):
    [request] = make_requests([draw_face("happiness", 3)], CANDIDATES)
    return request


def ids_of(engine, text):
    return engine.tokenizer(text, add_special_tokens=False)["input_ids"]


def sequence_logprob(engine, request, generated, scored):
    """Summed log-probabilities of the last ``scored`` tokens of ``generated`` after the prompt: one forward pass
    over the one unpadded sequence."""
    prompt = engine.processor.apply_chat_template(request.messages(), add_generation_prompt=True, tokenize=False)
    encoded = engine.processor(text=[prompt], images=[request.image], return_tensors="pt")
    input_ids = torch.tensor([encoded["input_ids"][0].tolist() + list(generated)])
    with torch.no_grad():
        logits = engine.model(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            pixel_values=encoded["pixel_values"],
            image_grid_thw=encoded["image_grid_thw"],
        ).logits[0]
    logprobs = torch.log_softmax(logits.double(), dim=-1)
    width = input_ids.shape[1]
    return sum(logprobs[position - 1, input_ids[0, position]].item() for position in range(width - scored, width))


def normalised(logprobs):
    total = sum(math.exp(value) for value in logprobs.values())
    return {label: math.exp(value) / total for label, value in logprobs.items()}


def common_prefix(sequences):
    length = 0
    while all(len(s) > length and s[length] == sequences[0][length] for s in sequences):
        length += 1
    return length


@pytest.mark.parametrize("given", ["generation", "text"])
def test_probability_is_the_likelihood_of_the_tokens_the_model_would_generate(engine, request_, given):
    """The model generated ``<think>…</think><answer>neutral</answer>``; each candidate's probability is the
    normalised likelihood of its whole response as the tokenizer writes it, from where the candidates' token
    sequences part."""
    generated = ids_of(engine, f"{REASONING}<answer>neutral</answer>") + [engine.tokenizer.eos_token_id]
    text = engine.tokenizer.decode(generated, skip_special_tokens=True)
    response = Generation(text, len(generated), 0.0, token_ids=tuple(generated)) if given == "generation" else text
    # What the model would generate with each candidate as its answer: the tokenizer's tokens of the whole text.
    written = {label: ids_of(engine, f"{REASONING}<answer>{label}</answer>") for label in CANDIDATES}
    shared = common_prefix(list(written.values()))
    # The candidates part inside the answer block: the ids they share end with the tag's "answer" token.
    assert engine.tokenizer.decode(written["neutral"][:shared]).endswith("<answer")
    expected = normalised(
        {label: sequence_logprob(engine, request_, ids, len(ids) - shared) for label, ids in written.items()}
    )
    [scores] = engine.score_candidates([request_], [response])
    assert list(scores) == list(CANDIDATES)
    assert scores == pytest.approx(expected, abs=1e-5)
    assert len(set(round(p, 4) for p in scores.values())) > 1  # the candidates really differ


def test_the_models_own_tokens_are_kept_up_to_its_answer(engine, request_):
    """A model may generate tokens its tokenizer would not produce (here the reasoning one character at a time):
    the candidates are scored after those very tokens, and only the answer is written as the tokenizer would."""
    by_character = [token for character in REASONING[:-8] for token in ids_of(engine, character)]
    assert len(by_character) == len(REASONING[:-8])  # really one token per character
    tag = ids_of(engine, "</think><answer")  # '</' 'think' '><' 'answer': the tag as the model writes it
    generated = by_character + tag + ids_of(engine, ">anger</answer>")
    response = Generation(engine.tokenizer.decode(generated), len(generated), 0.0, token_ids=tuple(generated))
    expected = {}
    for label in CANDIDATES:
        answer = ids_of(engine, f">{label}</answer>")
        expected[label] = sequence_logprob(engine, request_, by_character + tag + answer, len(answer))
    [scores] = engine.score_candidates([request_], [response])
    assert scores == pytest.approx(normalised(expected), abs=1e-5)


def test_answer_continuations_cut_where_the_answer_begins(engine):
    """The shared definition on the issue's example: ``'</' 'think' '><' 'answer' '>neutral'``, not
    ``'<answer' '>neutral'`` after ``'</' 'think' '>'``; a response without an answer gets the whole block."""
    tokens = engine.tokenizer.convert_ids_to_tokens
    generated = ids_of(engine, "<think>x</think><answer>neutral</answer>")
    cut = answer_continuations(engine.tokenizer, Generation("", 0, 0.0, token_ids=tuple(generated)), ["anger"])
    assert tokens(cut.context_ids)[-3:] == ["think", "><", "answer"]
    assert tokens(cut.continuations[0]) == [">anger", "</", "answer", ">"]
    unanswered = answer_continuations(engine.tokenizer, "<think>x</think>", ["anger"])
    assert tokens(unanswered.context_ids)[-1] == "think"  # the closing '>' joins the answer tag: '><'
    assert tokens(unanswered.continuations[0]) == ["><", "answer", ">anger", "</", "answer", ">"]


def test_streamed_and_batched_predictions_score_the_same_tokens(engine, request_):
    [[(_, batched)]] = list(generate_predictions(engine, [request_], max_new_tokens=12, probabilities=True))
    *_, (text, streamed) = stream_prediction(engine, request_, max_new_tokens=12)
    assert streamed.raw_text == batched.raw_text == text
    assert streamed.num_tokens == batched.num_tokens > 0
    assert streamed.probabilities == pytest.approx(batched.probabilities, abs=1e-6)


def test_the_pipelines_first_entry_is_the_models_answer(engine, tiny_model_path, monkeypatch):
    """Stand-in for a trained model's answer (the tiny random model answers nothing): generation returns a
    well-formed answer naming the candidate the scorer finds least probable; the pipeline still leads with it."""
    from transformers import pipeline

    import unifer.pipeline  # noqa: F401  (registers the task)

    face = draw_face("anger", 1)
    [request] = make_requests([face], CANDIDATES)
    texts = {label: f"{REASONING}<answer>{label}</answer>" for label in CANDIDATES}
    generations = {
        label: Generation(text, 0, 0.0, token_ids=tuple(ids_of(engine, text))) for label, text in texts.items()
    }
    scores = {label: engine.score_candidates([request], [g])[0] for label, g in generations.items()}
    answer = min(CANDIDATES, key=lambda label: scores[label][label])
    assert max(scores[answer], key=scores[answer].get) != answer  # the answer is not the most probable

    def answering(self, requests, **kwargs):
        yield [(i, generations[answer]) for i in range(len(requests))]

    monkeypatch.setattr(TransformersEngine, "generate_batches", answering)
    fer = pipeline("facial-expression-recognition", model=str(tiny_model_path))
    out = fer(face, candidate_labels=list(CANDIDATES))
    assert out[0]["label"] == answer and out[0]["score"] == pytest.approx(scores[answer][answer], abs=1e-5)
    rest = [entry["score"] for entry in out[1:]]
    assert rest == sorted(rest, reverse=True) and len(out) == len(CANDIDATES)


class TinyModelAsVLLM:
    """Stand-in for ``vllm.LLM`` (vLLM does not run in this test tier; tests/vllm_tier runs the real one): scores token
    prompts with the tiny transformers model, expanding the prompt's one image placeholder to the image's tokens as
    vLLM does, and answers with vLLM's prompt log-probability structures."""

    def __init__(self, engine):
        self.engine, self.calls = engine, []

    def generate(self, inputs, sampling_params, use_tqdm=True):
        self.calls.append((inputs, sampling_params))
        return [self.scored(item) for item in inputs]

    def scored(self, item):
        processor = self.engine.processor
        image = processor.image_processor(images=[item["multi_modal_data"]["image"]], return_tensors="pt")
        placeholder = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
        count = int(image["image_grid_thw"].prod()) // processor.image_processor.merge_size**2
        ids = [t for token in item["prompt_token_ids"] for t in ([token] * count if token == placeholder else [token])]
        input_ids = torch.tensor([ids])
        with torch.no_grad():
            logits = self.engine.model(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                pixel_values=image["pixel_values"],
                image_grid_thw=image["image_grid_thw"],
            ).logits[0]
        logprobs = torch.log_softmax(logits.double(), dim=-1)
        steps = [None] + [
            {ids[i]: SimpleNamespace(logprob=logprobs[i - 1, ids[i]].item())} for i in range(1, len(ids))
        ]
        return SimpleNamespace(
            outputs=[SimpleNamespace(text="", token_ids=[0])], prompt_token_ids=ids, prompt_logprobs=steps
        )


def test_the_vllm_engine_scores_the_same_continuations(engine, request_, tiny_model_path, monkeypatch):
    """One definition for both engines: the vLLM engine's token prompts (chat prompt, the model's own ids up to its
    answer, each candidate's ids) give the transformers engine's probabilities, in one generate call."""
    from unifer.vllm_engine import VLLMEngine

    monkeypatch.setitem(sys.modules, "vllm", SimpleNamespace(SamplingParams=lambda **kwargs: kwargs))
    vllm_engine = VLLMEngine(str(tiny_model_path))
    vllm_engine._llm = TinyModelAsVLLM(engine)
    by_character = [token for character in REASONING for token in ids_of(engine, character)]
    responses = [
        Generation("", 0, 0.0, token_ids=tuple(by_character + ids_of(engine, "<answer>sadness</answer>"))),
        f"{REASONING}<answer> anger </answer>",
        "",
    ]
    requests = [request_] * len(responses)
    expected = engine.score_candidates(requests, responses)
    scores = vllm_engine.score_candidates(requests, responses)
    [(inputs, params)] = vllm_engine._llm.calls
    assert len(inputs) == len(responses) * len(CANDIDATES) and params["prompt_logprobs"] == 0
    assert all(
        item["prompt_token_ids"].count(engine.tokenizer.convert_tokens_to_ids("<|image_pad|>")) == 1 for item in inputs
    )
    for got, want in zip(scores, expected):
        assert got == pytest.approx(want, abs=1e-5)
