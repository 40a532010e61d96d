"""`--backend openai` against a real HTTP server on 127.0.0.1 that misbehaves: 429 with Retry-After, 500, bodies that
are not completions, replies slower than the client's timeout, refusals, content filters and empty replies. The server
(``FaultyServer``, a ThreadingHTTPServer in a thread of the test process) answers deterministically from the request
(the question and the image's pixels), so a run that met faults can be compared with a fault-free one item by item.

The server stands in for an OpenAI-compatible API (OpenAI, Gemini), which cannot be reached from here; the real
`vllm serve` is met in tests/vllm_tier/test_vllm_serve.py."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from unifer.commands import main
from unifer.configs import EvalConfig
from unifer.data.synfer_dataset import build_synfer
from unifer.images import prepare_image
from unifer.inference import FERRequest, predict
from unifer.jsonl import read_records
from unifer.openai_engine import OpenAIEngine
from unifer.prompts import candidates_in_question, fer_question

SERVED_NAME = "faulty-fer"
CANDIDATES = ("happiness", "sadness", "anger", "neutral")


def item_key(question: str, image: Image.Image) -> str:
    """What identifies a request: its question and its image's pixels (what a PNG round trip keeps)."""
    rgb = image.convert("RGB")
    return hashlib.sha256(question.encode() + repr(rgb.size).encode() + rgb.tobytes()).hexdigest()


def reply_text(question: str, image: Image.Image) -> str:
    """The server's fault-free answer: a candidate of the question chosen by the request's hash."""
    key = item_key(question, image)
    candidates = candidates_in_question(question)
    return f"<think>Reply {key[:12]}.</think><answer>{candidates[int(key, 16) % len(candidates)]}</answer>"


def reply_usage(question: str, text: str) -> tuple[int, int]:
    """The server's token usage for a reply: (words of the question + 100 for the image, words of the reply)."""
    return len(question.split()) + 100, len(text.split())


class FaultyServer:
    """An OpenAI-compatible ``/v1/chat/completions`` on 127.0.0.1. ``faults(key, attempt, order)`` picks what the
    ``attempt``-th request (0-based) for an item gets; ``order`` counts the distinct items seen before it. Kinds:
    None (the answer), "429" (with ``Retry-After: retry_after``), "500", "502html" (an HTML gateway page),
    "truncated" (200 with a cut JSON body), "slow" (the answer ``slow`` seconds late), "refusal", "filtered",
    "empty", "401"."""

    def __init__(self, faults=None, *, delay=0.0, slow=3.0, retry_after="1"):
        self.faults = faults or (lambda key, attempt, order: None)
        self.delay, self.slow, self.retry_after = delay, slow, retry_after
        self.lock = threading.Lock()
        self.attempts: Counter = Counter()
        self.order: dict[str, int] = {}
        self.log: list[dict] = []  # one entry per request: key, time, kind, payload
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def requests_of(self, key):
        return [entry for entry in self.log if entry["key"] == key]

    def respond(self, payload, authorization=None):
        content = payload["messages"][-1]["content"]
        question = next(part["text"] for part in content if part["type"] == "text")
        url = next(part["image_url"]["url"] for part in content if part["type"] == "image_url")
        image = Image.open(io.BytesIO(base64.b64decode(url.removeprefix("data:image/png;base64,"))))
        key = item_key(question, image)
        with self.lock:
            attempt = self.attempts[key]
            self.attempts[key] += 1
            order = self.order.setdefault(key, len(self.order))
            kind = self.faults(key, attempt, order)
            self.log.append(
                {
                    "key": key,
                    "time": time.monotonic(),
                    "kind": kind,
                    "payload": payload,
                    "format": image.format,
                    "authorization": authorization,
                }
            )
        text = reply_text(question, image)
        prompt_tokens, completion_tokens = reply_usage(question, text)
        message, finish = {"role": "assistant", "content": text}, "stop"
        if kind == "refusal":
            message = {"role": "assistant", "content": None, "refusal": "I can't help with identifying people."}
        elif kind in ("filtered", "empty"):
            message["content"], finish = "", "content_filter" if kind == "filtered" else "stop"
        body = {
            "id": f"chatcmpl-{key[:8]}",
            "object": "chat.completion",
            "created": 0,
            "model": payload["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }
        return kind, body

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, status, data: bytes, content_type="application/json", headers=()):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for name, value in headers:
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up on a slow reply
                    pass

            def do_GET(self):
                self.send(
                    200, json.dumps({"object": "list", "data": [{"id": SERVED_NAME, "object": "model"}]}).encode()
                )

            def do_POST(self):
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(server.delay)
                kind, body = server.respond(payload, self.headers.get("Authorization"))
                error = {"error": {"message": f"injected {kind}", "type": "server_error"}}
                if kind == "429":
                    self.send(429, json.dumps(error).encode(), headers=[("Retry-After", server.retry_after)])
                elif kind in ("500", "401"):
                    self.send(int(kind), json.dumps(error).encode())
                elif kind == "502html":
                    self.send(502, b"<html><body>502 Bad Gateway</body></html>", content_type="text/html")
                elif kind == "truncated":
                    self.send(200, json.dumps(body).encode()[:40])
                else:
                    if kind == "slow":
                        time.sleep(server.slow)
                    self.send(200, json.dumps(body).encode())

        return Handler


@pytest.fixture
def serve():
    servers = []

    def start(*args, **kwargs):
        servers.append(FaultyServer(*args, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def faces(n, size=32):
    """``n`` distinct synthetic faces (solid colours; the server only hashes them), prepared as the engines do."""
    return [prepare_image(Image.new("RGB", (48, 48), (20 * i, 255 - 20 * i, 7 * i)), size) for i in range(n)]


# Item -> what its attempts get (the last repeats). The first five recover within the SDK's retries; "truncated" is a
# 200 the SDK does not retry; the last four never give an answer.
SCRIPT = [
    ["429", None],
    ["500", None],
    ["502html", None],
    ["slow", None],
    [None],
    ["truncated", None],
    ["refusal"],
    ["filtered"],
    ["empty"],
    ["500"],
]


@pytest.mark.slow
def test_faults_become_retries_or_failed_items_with_their_reason(serve):
    question = fer_question(CANDIDATES)
    images = faces(len(SCRIPT))
    keys = [item_key(question, image) for image in images]
    server = serve(
        lambda key, attempt, order: (steps := SCRIPT[keys.index(key)])[min(attempt, len(steps) - 1)], slow=2
    )
    engine = OpenAIEngine(SERVED_NAME, base_url=server.url, concurrency=4, request_timeout=0.5, max_retries=2)
    requests = [FERRequest(image, CANDIDATES) for image in images]

    results = {}
    for batch in engine.generate_batches(requests, batch_size=3, max_new_tokens=77):
        for i, generation in batch:
            assert i not in results
            results[i] = generation
    assert sorted(results) == list(range(len(SCRIPT)))

    for i in range(5):  # recovered by the SDK's retries: exactly the fault-free answer and its usage
        expected = reply_text(question, images[i])
        assert (results[i].text, results[i].error) == (expected, None), i
        assert (results[i].prompt_tokens, results[i].num_tokens) == reply_usage(question, expected)
        assert len(server.requests_of(keys[i])) == (2 if i < 4 else 1)
    first, second = (entry["time"] for entry in server.requests_of(keys[0]))
    assert second - first >= 0.95  # Retry-After: 1 honoured (the SDK's own first delay is at most 0.5 s)

    reasons = {i: results[i].error for i in range(5, len(SCRIPT))}
    assert reasons[5].startswith("malformed reply")
    assert reasons[6] == "refused: I can't help with identifying people."
    assert reasons[7].startswith("content_filter")
    assert reasons[8].startswith("empty reply")
    assert reasons[9].startswith("HTTP 500 after 3 attempts")
    assert len(server.requests_of(keys[9])) == 3  # max_retries=2: three attempts, then the item fails
    assert all(results[i].text == "" for i in range(5, len(SCRIPT)))

    payload = server.log[0]["payload"]
    assert (payload["model"], payload["temperature"], payload["max_tokens"]) == (SERVED_NAME, 0.0, 77)
    assert server.log[0]["format"] == "PNG"
    text_parts = [part for part in payload["messages"][-1]["content"] if part["type"] == "text"]
    assert text_parts == [{"type": "text", "text": question}]


def test_a_refused_key_stops_the_run(serve):
    server = serve(lambda key, attempt, order: "401")
    engine = OpenAIEngine(SERVED_NAME, base_url=server.url, concurrency=2, max_retries=0)
    requests = [FERRequest(image, CANDIDATES) for image in faces(6)]
    with pytest.raises(RuntimeError, match="HTTP 401, the API key was refused"):
        list(engine.generate_batches(requests, batch_size=1, max_new_tokens=8))
    assert len(server.log) < 6  # queued requests were dropped, not sent


def test_a_named_key_variable_must_be_set(monkeypatch):
    monkeypatch.delenv("UNIFER_TEST_KEY", raising=False)
    with pytest.raises(ValueError, match="--api-key-env UNIFER_TEST_KEY"):
        OpenAIEngine(SERVED_NAME, base_url="http://127.0.0.1:9/v1", api_key_env="UNIFER_TEST_KEY")


def test_the_key_comes_from_the_named_variable(serve, monkeypatch):
    monkeypatch.setenv("UNIFER_TEST_KEY", "sk-test-123")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-this-one")
    server = serve()
    engine = OpenAIEngine(SERVED_NAME, base_url=server.url, api_key_env="UNIFER_TEST_KEY")
    list(engine.generate_batches([FERRequest(faces(1)[0], CANDIDATES)], max_new_tokens=8))
    assert [entry["authorization"] for entry in server.log] == ["Bearer sk-test-123"]


def test_predict_with_the_openai_backend(serve):
    server = serve()
    images = faces(3)
    options = dict(backend="openai", engine_kwargs={"base_url": server.url}, image_size=32)
    predictions = predict(SERVED_NAME, images, CANDIDATES, **options)
    question = fer_question(CANDIDATES)
    for image, prediction in zip(images, predictions):
        text = reply_text(question, image)
        assert prediction.raw_text == text and prediction.well_formed
        assert prediction.label == text.split("<answer>")[1].removesuffix("</answer>")
        assert prediction.probabilities == {} and prediction.error is None
    with pytest.raises(ValueError, match="Candidate probabilities need a local engine"):
        predict(SERVED_NAME, images, CANDIDATES, probabilities=True, **options)


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory):
    """20 SynFER faces (4 per emotion) as a FERBench-format benchmark (synthetic faces, not a real benchmark)."""
    out = tmp_path_factory.mktemp("synfer_bench")
    emotions = ["happiness", "sadness", "anger", "neutral", "surprise"]
    build_synfer(out, n_per_class=1, test_per_class=4, size=48, emotions=emotions, num_proc=1)
    return out


def eval_args(benchmark, url, out):
    return [
        "eval",
        "--backend",
        "openai",
        "--model",
        SERVED_NAME,
        "--base-url",
        url,
        "--benchmark",
        str(benchmark),
        "--output-dir",
        str(out),
        "--bootstrap",
        "0",
        "--concurrency",
        "2",
        "--request-timeout",
        "1",
        "--max-retries",
        "3",
    ]


def predictions(out):
    """The run's prediction records without their timing (the only field allowed to differ between runs)."""
    return [{k: v for k, v in record.items() if k != "seconds"} for record in read_records(out / "predictions.jsonl")]


#: The faulty server's first answer to the n-th item it meets (later attempts are answered): every fault in turn.
FAULT_CYCLE = ("429", "500", "502html", "slow", "truncated", None)


@pytest.mark.slow
def test_eval_survives_faults_and_a_kill_and_matches_a_fault_free_run(benchmark, serve, tmp_path):
    reference = tmp_path / "reference"
    assert main(eval_args(benchmark, serve().url, reference)) == 0
    expected = predictions(reference)
    assert len(expected) == 20 and all(record["error"] is None for record in expected)
    # Usage summed in run.json, recomputed from the server's rule (question words + 100, reply words).
    questions = [fer_question(record["candidate_labels"]) for record in expected]
    usage = [reply_usage(question, record["response"]) for question, record in zip(questions, expected)]
    assert json.loads((reference / "run.json").read_text())["usage"] == {
        "prompt_tokens": sum(prompt for prompt, _ in usage),
        "completion_tokens": sum(completion for _, completion in usage),
    }
    assert '"prompt_tokens"' in (reference / "report.md").read_text()

    server = serve(lambda key, attempt, order: None if attempt else FAULT_CYCLE[order % 6], delay=0.3, slow=3)
    out = tmp_path / "faulty"
    command = [sys.executable, "-m", "unifer.commands", *eval_args(benchmark, server.url, out)]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and child.poll() is None:
            if (out / "predictions.jsonl").exists() and len(read_records(out / "predictions.jsonl")) >= 3:
                break
            time.sleep(0.05)
        assert child.poll() is None, "the run ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert 3 <= len(read_records(out / "predictions.jsonl")) < 20
    with (out / "predictions.jsonl").open("a") as handle:  # as if the kill had landed mid-line
        handle.write('{"id": "synfer-00')

    assert main(eval_args(benchmark, server.url, out)) == 0  # resumes; a cut JSON body is a failed item
    failed = [record for record in predictions(out) if record["error"]]
    assert failed and all(record["error"].startswith("malformed reply") for record in failed)
    assert all(record["response"] == "" for record in failed)
    assert json.loads((out / "metrics.json").read_text())["errors"] == len(failed)

    asked_before = len(server.log)
    assert main(eval_args(benchmark, server.url, out)) == 0  # asks again for the failed items only
    assert len(server.log) - asked_before == len(failed)
    assert predictions(out) == expected  # every item once, the fault-free run's responses
    assert (
        json.loads((out / "run.json").read_text())["usage"]
        == json.loads((reference / "run.json").read_text())["usage"]
    )
    assert {entry["kind"] for entry in server.log} == set(FAULT_CYCLE)  # every fault was met


def test_openai_options_are_checked_before_anything_runs():
    options = dict(model=SERVED_NAME, benchmark="b", output_dir="o")
    with pytest.raises(ValueError, match="--concurrency need --backend openai"):
        EvalConfig(**options, concurrency=4)
    with pytest.raises(ValueError, match="--probabilities and --dtype need a local engine"):
        EvalConfig(**options, backend="openai", probabilities=True)
    with pytest.raises(ValueError, match="--request-timeout must be positive"):
        EvalConfig(**options, backend="openai", request_timeout=0)
    assert EvalConfig(**options, backend="openai", concurrency=4, max_retries=0).max_retries == 0


# ------------------------------------------------ completed_in_threads: the engine's and the teacher's request pool


def test_completed_in_threads_bounds_what_is_in_flight_and_draws_inputs_lazily():
    """Twenty calls through three threads: every (input, result) pair comes back once; three calls run together and
    never more; before the first result is handed over, only three inputs have been drawn (curation relies on it
    to stop sampling a full class at once)."""
    from unifer.openai_engine import completed_in_threads

    drawn, active, peak, lock = [], [0], [0], threading.Lock()

    def inputs():
        for i in range(20):
            drawn.append(i)
            yield i

    def square(i):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return i * i

    stream = completed_in_threads(square, inputs(), 3)
    first = next(stream)
    assert len(drawn) == 3 and first
    rest = [pair for done in stream for pair in done]
    assert sorted(first + rest) == [(i, i * i) for i in range(20)]
    assert peak[0] == 3


def test_completed_in_threads_raises_a_calls_error_and_starts_nothing_after_it():
    from unifer.openai_engine import completed_in_threads

    started = []

    def fail_first(i):
        started.append(i)
        if i == 0:
            raise ValueError("item 0 failed")
        time.sleep(0.2)
        return i

    with pytest.raises(ValueError, match="item 0 failed"):
        for _ in completed_in_threads(fail_first, range(100), 2):
            pass
    assert 0 in started and set(started) <= {0, 1}  # 1 was in flight (or cancelled still queued); 2.. never drawn
