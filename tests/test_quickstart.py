"""The quickstart's stages are its recipes plus overrides, parsed by the parsers that train them; ``--fast`` is a
small override of the same plan; GRPO's lift pairs the two evaluations by face. The whole run is
tests/test_cli.py's (``--fast``) and ``make quickstart``'s (docs/quickstart.md)."""

import json

import pytest
from trl import TrlParser

from unifer.quickstart import FAST, STAGES, Plan, grpo_lift, recipe_args, recipe_file, stage_settings
from unifer.trainers.configs import VisionPretrainingConfig
from unifer.trainers.train import make_parser

# The settings docs/quickstart.md states ("What the quickstart runs", "The CI variant"), transcribed from there.
DOCUMENTED = {
    "vision": dict(
        max_steps=250,
        per_device_train_batch_size=32,
        learning_rate=1e-3,
        lr_scheduler_type="cosine",
        token_loss_weight=8.0,
        token_loss_start=50,
    ),
    "sft": dict(
        max_steps=150,
        per_device_train_batch_size=32,
        learning_rate=2e-3,
        lr_scheduler_type="constant_with_warmup",
        warmup_steps=20,
        freeze_vision_tower=True,
    ),
    "grpo": dict(
        max_steps=60,
        per_device_train_batch_size=32,  # 4 faces x 8 completions
        num_generations=8,
        temperature=1.0,
        max_completion_length=80,
        learning_rate=1e-4,
        beta=0.0,
        freeze_vision_tower=True,
    ),
}
DOCUMENTED_FAST = {
    "vision": dict(max_steps=150, per_device_train_batch_size=32, token_loss_weight=8.0, token_loss_start=50),
    "sft": dict(max_steps=160, per_device_train_batch_size=16, learning_rate=2e-3),
    "grpo": dict(max_steps=4, per_device_train_batch_size=8, num_generations=4),  # 2 faces x 4 completions
}


def parsed(stage: str, plan: Plan, tmp_path):
    """The stage's training config as the quickstart's command line parses it."""
    settings = dict(output_dir=tmp_path / stage, seed=0, image_size=plan.image_size)
    if stage == "vision":
        (args,) = TrlParser([VisionPretrainingConfig]).parse_args_and_config(recipe_args(stage, plan, **settings))
        return args
    settings.update(model_name_or_path=tmp_path / "model", dataset_name=tmp_path / "data")
    data_args, args, model_args = make_parser(stage).parse_args_and_config(recipe_args(stage, plan, **settings))
    assert (data_args.dataset_name, model_args.model_name_or_path) == (str(tmp_path / "data"), str(tmp_path / "model"))
    return args


def value(args, key):
    found = getattr(args, key)
    return getattr(found, "value", found)  # enums (lr_scheduler_type) as their names


@pytest.mark.parametrize("plan, documented", [(Plan(), DOCUMENTED), (FAST, DOCUMENTED_FAST)], ids=["full", "fast"])
@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_trains_with_the_documented_settings(stage, plan, documented, tmp_path):
    args = parsed(stage, plan, tmp_path)
    assert {key: value(args, key) for key in documented[stage]} == documented[stage]
    assert (args.output_dir, args.seed, args.image_size) == (str(tmp_path / stage), 0, 56)


def test_the_recipes_hold_the_settings_and_fast_overrides_a_few_of_their_keys():
    """No hyperparameters parallel to the recipes: the full plan overrides nothing, and ``--fast`` overrides only
    keys its recipes set (a misspelled or new key would be a second source of settings)."""
    assert (Plan().vision, Plan().sft, Plan().grpo) == ({}, {}, {})
    for stage in STAGES:
        overrides = getattr(FAST, stage)
        assert 0 < len(overrides) <= 4 and set(overrides) <= set(stage_settings(stage, Plan()))
        assert recipe_file(stage).name == f"{stage}_quickstart.yaml"
    assert stage_settings("sft", FAST)["max_steps"] == 160 and stage_settings("sft", Plan())["max_steps"] == 150


def _predictions(folder, right: list[bool], order: list[int]) -> None:
    """A ``unifer eval`` folder's predictions.jsonl: face ``i`` answered right or wrong, written in ``order``."""
    folder.mkdir()
    lines = []
    for i in order:
        answer = "happiness" if right[i] else "neutral"
        record = {"id": f"face-{i}", "subset": "synfer", "label": "happiness", "response": answer}
        lines.append(json.dumps({**record, "parsed_label": answer}))
    (folder / "predictions.jsonl").write_text("\n".join(lines) + "\n")


def test_grpo_lift_pairs_the_answers_by_face(tmp_path):
    before = [i % 2 == 0 for i in range(200)]  # 100 right
    after = [right or i in (1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23) for i, right in enumerate(before)]
    after[0] = after[2] = False  # 12 fixed, 2 broken: lift +0.05
    _predictions(tmp_path / "eval-sft", before, list(range(200)))
    _predictions(tmp_path / "eval-grpo", after, list(reversed(range(200))))  # pairing is by id, not by line
    lift = grpo_lift(tmp_path)
    assert (lift["n"], lift["fixed"], lift["broken"]) == (200, 12, 2)
    assert lift["lift"] == pytest.approx(0.05)
    # Only the 14 changed faces vary under paired resampling: the interval is narrow and excludes 0.
    assert 0 < lift["ci95"][0] < 0.05 < lift["ci95"][1] < 0.1
    (tmp_path / "eval-grpo" / "predictions.jsonl").unlink()
    (tmp_path / "eval-grpo").rmdir()
    _predictions(tmp_path / "eval-grpo", before[:199], list(range(199)))
    with pytest.raises(ValueError, match="different faces"):
        grpo_lift(tmp_path)


def test_the_final_models_card_warns_a_newcomer_of_nothing(tmp_path, caplog):
    """The quickstart's model stays local: its card names the local SynFER folder and warns of no missing Hub id,
    while a card for publishing (``unifer card``'s default) still does, on the same inputs."""
    from unifer.metrics.scoring import score
    from unifer.model_card import build_card
    from unifer.quickstart import _save_final_model

    data = tmp_path / "synfer"
    data.mkdir()
    (data / "README.md").write_text("---\npretty_name: SynFER\nsynthetic: true\n---\n\nSynthetic faces.\n")
    evaluation = tmp_path / "eval-grpo"
    evaluation.mkdir()
    metrics = score(["<answer>happiness</answer>", "<answer>sadness</answer>"], ["happiness", "anger"], bootstrap=0)
    (evaluation / "metrics.json").write_text(json.dumps(metrics))
    (evaluation / "run.json").write_text(json.dumps({"benchmark": str(data), "benchmark_config": "benchmark"}))
    (tmp_path / "grpo").mkdir()
    with caplog.at_level("WARNING"):
        final = _save_final_model(tmp_path / "grpo", tmp_path, data)
    assert not caplog.records, [record.getMessage() for record in caplog.records]
    card = (final / "README.md").read_text()
    assert "**Synthetic data.**" in card and f"the local folder `{data}`" in card
    with caplog.at_level("WARNING"):
        build_card(final, evaluation / "metrics.json")
    assert "not known to be on the Hub" in caplog.text
