"""UniFER-CoT / RLVR builders: planted bad rows of every reason are counted exactly; good rows land in TRL shape."""

import json
from collections import Counter

import datasets
import pyarrow.parquet as pq
import pytest

from unifer.commands import main
from unifer.data import cot_rlvr
from unifer.data.configs import BUILD_CONFIGS
from unifer.data.publish import ShardWriter
from unifer.data.synfer import draw_face
from unifer.prompts import chat_messages, fer_question

CANDIDATES = ["happy", "sad", "angry", "neutral"]
QUESTION = fer_question(CANDIDATES)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    (root / "faces").mkdir()
    draw_face("happiness", 1, 16).save(root / "faces" / "happy.png")
    draw_face("sadness", 2, 16).save(root / "faces" / "sad.jpg", "JPEG")
    (root / "faces" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return root


def good_rows(kind):
    """12 valid rows: PNG and JPEG, paths with and without the leading slash, tagged and bare answers."""
    rows = []
    for i in range(12):
        path = ["/faces/happy.png", "faces/sad.jpg"][i % 2]
        label = ["happy", "Sad", "anger", "neutral"][i % 4]  # case and aliases are forgiven
        if kind == "cot":
            rows.append(
                {
                    "image_path": path,
                    "question": QUESTION,
                    "response": f"<think>Reasoning {i}.</think><answer>{label}</answer>",
                }
            )
        else:
            rows.append(
                {"image_path": path, "problem": QUESTION, "solution": f"<answer>{label}</answer>" if i % 3 else label}
            )
    return rows


def bad_rows(kind):
    """Planted failures, a different count per reason (JSONL adds one unparsable line: invalid_json 2)."""
    text, answer = ("question", "response") if kind == "cot" else ("problem", "solution")
    ok = "<think>x</think><answer>happy</answer>" if kind == "cot" else "happy"
    row = lambda **kw: {"image_path": "/faces/happy.png", text: QUESTION, answer: ok, **kw}  # noqa: E731
    planted = {
        "invalid_json": [["not", "an", "object"]],
        "missing_field": [{text: QUESTION, answer: ok}, row(**{text: "  "})],
        "candidates_unparsable": [
            row(**{text: "Which expression is this?"}),
            row(**{text: fer_question(["happy"]).replace("happy", "happy, banana")}),
            row(**{text: QUESTION.replace("happy", "happy, joy")}),
        ],
        "image_missing": [row(image_path=f"/faces/missing_{i}.png") for i in range(5)],
        "image_unreadable": [row(image_path="/faces/broken.png") for _ in range(6)],
    }
    if kind == "cot":
        planted["answer_unparsable"] = [
            row(response=r)
            for r in (
                "<think>x</think> happy",
                "<think>x</think><answer>happy or sad</answer>",
                "<think>x</think><answer>fear</answer>",
                "<answer>happy</answer><answer>sad</answer>",
            )
        ]
    else:
        planted["label_not_in_candidates"] = [
            row(solution=s)
            for s in ("fear", "<answer>banana</answer>", "<answer>happy or sad</answer>", "<answer></answer>")
        ]
    return planted


def write_source(path, rows, fmt):
    if fmt == "json":
        path.write_text(json.dumps(rows))
    else:
        lines = [json.dumps(r) for r in rows]
        lines.insert(3, "{this is not json")
        lines.insert(5, "")  # blank lines are ignored
        path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("fmt", ["json", "jsonl"])
@pytest.mark.parametrize("kind", ["cot", "rlvr"])
def test_every_rejection_reason_is_counted_exactly(kind, fmt, images, tmp_path):
    planted = bad_rows(kind)
    good = good_rows(kind)
    rows = good[:6] + [r for bad in planted.values() for r in bad] + good[6:]
    source = tmp_path / f"data.{fmt}"
    write_source(source, rows, fmt)
    report = cot_rlvr.build(BUILD_CONFIGS[kind](source, images, tmp_path / "out"))

    expected = Counter({reason: len(bad) for reason, bad in planted.items()})
    expected["invalid_json"] += fmt == "jsonl"
    assert report.rejected == expected
    assert report.output.num_examples == len(good)
    logged = [json.loads(line) for line in (tmp_path / "out" / "rejected.jsonl").read_text().splitlines()]
    assert Counter(item["reason"] for item in logged) == expected
    summary = report.summary()
    assert f"wrote {len(good)} rows" in summary and f"rejected {sum(expected.values())}" in summary
    assert all(f"{reason} {n}" in summary for reason, n in expected.items())


def test_rlvr_rows_load_in_grpo_shape(images, tmp_path):
    good = good_rows("rlvr")
    source = tmp_path / "rlvr.json"
    write_source(source, good, "json")
    cot_rlvr.build(BUILD_CONFIGS["rlvr"](source, images, tmp_path / "out"), max_shard_bytes=2_000)
    assert len(list((tmp_path / "out" / "rlvr").glob("train-*.parquet"))) > 1
    ds = datasets.load_dataset(str(tmp_path / "out"), split="train", cache_dir=str(tmp_path / "cache"))
    assert ds.column_names == ["prompt", "image", "solution", "candidate_labels", "source_solution"]
    assert ds["solution"] == ["happiness", "sadness", "anger", "neutral"] * 3  # canonical, in source order
    assert ds["source_solution"] == [row["solution"] for row in good]  # as released, for official_accuracy
    assert ds[0]["candidate_labels"] == CANDIDATES
    assert ds[0]["prompt"][0]["content"][1] == chat_messages(None, QUESTION)[0]["content"][1]
    assert ds[0]["prompt"][0]["content"][0]["type"] == "image" and ds[1]["image"].format == "JPEG"


def test_cot_rows_load_in_sft_shape(images, tmp_path):
    good = good_rows("cot")
    source = tmp_path / "cot.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in good))
    cot_rlvr.build(BUILD_CONFIGS["cot"](source, images, tmp_path / "out"))
    ds = datasets.load_dataset(str(tmp_path / "out"), split="train", cache_dir=str(tmp_path / "cache"))
    assert len(ds) == 12 and ds.column_names == ["messages", "images"]
    expected = chat_messages(None, QUESTION, response=good[3]["response"])
    messages = ds[3]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"][1] == expected[0]["content"][1]
    assert messages[1]["content"][0]["text"] == good[3]["response"]
    assert len(ds[3]["images"]) == 1 and ds[3]["images"][0].size == (16, 16)
    card = (tmp_path / "out" / "README.md").read_text()
    assert "config_name: cot" in card and "default: true" in card and "UniFER-CoT-230K" in card


def test_a_broken_json_list_fails_clearly_and_leaves_no_shards(images, tmp_path):
    source = tmp_path / "broken.json"
    source.write_text(json.dumps(good_rows("rlvr")[:3])[:-40])
    with pytest.raises(ValueError, match="not valid JSON after row"):
        cot_rlvr.build(BUILD_CONFIGS["rlvr"](source, images, tmp_path / "out"))
    assert not list((tmp_path / "out").rglob("*.parquet*"))


def test_cli_prints_the_rejection_summary(images, tmp_path, capsys):
    source = tmp_path / "rlvr.jsonl"
    write_source(source, good_rows("rlvr") + bad_rows("rlvr")["image_missing"], "jsonl")
    code = main(
        ["data", "build", "rlvr", "--json", str(source), "--images-root", str(images), "--out", str(tmp_path / "out")]
    )
    out = capsys.readouterr().out
    assert code == 0 and "wrote 12 rows" in out and "invalid_json 1, image_missing 5" in out
    assert (
        main(
            [
                "data",
                "build",
                "cot",
                "--json",
                str(tmp_path / "none.json"),
                "--images-root",
                str(images),
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "none.json not found" in capsys.readouterr().err


def test_shard_writer_bounds_row_groups_and_keeps_feature_metadata(tmp_path):
    features = cot_rlvr.RLVR_FEATURES
    image = {"bytes": b"\x00" * 100, "path": "x.png"}  # the writer stores bytes; it does not decode them
    example = {
        "prompt": chat_messages(None, QUESTION),
        "image": image,
        "solution": "happiness",
        "source_solution": "happiness",
        "candidate_labels": CANDIDATES,
    }
    with ShardWriter(tmp_path, "rlvr", "train", features, row_group_rows=4) as writer:
        for _ in range(10):
            writer.write(example)
    shard = pq.ParquetFile(tmp_path / "rlvr" / "train-00000-of-00001.parquet")
    assert shard.metadata.num_row_groups == 3 and shard.metadata.num_rows == 10
    assert datasets.Features.from_arrow_schema(shard.schema_arrow) == features

    with ShardWriter(tmp_path, "empty", "train", features) as writer:
        pass
    assert writer.output.num_examples == 0
    assert not list(
        (tmp_path / "empty").glob("*.parquet")
    )  # an empty split gets no shard (load_dataset can't read one)
