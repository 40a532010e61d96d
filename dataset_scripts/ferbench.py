"""FERBench: the official index files plus the user's licensed images, as Parquet loadable with no code.

Two ways in, one set of rules:

* ``build(images_root, out_dir)`` (what ``unifer data build ferbench`` runs) writes the publishable folder:
  ``<config>/test-XXXXX-of-NNNNN.parquet`` for ``all`` and each subset, ``README.md`` (dataset card whose YAML
  makes ``load_dataset(out_dir, "rafdb")`` work, locally or on the Hub) and ``skipped.jsonl`` when images were
  skipped.
* ``Ferbench`` is a ``datasets.GeneratorBasedBuilder`` for ``builder.download_and_prepare()`` into the datasets
  cache: ``Ferbench(config_name="rafdb", data_dir=images_root).download_and_prepare()``.

Configs: ``rafdb``, ``ferplus``, ``affectnet``, ``sfew_2.0`` and ``all`` (default; the subsets concatenated in
paper order), each with one ``test`` split whose rows are the official index's rows in order. ``label`` is a
``ClassLabel`` over the subset's candidates in a subset config; in ``all``, which mixes four label sets, it is the
official label *string* (compare with ``candidate_labels``), and ``canonical_label`` (a ``ClassLabel`` over the
eight canonical emotions) is the column to group by across subsets.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets

from unifer.data.configs import FerbenchBuildConfig
from unifer.data.publish import (
    CITATION,
    MAX_SHARD_BYTES,
    BadImage,
    histogram_table,
    image_file,
    markdown_table,
    provenance,
    read_image,
    size_category,
    write_dataset,
    write_jsonl,
)
from unifer.labels import CANONICAL_EMOTIONS, SUBSET_LABELS, SUBSETS, normalize
from unifer.prompts import fer_question

#: The UniFER commit whose index files define FERBench.
INDEX_COMMIT = "08c2ed6ef752e0aaa14165041b6a1aa4d35f3518"
INDEX_PATHS: dict[str, str] = {
    "rafdb": "eval_rafdb/data/rafdb_qa.json",
    "ferplus": "eval_ferplus/data/ferplus_qa.json",
    "affectnet": "eval_affectnet/data/affectnet_qa.json",
    "sfew_2.0": "eval_sfew_2.0/data/sfew_2.0_qa.json",
}
INDEX_SHA256: dict[str, str] = {
    "rafdb": "5bd03f5df4ec056b63f673a502062319b92a09061d8276d00b5dccef8c3747dd",
    "ferplus": "11d28978a61c4deb10ea7757c4936d5a7d9df77c98c3d885fcfbf1851bc1ede1",
    "affectnet": "32c5199f0519a62333f63e1c821f08e2c0543a767440f177c2dc4e89f34a442e",
    "sfew_2.0": "efe10ba3b13e467e2592f76b140d094e3bf56d94f74b3ed88503096a35cad691",
}
#: Where each subset's images must lie under ``--images-root`` (the official index's relative paths).
IMAGE_LAYOUT: dict[str, str] = {
    "rafdb": "RAF-DB/aligned/test_0001_aligned.jpg",
    "ferplus": "FERPlus/test/<class>/fer0032225.png",
    "affectnet": "AffectNet/Manually_Annotated/validation/<n>/<name>.jpg",
    "sfew_2.0": "SFEW-2.0/Val/Val_Aligned_Faces/<Class>/<name>.png",
}
ALL = "all"
CONFIGS: tuple[str, ...] = (ALL, *SUBSETS)
SPLIT = "test"
HOMEPAGE = "https://github.com/zfkarl/UniFER"
LICENSE_NOTE = (
    "The images are NOT redistributed by UniFER: they come from your own licensed copies of RAF-DB, FERPlus, "
    "AffectNet and SFEW 2.0 and remain the property of their owners, under their licences. Keep any Hub copy of "
    "this folder private unless those licences allow redistribution. The index (prompts, labels, paths) is from "
    "the official UniFER repository."
)


def index_url(subset: str) -> str:
    """Raw GitHub URL of a subset's official index file at ``INDEX_COMMIT``."""
    return f"https://raw.githubusercontent.com/zfkarl/UniFER/{INDEX_COMMIT}/{INDEX_PATHS[subset]}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(url: str) -> str:
    """Fetch through a datasets download manager, so the file is cached like any builder download."""
    return datasets.DownloadManager(dataset_name="ferbench").download(url)


def load_index(
    subset: str, index_dir: str | Path | None = None, download: Callable[[str], str] = _download
) -> list[dict[str, Any]]:
    """The official index records of ``subset``, sha256-verified and checked against ``labels``/``prompts``.

    ``index_dir`` holds local copies named ``<subset>_qa.json``; without it the file is downloaded from
    ``index_url(subset)`` with ``download`` (a download manager's ``download``).
    """
    if subset not in INDEX_PATHS:
        raise ValueError(f"Unknown FERBench subset {subset!r}. Allowed: {', '.join(SUBSETS)}.")
    if index_dir is not None:
        path = Path(index_dir) / Path(INDEX_PATHS[subset]).name
        if not path.is_file():
            raise FileNotFoundError(
                f"FERBench index {path} not found; --index-dir must hold "
                f"{', '.join(Path(p).name for p in INDEX_PATHS.values())}."
            )
    else:
        try:
            path = Path(download(index_url(subset)))
        except Exception as err:  # offline, DNS, proxy, HTTP status: the HTTP stack raises many types
            raise FileNotFoundError(
                f"Could not download the FERBench index {index_url(subset)} ({err}); "
                "pass --index-dir with local copies of the official *_qa.json files."
            ) from None
    digest = _sha256(path)
    if digest != INDEX_SHA256[subset]:
        raise ValueError(
            f"FERBench index {path} has sha256 {digest}, expected {INDEX_SHA256[subset]} (the "
            f"official file at UniFER commit {INDEX_COMMIT[:7]}); replace it with the official "
            f"{INDEX_PATHS[subset]}."
        )
    records = json.loads(path.read_text(encoding="utf-8"))
    _check_records(subset, records)
    return records


def _check_records(subset: str, records: Sequence[Mapping[str, Any]]) -> None:
    # The sha256 already pins the content; this guards our label and prompt tables against drifting from it.
    candidates = SUBSET_LABELS[subset]
    question = fer_question(candidates)
    for i, record in enumerate(records):
        if (
            tuple(record["candidate_labels"]) != candidates
            or record["true_label"] not in candidates
            or record["prompt"] != question
        ):
            raise ValueError(f"{subset} record {i} disagrees with unifer.labels/unifer.prompts: {record}")


def features(config: str) -> datasets.Features:
    """Features of a config: ``label`` is a subset ``ClassLabel``, or the official string in ``all``."""
    if config != ALL and config not in SUBSET_LABELS:
        raise ValueError(f"Unknown FERBench config {config!r}. Allowed: {', '.join(CONFIGS)}.")
    return benchmark_features(None if config == ALL else SUBSET_LABELS[config])


def benchmark_features(candidates: Sequence[str] | None) -> datasets.Features:
    """The FERBench row schema; ``candidates=None`` for a config that mixes label sets (label as a string)."""
    label = datasets.Value("string") if candidates is None else datasets.ClassLabel(names=list(candidates))
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "subset": datasets.Value("string"),
            "image": datasets.Image(),
            "image_path": datasets.Value("string"),
            "label": label,
            "canonical_label": datasets.ClassLabel(names=list(CANONICAL_EMOTIONS)),
            "candidate_labels": datasets.List(datasets.Value("string")),
            "prompt": datasets.Value("string"),
        }
    )


def benchmark_example(
    row_id: str,
    subset: str,
    image: Mapping[str, Any],
    image_path: str,
    label: str,
    candidates: Sequence[str],
    prompt: str,
) -> dict[str, Any]:
    """One FERBench-format row (the label as a candidate name; ``ClassLabel`` columns encode it)."""
    return {
        "id": row_id,
        "subset": subset,
        "image": image,
        "image_path": image_path,
        "label": label,
        "canonical_label": normalize(label),
        "candidate_labels": list(candidates),
        "prompt": prompt,
    }


def row_id(subset: str, index: int) -> str:
    """Stable id: the row's position in the official index (kept when other rows are skipped)."""
    return f"{subset}-{index:05d}"


def find_bad_images(
    index: Mapping[str, Sequence[Mapping[str, Any]]], images_root: str | Path, *, progress: bool = False
) -> list[dict[str, str]]:
    """Every index record whose image is missing or unreadable under ``images_root``, in index order."""
    from tqdm.auto import tqdm

    bad = []
    total = sum(len(records) for records in index.values())
    bar = tqdm(total=total, desc="FERBench: checking images", unit=" images", disable=not progress)
    for subset, records in index.items():
        for i, record in enumerate(records):
            bar.update()
            try:
                read_image(image_file(images_root, record["image_path"]))
            except BadImage as err:
                bad.append(
                    {
                        "subset": subset,
                        "id": row_id(subset, i),
                        "image_path": record["image_path"],
                        "reason": err.reason,
                        "detail": err.detail,
                    }
                )
    bar.close()
    return bad


def bad_images_message(
    bad: Sequence[Mapping[str, str]], index: Mapping[str, Sequence[Any]], images_root: str | Path
) -> str:
    """Why nothing was written: counts per subset, the first paths, the expected layout and the two ways out."""
    counts = Counter(item["subset"] for item in bad)
    per_subset = ", ".join(f"{s} {counts[s]}/{len(index[s])}" for s in index if counts[s])
    first = "; ".join(f"{image_file(images_root, b['image_path'])} ({b['reason']})" for b in bad[:5])
    layout = ", ".join(f"{images_root}/{IMAGE_LAYOUT[s]}" for s in index)
    return (
        f"{len(bad)} FERBench images are missing or unreadable under --images-root {images_root} "
        f"({per_subset}); first: {first}. Expected layout: {layout}. Nothing was written: fix the images or "
        "--images-root, or pass --allow-missing to skip them (listed in skipped.jsonl and the card)."
    )


def check_images(
    index: Mapping[str, Sequence[Mapping[str, Any]]],
    images_root: str | Path,
    allow_missing: bool,
    *,
    progress: bool = False,
) -> list[dict[str, str]]:
    """The records to skip; raises ``FileNotFoundError`` if any image is bad and ``allow_missing`` is off."""
    if not Path(images_root).is_dir():
        raise FileNotFoundError(
            f"--images-root {images_root} is not a directory; it must hold "
            f"{', '.join(IMAGE_LAYOUT[s] for s in index)}."
        )
    bad = find_bad_images(index, images_root, progress=progress)
    if bad and not allow_missing:
        raise FileNotFoundError(bad_images_message(bad, index, images_root))
    return bad


def iter_examples(
    subset: str, records: Sequence[Mapping[str, Any]], images_root: str | Path, skip: frozenset[str] = frozenset()
) -> Iterator[dict[str, Any]]:
    """The subset's rows in index order, images (checked by ``check_images``) read one at a time, bytes as stored."""
    for i, record in enumerate(records):
        rid = row_id(subset, i)
        if rid in skip:
            continue
        # check_images has already verified every image; read the bytes only.
        image = read_image(image_file(images_root, record["image_path"]), verify=False)
        yield benchmark_example(
            rid,
            subset,
            image,
            record["image_path"],
            record["true_label"],
            record["candidate_labels"],
            record["prompt"],
        )


@dataclass
class FerbenchConfig(datasets.BuilderConfig):
    """A FERBench config: which subsets it holds, where the index comes from, whether bad images are skipped.

    ``data_dir`` (the standard builder argument) is the images root.
    """

    subsets: tuple[str, ...] = SUBSETS
    index_dir: str | None = None
    allow_missing: bool = False


class Ferbench(datasets.GeneratorBasedBuilder):
    """FERBench as a builder: ``Ferbench(config_name="rafdb", data_dir=IMAGES_ROOT).download_and_prepare()``."""

    BUILDER_CONFIG_CLASS = FerbenchConfig
    BUILDER_CONFIGS = [
        FerbenchConfig(name=ALL, subsets=SUBSETS, description="All four subsets, in paper order."),
        *(FerbenchConfig(name=s, subsets=(s,), description=f"The {s} subset.") for s in SUBSETS),
    ]
    DEFAULT_CONFIG_NAME = ALL

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description=__doc__,
            features=features(self.config.name),
            homepage=HOMEPAGE,
            citation=CITATION,
            license=LICENSE_NOTE,
        )

    def _split_generators(self, dl_manager):
        if not dl_manager.manual_dir:
            raise ValueError(
                "FERBench needs your images: pass data_dir=IMAGES_ROOT holding "
                f"{', '.join(IMAGE_LAYOUT[s] for s in self.config.subsets)}."
            )
        index = {s: load_index(s, self.config.index_dir, dl_manager.download) for s in self.config.subsets}
        skip = frozenset(item["id"] for item in check_images(index, dl_manager.manual_dir, self.config.allow_missing))
        return [
            datasets.SplitGenerator(
                name=datasets.Split.TEST,
                gen_kwargs={"index": index, "images_root": dl_manager.manual_dir, "skip": skip},
            )
        ]

    def _generate_examples(self, index, images_root, skip):
        for subset, records in index.items():
            for example in iter_examples(subset, records, images_root, skip):
                yield example["id"], example


def _skipped_section(skipped: Sequence[Mapping[str, str]], shown: int = 50) -> str:
    """The card's list of rows whose image was missing or unreadable (the first ``shown``; all in skipped.jsonl)."""
    if not skipped:
        return "None: every image of the official index was found and readable."
    listed = "\n".join(f"- `{b['id']}` `{b['image_path']}` ({b['reason']})" for b in skipped[:shown])
    more = f"\n- … {len(skipped) - shown} more" if len(skipped) > shown else ""
    return (
        f"Rows skipped because their image was missing or unreadable: {len(skipped)} (all listed "
        f"in `skipped.jsonl`; ids keep their official positions).\n\n{listed}{more}"
    )


def _card_body(
    outputs,
    histograms: Mapping[str, Counter],
    index: Mapping[str, Sequence[Any]],
    skipped: Sequence[Mapping[str, str]],
    command: str,
    index_source: str,
) -> str:
    rows = {o.config: o.num_examples for o in outputs}
    subsets = list(index)
    counts = markdown_table(
        ("config", "rows", "official rows", "skipped", "candidate labels"),
        [
            *((s, rows[s], len(index[s]), len(index[s]) - rows[s], ", ".join(SUBSET_LABELS[s])) for s in subsets),
            (ALL, rows[ALL], sum(len(index[s]) for s in subsets), len(skipped), "per subset"),
        ],
    )
    hists = "\n\n".join(f"**{s}**\n\n{histogram_table(histograms[s], SUBSET_LABELS[s])}" for s in subsets)
    shas = markdown_table(
        ("subset", "index file", "sha256"), ((s, INDEX_PATHS[s], f"`{INDEX_SHA256[s]}`") for s in subsets)
    )
    index_note = f"Index: {index_source}, verified by sha256:\n\n{shas}"
    return f"""
# FERBench

FERBench, the facial expression recognition benchmark of UniFER, as visual question answering: each row is a face
image, the official question (`prompt`, asking for `<think>` reasoning and an `<answer>` among
`candidate_labels`) and the gold `label`. Rows and their order equal the official index files.

## Usage

```python
from datasets import load_dataset
ds = load_dataset("path/or/hub-id", "rafdb", split="test")   # configs: all (default), {", ".join(subsets)}
```

Columns: `id` (subset and position in the official index), `subset`, `image` (the original file bytes),
`image_path` (the official relative path), `label` (a `ClassLabel` over the subset's candidates in a subset config;
the official label string in `all`, which mixes four label sets), `canonical_label` (`ClassLabel` over
{", ".join(CANONICAL_EMOTIONS)}), `candidate_labels`, `prompt`.

## Contents

{counts}

### Class histograms

{hists}

### Skipped images

{_skipped_section(skipped)}

{provenance(command, index_note)}"""


def build(
    config: FerbenchBuildConfig,
    *,
    max_shard_bytes: int = MAX_SHARD_BYTES,
    download: Callable[[str], str] = _download,
    progress: bool = False,
) -> dict[str, Any]:
    """Write the publishable FERBench folder ``config.out``; returns rows per config, the skipped rows and the card
    path.

    Every image is checked before anything is written: a missing or unreadable one fails the build (naming
    counts, first paths and the expected layout) unless ``config.allow_missing``. ``progress``: show progress bars.
    """
    from tqdm.auto import tqdm

    subsets = config.subsets
    index = {s: load_index(s, config.index_dir, download) for s in subsets}
    skipped = check_images(index, config.images_root, config.allow_missing, progress=progress)
    skip = frozenset(item["id"] for item in skipped)
    configs = (ALL, *subsets)
    position = {name: i for i, name in enumerate(configs)}
    histograms: dict[str, Counter] = {s: Counter() for s in subsets}

    def examples() -> Iterator[tuple[int, dict[str, Any]]]:
        """One pass over the images feeds `all` and the subset's own config."""
        total = sum(len(records) for records in index.values()) - len(skip)
        with tqdm(total=total, desc="FERBench: writing", unit=" rows", disable=not progress) as bar:
            for subset in subsets:
                for example in iter_examples(subset, index[subset], config.images_root, skip):
                    bar.update()
                    histograms[subset][example["label"]] += 1
                    yield position[ALL], example
                    yield position[subset], example

    def card(outputs, command: str) -> dict[str, Any]:
        source = (
            f"local copies in `{config.index_dir}`"
            if config.index_dir
            else f"downloaded from {HOMEPAGE} at commit `{INDEX_COMMIT}`"
        )
        return dict(
            default=ALL,
            body=_card_body(outputs, histograms, index, skipped, command, source),
            licensed_images=True,
            pretty_name="FERBench",
            license="other",
            license_name="source-dataset-licences",
            task_categories=["image-classification", "visual-question-answering"],
            size_categories=size_category(outputs[0].num_examples),
            language="en",
            tags=["facial-expression-recognition", "emotion", "ferbench", "unifer"],
        )

    splits = [(c, SPLIT, features(c)) for c in configs]
    outputs, card_path = write_dataset(config, splits, examples(), card, max_shard_bytes=max_shard_bytes)
    write_jsonl(Path(config.out) / "skipped.jsonl", skipped)
    return {"rows": {o.config: o.num_examples for o in outputs}, "skipped": skipped, "card": card_path}
