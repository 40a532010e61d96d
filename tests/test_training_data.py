"""Released rows as the paper trained on them: the CoT answer filter can be turned off (and its rows are counted),
RLVR rows keep the solution as released, and raw rows find their images under an images root."""

import json

import pytest
from datasets import load_dataset

from unifer.commands import main
from unifer.data import cot_rlvr
from unifer.data.configs import RlvrBuildConfig
from unifer.data.synfer import draw_face
from unifer.prompts import fer_question
from unifer.trainers.rewards import official_accuracy_reward

CANDIDATES = ["happy", "sad", "angry", "neutral"]
QUESTION = fer_question(CANDIDATES)
# Responses the strict parser cannot read (no single candidate in one answer block), which the official SFT kept.
UNPARSABLE = ["<think>x</think> happy", "<think>x</think><answer>happy or sad</answer>"]


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """An images root as the released rows expect it: ``/RAF-DB/...`` paths under it."""
    root = tmp_path_factory.mktemp("fer-images")
    (root / "RAF-DB").mkdir()
    draw_face("happiness", 1, 16).save(root / "RAF-DB" / "happy.png")
    return root


@pytest.fixture(scope="module")
def cot_json(tmp_path_factory):
    rows = [
        {"image_path": "/RAF-DB/happy.png", "question": QUESTION, "response": response}
        for response in ["<think>Lips up.</think><answer>happy</answer>", *UNPARSABLE]
    ]
    path = tmp_path_factory.mktemp("released") / "UniFER_CoT.json"
    path.write_text(json.dumps(rows))
    return path


def build_cot(cot_json, images, out, *extra):
    return main(
        ["data", "build", "cot", "--json", str(cot_json), "--images-root", str(images), "--out", str(out), *extra]
    )


def test_cot_answer_filter_is_on_by_default_and_counts_what_it_drops(cot_json, images, tmp_path, capsys):
    assert build_cot(cot_json, images, tmp_path / "strict") == 0
    assert "wrote 1 rows" in capsys.readouterr().out
    report = [json.loads(line) for line in (tmp_path / "strict" / "rejected.jsonl").read_text().splitlines()]
    assert [row["reason"] for row in report] == ["answer_unparsable"] * len(UNPARSABLE)


def test_cot_answer_filter_off_keeps_every_row_and_counts_them(cot_json, images, tmp_path, capsys):
    assert build_cot(cot_json, images, tmp_path / "all", "--no-answer-filter") == 0
    summary = capsys.readouterr().out
    assert "wrote 3 rows" in summary and "rejected 0" in summary
    assert f"answer filter off: kept {len(UNPARSABLE)} row(s)" in summary
    card = (tmp_path / "all" / "README.md").read_text()
    assert f"{len(UNPARSABLE)} kept row(s)" in card and "--no-answer-filter" in card
    rows = load_dataset(str(tmp_path / "all"), "cot", split="train")
    responses = [row["messages"][1]["content"][0]["text"] for row in rows]
    assert responses[1:] == UNPARSABLE


def test_answer_filter_applies_to_cot_only(images):
    row = {"image_path": "/RAF-DB/happy.png", "problem": QUESTION, "solution": "<answer>Happy</answer>"}
    with pytest.raises(ValueError, match="CoT rows only"):
        cot_rlvr.training_example(cot_rlvr.KINDS["rlvr"], row, images_root=images, check_answers=False)


def test_rlvr_rows_keep_the_released_solution_for_the_official_reward(images, tmp_path):
    rows = [{"image_path": "/RAF-DB/happy.png", "problem": QUESTION, "solution": "<answer>Happy</answer>"}]
    (tmp_path / "rlvr.json").write_text(json.dumps(rows))
    report = cot_rlvr.build(RlvrBuildConfig(tmp_path / "rlvr.json", images, tmp_path / "out"))
    assert report.output.num_examples == 1
    row = load_dataset(str(tmp_path / "out"), "rlvr", split="train")[0]
    assert (row["solution"], row["source_solution"], row["candidate_labels"]) == (
        "happiness",
        "<answer>Happy</answer>",
        CANDIDATES,
    )
    # The official reward compares with the released spelling ("Happy"), not the candidate's ("happy").
    kwargs = {key: [row[key]] for key in ("solution", "candidate_labels", "source_solution")}
    assert official_accuracy_reward(["<answer>Happy</answer>"], **kwargs) == [1.0]
    assert official_accuracy_reward(["<answer>happy</answer>"], **kwargs) == [0.0]


def test_training_rows_resolve_images_under_the_images_root(images):
    row = {"image_path": "/RAF-DB/happy.png", "question": QUESTION, "response": UNPARSABLE[0]}
    kind = cot_rlvr.KINDS["cot"]
    with pytest.raises(cot_rlvr.Rejected, match="image_missing.*no images_root set"):
        cot_rlvr.training_example(kind, row, check_answers=False)  # /RAF-DB/... is not on this machine
    with pytest.raises(cot_rlvr.Rejected, match="answer_unparsable"):
        cot_rlvr.training_example(kind, row, images_root=images)
    example = cot_rlvr.training_example(kind, row, images_root=images, check_answers=False)
    assert example["images"] == [str(images / "RAF-DB" / "happy.png")]
    with pytest.raises(cot_rlvr.Rejected, match=r"image_missing: .*gone.png: no such file under images_root"):
        cot_rlvr.training_example(kind, {**row, "image_path": "/RAF-DB/gone.png"}, images_root=images)
