"""CoT curation: the kept set is exactly the right and well-formed teacher samples, transient endpoint failures are
retried, permanent ones are reported, and a killed run resumes without duplicates."""

import base64
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import asdict, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import datasets
import pyarrow.parquet as pq
import pytest
from PIL import Image
from transformers import AutoTokenizer, GenerationConfig

from unifer.commands import main
from unifer.commands.data import make_parser
from unifer.commands.parsing import parsed_configs
from unifer.data.cot_rlvr import COT_FEATURES
from unifer.data.curation import REASONS, Settings, curate_cot, stratified_order
from unifer.data.synfer_dataset import build_synfer
from unifer.images import prepare_image
from unifer.labels import normalize

EMOTIONS = ["happy", "sad", "anger", "surprise", "neutral"]
K = 2
FAST = dict(samples_per_item=K, image_size=32, retries=2, timeout=2.0, concurrency=4)


@pytest.fixture(scope="module")
def rlvr(tmp_path_factory):
    """10 SynFER RLVR rows (2 per emotion; position p has emotion p % 5) and their datasets cache."""
    root = tmp_path_factory.mktemp("synfer")
    build_synfer(root / "synfer", n_per_class=2, size=32, emotions=EMOTIONS, num_proc=1)
    cache = root / "cache"
    rows = datasets.load_dataset(str(root / "synfer"), "rlvr", split="train", cache_dir=str(cache))
    rows = rows.cast_column("image", datasets.Image(decode=False))
    return {"path": root / "synfer", "cache": str(cache), "rows": list(rows)}


def answer(kind, label, candidates):
    other = next(c for c in candidates if c != label)
    return {
        "right": f"<think>The mouth and brows show {label}.</think><answer>{label}</answer>",
        "right2": f"<think>Looking closely, every cue points one way: {label}.</think><answer>{label}</answer>",
        "wrong": f"<think>The mouth and brows show {other}.</think><answer>{other}</answer>",
        "malformed": f"<answer>{label}</answer>",
        "hedge": f"<think>Hard to say.</think><answer>{label} or {other}</answer>",
    }[kind]


class FakeEndpoint:
    """An OpenAI-compatible server on 127.0.0.1 answering per item (found from the image's pixels) from a script:
    each request of an item takes the next step (the last one repeats): a list of answer kinds (one choice each, at
    most ``n``), or "500", "429", "timeout" (a reply later than the client's timeout)."""

    def __init__(self, rows, scripts, default, delay=0.0):
        self.rows, self.scripts, self.default, self.delay = rows, scripts, default, delay
        self.attempts, self.payloads, self.lock, self._by_pixels = Counter(), [], threading.Lock(), {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def item_of(self, image):
        key = (image.size, hashlib.sha1(image.tobytes()).hexdigest())
        if not self._by_pixels:
            for position, row in enumerate(self.rows):
                prepared = prepare_image(row["image"], image.size[0])
                self._by_pixels[(prepared.size, hashlib.sha1(prepared.tobytes()).hexdigest())] = position
            assert len(self._by_pixels) == len(self.rows), "two RLVR faces share their pixels"
        return self._by_pixels[key]

    def reply(self, payload):
        url = payload["messages"][0]["content"][0]["image_url"]["url"]
        image = Image.open(io.BytesIO(base64.b64decode(url.removeprefix("data:image/png;base64,"))))
        position = self.item_of(image.convert("RGB"))
        with self.lock:
            self.payloads.append((position, payload, image.format, image.size))
            attempt = self.attempts[position]
            self.attempts[position] += 1
        steps = self.scripts.get(position, self.default)
        step = steps[min(attempt, len(steps) - 1)]
        if isinstance(step, str):
            return step, None
        row = self.rows[position]
        texts = [answer(kind, row["solution"], row["candidate_labels"]) for kind in step[: payload["n"]]]
        return "200", {
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": text}} for i, text in enumerate(texts)
            ]
        }

    def _handler(self):
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, status, body):
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up on a slow reply
                    pass

            def do_GET(self):
                self.send(200, {"data": [{"id": "fake-teacher"}]})

            def do_POST(self):
                time.sleep(endpoint.delay)
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, body = endpoint.reply(payload)
                if status == "timeout":
                    time.sleep(3 * FAST["timeout"])
                    status = "200"
                    body = {"choices": []}
                self.send(int(status), body or {"error": status})

        return Handler

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint(rlvr):
    servers = []

    def start(scripts, default, delay=0.0):
        servers.append(FakeEndpoint(rlvr["rows"], scripts, default, delay))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def ledger(out):
    return [json.loads(line) for line in (out / "samples.jsonl").read_text(encoding="utf-8").splitlines()]


def kept_texts(out):
    """The assistant texts of the curated rows (none written when nothing was kept: no empty split is left)."""
    rows = pq.read_table(out / "cot").to_pylist() if (out / "cot").exists() else []
    return sorted(row["messages"][-1]["content"][0]["text"] for row in rows)


def expected_texts(rlvr, kept):
    rows = rlvr["rows"]
    return sorted(answer(kind, rows[p]["solution"], rows[p]["candidate_labels"]) for p, kind in kept)


def assert_adds_up(report):
    samples = report["samples"]
    assert samples["drawn"] == samples["kept"] + sum(report["rejected"].values())
    assert samples["drawn"] == K * report["items"]["curated"]
    assert sum(row["drawn"] for row in report["per_class"].values()) == samples["drawn"]
    assert sum(row["kept"] for row in report["per_source"].values()) == samples["kept"] == report["output"]["rows"]


# Item -> steps. Item 2 gets two identical right answers (a duplicate under --dedup); item 6 gets one choice per
# request although asked for two (the client asks again for the rest).
SCRIPTS = {
    0: [["right", "wrong"]],
    1: [["malformed", "hedge"]],
    2: ["500", ["right", "right"]],
    3: ["timeout", ["wrong", "right"]],
    4: ["429", ["right", "hedge"]],
    5: ["500"],
    6: [["right"], ["right2"]],
}
DEFAULT = [["wrong", "right"]]


def scripted_kinds(position):
    if position == 5:
        return None
    if position == 6:
        return ["right", "right2"]
    steps = SCRIPTS.get(position, DEFAULT)
    return next(step for step in steps if isinstance(step, list))


def test_endpoint_keeps_exactly_the_right_well_formed_answers(rlvr, endpoint, tmp_path):
    server = endpoint(SCRIPTS, DEFAULT)
    out = tmp_path / "out"
    report = curate_cot(
        rlvr["path"], out, server.url, cache_dir=rlvr["cache"], progress=False, model_name="teacher-x", **FAST
    )

    lines = ledger(out)
    assert Counter(line["item"] for line in lines) == {p: K for p in range(10)}
    kept = []
    for line in lines:
        kinds = scripted_kinds(line["item"])
        if kinds is None:  # the permanent failure: recorded, not crashed
            assert (line["reason"], line["text"], line["accepted"]) == ("error", None, False)
            assert "HTTP 500" in line["error"] and "3 attempts" in line["error"]
            continue
        kind = kinds[line["sample"]]
        assert line["text"] == answer(
            kind, rlvr["rows"][line["item"]]["solution"], rlvr["rows"][line["item"]]["candidate_labels"]
        )
        assert line["accepted"] == (kind.startswith("right")), line
        kept += [(line["item"], kind)] * line["accepted"]
    assert kept_texts(out) == expected_texts(rlvr, kept)
    curated = datasets.load_dataset(str(out), split="train", cache_dir=rlvr["cache"])  # the card's configs work
    assert curated.features == COT_FEATURES and curated.num_rows == 10

    # Transient failures took one retry each; the permanent one used all of them; item 6 needed two requests.
    assert {p: server.attempts[p] for p in (0, 2, 3, 4, 5, 6)} == {0: 1, 2: 2, 3: 2, 4: 2, 5: 3, 6: 2}
    assert report["rejected"] == {
        "error": 2,
        "malformed": 1,
        "unparsable": 2,
        "wrong_label": 5,
        "duplicate": 0,
        "over_cap": 0,
    }
    assert report["samples"] == {"drawn": 20, "answered": 18, "accepted": 10, "kept": 10}
    assert report["errors"][0]["samples"] == K and "HTTP 500" in report["errors"][0]["message"]
    assert report["per_class"]["happiness"]["acceptance_rate"] == 2 / 4  # items 1 (none right) and 6 (both)
    assert_adds_up(report)
    assert "HTTP 500" in (out / "report.md").read_text() and "configs:" in (out / "README.md").read_text()

    position, payload, image_format, size = server.payloads[0]
    content = payload["messages"][0]["content"]
    assert (payload["model"], payload["n"], payload["max_tokens"], image_format, size) == (
        "teacher-x",
        K,
        1024,
        "PNG",
        (32, 32),
    )
    assert content[1] == {"type": "text", "text": rlvr["rows"][position]["prompt"][0]["content"][1]["text"]}


@pytest.mark.slow
def test_dedup_and_caps_change_only_the_selection(rlvr, endpoint, tmp_path):
    server = endpoint(SCRIPTS, DEFAULT)
    out = tmp_path / "out"
    curate_cot(rlvr["path"], out, server.url, cache_dir=rlvr["cache"], progress=False, **FAST)
    first = ledger(out)

    report = curate_cot(rlvr["path"], out, server.url, cache_dir=rlvr["cache"], progress=False, dedup=True, **FAST)
    assert report["rejected"]["duplicate"] == 1  # item 2's second answer; item 6's differ in wording
    assert ledger(out)[: len(first) - K] == [line for line in first if line["item"] != 5]  # only errors resampled

    report = curate_cot(
        rlvr["path"],
        out,
        server.url,
        cache_dir=rlvr["cache"],
        progress=False,
        dedup=True,
        max_per_item=1,
        balance_classes=True,
        **FAST,
    )
    labels = [normalize(row["solution"]) for row in rlvr["rows"]]
    # Kept items per class before the cap: neutral 1 (item 5 failed), happiness 1 (item 1 never right), others 2.
    assert report["class_cap"] == 1
    order = stratified_order(labels, 0)
    firsts = {}
    for position in order:
        if "right" in (scripted_kinds(position) or []):
            firsts.setdefault(labels[position], position)
    assert report["items"]["kept"] == 5 and {
        k: v["kept_items"] for k, v in report["per_class"].items()
    } == dict.fromkeys(labels, 1)
    assert kept_texts(out) == expected_texts(rlvr, {(p, "right") for p in firsts.values()})
    assert report["rejected"]["duplicate"] == 1 and report["rejected"]["over_cap"] == 10 - 1 - 5
    assert_adds_up(report)

    with pytest.raises(ValueError, match="other settings"):
        curate_cot(
            rlvr["path"], out, server.url, cache_dir=rlvr["cache"], progress=False, **{**FAST, "samples_per_item": 3}
        )


def test_max_per_class_stops_sampling_full_classes(rlvr, endpoint, tmp_path):
    server = endpoint({}, [["right", "wrong"]])
    report = curate_cot(
        rlvr["path"],
        tmp_path / "out",
        server.url,
        cache_dir=rlvr["cache"],
        progress=False,
        max_per_class=1,
        **{**FAST, "concurrency": 1},
    )
    assert report["items"] == {"curated": 5, "kept": 5, "skipped_class_full": 5}
    assert len(server.payloads) == 5
    assert_adds_up(report)


@pytest.mark.slow
def test_killed_run_resumes_without_duplicates(rlvr, endpoint, tmp_path):
    server = endpoint({}, [["right", "wrong"]], delay=0.2)
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    options = ["--samples-per-item", str(K), "--image-size", "32", "--concurrency", "1", "--retries", "1"]
    command = [
        sys.executable,
        "-m",
        "unifer.commands",
        "data",
        "curate-cot",
        "--rlvr",
        str(rlvr["path"]),
        "--teacher",
        server.url,
        "--out",
        str(killed),
        *options,
    ]
    env = {**os.environ, "HF_DATASETS_CACHE": rlvr["cache"], "HF_HUB_OFFLINE": "1"}
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None:
            if (killed / "samples.jsonl").exists() and len(ledger(killed)) >= 2 * K:
                break
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait()
    interrupted = ledger(killed)
    finished = [line for line in interrupted if Counter(other["item"] for other in interrupted)[line["item"]] == K]
    assert 2 * K <= len(finished) < 10 * K, "the run was not cut short"
    with (killed / "samples.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"item": 9, "sample": 0, "label": "ang')  # a line torn by the kill

    curate_cot(
        rlvr["path"],
        killed,
        server.url,
        cache_dir=rlvr["cache"],
        progress=False,
        samples_per_item=K,
        image_size=32,
        concurrency=1,
        retries=1,
    )
    resumed = ledger(killed)
    assert resumed[: len(finished)] == finished
    assert Counter((line["item"], line["sample"]) for line in resumed) == {
        (p, s): 1 for p in range(10) for s in range(K)
    }
    assert {payload["model"] for _, payload, _, _ in server.payloads} == {"fake-teacher"}  # from GET /models

    curate_cot(
        rlvr["path"],
        reference,
        server.url,
        cache_dir=rlvr["cache"],
        progress=False,
        samples_per_item=K,
        image_size=32,
        concurrency=1,
    )
    assert kept_texts(killed) == kept_texts(reference)
    assert len(kept_texts(reference)) == 10
    assert (
        json.loads((killed / "report.json").read_text())["samples"]
        == json.loads((reference / "report.json").read_text())["samples"]
    )


def test_damage_before_the_last_line_stops_the_resume(rlvr, endpoint, tmp_path):
    """Only the last line can be torn by a kill: a bad line before it is damage, reported, not silently dropped."""
    server = endpoint({}, [["right", "wrong"]])
    out = tmp_path / "out"
    curate_cot(rlvr["path"], out, server.url, cache_dir=rlvr["cache"], progress=False, limit=2, **FAST)
    lines = (out / "samples.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    lines[1] = lines[1][:20] + "\n"
    (out / "samples.jsonl").write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ValueError, match="samples.jsonl: line 2 is not a JSON record"):
        curate_cot(rlvr["path"], out, server.url, cache_dir=rlvr["cache"], progress=False, **FAST)


def test_cli_options_are_the_settings_fields(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option, so that help texts are not wrapped
    with pytest.raises(SystemExit) as exited:
        main(["data", "curate-cot", "--help"])
    assert exited.value.code == 0
    usage = capsys.readouterr().out
    for spec in fields(Settings):
        flag = f"--{spec.name.replace('_', '-')}"
        assert flag in usage and spec.metadata["help"] in usage, flag
    for flag in ("--rlvr", "--teacher", "--out"):
        assert flag in usage

    required = ["--rlvr", "in", "--teacher", "http://x/v1", "--out", "o"]
    options = ["--samples-per-item", "3", "--top_p", "0.5", "--dedup", "--max-per-class", "2", "--backend", "vllm"]
    (config,) = parsed_configs(make_parser().parse_args(["curate-cot", *required, *options]))
    assert config.settings() == asdict(
        Settings(samples_per_item=3, top_p=0.5, dedup=True, max_per_class=2, backend="vllm")
    )
    assert (config.rlvr, config.teacher, config.out) == ("in", "http://x/v1", "o")


def scripted_teacher(model_path, folder, text):
    """A copy of the tiny model whose generation config makes ``text`` (then the end of the turn) its every answer:
    ``sequence_bias`` raises each next token of the script, keyed on the assistant turn's opening and the script so
    far. The local-teacher path (engine, sampling, parsing, judging) runs for real; only the words are fixed.
    Returns the folder and the script's length in tokens."""
    shutil.copytree(model_path, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    opening = tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    config = GenerationConfig.from_pretrained(folder)
    script = tokenizer(text, add_special_tokens=False)["input_ids"] + [config.eos_token_id[0]]
    config.sequence_bias = [[opening + script[: k + 1], 1000.0] for k in range(len(script))]
    config.save_pretrained(folder)
    return folder, len(script)


def test_local_teacher_plumbing(rlvr, tiny_model_path, tmp_path):
    """A local model as teacher: the tiny model scripted to answer "happy" with well-formed reasoning, sampled as
    curation samples. The first 3 items of the class-balanced order are anger, happy and neutral, so the happy
    item's K samples are kept and the other items' rejected as wrong."""
    text = "<think>The mouth corners rise.</think><answer>happy</answer>"
    teacher, length = scripted_teacher(tiny_model_path, tmp_path / "teacher", text)
    out = tmp_path / "out"
    report = curate_cot(
        rlvr["path"],
        out,
        str(teacher),
        cache_dir=rlvr["cache"],
        progress=False,
        samples_per_item=K,
        max_new_tokens=length + 4,
        limit=3,
        image_size=32,
    )
    lines = ledger(out)
    assert sorted(Counter(line["item"] for line in lines).values()) == [K] * 3
    golds = {line["item"]: normalize(rlvr["rows"][line["item"]]["solution"]) for line in lines}
    assert sorted(golds.values()) == ["anger", "happiness", "neutral"]
    for line in lines:
        happy = golds[line["item"]] == "happiness"
        assert line["text"] == text
        assert (line["accepted"], line["reason"]) == ((True, None) if happy else (False, "wrong_label"))
    assert kept_texts(out) == [text] * K
    assert (out / "README.md").exists()
    assert report["samples"]["kept"] == K and report["rejected"]["wrong_label"] == 2 * K
    assert set(report["rejected"]) == set(REASONS) and report["rejected"]["error"] == 0
    assert_adds_up(report)
