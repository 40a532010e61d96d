"""UniFER-CoT-230K and UniFER-RLVR-360K: the released JSON files plus the user's images, as Parquet in the
trainers' shape (TRL conventions).

* CoT rows ``{image_path, question, response}`` become ``messages`` (user: image placeholder + question;
  assistant: response) and ``images`` (one image): what ``SFTTrainer`` takes for a vision-language model.
* RLVR rows ``{image_path, problem, solution}`` become ``prompt`` (conversational, user turn only), ``image``,
  ``solution`` (the canonical emotion), ``candidate_labels`` and ``source_solution`` (the solution exactly as the
  row gave it, which the official accuracy reward compares against): what ``GRPOTrainer`` and our rewards take.

The input is streamed (a JSON list through ijson, or JSONL line by line) and written in bounded Parquet row
groups and shards, one image in memory at a time, so a 360K-row build runs in flat memory. A bad row never stops
the build: it is counted by reason (``REASONS``) and written to ``rejected.jsonl``. A CoT response whose answer
the strict parser cannot read is rejected by default; ``check_answers=False`` (``--no-answer-filter``) keeps it,
as the official SFT trained on every released row, and the report counts how many it kept.

The trainers convert raw rows with the same converters (:func:`training_example`), so a raw row means the same in
a build and in training.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import datasets

from unifer.answers import extract_label, parse
from unifer.data.configs import CotBuildConfig, RlvrBuildConfig
from unifer.data.publish import (
    MAX_SHARD_BYTES,
    BadImage,
    SplitOutput,
    image_file,
    markdown_table,
    provenance,
    read_image,
    size_category,
    write_dataset,
)
from unifer.labels import normalize, to_candidate
from unifer.prompts import candidates_in_question, chat_messages

#: Why a source row was rejected, in the order the checks run (a row is counted once, for the first failure).
REASONS: tuple[str, ...] = (
    "invalid_json",  # a JSONL line that is not JSON, or a row that is not an object
    "missing_field",  # a required field absent, empty or not a string
    "image_missing",
    "image_unreadable",
    "candidates_unparsable",  # no valid "candidate labels: a, b, c." list in the question/problem
    "label_not_in_candidates",  # RLVR solution not one of the candidates
    "answer_unparsable",  # CoT response without exactly one candidate label in a single <answer> block
)

_MESSAGES = datasets.List(
    {
        "role": datasets.Value("string"),
        "content": datasets.List({"type": datasets.Value("string"), "text": datasets.Value("string")}),
    }
)
COT_FEATURES = datasets.Features({"messages": _MESSAGES, "images": datasets.List(datasets.Image())})
RLVR_FEATURES = datasets.Features(
    {
        "prompt": _MESSAGES,
        "image": datasets.Image(),
        "solution": datasets.Value("string"),
        "candidate_labels": datasets.List(datasets.Value("string")),
        "source_solution": datasets.Value("string"),
    }
)


class Rejected(ValueError):
    """A source row that cannot become a training example."""

    def __init__(self, reason: str, detail: str):
        self.reason, self.detail = reason, detail
        super().__init__(f"{reason}: {detail}")


@lru_cache(maxsize=256)  # a released file repeats a handful of questions hundreds of thousands of times
def parse_candidates(text: str) -> tuple[str, ...]:
    """The item's candidates (``prompts.candidates_in_question``), or a ``Rejected`` row.

    >>> parse_candidates("Please select from the following candidate labels: happy, sad. Then answer.")
    ('happy', 'sad')
    """
    try:
        return candidates_in_question(text)
    except ValueError as err:
        raise Rejected("candidates_unparsable", str(err)) from None


def has_single_answer(question: str, response: str) -> bool:
    """Whether the response answers with exactly one of the question's candidates (strict parsing)."""
    return extract_label(response, parse_candidates(question)) is not None


def cot_example(question: str, response: str, image: Any, *, check_answer: bool = True) -> dict[str, Any]:
    """A CoT row in SFT shape. With ``check_answer`` (default) the response must answer with exactly one of the
    question's candidates; without it any response is kept (the question must still list candidates)."""
    candidates = parse_candidates(question)
    if check_answer and extract_label(response, candidates) is None:
        raise Rejected(
            "answer_unparsable",
            f"no single candidate label ({', '.join(candidates)}) in one <answer> block of the response",
        )
    return {"messages": chat_messages(None, question, response=response), "images": [image]}


def rlvr_example(problem: str, solution: str, image: Any) -> dict[str, Any]:
    """An RLVR row in GRPO shape; ``solution`` (``<answer>label</answer>`` or a bare label, aliases allowed) must
    name one of the candidates. It is stored as the canonical emotion (``solution``) and as given
    (``source_solution``)."""
    candidates = parse_candidates(problem)
    answer = parse(solution).answer
    try:
        label = to_candidate(solution.strip() if answer is None else answer, candidates)
    except ValueError:
        raise Rejected(
            "label_not_in_candidates", f"solution {solution!r} is not one of {', '.join(candidates)}"
        ) from None
    return {
        "prompt": chat_messages(None, problem),
        "image": image,
        "solution": normalize(label),
        "candidate_labels": list(candidates),
        "source_solution": solution,
    }


def _text_field(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Rejected("missing_field", f"field {name!r} is missing, empty or not a string")
    return value


@dataclass(frozen=True)
class Kind:
    """One released dataset: its JSON fields, the row converter and the card's wording."""

    name: str
    title: str
    fields: tuple[str, str]  # text fields besides image_path, in converter argument order
    features: datasets.Features
    make: Callable[[str, str, Any], dict[str, Any]]
    about: str


KINDS: dict[str, Kind] = {
    "cot": Kind(
        "cot",
        "UniFER-CoT-230K",
        ("question", "response"),
        COT_FEATURES,
        cot_example,
        "chain-of-thought answers for cold-start supervised fine-tuning (`SFTTrainer`)",
    ),
    "rlvr": Kind(
        "rlvr",
        "UniFER-RLVR-360K",
        ("problem", "solution"),
        RLVR_FEATURES,
        rlvr_example,
        "questions with verifiable answers for reinforcement learning (`GRPOTrainer`)",
    ),
}


def _text_fields(kind: Kind, row: Mapping[str, Any]) -> tuple[str, str, str]:
    """``image_path`` and the kind's two text fields, in converter argument order, or ``Rejected``."""
    image_path = _text_field(row, "image_path")
    first, second = (_text_field(row, name) for name in kind.fields)
    return image_path, first, second


def _maker(kind: Kind, check_answers: bool) -> Callable[[str, str, Any], dict[str, Any]]:
    """The kind's row converter; ``check_answers=False`` keeps CoT responses without a single parsed answer."""
    if check_answers:
        return kind.make
    if kind.name != "cot":
        raise ValueError(
            f"check_answers=False applies to CoT rows only: a {kind.title} solution must name one of the "
            "candidates to be scored at all."
        )
    return partial(cot_example, check_answer=False)


def convert(kind: Kind, row: Any, images_root: str | Path, *, check_answers: bool = True) -> dict[str, Any]:
    """One source row to one output example, or ``Rejected`` (checks run in ``REASONS`` order)."""
    if isinstance(row, Rejected):  # an unparsable JSONL line
        raise row
    if not isinstance(row, Mapping):
        raise Rejected("invalid_json", f"row is a {type(row).__name__}, not a JSON object")
    image_path, first, second = _text_fields(kind, row)
    try:
        image = read_image(image_file(images_root, image_path))
    except BadImage as err:
        raise Rejected(err.reason, str(err.path)) from None
    return _maker(kind, check_answers)(first, second, image)


def training_example(
    kind: Kind, row: Mapping[str, Any], *, images_root: str | Path | None = None, check_answers: bool = True
) -> dict[str, Any]:
    """One source row as the trainers take it: :func:`convert`'s example, but its image stays a path (the trainers
    open it when they prepare the face, so conversion decodes no image). The path is the row's ``image_path``
    under ``images_root`` (as :func:`convert` resolves it; released rows start with ``/``), or as given without
    one. ``Rejected`` as :func:`convert`, a missing image file included."""
    image_path, first, second = _text_fields(kind, row)
    path = image_file(images_root, image_path) if images_root is not None else Path(image_path)
    if not path.is_file():
        where = f"under images_root {images_root}" if images_root is not None else "(no images_root set)"
        raise Rejected("image_missing", f"{path}: no such file {where}")
    return _maker(kind, check_answers)(first, second, str(path))


def iter_rows(path: str | Path) -> Iterator[tuple[int, Any]]:
    """``(position, row)`` from a JSON list (streamed with ijson) or a JSONL file; a JSONL line that is not JSON
    comes as a ``Rejected``. Positions are 0-based: list items, or JSONL lines."""
    import ijson

    with open(path, "rb") as handle:
        head = handle.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        handle.seek(0)
        if head.startswith(b"["):
            position = -1
            try:
                for position, row in enumerate(ijson.items(handle, "item", use_float=True)):
                    yield position, row
            except ijson.JSONError as err:  # the list itself is broken: no later row can be found
                raise ValueError(f"{path} is not valid JSON after row {position}: {err}") from None
            return
        for position, line in enumerate(handle):
            if not line.strip():
                continue
            try:
                yield position, json.loads(line)
            except ValueError as err:
                yield position, Rejected("invalid_json", f"{err}: {line[:200]!r}")


@dataclass
class Report:
    """Outcome of a build: rows written, rejections by reason, where things went."""

    kind: str
    output: SplitOutput
    rejected: Counter
    out_dir: Path
    #: CoT rows kept without a single strict-parsed answer (``check_answers=False``); ``None`` when checked.
    kept_unparsable: int | None = None

    def summary(self) -> str:
        total = sum(self.rejected.values())
        line = (
            f"{KINDS[self.kind].title}: wrote {self.output.num_examples:,} rows in {len(self.output.files)} "
            f"shard(s) to {self.out_dir / self.kind}; rejected {total:,}"
        )
        if total:
            reasons = ", ".join(f"{reason} {self.rejected[reason]:,}" for reason in REASONS if self.rejected[reason])
            line += f" ({reasons}; see {self.out_dir / 'rejected.jsonl'})"
        if self.kept_unparsable is not None:
            line += (
                f"; answer filter off: kept {self.kept_unparsable:,} row(s) whose response names no single "
                "candidate in one <answer> block"
            )
        return line + "."


def _card_body(kind: Kind, report: Report, command: str) -> str:
    rejected = markdown_table(("reason", "rows"), ((r, report.rejected[r]) for r in REASONS))
    if report.kept_unparsable is not None:
        rejected += (
            f"\n\nBuilt with the answer filter off (`--no-answer-filter`): {report.kept_unparsable:,} kept row(s) "
            "have a response whose answer the strict parser cannot read (no single candidate in one `<answer>` "
            "block); the official SFT trained on such rows too."
        )
    columns = ", ".join(f"`{name}`" for name in kind.features)
    return f"""
# {kind.title}

{kind.title} from UniFER: {kind.about}. Columns: {columns}.

```python
from datasets import load_dataset
ds = load_dataset("path/or/hub-id", split="train")
```

## Contents

{report.output.num_examples:,} rows written. Rows rejected while building (each listed with its reason in
`rejected.jsonl`):

{rejected}

{provenance(command)}"""


def build(
    config: CotBuildConfig | RlvrBuildConfig, *, max_shard_bytes: int = MAX_SHARD_BYTES, progress: bool = False
) -> Report:
    """Convert a released CoT or RLVR file (JSON list or JSONL) into ``<out>/<kind>/train-*.parquet``,
    ``rejected.jsonl`` and ``README.md``; returns the report (``report.summary()`` is the printed line).
    A CoT config with ``answer_filter=False`` keeps responses without a single strict-parsed answer, and counts
    them."""
    kind = KINDS[config.KIND]
    check_answers = getattr(config, "answer_filter", True)  # an option of CoT builds only
    if not Path(config.json).is_file():
        raise FileNotFoundError(f"--json {config.json} not found; give the released {kind.title} JSON or JSONL file.")
    if not Path(config.images_root).is_dir():
        raise FileNotFoundError(
            f"--images-root {config.images_root} is not a directory; it must hold the images at the "
            "file's image_path values (e.g. DIR/RAF-DB/aligned/...)."
        )
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    rejected: Counter = Counter()
    kept_unparsable = None if check_answers else 0

    def examples() -> Iterator[tuple[int, dict[str, Any]]]:
        """Converted rows; each rejected one is counted and written to ``rejected.jsonl`` with its reason."""
        from tqdm.auto import tqdm

        nonlocal kept_unparsable
        with (out / "rejected.jsonl").open("w", encoding="utf-8") as rejected_file:
            for position, row in tqdm(iter_rows(config.json), desc=kind.title, unit=" rows", disable=not progress):
                try:
                    example = convert(kind, row, config.images_root, check_answers=check_answers)
                except Rejected as err:
                    rejected[err.reason] += 1
                    record = {"row": position, "reason": err.reason, "detail": err.detail}
                    record["record"] = None if isinstance(row, Rejected) else row
                    rejected_file.write(json.dumps(record, ensure_ascii=False) + "\n")
                    continue
                if not check_answers and not has_single_answer(row["question"], row["response"]):
                    kept_unparsable += 1
                yield 0, example

    def card(outputs: list[SplitOutput], command: str) -> dict[str, Any]:
        report = Report(kind.name, outputs[0], rejected, out, kept_unparsable)
        return dict(
            default=kind.name,
            body=_card_body(kind, report, command),
            licensed_images=True,
            pretty_name=kind.title,
            license="other",
            license_name="source-dataset-licences",
            language="en",
            task_categories=["image-text-to-text", "visual-question-answering"],
            size_categories=size_category(report.output.num_examples),
            tags=["facial-expression-recognition", "emotion", "unifer", kind.name],
        )

    splits = [(kind.name, "train", kind.features)]
    (output,), _ = write_dataset(config, splits, examples(), card, max_shard_bytes=max_shard_bytes)
    return Report(kind.name, output, rejected, out, kept_unparsable)
