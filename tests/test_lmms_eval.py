"""FERBench as lmms-eval tasks: the real `lmms_eval` CLI, offline, reproduces `unifer eval` and `unifer score`.

The benchmark is FERBench's own layout (the four subset configs with their official label sets, plus `all`) holding
SynFER faces, so the `ferbench` group (per subset + the pooled overall) and `ferbench_folder` both run. The model is
the tiny one with the Qwen2.5-VL-7B processor's pixel limits (UniFER-7B's base), so a 224×224 face is 64 image tokens
exactly as in the real protocol. lmms-eval always loads bfloat16, so `unifer eval` runs in bfloat16 here too.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import datasets
import pytest
import torch

from unifer.commands import main
from unifer.configs import EvalConfig
from unifer.data.ferbench import benchmark_example, features, row_id
from unifer.data.synfer import draw_face
from unifer.evaluation import evaluate_model
from unifer.inference import TransformersEngine
from unifer.jsonl import read_records
from unifer.labels import SUBSET_LABELS, SUBSETS, normalize
from unifer.lmms_eval_tasks import task_folder, write_task_folder
from unifer.metrics.prediction_files import load_predictions
from unifer.metrics.scoring import score
from unifer.prompts import fer_question

# Qwen/Qwen2.5-VL-7B-Instruct's preprocessor_config.json (UniFER-7B's base): 224² stays 224² = 64 tokens.
MIN_PIXELS, MAX_PIXELS = 3136, 12845056
MAX_NEW_TOKENS = 32
PER_SUBSET = 2
SUBSET_TASKS = {"rafdb": "ferbench_rafdb", "ferplus": "ferbench_ferplus", "affectnet": "ferbench_affectnet"}
SUBSET_TASKS["sfew_2.0"] = "ferbench_sfew"
# lmms-eval's --reasoning_tags default (0.7.3): what the tasks must switch off to keep <think>…</think>.
DEFAULT_REASONING_TAGS = '[["<think>", "</think>"], ["<analysis>", "</analysis>"]]'
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}

# `python -m lmms_eval …`, with the image tokens of every generate call recorded (the wrapper logs none of its own).
LMMS_EVAL_RECORDING_IMAGE_TOKENS = """
import json, os, runpy, sys
import transformers
log = open(os.environ["IMAGE_TOKEN_LOG"], "a")
generate = transformers.Qwen2_5_VLForConditionalGeneration.generate
def recording_generate(self, *args, **kwargs):
    counts = (kwargs["input_ids"] == self.config.image_token_id).sum(dim=1).tolist()
    log.write(json.dumps(counts) + "\\n")
    log.flush()
    return generate(self, *args, **kwargs)
transformers.Qwen2_5_VLForConditionalGeneration.generate = recording_generate
sys.argv[0] = "lmms_eval"
runpy.run_module("lmms_eval", run_name="__main__", alter_sys=True)
"""

requires_lmms_eval = pytest.mark.skipif(
    importlib.util.find_spec("lmms_eval") is None or importlib.util.find_spec("decord") is None,
    reason='lmms-eval is not installed: pip install -e ".[lmms-eval]" (make test installs it)',
)


def write_mini_ferbench(out):
    """A FERBench-format folder (`all` + one config per subset, the official schema, label sets and prompts) whose
    faces are SynFER drawings; FERPlus faces are 48×48 grayscale, as in FERPlus."""
    rows = {subset: [] for subset in SUBSETS}
    for subset in SUBSETS:
        for i, label in enumerate(SUBSET_LABELS[subset][:PER_SUBSET]):
            face = (
                draw_face(normalize(label), i, 48, mode="L")
                if subset == "ferplus"
                else draw_face(normalize(label), i, 96)
            )
            path = f"/{subset}/{i}.png"
            face.save(out / "face.png")
            image = {"bytes": (out / "face.png").read_bytes(), "path": path}
            candidates = SUBSET_LABELS[subset]
            rows[subset].append(
                benchmark_example(row_id(subset, i), subset, image, path, label, candidates, fer_question(candidates))
            )
    (out / "face.png").unlink()
    configs = {"all": [row for subset in SUBSETS for row in rows[subset]], **rows}
    card = ["---", "configs:"]
    for config, config_rows in configs.items():
        datasets.Dataset.from_list(config_rows, features=features(config)).to_parquet(
            str(out / config / "test-00000-of-00001.parquet")
        )
        card += [f"- config_name: {config}", "  data_files:", "  - split: test", f"    path: {config}/test-*.parquet"]
        card += ["  default: true"] if config == "all" else []
    (out / "README.md").write_text("\n".join([*card, "---", "", "SynFER faces in FERBench's layout (tests).", ""]))
    return out


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    return write_mini_ferbench(tmp_path_factory.mktemp("mini_ferbench"))


@pytest.fixture(scope="module")
def model_7b_geometry(tiny_model_path, tmp_path_factory):
    """The tiny model with Qwen2.5-VL-7B's processor pixel limits (its own downscale every face to 4 tokens)."""
    from transformers import AutoProcessor

    path = tmp_path_factory.mktemp("tiny_7b_geometry") / "model"
    shutil.copytree(tiny_model_path, path)
    processor = AutoProcessor.from_pretrained(path)
    processor.image_processor.size = {"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS}
    processor.save_pretrained(path)
    return path


def image_token_counts(input_ids, model):
    return (input_ids == model.config.image_token_id).sum(dim=1).tolist()


@pytest.fixture(scope="module")
def unifer_run(model_7b_geometry, benchmark, tmp_path_factory):
    """`unifer eval` on config `all`, bf16 like lmms-eval, one item per batch like the lmms-eval run."""
    engine = TransformersEngine(str(model_7b_geometry), dtype=torch.bfloat16)
    tokens = []
    generate = engine.model.generate

    def recording_generate(**kwargs):
        tokens.append(image_token_counts(kwargs["input_ids"], engine.model))
        return generate(**kwargs)

    engine.model.generate = recording_generate
    out = tmp_path_factory.mktemp("unifer_eval")
    config = EvalConfig(
        model=str(model_7b_geometry),
        benchmark=str(benchmark),
        output_dir=str(out),
        batch_size=1,
        max_new_tokens=MAX_NEW_TOKENS,
        extraction="paper",
        bootstrap=0,
    )
    result = evaluate_model(config, engine=engine)
    return {"metrics": result, "records": read_records(out / "predictions.jsonl"), "image_tokens": tokens}


@pytest.fixture(scope="module")
def lmms_eval_run(model_7b_geometry, benchmark, tmp_path_factory):
    """The real lmms-eval CLI with the command line docs/evaluation.md gives, on the `ferbench` group and
    `ferbench_folder`. lmms-eval exits 0 after many errors, so success is judged by what it wrote."""
    root = tmp_path_factory.mktemp("lmms_eval")
    tasks = root / "tasks"
    assert main(["lmms-eval-tasks", "--benchmark", str(benchmark), "--out", str(tasks)]) == 0
    log = root / "image_tokens.jsonl"
    model_args = (
        f"pretrained={model_7b_geometry},device=cpu,device_map=cpu,min_pixels={MIN_PIXELS},max_pixels={MAX_PIXELS}"
    )
    command = [
        sys.executable,
        "-c",
        LMMS_EVAL_RECORDING_IMAGE_TOKENS,
        "--model",
        "qwen2_5_vl",
        "--model_args",
        model_args,
        "--tasks",
        "ferbench,ferbench_folder",
        "--include_path",
        str(tasks),
        "--batch_size",
        "1",
        "--gen_kwargs",
        f"max_new_tokens={MAX_NEW_TOKENS}",
        "--output_path",
        str(root / "out"),
        "--verbosity",
        "WARNING",
    ]
    env = {**os.environ, **OFFLINE, "IMAGE_TOKEN_LOG": str(log), "HF_DATASETS_CACHE": str(root / "hf_datasets")}
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    output = f"exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    results = sorted((root / "out").rglob("*_results.json"))
    assert len(results) == 1, f"lmms-eval wrote no results file:\n{output}"
    predictions = root / "out" / "unifer_predictions"
    return {
        "results": json.loads(results[0].read_text()),
        "predictions": {path.stem: read_records(path) for path in sorted(predictions.glob("*.jsonl"))},
        "image_tokens": [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else [],
        "output": output,
    }


@requires_lmms_eval
@pytest.mark.slow  # shares the lmms-eval run (a module fixture): about 55 s of CPU
def test_lmms_eval_writes_every_item_in_unifer_score_format(lmms_eval_run, benchmark):
    expected = datasets.load_dataset(str(benchmark), "all", split="test").remove_columns("image")
    assert set(lmms_eval_run["predictions"]) == set(SUBSETS), lmms_eval_run["output"]
    written = [record for subset in SUBSETS for record in lmms_eval_run["predictions"][subset]]
    # The files hold every item once, with what `unifer score` needs to score it again.
    assert [r["id"] for r in written] == expected["id"]
    assert [r["label"] for r in written] == expected["label"]
    assert [r["candidate_labels"] for r in written] == expected["candidate_labels"]
    assert all(isinstance(r["response"], str) and r["response"] for r in written)
    # ferbench_folder overwrote the group's files with the same items: one run, one set of predictions.
    results = lmms_eval_run["results"]["results"]
    assert {*SUBSET_TASKS.values(), "ferbench", "ferbench_folder"} <= set(results), lmms_eval_run["output"]


@requires_lmms_eval
@pytest.mark.slow  # shares the lmms-eval run (a module fixture): about 55 s of CPU
def test_lmms_eval_scores_equal_unifer_score(lmms_eval_run, tmp_path):
    results = lmms_eval_run["results"]["results"]
    paths = [str(tmp_path / f"{subset}.jsonl") for subset in SUBSETS]
    for subset, path in zip(SUBSETS, paths):
        with open(path, "w") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in lmms_eval_run["predictions"][subset])
    figures = {}
    for extraction in ("paper", "strict"):
        out = tmp_path / extraction
        assert main(["score", *paths, "--extraction", extraction, "--bootstrap", "0", "--output-dir", str(out)]) == 0
        figures[extraction] = json.loads((out / "metrics.json").read_text())
    for subset, task in SUBSET_TASKS.items():
        assert results[task]["accuracy,none"] == figures["paper"]["per_subset"][subset]["accuracy"]
        assert results[task]["uar,none"] == figures["paper"]["per_subset"][subset]["uar"]
        assert results[task]["strict_accuracy,none"] == figures["strict"]["per_subset"][subset]["accuracy"]
    # The group's pooled_accuracy is the paper's overall accuracy (every item pooled, the pooled script's extraction).
    assert results["ferbench"]["pooled_accuracy,none"] == pytest.approx(figures["paper"]["overall"]["accuracy"])
    assert results["ferbench"]["strict_accuracy,none"] == pytest.approx(figures["strict"]["overall"]["accuracy"])
    assert results["ferbench_folder"]["accuracy,none"] == figures["paper"]["overall"]["accuracy"]
    assert results["ferbench_folder"]["strict_accuracy,none"] == figures["strict"]["overall"]["accuracy"]


@requires_lmms_eval
@pytest.mark.slow  # shares the lmms-eval run (a module fixture): about 55 s of CPU
def test_lmms_eval_keeps_the_reasoning(lmms_eval_run):
    from lmms_eval.api.reasoning import parse_reasoning_tags_config

    configs = lmms_eval_run["results"]["configs"]
    for task in [*SUBSET_TASKS.values(), "ferbench_folder"]:
        assert parse_reasoning_tags_config(DEFAULT_REASONING_TAGS, configs[task]["reasoning_tags"]) is None


@requires_lmms_eval
@pytest.mark.slow  # shares the lmms-eval run (a module fixture): about 55 s of CPU
def test_lmms_eval_sees_the_faces_as_unifer_eval_does(lmms_eval_run, unifer_run):
    # One generate call per item (batch size 1): 8 for the group, 8 for ferbench_folder; 224² -> 64 tokens.
    n = len(SUBSETS) * PER_SUBSET
    assert lmms_eval_run["image_tokens"] == [[64]] * (2 * n), lmms_eval_run["output"]
    assert unifer_run["image_tokens"] == [[64]] * n


@requires_lmms_eval
@pytest.mark.slow  # shares the lmms-eval run (a module fixture): about 55 s of CPU
def test_lmms_eval_responses_equal_unifer_eval(lmms_eval_run, unifer_run):
    """Same prompt, pixels, dtype and greedy decoding: the same text. lmms-eval strips the response's surrounding
    whitespace before a task sees it, which no extraction depends on."""
    ours = {r["id"]: r["response"].strip() for r in unifer_run["records"]}
    theirs = {r["id"]: r["response"] for records in lmms_eval_run["predictions"].values() for r in records}
    assert theirs == ours
    results = lmms_eval_run["results"]["results"]
    assert results["ferbench_folder"]["accuracy,none"] == unifer_run["metrics"]["accuracy"]
    for subset, task in SUBSET_TASKS.items():
        assert results[task]["accuracy,none"] == unifer_run["metrics"]["per_subset"][subset]["accuracy"]


def load_task_utils():
    """The tasks' utils.py, loaded by file as lmms-eval loads it (`!function utils.…`)."""
    spec = importlib.util.spec_from_file_location("utils", task_folder() / "utils.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def crafted_records():
    """Responses the two official scripts read differently (SFEW 2.0's per-subset script finds only lower-case
    answer tags), and labels named in the reasoning before the answer."""
    responses = {
        "rafdb": ["<think>not fear</think><answer>happiness</answer>", "<answer>sad</answer>", "I see anger."],
        "ferplus": ["<think>happy?</think><answer>contempt</answer>", "<answer>neutral</answer>", "nothing"],
        "affectnet": ["<answer>Surprise</answer>", "<think>fear</think>", "<answer>anger</answer>"],
        "sfew_2.0": [
            "<answer>Happy</answer>",
            "<Answer>sad</Answer> though the mouth looks happy",
            "<answer>angry</answer>",
        ],
    }
    golds = {
        "rafdb": ["happiness", "sadness", "anger"],
        "ferplus": ["contempt", "sad", "angry"],
        "affectnet": ["surprise", "fear", "sadness"],
        "sfew_2.0": ["happy", "sad", "disgust"],
    }
    return {
        subset: [
            {"id": f"{subset}-{i}", "subset": subset, "label": gold, "candidate_labels": list(SUBSET_LABELS[subset])}
            | {"response": response}
            for i, (gold, response) in enumerate(zip(golds[subset], responses[subset]))
        ]
        for subset in SUBSETS
    }


# The crafted records' figures, worked out by hand from the official scripts' rules (see crafted_records):
# per subset (paper accuracy with the per-subset script, paper UAR, strict accuracy, paper accuracy with the pooled
# script). rafdb: all three right in paper mode ("sad" by the synonym table, "I see anger." by substring), the third
# has no answer block for strict. ferplus: only "contempt" right. affectnet: "fear" found in the think block (paper
# only), "anger" wrong. sfew_2.0: "<Answer>sad</Answer> … happy" is "happy" for the case-sensitive per-subset script,
# "sad" for the pooled script and strict mode; "angry" wrong.
HAND_FIGURES = {
    "rafdb": (1, 1, 2 / 3, 1),
    "ferplus": (1 / 3, 1 / 3, 1 / 3, 1 / 3),
    "affectnet": (2 / 3, 2 / 3, 1 / 3, 2 / 3),
    "sfew_2.0": (1 / 3, 1 / 3, 2 / 3, 2 / 3),
}


def test_task_metrics_score_as_unifer_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # `accuracy` writes ./unifer_predictions when lmms-eval gives no --output_path
    utils = load_task_utils()
    records = crafted_records()
    pooled = [r for subset in SUBSETS for r in records[subset]]
    for subset in SUBSETS:
        docs = [{key: r[key] for key in utils.RECORD_KEYS[:-1]} for r in records[subset]]
        items = [utils.process_results(doc, [r["response"]])["accuracy"] for doc, r in zip(docs, records[subset])]
        assert items == records[subset]
        figures = (utils.accuracy(items, args=None), utils.uar(items), utils.strict_accuracy(items))
        assert figures + (utils.pooled_accuracy(items),) == pytest.approx(HAND_FIGURES[subset]), subset
    # Overall, the paper's figure is the pooled script's: 8 of 12 right (the per-subset scripts' 7 of 12 would be
    # what an item-weighted mean of `accuracy` gives). The group reports the item-weighted mean of pooled_accuracy.
    sizes = [len(records[s]) for s in SUBSETS]
    pooled_mean = sum(utils.pooled_accuracy(records[s]) * n for s, n in zip(SUBSETS, sizes)) / sum(sizes)
    subset_mean = sum(utils.accuracy(records[s]) * n for s, n in zip(SUBSETS, sizes)) / sum(sizes)
    assert (pooled_mean, subset_mean) == pytest.approx((8 / 12, 7 / 12))
    assert utils.accuracy(pooled) == pytest.approx(8 / 12)  # a folder task holding every subset
    assert utils.strict_accuracy(pooled) == pytest.approx(6 / 12)
    # unifer score on the same records, as files, agrees with the tasks.
    columns = load_predictions_from(records, tmp_path)
    assert score(**columns, extraction="paper", bootstrap=0)["overall"]["accuracy"] == pytest.approx(8 / 12)
    assert score(**columns, extraction="strict", bootstrap=0)["accuracy"] == pytest.approx(6 / 12)


def load_predictions_from(records, folder):
    """Write the records as `unifer score` input files and read them back as `score`'s arguments."""
    paths = []
    for subset, rows in records.items():
        paths.append(folder / f"in_{subset}.jsonl")
        paths[-1].write_text("".join(json.dumps(r) + "\n" for r in rows))
    return load_predictions(paths)


def test_predictions_go_beside_lmms_eval_results(tmp_path, monkeypatch):
    utils = load_task_utils()
    records = crafted_records()["sfew_2.0"] + crafted_records()["rafdb"]
    args = type("Args", (), {"output_path": str(tmp_path / "results")})()
    written = utils.write_predictions(records, args)
    assert written == [tmp_path / "results" / "unifer_predictions" / f"{s}.jsonl" for s in ("sfew_2.0", "rafdb")]
    assert [r for path in written for r in read_records(path)] == records
    # An --output_path naming a file puts them beside it; none at all, under the working directory.
    assert utils.predictions_dir(str(tmp_path / "run.json")) == tmp_path / "unifer_predictions"
    monkeypatch.chdir(tmp_path)
    assert utils.write_predictions(records[:1])[0].resolve() == tmp_path / "unifer_predictions" / "sfew_2.0.jsonl"


def test_lmms_eval_tasks_command(tmp_path, capsys, benchmark):
    assert main(["lmms-eval-tasks"]) == 0
    shipped = capsys.readouterr().out.strip()
    assert shipped == str(task_folder()) and (task_folder() / "ferbench.yaml").is_file()
    assert (
        main(["lmms-eval-tasks", "--benchmark", str(benchmark), "--out", str(tmp_path / "t"), "--config", "rafdb"])
        == 0
    )
    assert capsys.readouterr().out.strip() == str((tmp_path / "t").resolve())
    template = (tmp_path / "t" / "_default_template_yaml").read_text()
    assert f"dataset_path: {json.dumps(str(benchmark.resolve()))}\n" in template
    assert (tmp_path / "t" / "ferbench_folder.yaml").read_text().endswith('dataset_name: "rafdb"\n')
    assert sorted(p.name for p in (tmp_path / "t").iterdir()) == sorted(
        p.name for p in task_folder().iterdir() if p.name != "__pycache__"
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--out", "x"], "--out and --config need --benchmark"),
        (["--benchmark", "owner/ferbench"], "--benchmark needs --out"),
        (["--benchmark", "no_such_folder", "--out", "x"], "neither a folder nor a Hub dataset id"),
    ],
)
def test_lmms_eval_tasks_command_refuses_bad_input(argv, message, capsys):
    assert main(["lmms-eval-tasks", *argv]) == 2
    assert message in capsys.readouterr().err


def test_write_task_folder_refuses_a_folder_that_is_no_dataset(tmp_path):
    with pytest.raises(ValueError, match="has no README.md"):
        write_task_folder(str(tmp_path), tmp_path / "out")
