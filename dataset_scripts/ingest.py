"""Folder ingest: the user's own labelled images, in class sub-folders or listed in a ``path,label`` CSV, as a
FERBench-format benchmark (usable by the evaluation harness) or as RLVR training rows.

Folder and CSV names map to emotions through ``labels.normalize`` (or an explicit ``--label-map``); the
candidates are the emotions present, in canonical order, and the question is ``prompts.fer_question`` of them.
"""

from __future__ import annotations

import csv
import json
import posixpath
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from unifer.data.configs import IngestConfig
from unifer.data.cot_rlvr import RLVR_FEATURES, rlvr_example
from unifer.data.ferbench import benchmark_example, benchmark_features
from unifer.data.publish import (
    MAX_SHARD_BYTES,
    BadImage,
    histogram_table,
    image_file,
    read_image,
    size_category,
    write_dataset,
)
from unifer.labels import CANONICAL_EMOTIONS, fold, normalize
from unifer.prompts import fer_question

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"})


def parse_label_map(spec: str | Path | None) -> dict[str, str]:
    """``{folded folder or CSV name: canonical emotion}`` from a JSON file or ``"folder=label,folder=label"``."""
    if not spec:
        return {}
    if Path(spec).is_file():
        mapping = json.loads(Path(spec).read_text(encoding="utf-8"))
        if not isinstance(mapping, dict):
            raise ValueError(f'--label-map {spec} must hold a JSON object {{"folder": "emotion", ...}}.')
        pairs = mapping.items()
    else:
        pairs = [item.split("=", 1) for item in str(spec).split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError(f"--label-map {spec!r} is neither a JSON file nor 'folder=emotion,folder=emotion'.")
    return {fold(name): normalize(label) for name, label in pairs}


def scan_folders(images_root: Path) -> list[tuple[str, str]]:
    """``(relative path, class folder name)`` for every image under ``images_root/<class>/`` (sorted)."""
    items = []
    for folder in sorted(p for p in images_root.iterdir() if p.is_dir()):
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                items.append((path.relative_to(images_root).as_posix(), folder.name))
    if not items:
        raise FileNotFoundError(
            f"No images ({', '.join(sorted(IMAGE_SUFFIXES))}) in class sub-folders of "
            f"{images_root}; expected {images_root}/<class>/<image>, or pass --csv."
        )
    return items


def read_csv(csv_path: Path) -> list[tuple[str, str]]:
    """``(path, label)`` rows of a CSV (an optional ``path,label`` header is skipped)."""
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if rows and [cell.strip().lower() for cell in rows[0][:2]] == ["path", "label"]:
        rows = rows[1:]
    bad = [i for i, row in enumerate(rows) if len(row) < 2 or not row[0].strip() or not row[1].strip()]
    if bad or not rows:
        raise ValueError(f"--csv {csv_path}: every row must be 'path,label' (bad data rows: {bad[:5]}).")
    return [(row[0].strip(), row[1].strip()) for row in rows]


def relative_image_path(path: str) -> str:
    """``path`` (from a class folder scan or a CSV row) as written to ``image_path``: relative to --images-root and
    normalized, so the written dataset folder does not depend on where the images were (``/happy/./a.png`` ->
    ``happy/a.png``). A leading ``/`` is read as the root, as ``publish.image_file`` reads it."""
    return posixpath.normpath(path.lstrip("/"))


def resolve_labels(items: Sequence[tuple[str, str]], label_map: dict[str, str]) -> list[tuple[str, str]]:
    """Map every folder/CSV name to a canonical emotion; all unknown names are reported at once."""

    def lookup(name: str) -> str | None:
        try:
            return label_map.get(fold(name)) or normalize(name)
        except ValueError:
            return None

    resolved = {name: lookup(name) for name in dict.fromkeys(name for _, name in items)}
    unknown = [name for name, label in resolved.items() if label is None]
    if unknown:
        example = ",".join(f"{name}=<emotion>" for name in unknown[:3])
        raise ValueError(
            f"Unknown class names {unknown}: not an emotion or alias known to unifer.labels. Map them "
            f"with --label-map '{example}' (or a JSON file), using {', '.join(CANONICAL_EMOTIONS)}."
        )
    return [(path, resolved[name]) for path, name in items]


def _read_all(images_root: Path, items: Sequence[tuple[str, str]], progress: bool) -> None:
    """Fail before writing anything if an image is missing or unreadable, naming the first ones."""
    from tqdm.auto import tqdm

    bad = []
    for path, _ in tqdm(items, desc="ingest: checking images", unit=" images", disable=not progress):
        if path == ".." or path.startswith("../"):
            bad.append(f"{path} (outside --images-root)")
            continue
        try:
            read_image(image_file(images_root, path))
        except BadImage as err:
            bad.append(f"{err.path} ({err.reason})")
    if bad:
        raise FileNotFoundError(
            f"{len(bad)} of {len(items)} images are missing or unreadable: "
            f"{'; '.join(bad[:5])}. Fix or remove them (paths are relative to --images-root "
            f"{images_root}); nothing was written."
        )


def canonical_order(emotions: Iterable[str]) -> tuple[str, ...]:
    """The distinct canonical ``emotions`` in ``CANONICAL_EMOTIONS`` order (the order candidates are listed in)."""
    present = set(emotions)
    return tuple(e for e in CANONICAL_EMOTIONS if e in present)


def ingest(config: IngestConfig, *, max_shard_bytes: int = MAX_SHARD_BYTES, progress: bool = False) -> dict[str, Any]:
    """Write the user's labelled images as a FERBench-format benchmark (config ``config.name``, split ``test``) or
    as RLVR rows (split ``train``), with a card; returns rows per class, the candidates and the card path.
    ``progress``: show progress bars."""
    images_root = Path(config.images_root)
    if not images_root.is_dir():
        raise FileNotFoundError(f"--images-root {images_root} is not a directory.")
    if config.csv is not None and not Path(config.csv).is_file():
        raise FileNotFoundError(f"--csv {config.csv} not found.")
    raw = read_csv(Path(config.csv)) if config.csv else scan_folders(images_root)
    items = [
        (relative_image_path(path), label) for path, label in resolve_labels(raw, parse_label_map(config.label_map))
    ]
    _read_all(images_root, items, progress)

    name, benchmark = config.name, config.format == "ferbench"
    candidates = canonical_order(label for _, label in items)
    question = fer_question(candidates)
    features = benchmark_features(candidates) if benchmark else RLVR_FEATURES
    counts = Counter(label for _, label in items)

    def examples() -> Iterator[tuple[int, dict[str, Any]]]:
        from tqdm.auto import tqdm

        for i, (path, label) in enumerate(tqdm(items, desc="ingest: writing", unit=" rows", disable=not progress)):
            image = read_image(image_file(images_root, path), verify=False)  # verified above
            yield (
                0,
                (
                    benchmark_example(f"{name}-{i:05d}", name, image, path, label, candidates, question)
                    if benchmark
                    else rlvr_example(question, label, image)
                ),
            )

    def card(outputs, command: str) -> dict[str, Any]:
        return dict(
            default=name,
            body=_ingest_card(config, outputs[0].num_examples, counts, candidates, command),
            licensed_images=True,
            pretty_name=name,
            license="other",
            task_categories=["image-classification", "visual-question-answering"],
            size_categories=size_category(outputs[0].num_examples),
        )

    splits = [(name, "test" if benchmark else "train", features)]
    _, card_path = write_dataset(config, splits, examples(), card, max_shard_bytes=max_shard_bytes)
    return {"rows": dict(counts), "candidates": candidates, "card": card_path}


def _ingest_card(config: IngestConfig, rows: int, counts: Counter, candidates: Sequence[str], command: str) -> str:
    source = f"--csv {config.csv}" if config.csv else "class sub-folders"
    shape = (
        "FERBench format (split `test`): usable as an evaluation benchmark"
        if config.format == "ferbench"
        else "RLVR rows (split `train`): `prompt`, `image`, `solution`, `candidate_labels`"
    )
    return f"""
# {config.name}

{rows:,} labelled face images from `{config.images_root}` ({source}), written by `unifer data ingest` in {shape}.
Candidate labels: {", ".join(candidates)}.

```python
from datasets import load_dataset
ds = load_dataset("path/or/hub-id", "{config.name}")
```

{histogram_table(counts, candidates)}

## How it was built

```bash
{command}
```
"""
