"""CoT curation: a teacher answers RLVR items K times; only well-formed, right answers become SFT data.

This is how UniFER-CoT-230K was made from labelled faces: rejection sampling against the known label.

* Teacher: a local model through our engines (``transformers`` or ``vllm``), or an OpenAI-compatible chat endpoint
  (``vllm serve``) given by URL; the face is sent inline as a PNG data URL, prepared by ``images.prepare_image``.
* Verdict per sample (``judge``): ``malformed`` (not ``<think>…</think><answer>…</answer>``), ``unparsable`` (the
  answer names no single candidate, ``answers.extract_label`` strict), ``wrong_label``, ``error`` (the teacher
  never answered), or accepted. Accepted samples may then be dropped as ``duplicate`` (near-identical reasoning
  within an item) or ``over_cap`` (per-item or per-class caps).
* Resumable: ``samples.jsonl`` is an append-only ledger, one line per teacher sample, written item by item. A
  restart keeps the items whose K lines are all there and error-free, drops the rest (a torn last line included)
  and samples those again; the final selection reads only the ledger, so caps and dedup may change between runs.
* Output: ``cot/train-*.parquet`` (``cot_rlvr.COT_FEATURES``, what the SFT trainer reads), ``README.md`` (card),
  ``report.json`` and ``report.md``.
"""
from __future__ import annotations

import argparse
import base64
import io
import itertools
import json
import os
import random
import re
import time
from collections import Counter, defaultdict
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from ..answers import extract_label, is_well_formed, parse
from ..images import DEFAULT_IMAGE_SIZE, ImageInputError, prepare_image
from ..labels import normalize
from ..prompts import chat_messages

#: Why a teacher sample is not in the output, in the order they are decided.
REASONS: tuple[str, ...] = ("error", "malformed", "unparsable", "wrong_label", "duplicate", "over_cap")
LEDGER, SETTINGS_FILE = "samples.jsonl", "curation.json"
#: Settings that decide what the teacher is asked: a resume must not change them (caps and dedup may change).
_SAMPLING_SETTINGS = ("samples_per_item", "temperature", "top_p", "max_new_tokens", "image_size", "seed")
_MAX_BACKOFF = 60.0
_SHINGLE = 3
_WORD = re.compile(r"\w+")


@dataclass
class Settings:
    """Curation knobs; each is also the CLI option of the same name (``samples_per_item`` -> ``--samples-per-item``)."""

    config: str | None = None           # RLVR config in the input folder (default: the only one, or "rlvr")
    backend: str = "transformers"       # local teachers: transformers or vllm
    model_name: str | None = None       # endpoint teachers: served model name (default: the first of GET /models)
    samples_per_item: int = 4
    max_per_item: int | None = None     # kept samples per item
    balance_classes: bool = False       # cap kept items per class at the smallest class's count
    max_per_class: int | None = None    # cap kept items per class at this number (and stop sampling full classes)
    dedup: bool = False
    dedup_threshold: float = 0.9        # word-3-shingle Jaccard of the think text at or above which is a duplicate
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 1024
    image_size: int = DEFAULT_IMAGE_SIZE
    concurrency: int = 16               # items in flight: parallel requests, or items per local generation batch
    retries: int = 5                    # endpoint retries per request after the first attempt
    timeout: float = 300.0              # endpoint seconds per request
    backoff: float = 1.0                # first retry delay in seconds, doubled per retry, with jitter
    limit: int | None = None            # curate only the first N items of the stratified order
    api_key_env: str | None = None      # environment variable holding the endpoint's API key
    seed: int = 0                       # item order and local sampling

    def __post_init__(self):
        bad = [name for name in ("samples_per_item", "max_new_tokens", "image_size", "concurrency", "timeout",
                                 "max_per_item") if getattr(self, name) is not None and getattr(self, name) <= 0]
        bad += [name for name in ("retries", "backoff", "limit", "max_per_class") if (getattr(self, name) or 0) < 0]
        if not 0 < self.dedup_threshold <= 1:
            bad.append("dedup_threshold")
        if bad:
            raise ValueError(f"Invalid curation settings: {', '.join(bad)} (counts and sizes must be positive, "
                             "retries/limit/caps non-negative, dedup_threshold in (0, 1]).")


@dataclass(frozen=True)
class Item:
    """One RLVR row to answer: ``position`` in the input is its id in the ledger."""

    position: int
    label: str              # canonical emotion
    source: str
    question: str
    candidates: tuple[str, ...]
    image: Any              # {"bytes", "path"} as datasets.Image(decode=False) gives it


class TeacherError(RuntimeError):
    """The teacher gave no answer for an item (retries exhausted or a non-retryable reply)."""


# --------------------------------------------------------------------------------------------------------------
# Verdicts


def judge(text: str | None, item: Item) -> str | None:
    """The rejection reason of one teacher sample, or None when it is well formed and names the item's label."""
    if text is None:
        return "error"
    if not is_well_formed(text):
        return "malformed"
    answer = extract_label(text, item.candidates)
    if answer is None:
        return "unparsable"
    return None if normalize(answer) == item.label else "wrong_label"


def shingles(text: str) -> frozenset:
    """Word 3-shingles of case-folded text without punctuation (a text under 3 words is one shingle)."""
    words = _WORD.findall(text.casefold())
    return frozenset(tuple(words[i:i + _SHINGLE]) for i in range(max(1, len(words) - _SHINGLE + 1)))


def jaccard(a: frozenset, b: frozenset) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


# --------------------------------------------------------------------------------------------------------------
# Input


def load_rlvr(path: str | Path, config: str | None = None, cache_dir: str | None = None):
    """The RLVR split (``train``) of a dataset folder or Hub id, images as undecoded bytes; returns (dataset,
    config). Without ``config``: the only config, else the one named ``rlvr``."""
    import datasets

    if config is None:
        names = datasets.get_dataset_config_names(str(path))
        config = names[0] if len(names) == 1 else "rlvr" if "rlvr" in names else None
        if config is None:
            raise ValueError(f"{path} has configs {', '.join(names)}; choose the RLVR one with --config.")
    dataset = datasets.load_dataset(str(path), config, split="train", cache_dir=cache_dir)
    missing = {"prompt", "image", "solution", "candidate_labels"} - set(dataset.column_names)
    if missing:
        raise ValueError(f"{path} config {config!r} is not RLVR data: no column(s) {', '.join(sorted(missing))}. "
                         "Build it with `unifer data ingest --format rlvr` or `unifer data build rlvr`.")
    return dataset.cast_column("image", datasets.Image(decode=False)), config


def question_of(prompt: Sequence[dict[str, Any]]) -> str:
    """The text of the user turn of an RLVR ``prompt``."""
    texts = [part["text"] for message in prompt if message["role"] == "user"
             for part in message["content"] if part["type"] == "text" and part.get("text")]
    if not texts:
        raise ValueError("an RLVR prompt has no user text")
    return "\n".join(texts)


def stratified_order(labels: Sequence[str], seed: int) -> list[int]:
    """Positions shuffled within each class, then dealt round-robin across classes: any prefix (``--limit``) is a
    class-balanced random sample, however the input is sorted (ingest writes class by class)."""
    rng = random.Random(seed)
    by_class: dict[str, list[int]] = defaultdict(list)
    for position, label in enumerate(labels):
        by_class[label].append(position)
    for positions in by_class.values():
        rng.shuffle(positions)
    rounds = itertools.zip_longest(*(by_class[label] for label in sorted(by_class)))
    return [position for row in rounds for position in row if position is not None]


def make_item(dataset, position: int, source: str) -> Item:
    row = dataset[position]
    return Item(position, normalize(row["solution"]), row.get("source") or source, question_of(row["prompt"]),
                tuple(row["candidate_labels"]), row["image"])


# --------------------------------------------------------------------------------------------------------------
# Teachers: ``run(items)`` yields ``(item, texts, error)`` per item, texts being K strings or None on error.


def png_data_url(image: Any, size: int) -> str:
    buffer = io.BytesIO()
    prepare_image(image, size).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def backoff_delay(attempt: int, base: float, retry_after: str | None = None) -> float:
    """Exponential backoff with jitter (so parallel clients do not retry in lockstep); a server's numeric
    ``Retry-After`` is a floor."""
    delay = min(_MAX_BACKOFF, base * 2 ** attempt) * random.uniform(0.5, 1.0)
    try:
        return max(delay, min(_MAX_BACKOFF, float(retry_after))) if retry_after else delay
    except ValueError:  # an HTTP date: the exponential delay will do
        return delay


class EndpointTeacher:
    """An OpenAI-compatible ``/chat/completions`` endpoint. One request per item asks for all K samples (``n``);
    a server that returns fewer choices is asked again for the rest."""

    def __init__(self, url: str, settings: Settings, api_key: str | None = None):
        import httpx

        self.url, self.settings = url.rstrip("/"), settings
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(timeout=settings.timeout, headers=headers)
        self.model = settings.model_name or self._served_model()

    def _served_model(self) -> str:
        try:
            response = self.client.get(f"{self.url}/models")
            response.raise_for_status()
            return response.json()["data"][0]["id"]
        except Exception as err:  # any failure means the same thing: we cannot guess the name
            raise ValueError(f"Could not list the models served at {self.url}/models ({err}); "
                             "give --model-name.") from None

    def run(self, items: Iterable[Item]) -> Iterator[tuple[Item, list[str] | None, str | None]]:
        """At most ``concurrency`` items in flight; the next is taken only when one completes, so memory stays
        flat and a class found full (``max_per_class``) stops being sampled at once."""
        items = iter(items)
        try:
            with ThreadPoolExecutor(self.settings.concurrency) as pool:
                pending = {pool.submit(self._answer, item)
                           for item in itertools.islice(items, self.settings.concurrency)}
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
                    pending |= {pool.submit(self._answer, item) for item in itertools.islice(items, len(done))}
        finally:
            self.client.close()

    def _answer(self, item: Item) -> tuple[Item, list[str] | None, str | None]:
        try:
            return item, self.sample(item), None
        except (TeacherError, ImageInputError) as err:
            return item, None, str(err)

    def sample(self, item: Item) -> list[str]:
        s = self.settings
        content = [{"type": "image_url", "image_url": {"url": png_data_url(item.image, s.image_size)}},
                   {"type": "text", "text": item.question}]
        payload = {"model": self.model, "messages": [{"role": "user", "content": content}],
                   "temperature": s.temperature, "top_p": s.top_p, "max_tokens": s.max_new_tokens}
        texts: list[str] = []
        while len(texts) < s.samples_per_item:
            wanted = s.samples_per_item - len(texts)
            choices = self._post({**payload, "n": wanted})[:wanted]
            texts += [(choice.get("message") or {}).get("content") or "" for choice in choices]
        return texts

    def _post(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """The response's choices (at least one); retries timeouts, connection errors, 429 and 5xx."""
        import httpx

        for attempt in range(self.settings.retries + 1):
            retry_after = None
            try:
                response = self.client.post(f"{self.url}/chat/completions", json=payload)
            except httpx.RequestError as err:  # timeouts, refused or dropped connections, garbled replies
                failure = f"{type(err).__name__}: {err}"
            else:
                if response.status_code == 200:
                    choices = _choices(response)
                    if choices:
                        return choices
                    failure = f"a reply without choices: {response.text[:200]!r}"
                elif response.status_code == 429 or response.status_code >= 500:
                    failure, retry_after = f"HTTP {response.status_code}: {response.text[:200]}", \
                        response.headers.get("retry-after")
                else:  # a bad request stays bad: retrying cannot help
                    raise TeacherError(f"HTTP {response.status_code}: {response.text[:200]}")
            if attempt < self.settings.retries:
                time.sleep(backoff_delay(attempt, self.settings.backoff, retry_after))
        raise TeacherError(f"no answer after {self.settings.retries + 1} attempts; last: {failure}")


def _choices(response) -> list[dict[str, Any]]:
    try:
        choices = response.json().get("choices")
    except (ValueError, AttributeError):
        return []
    return choices if isinstance(choices, list) else []


@dataclass(frozen=True)
class TeacherRequest:
    """What an engine reads from a request (``image``, ``messages()``), asking the item's own question: an RLVR
    prompt need not be the default FERBench one that ``inference.FERRequest`` builds."""

    image: Any
    question: str

    def messages(self) -> list[dict[str, Any]]:
        return chat_messages(None, self.question)


class EngineTeacher:
    """A local model through ``unifer.inference`` engines: each batch holds ``concurrency`` items × K sampled
    copies of their request."""

    def __init__(self, engine: Any, settings: Settings):
        self.engine, self.settings = engine, settings
        self.sampling = {"temperature": settings.temperature, "top_p": settings.top_p}
        if getattr(engine, "name", "") == "transformers":
            self.sampling["do_sample"] = True  # vLLM samples whenever temperature > 0

    def run(self, items: Iterable[Item]) -> Iterator[tuple[Item, list[str] | None, str | None]]:
        items = iter(items)
        while chunk := list(itertools.islice(items, self.settings.concurrency)):
            yield from self._generate(chunk)

    def _generate(self, chunk: list[Item]) -> list[tuple[Item, list[str] | None, str | None]]:
        k, results, requests, ready = self.settings.samples_per_item, [], [], []
        for item in chunk:
            try:
                image = prepare_image(item.image, self.settings.image_size, name=f"item {item.position}")
            except ImageInputError as err:
                results.append((item, None, str(err)))
                continue
            ready.append(item)
            requests += [TeacherRequest(image, item.question)] * k
        if requests:
            texts = [g.text for g in self.engine.generate(requests, batch_size=len(requests),
                                                          max_new_tokens=self.settings.max_new_tokens,
                                                          **self.sampling)]
            results += [(item, texts[i * k:(i + 1) * k], None) for i, item in enumerate(ready)]
        return results


def make_teacher(teacher: str, settings: Settings):
    """An endpoint for an ``http(s)://`` URL, else a local model loaded by ``settings.backend``."""
    if teacher.startswith(("http://", "https://")):
        api_key = None
        if settings.api_key_env:
            api_key = os.environ.get(settings.api_key_env)
            if not api_key:
                raise ValueError(f"--api-key-env {settings.api_key_env}: that environment variable is not set.")
        return EndpointTeacher(teacher, settings, api_key)
    from ..inference import load_engine

    if settings.backend == "vllm":
        return EngineTeacher(load_engine("vllm", teacher, seed=settings.seed), settings)
    import torch

    torch.manual_seed(settings.seed)
    return EngineTeacher(load_engine(settings.backend, teacher), settings)


# --------------------------------------------------------------------------------------------------------------
# The ledger


def read_ledger(path: Path) -> Iterator[tuple[int, bytes, dict | None]]:
    """``(byte offset, raw line, record)``; the record is None for a line that is torn (no newline) or not JSON."""
    offset = 0
    with path.open("rb") as handle:
        for raw in handle:
            try:
                record = json.loads(raw) if raw.endswith(b"\n") else None
            except ValueError:
                record = None
            yield offset, raw, record
            offset += len(raw)


class Ledger:
    """``samples.jsonl``: one line per teacher sample, an item's K lines written and flushed together.

    Opening it recovers from a crash: items whose K lines are all present and error-free are finished; every
    other line (a torn last line, an item cut short, an item that ended in ``error``, which is retried) is dropped
    by rewriting the file, so that each item appears K times exactly."""

    def __init__(self, path: Path, k: int):
        self.path, self.k = path, k
        self.finished: dict[int, tuple[str, list[str | None]]] = {}  # position -> (label, reasons)
        if path.exists():
            self._recover()
        self._handle = path.open("ab")

    def _recover(self) -> None:
        reasons: dict[int, dict[int, str | None]] = defaultdict(dict)  # item -> sample -> reason
        labels: dict[int, str] = {}
        clean = True
        for _, _, record in read_ledger(self.path):
            if record is None or record["sample"] in reasons[record["item"]]:
                clean = False
                continue
            reasons[record["item"]][record["sample"]] = record["reason"]
            labels[record["item"]] = record["label"]
        for position, samples in reasons.items():
            if sorted(samples) == list(range(self.k)) and "error" not in samples.values():
                self.finished[position] = (labels[position], [samples[s] for s in range(self.k)])
            else:
                clean = False
        if not clean:
            self._compact()

    def _compact(self) -> None:
        kept, temporary = set(), self.path.with_suffix(".jsonl.tmp")
        with temporary.open("wb") as out:
            for _, raw, record in read_ledger(self.path):
                key = None if record is None else (record["item"], record["sample"])
                if key is not None and key[0] in self.finished and key not in kept:
                    kept.add(key)
                    out.write(raw)
        os.replace(temporary, self.path)

    def write(self, item: Item, texts: list[str] | None, error: str | None) -> list[str | None]:
        """Judge and append an item's samples (K error lines when the teacher failed); returns the verdicts."""
        texts = texts if texts is not None else [None] * self.k
        reasons = [judge(text, item) for text in texts]
        lines = [json.dumps({"item": item.position, "sample": s, "label": item.label, "source": item.source,
                             "text": text, "accepted": reason is None, "reason": reason,
                             **({"error": error} if error else {})}, ensure_ascii=False) + "\n"
                 for s, (text, reason) in enumerate(zip(texts, reasons))]
        self._handle.write("".join(lines).encode("utf-8"))
        self._handle.flush()
        return reasons

    def close(self) -> None:
        self._handle.close()


def check_settings(out: Path, identity: dict[str, Any]) -> None:
    """Refuse to resume a ledger made with other sampling settings (its samples would mix two experiments)."""
    path = out / SETTINGS_FILE
    if path.exists():
        before = json.loads(path.read_text(encoding="utf-8"))
        changed = {key: (before.get(key), value) for key, value in identity.items() if before.get(key) != value}
        if changed:
            detail = "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in changed.items())
            raise ValueError(f"{out} holds samples made with other settings ({detail}). Resume with the same "
                             "settings or use another --out.")
    else:
        out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")


class Progress:
    """Live acceptance per class (accepted / answered samples) for the progress bar, and kept items per class."""

    def __init__(self, finished: dict[int, tuple[str, list[str | None]]]):
        self.answered, self.accepted, self.kept_items = Counter(), Counter(), Counter()
        self.errors = 0
        for label, reasons in finished.values():
            self.add(label, reasons)

    def add(self, label: str, reasons: list[str | None]) -> None:
        answered = [r for r in reasons if r != "error"]
        self.errors += len(reasons) - len(answered)
        self.answered[label] += len(answered)
        self.accepted[label] += answered.count(None)
        self.kept_items[label] += None in answered

    def postfix(self) -> str:
        rates = " ".join(f"{label[:4]} {self.accepted[label] / self.answered[label]:.0%}"
                         for label in sorted(self.answered) if self.answered[label])
        return rates + (f" err {self.errors}" if self.errors else "")


# --------------------------------------------------------------------------------------------------------------
# Selection: what the ledger's accepted samples become once dedup and caps apply


@dataclass
class ItemVerdict:
    """An item's final verdicts: one reason per sample (None = kept) and the ledger offsets of the kept lines."""

    position: int
    label: str
    source: str
    reasons: list[str | None] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)


def _item_verdict(lines: list[tuple[int, dict]], settings: Settings) -> ItemVerdict:
    first = lines[0][1]
    verdict, distinct = ItemVerdict(first["item"], first["label"], first["source"]), []
    for offset, record in sorted(lines, key=lambda line: line[1]["sample"]):
        reason = record["reason"]
        if reason is None and settings.dedup:
            think = shingles(parse(record["text"]).think or "")
            if any(jaccard(think, other) >= settings.dedup_threshold for other in distinct):
                reason = "duplicate"
            distinct.append(think)
        if reason is None and settings.max_per_item and len(verdict.kept) >= settings.max_per_item:
            reason = "over_cap"
        if reason is None:
            verdict.kept.append(offset)
        verdict.reasons.append(reason)
    return verdict


def class_cap(verdicts: Sequence[ItemVerdict], settings: Settings) -> int | None:
    """Kept items allowed per class: the smallest class's count of items with a kept sample (``balance_classes``;
    a class curated but never answered right counts 0) and/or ``max_per_class``."""
    caps = []
    if settings.balance_classes and verdicts:
        kept_items = Counter(v.label for v in verdicts if v.kept)
        caps.append(min(kept_items[label] for label in {v.label for v in verdicts}))
    if settings.max_per_class is not None:
        caps.append(settings.max_per_class)
    return min(caps, default=None)


def select(path: Path, settings: Settings, rank: dict[int, int]) -> tuple[list[ItemVerdict], Counter, int | None]:
    """Final verdicts of every ledger item, the error messages seen, and the class cap applied. Over the cap, a
    class keeps its items that come first in the curation order (``rank``)."""
    errors: Counter = Counter()
    verdicts = []
    # Streamed item by item (an item's K lines are contiguous): only one item's texts are in memory at a time.
    records = ((offset, record) for offset, _, record in read_ledger(path) if record is not None)
    for _, group in itertools.groupby(records, key=lambda line: line[1]["item"]):
        lines = list(group)
        errors.update(record["error"] for _, record in lines if "error" in record)
        verdicts.append(_item_verdict(lines, settings))
    cap = class_cap(verdicts, settings)
    if cap is not None:
        taken: Counter = Counter()
        for verdict in sorted(verdicts, key=lambda v: rank[v.position]):
            if verdict.kept and taken[verdict.label] >= cap:
                verdict.reasons = ["over_cap" if reason is None else reason for reason in verdict.reasons]
                verdict.kept = []
            taken[verdict.label] += bool(verdict.kept)
    return verdicts, errors, cap


# --------------------------------------------------------------------------------------------------------------
# Output: Parquet in the SFT shape, card, report


def write_cot(out: Path, dataset, verdicts: Sequence[ItemVerdict], ledger: Path):
    """The kept samples as ``cot/train-*.parquet`` rows (``COT_FEATURES``), in input order; the image is the
    input's original bytes (the SFT trainer prepares images itself)."""
    from .cot_rlvr import COT_FEATURES, cot_example
    from .publish import ShardWriter

    with ShardWriter(out, "cot", "train", COT_FEATURES) as writer, ledger.open("rb") as handle:
        for verdict in sorted(verdicts, key=lambda v: v.position):
            if not verdict.kept:
                continue
            row = dataset[verdict.position]
            question = question_of(row["prompt"])
            for offset in verdict.kept:
                handle.seek(offset)
                writer.write(cot_example(question, json.loads(handle.readline())["text"], row["image"]))
    return writer.output


def _tally(verdicts: Sequence[ItemVerdict], key: str) -> dict[str, dict[str, Any]]:
    """Per class or source: samples drawn, answered (not ``error``), accepted by the judge, kept; kept items."""
    table: dict[str, Counter] = defaultdict(Counter)
    for verdict in verdicts:
        counts = table[getattr(verdict, key)]
        counts["items"] += 1
        counts["kept_items"] += bool(verdict.kept)
        for reason in verdict.reasons:
            counts["drawn"] += 1
            counts["answered"] += reason != "error"
            counts["accepted"] += reason in (None, "duplicate", "over_cap")
            counts["kept"] += reason is None
    return {name: {**{k: counts[k] for k in ("items", "drawn", "answered", "accepted", "kept", "kept_items")},
                   "acceptance_rate": counts["accepted"] / counts["answered"] if counts["answered"] else None}
            for name, counts in sorted(table.items())}


def build_report(verdicts: Sequence[ItemVerdict], errors: Counter, cap: int | None, *, teacher: str,
                 teacher_model: str | None, settings: Settings, source: str, config: str, rows: int,
                 skipped: int, output) -> dict[str, Any]:
    """Everything the ledger says, after dedup and caps. ``drawn = kept + sum(rejected)``; the acceptance rate is
    accepted / answered samples (an ``error`` says nothing about the teacher)."""
    per_class = _tally(verdicts, "label")
    samples = {k: sum(row[k] for row in per_class.values()) for k in ("drawn", "answered", "accepted", "kept")}
    return {
        "teacher": {"teacher": teacher, "model_name": teacher_model},
        "input": {"source": source, "config": config, "rows": rows},
        "settings": asdict(settings),
        "items": {"curated": len(verdicts), "kept": sum(bool(v.kept) for v in verdicts),
                  "skipped_class_full": skipped},
        "samples": samples,
        "acceptance_rate": samples["accepted"] / samples["answered"] if samples["answered"] else None,
        "rejected": {reason: sum(v.reasons.count(reason) for v in verdicts) for reason in REASONS},
        "class_cap": cap,
        "per_class": per_class,
        "per_source": _tally(verdicts, "source"),
        "errors": [{"message": message, "samples": n} for message, n in errors.most_common(10)],
        "output": {"config": "cot", "split": "train", "rows": output.num_examples, "files": output.files},
    }


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def report_markdown(report: dict[str, Any]) -> str:
    from .publish import markdown_table

    def table(rows: dict[str, dict[str, Any]], header: str) -> str:
        return markdown_table((header, "items", "drawn", "accepted", "acceptance", "kept samples", "kept items"),
                              [(name, r["items"], r["drawn"], r["accepted"], _rate(r["acceptance_rate"]), r["kept"],
                                r["kept_items"]) for name, r in rows.items()])

    samples, teacher = report["samples"], report["teacher"]
    errors = "\n".join(f"* {e['samples']:,} samples: `{e['message']}`" for e in report["errors"]) or "none"
    return f"""# CoT curation report

Teacher: `{teacher['teacher']}`{f" (model `{teacher['model_name']}`)" if teacher['model_name'] else ""}.
Input: `{report['input']['source']}` (config `{report['input']['config']}`, {report['input']['rows']:,} rows).

{samples['drawn']:,} samples drawn for {report['items']['curated']:,} items; {samples['answered']:,} answered,
{samples['accepted']:,} accepted (well formed, right label): acceptance {_rate(report['acceptance_rate'])}.
{samples['kept']:,} samples kept from {report['items']['kept']:,} items (class cap: {report['class_cap']}).

## Per class

{table(report['per_class'], 'class')}

## Per source

{table(report['per_source'], 'source')}

## Rejected samples

{markdown_table(('reason', 'samples'), report['rejected'].items())}

## Errors

{errors}

## Settings

```json
{json.dumps(report['settings'], indent=2)}
```
"""


def cli_command(rlvr: str, out: str, teacher: str, settings: Settings) -> str:
    """The ``unifer data curate-cot`` command that reproduces these settings (defaults left out)."""
    import shlex

    argv = ["unifer", "data", "curate-cot", "--rlvr", str(rlvr), "--teacher", teacher, "--out", str(out)]
    for spec in fields(Settings):
        value = getattr(settings, spec.name)
        if value != spec.default and value is not None:
            flag = "--" + spec.name.replace("_", "-")
            argv += [flag] if value is True else [flag, str(value)]
    return shlex.join(argv)


def write_card(out: Path, output, report: dict[str, Any], command: str) -> None:
    """``README.md``: YAML ``configs:`` (config ``cot``, split ``train``) and what was kept, from what, how."""
    from .publish import CITATION, markdown_table, size_category
    from .publish import write_card as write_dataset_card

    rows = report["output"]["rows"]
    per_class = markdown_table(("class", "rows"), ((name, r["kept"]) for name, r in report["per_class"].items()))
    body = f"""
# CoT curated from {report['input']['source']}

Chain-of-thought answers for supervised fine-tuning (`SFTTrainer`: `messages`, `images`), made by rejection
sampling: the teacher `{report['teacher']['model_name'] or report['teacher']['teacher']}` answered each RLVR item
{report['settings']['samples_per_item']} times, and only answers that are well formed
(`<think>…</think><answer>…</answer>`) and name the item's label were kept (acceptance
{_rate(report['acceptance_rate'])}). See `report.md` for rejections by reason, per class and per source.

> **Licence.** The images come from the source dataset and remain under its licence; keep any Hub copy private
> unless that licence allows redistribution. The reasoning text was generated by the teacher model: check its
> terms of use too.

```python
from datasets import load_dataset
ds = load_dataset("path/or/hub-id", split="train")
```

{rows:,} rows:

{per_class}

## How it was made

```bash
{command}
```

## Citation

```bibtex
{CITATION}
```
"""
    write_dataset_card(out, [output], "cot", body, pretty_name=f"CoT curated from {report['input']['source']}",
                       license="other", license_name="source-dataset-licences", language="en",
                       task_categories=["image-text-to-text", "visual-question-answering"],
                       size_categories=size_category(rows), tags=["facial-expression-recognition", "unifer", "cot"])


# --------------------------------------------------------------------------------------------------------------
# The run


def curate_cot(rlvr: str | Path, out_dir: str | Path, teacher: str, *, cache_dir: str | None = None,
               progress: bool = True, **options: Any) -> dict[str, Any]:
    """Sample ``samples_per_item`` answers per RLVR item from ``teacher`` (a URL of an OpenAI-compatible endpoint,
    or a local model path / Hub id), keep the right and well-formed ones, write ``out_dir`` (``samples.jsonl``,
    ``cot/``, ``README.md``, ``report.json``, ``report.md``) and return the report. ``options``: ``Settings``
    fields. Rerunning on the same ``out_dir`` resumes."""
    settings, out = Settings(**options), Path(out_dir)
    dataset, config = load_rlvr(rlvr, settings.config, cache_dir)
    source = Path(str(rlvr).rstrip("/")).name
    labels = [normalize(label) for label in dataset["solution"]]
    order = stratified_order(labels, settings.seed)
    check_settings(out, {"source": source, "config": config, "rows": len(dataset),
                         "teacher": settings.model_name or teacher,
                         **{name: getattr(settings, name) for name in _SAMPLING_SETTINGS}})
    ledger = Ledger(out / LEDGER, settings.samples_per_item)
    todo = [p for p in order[:settings.limit] if p not in ledger.finished]
    teacher_model, skipped = settings.model_name, 0
    try:
        if todo:  # a rerun that only changes caps or dedup needs no teacher
            engine = make_teacher(teacher, settings)
            teacher_model = getattr(engine, "model", None) if isinstance(engine, EndpointTeacher) else None
            skipped = _sample(engine, ledger, dataset, todo, labels, source, settings, progress)
    finally:
        ledger.close()
    verdicts, errors, cap = select(out / LEDGER, settings, {p: rank for rank, p in enumerate(order)})
    output = write_cot(out, dataset, verdicts, out / LEDGER)
    report = build_report(verdicts, errors, cap, teacher=teacher, teacher_model=teacher_model, settings=settings,
                          source=source, config=config, rows=len(dataset), skipped=skipped, output=output)
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(report_markdown(report), encoding="utf-8")
    write_card(out, output, report, cli_command(str(rlvr), str(out), teacher, settings))
    return report


def _sample(teacher, ledger: Ledger, dataset, todo: list[int], labels: list[str], source: str,
            settings: Settings, progress: bool) -> int:
    """Run the teacher over ``todo``, appending each item to the ledger as it completes; returns how many items
    were skipped because their class already had ``max_per_class`` kept items."""
    from tqdm.auto import tqdm

    live, skipped = Progress(ledger.finished), 0
    with tqdm(total=len(todo), desc="curating", unit=" items", disable=not progress) as bar:
        def items() -> Iterator[Item]:
            nonlocal skipped
            for position in todo:
                if settings.max_per_class is not None and live.kept_items[labels[position]] >= settings.max_per_class:
                    skipped += 1
                    bar.update()
                    continue
                yield make_item(dataset, position, source)

        for item, texts, error in teacher.run(items()):
            live.add(item.label, ledger.write(item, texts, error))
            bar.update()
            bar.set_postfix_str(live.postfix(), refresh=False)
    return skipped


def run_curate(args: argparse.Namespace) -> int:
    options = {spec.name: getattr(args, spec.name) for spec in fields(Settings)}
    report = curate_cot(args.rlvr, args.out, args.teacher, **options)
    samples, rejected = report["samples"], report["rejected"]
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in rejected.items() if n)
    print(f"curated {report['items']['curated']:,} items: {samples['drawn']:,} samples drawn, "
          f"{samples['accepted']:,} accepted ({_rate(report['acceptance_rate'])}), {samples['kept']:,} kept"
          f"{f' (rejected: {reasons})' if reasons else ''} -> {Path(args.out) / 'cot'}; see "
          f"{Path(args.out) / 'report.md'}")
    return 0


def add_curate_parser(actions) -> None:
    """Register ``unifer data curate-cot`` under the ``unifer data`` actions."""
    d = Settings()
    p = actions.add_parser("curate-cot", help="make CoT data from RLVR data with a teacher (rejection sampling)")
    p.add_argument("--rlvr", required=True, help="RLVR dataset folder (unifer data ingest --format rlvr, ...)")
    p.add_argument("--config", help="its RLVR config (default: the only config, else 'rlvr')")
    p.add_argument("--teacher", required=True,
                   help="local model path / Hub id, or an OpenAI-compatible endpoint URL (http://host:port/v1)")
    p.add_argument("--backend", choices=("transformers", "vllm"), default=d.backend, help="for a local teacher")
    p.add_argument("--model-name", help="served model name, for an endpoint (default: the first of GET /models)")
    p.add_argument("--out", required=True, help="output folder (rerun with the same one to resume)")
    p.add_argument("--samples-per-item", type=int, default=d.samples_per_item, metavar="K")
    p.add_argument("--max-per-item", type=int, metavar="N", help="keep at most N samples per item")
    p.add_argument("--balance-classes", action="store_true",
                   help="keep as many items per class as the smallest class has")
    p.add_argument("--max-per-class", type=int, metavar="N",
                   help="keep at most N items per class (and stop sampling a class once it has N)")
    p.add_argument("--dedup", action="store_true", help="drop near-identical reasoning within an item")
    p.add_argument("--dedup-threshold", type=float, default=d.dedup_threshold,
                   help="word-3-shingle Jaccard similarity that counts as a duplicate (default: %(default)s)")
    p.add_argument("--temperature", type=float, default=d.temperature, help="default: %(default)s")
    p.add_argument("--top-p", type=float, default=d.top_p, help="default: %(default)s")
    p.add_argument("--max-new-tokens", type=int, default=d.max_new_tokens, help="default: %(default)s")
    p.add_argument("--image-size", type=int, default=d.image_size, help="side of the image sent (default: %(default)s)")
    p.add_argument("--concurrency", type=int, default=d.concurrency,
                   help="items in flight: parallel requests, or items per local batch (default: %(default)s)")
    p.add_argument("--retries", type=int, default=d.retries, help="endpoint retries per request (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=d.timeout,
                   help="endpoint seconds per request (default: %(default)s)")
    p.add_argument("--backoff", type=float, default=d.backoff, help="first retry delay, doubled per retry, jittered")
    p.add_argument("--limit", type=int, metavar="N", help="curate only N items (a class-balanced random sample)")
    p.add_argument("--api-key-env", metavar="VAR", help="environment variable holding the endpoint's API key")
    p.add_argument("--seed", type=int, default=d.seed, help="item order and local sampling (default: %(default)s)")
    p.set_defaults(handler=run_curate)
