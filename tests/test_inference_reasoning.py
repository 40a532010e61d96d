"""The answer-only prompt on a model that always reasons: the prediction and eval's report say so.

The model here is a stand-in engine that answers as the quickstart's model does under ``reasoning=False`` (it
opens ``<think>`` and the 16-token answer-only budget ends it); the tiny random model reasons about nothing."""

import logging

import pytest

from unifer.configs import EvalConfig
from unifer.data.synfer import draw_face
from unifer.data.synfer_dataset import build_synfer
from unifer.evaluation import evaluate_model
from unifer.inference import DEFAULT_MAX_NEW_TOKENS, Generation, predict_with_engine

CANDIDATES = ["happiness", "sadness"]


class AlwaysReasons:
    """Stand-in engine: a model that reasons whatever it is asked, cut off by the budget it is given."""

    name = "always-reasons"
    scores_candidates = False

    def __init__(self):
        self.budgets = []

    def generate_batches(self, requests, *, batch_size, max_new_tokens, **sampling):
        self.budgets.append(max_new_tokens)
        text = "<think>The mouth corners rise and the eyes narrow, which"
        yield [(i, Generation(text, max_new_tokens, 0.01)) for i in range(len(requests))]


def test_predict_says_the_model_always_reasons():
    engine = AlwaysReasons()
    [prediction] = predict_with_engine(
        engine, [draw_face("happiness", 0)], CANDIDATES, reasoning=False, probabilities=False
    )
    assert engine.budgets == [DEFAULT_MAX_NEW_TOKENS[False]]
    assert prediction.label is None
    assert "model began reasoning" in prediction.error and "always reasons" in prediction.error
    assert "reasoning=True" in prediction.error and f"after {DEFAULT_MAX_NEW_TOKENS[False]} tokens" in prediction.error


def test_a_reasoning_request_that_runs_out_is_not_blamed_on_the_prompt():
    [prediction] = predict_with_engine(
        AlwaysReasons(), [draw_face("happiness", 0)], CANDIDATES, reasoning=True, probabilities=False
    )
    assert prediction.label is None and prediction.error is None


def test_eval_report_says_the_model_always_reasons(tiny_model_path, tmp_path, caplog):
    build_synfer(tmp_path / "bench", n_per_class=1, test_per_class=2, size=48, emotions=CANDIDATES, num_proc=1)
    config = EvalConfig(
        model=str(tiny_model_path),  # its processor is read for run.json; the stand-in engine generates
        benchmark=str(tmp_path / "bench"),
        output_dir=str(tmp_path / "run"),
        reasoning=False,
        max_new_tokens=16,
        bootstrap=0,
    )
    with caplog.at_level(logging.WARNING):
        result = evaluate_model(config, engine=AlwaysReasons())
    assert result.get("overall", result)["accuracy"] == 0
    expected = "4 of 4 responses began reasoning (<think>) although the prompt asked for the answer only"
    report = (tmp_path / "run" / "report.md").read_text()
    assert expected.replace("<think>", "`<think>`") in report and "4 of them stopping without an answer" in report
    assert "this model always reasons" in report and "without --no-reasoning" in report
    assert any(expected in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("text", "reasoning", "expected"),
    [
        ("<think>brows", False, True),
        ("  <THINK>brows", False, True),
        ("<think>brows</think><answer>sad</answer>", False, True),
        ("<answer>sad</answer>", False, False),
        ("<think>brows", True, False),
        ("sad", False, False),
    ],
)
def test_reasoned_unasked(text, reasoning, expected):
    from unifer.answers import reasoned_unasked

    assert reasoned_unasked(text, reasoning) is expected
