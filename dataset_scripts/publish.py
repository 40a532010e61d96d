"""Writing a dataset folder that ``datasets.load_dataset`` reads with no code, locally or from the Hub.

datasets >= 4 refuses loading scripts, so each builder writes Parquet shards under
``<config>/<split>-XXXXX-of-NNNNN.parquet`` plus a ``README.md`` whose YAML ``configs:`` map configs to shards and
whose ``dataset_info:`` records features and sizes. The Parquet schema carries the Hugging Face feature metadata
(``Image``, ``ClassLabel``), so images decode and labels keep their names after loading. ``load_dataset`` cannot
load an empty split, so a split with no rows gets no shard and is left out of the card (with a warning), and a
build with no rows at all writes no card and says so (:func:`write_card`).

:func:`push_to_hub` uploads such a folder to a private dataset repository (public only when asked) and records
where it went (:func:`pushed_repo`), so that a model card can name the Hub id of the data a model was evaluated on.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.info import DatasetInfosDict
from datasets.utils.metadata import MetadataConfigs
from huggingface_hub import DatasetCard, DatasetCardData
from PIL import Image

if TYPE_CHECKING:
    from unifer.data.configs import CommandConfig

logger = logging.getLogger(__name__)

#: The Hub's own default Parquet shard size.
MAX_SHARD_BYTES = 500 * 2**20
#: Above this size a folder goes up with ``upload_large_folder`` (resumable, many commits) where the installed
#: huggingface_hub has it; from huggingface_hub 2, ``upload_folder`` itself splits and resumes large uploads.
LARGE_FOLDER_BYTES = 2 * 2**30
#: Written into a folder by :func:`push_to_hub`: where it was pushed. Never uploaded.
HUB_RECORD = ".unifer-hub.json"
#: For the cards of builds whose images belong to other datasets' owners (FERBench, CoT, RLVR, ingested folders).
LICENSED_IMAGES_NOTE = (
    "> **Licensed images.** The images are NOT redistributed by UniFER: they come from your own licensed copies of "
    "the source datasets and remain the property of their owners, under their licences. `--push-to-hub` creates a "
    "private repository: keep it private, or gate it (the repository's Settings → Access requests, or "
    '`HfApi().update_repo_settings(REPO, repo_type="dataset", gated="manual")`) and grant access only to people '
    "those licences cover, unless they allow redistribution."
)
#: Shown by the Hub to anyone who asks for access once the repository is gated.
GATED_PROMPT = (
    "The images in this dataset come from licensed facial expression datasets (RAF-DB, FERPlus, AffectNet, SFEW 2.0 or "
    "the owner's own). Request access only if you hold a licence for them."
)
#: A row group is the unit held in memory while writing: at most this many rows ...
ROW_GROUP_ROWS = 1000
#: ... or this many bytes (large images), whichever comes first.
ROW_GROUP_BYTES = 32 * 2**20

CITATION = """@misc{zhang2025rethinkingfacialexpressionrecognition,
  title={Rethinking Facial Expression Recognition in the Era of Multimodal Large Language Models: Benchmark,
         Datasets, and Beyond},
  author={Fan Zhang and Haoxuan Li and Shengju Qian and Xin Wang and Zheng Lian and Hao Wu and Zhihong Zhu and
          Yuan Gao and Qiankun Li and Yefeng Zheng and Zhouchen Lin and Pheng-Ann Heng},
  year={2025},
  eprint={2511.00389},
  archivePrefix={arXiv},
  primaryClass={cs.CV},
  url={https://arxiv.org/abs/2511.00389},
}"""


class BadImage(ValueError):
    """An image that cannot go into a dataset; ``reason`` is ``image_missing`` or ``image_unreadable``."""

    def __init__(self, reason: str, path: Path, detail: str):
        self.reason, self.path, self.detail = reason, Path(path), detail
        super().__init__(f"{reason}: {path} ({detail})")


def image_file(images_root: str | Path, image_path: str) -> Path:
    """Where an index's ``image_path`` lies under ``images_root`` (official paths start with ``/``)."""
    return Path(images_root) / image_path.lstrip("/")


def read_image(path: str | Path, *, verify: bool = True) -> dict[str, Any]:
    """The file's bytes, unchanged, as a ``datasets.Image`` value; raises ``BadImage`` if missing or (with
    ``verify``) not an image."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:  # absent, a directory, or not readable
        raise BadImage("image_missing", path, err.strerror or type(err).__name__) from None
    if not verify:
        return {"bytes": data, "path": path.name}
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()  # header (and PNG chunk checksums) only: cheap, no full decode
    except Exception as err:  # PIL signals corrupt files with many exception types
        raise BadImage("image_unreadable", path, f"{type(err).__name__}: {err}") from None
    return {"bytes": data, "path": path.name}


@dataclass
class SplitOutput:
    """What a ``ShardWriter`` wrote: one split of one config."""

    config: str
    split: str
    features: datasets.Features
    num_examples: int = 0
    num_bytes: int = 0
    files: list[str] = field(default_factory=list)


def _image_bytes(value: Any) -> int:
    """Bytes held by an image value or a list of them (what makes a buffered row group large)."""
    if isinstance(value, Mapping):
        return len(value.get("bytes") or b"")
    if isinstance(value, (list, tuple)):
        return sum(_image_bytes(v) for v in value)
    return 0


def _image_columns(features: datasets.Features) -> list[str]:
    return [
        name
        for name, feature in features.items()
        if isinstance(feature, datasets.Image)
        or (isinstance(feature, datasets.List) and isinstance(feature.feature, datasets.Image))
    ]


class ShardWriter:
    """Stream examples into ``<out_dir>/<config>/<split>-XXXXX-of-NNNNN.parquet``, shards of bounded size.

    Only one row group is buffered, so memory stays flat however many rows pass through. Shards are written under
    hidden temporary names and renamed when the count is known; leaving the ``with`` block by an exception removes
    them, and a successful close replaces shards of an earlier build of the same split.
    """

    def __init__(
        self,
        out_dir: str | Path,
        config: str,
        split: str,
        features: datasets.Features,
        *,
        max_shard_bytes: int = MAX_SHARD_BYTES,
        row_group_rows: int = ROW_GROUP_ROWS,
        row_group_bytes: int = ROW_GROUP_BYTES,
    ):
        self.folder = Path(out_dir) / config
        self.output = SplitOutput(config, split, features)
        self._schema = features.arrow_schema  # carries the HF feature metadata into every Parquet file
        self._image_columns = _image_columns(features)
        self._limits = (max_shard_bytes, row_group_rows, row_group_bytes)
        self._rows: list[dict[str, Any]] = []
        self._row_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._shard_bytes = 0
        self._partials: list[Path] = []

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()

    def write(self, example: Mapping[str, Any]) -> None:
        """Buffer one example (decoded form, as ``Features.encode_example`` takes it); flush a full row group."""
        self._rows.append(example)
        self._row_bytes += sum(_image_bytes(example[name]) for name in self._image_columns)
        max_shard, max_rows, max_bytes = self._limits
        # Flushing when the shard's remaining room is used up keeps shards within about one row of their bound.
        if len(self._rows) >= max_rows or self._row_bytes >= min(max_bytes, max_shard - self._shard_bytes):
            self._flush()

    def _open_shard(self) -> pq.ParquetWriter:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f".{self.output.split}-{len(self._partials):05d}.parquet.partial"
        self._partials.append(path)
        return pq.ParquetWriter(path, self._schema)

    def _flush(self) -> None:
        # Column-wise encoding is several times faster than encoding row by row.
        features = self.output.features
        columns = features.encode_batch({name: [row[name] for row in self._rows] for name in features})
        table = pa.Table.from_pydict(columns, schema=self._schema)
        self._rows, self._row_bytes = [], 0
        if self._writer is None:
            self._writer = self._open_shard()
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self._shard_bytes += table.nbytes
        self.output.num_examples += table.num_rows
        self.output.num_bytes += table.nbytes
        if self._shard_bytes >= self._limits[0]:
            self._writer.close()
            self._writer, self._shard_bytes = None, 0

    def close(self) -> SplitOutput:
        if self._rows:
            self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        split = self.output.split
        for stale in self.folder.glob(f"{split}-*.parquet"):
            stale.unlink()
        total = len(self._partials)
        for i, partial in enumerate(self._partials):
            final = self.folder / f"{split}-{i:05d}-of-{total:05d}.parquet"
            partial.rename(final)
            self.output.files.append(final.name)
        self._partials = []
        return self.output

    def _abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for partial in self._partials:
            partial.unlink(missing_ok=True)
        self._partials = []


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> int:
    """Write ``rows`` as JSON lines; with no rows, remove ``path`` instead (no stale report from an older build)."""
    rows = list(rows)
    if not rows:
        path.unlink(missing_ok=True)
        return 0
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    return len(rows)


def size_category(num_rows: int) -> str:
    """The Hub's ``size_categories`` bucket for a row count."""
    for bound, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if num_rows < bound:
            return name
    return "n>10M"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(f"{cell:,}" if isinstance(cell, int) else str(cell) for cell in row) + " |" for row in rows
    ]
    return "\n".join(lines)


def histogram_table(counts: Counter, order: Sequence[str], header: str = "label") -> str:
    """Counts per class in ``order`` (classes with no rows shown as 0)."""
    return markdown_table((header, "rows"), ((name, counts.get(name, 0)) for name in order))


def card_data(outputs: Sequence[SplitOutput], default: str, **metadata: Any) -> DatasetCardData:
    """The card's metadata: ``configs:`` (data files per split, ``default``), ``dataset_info:`` and ``metadata``."""
    card = DatasetCardData(**metadata)
    by_config: dict[str, list[SplitOutput]] = {}
    for output in outputs:
        if output.num_examples:  # an empty split has no shard (see write_card)
            by_config.setdefault(output.config, []).append(output)
    MetadataConfigs(
        {
            name: {
                "data_files": [{"split": o.split, "path": f"{name}/{o.split}-*.parquet"} for o in splits],
                **({"default": True} if name == default else {}),
            }
            for name, splits in by_config.items()
        }
    ).to_dataset_card_data(card)
    DatasetInfosDict(
        {
            name: datasets.DatasetInfo(
                features=splits[0].features,
                splits=datasets.SplitDict(
                    {o.split: datasets.SplitInfo(o.split, o.num_bytes, o.num_examples) for o in splits}
                ),
                dataset_size=sum(o.num_bytes for o in splits),
            )
            for name, splits in by_config.items()
        }
    ).to_dataset_card_data(card)
    return card


def provenance(command: str, details: str = "") -> str:
    """A card's closing sections: the command that built the folder (plus ``details``), then the citation."""
    details = f"\n{details.strip()}\n" if details.strip() else ""
    return f"## How it was built\n\n```bash\n{command}\n```\n{details}\n## Citation\n\n```bibtex\n{CITATION}\n```\n"


def write_card(
    out_dir: str | Path,
    outputs: Sequence[SplitOutput],
    default: str,
    body: str,
    *,
    licensed_images: bool = False,
    **metadata: Any,
) -> Path:
    """Write ``README.md`` (a ``DatasetCard``): metadata (see :func:`card_data`) then the markdown ``body``. ``licensed_images``:
    the images belong to other datasets' owners; the card says so (:data:`LICENSED_IMAGES_NOTE`, right under the
    title) and carries the prompt the Hub shows once the repository is gated.

    A split with no rows is left out of the card's configs (``load_dataset`` cannot load an empty split); with no
    rows at all, no card is written and ``ValueError`` says so."""
    empty = [f"{o.config}/{o.split}" for o in outputs if not o.num_examples]
    if len(empty) == len(outputs):
        raise ValueError(
            f"No rows to write to {out_dir}: {', '.join(empty)} came out empty, and datasets cannot load an empty "
            "split, so no dataset was written (no card, no shards). The build's own report says why no row was kept."
        )
    if empty:
        logger.warning("%s: no rows, so left out of the card's configs (datasets cannot load an empty split)", empty)
    if licensed_images:
        metadata.setdefault("extra_gated_prompt", GATED_PROMPT)
        title, _, rest = body.strip().partition("\n")
        body = (
            f"{title}\n\n{LICENSED_IMAGES_NOTE}\n{rest}"
            if title.startswith("# ")
            else f"{LICENSED_IMAGES_NOTE}\n\n{body}"
        )
    metadata_yaml = card_data(outputs, default, **metadata).to_yaml()
    path = Path(out_dir) / "README.md"
    DatasetCard(f"---\n{metadata_yaml}\n---\n\n{body.strip()}\n").save(path)
    return path


def write_dataset(
    config: CommandConfig,
    splits: Sequence[tuple[str, str, datasets.Features]],
    examples: Iterable[tuple[int, Mapping[str, Any]]],
    card: Callable[[list[SplitOutput], str], dict[str, Any]],
    *,
    max_shard_bytes: int = MAX_SHARD_BYTES,
) -> tuple[list[SplitOutput], Path]:
    """What every build does once its inputs are checked: write ``examples`` into ``config.out``, then the card.

    ``splits`` are ``(config name, split, features)``; ``examples`` yields ``(index into splits, example)`` (an
    example may go to several splits). ``card(outputs, command)`` gets what was written and the command line that
    rebuilds it, rendered from ``config`` (:meth:`~unifer.data.configs.CommandConfig.to_command_line`), and returns
    :func:`write_card`'s keyword arguments (``default``, ``body``, ``licensed_images``, card metadata). Returns the
    outputs and the card's path; ``ValueError`` (no card) when no split got a row."""
    with ExitStack() as stack:
        writers = [
            stack.enter_context(ShardWriter(config.out, name, split, features, max_shard_bytes=max_shard_bytes))
            for name, split, features in splits
        ]
        for index, example in examples:
            writers[index].write(example)
    outputs = [writer.output for writer in writers]
    return outputs, write_card(config.out, outputs, **card(outputs, config.to_command_line()))


#: What a build writes into its folder, and nothing else: ``prepare_out_dir(overwrite=True)`` removes only these.
_BUILD_OUTPUTS = ("README.md", HUB_RECORD, "*.jsonl")


def prepare_out_dir(out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Check a build's ``--out`` folder: new or empty is fine; an earlier build there is replaced only with
    ``overwrite`` (its card, reports, Hub record and Parquet shards are removed; other files are left alone)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for the dataset.")
    if not out.is_dir() or not any(out.iterdir()):
        return out
    if not overwrite:
        held = ", ".join(sorted(p.name for p in out.iterdir())[:5])
        raise ValueError(
            f"--out {out} is not empty (it holds {held}); pass --overwrite to replace the dataset there, or choose "
            "another folder."
        )
    old = [p for pattern in _BUILD_OUTPUTS for p in out.glob(pattern)] + list(out.glob("*/*.parquet"))
    for path in old:
        path.unlink()
    for folder in {path.parent for path in old} - {out}:
        if not any(folder.iterdir()):
            folder.rmdir()
    logger.info("--overwrite: removed %d files of the earlier build in %s", len(old), out)
    return out


def folder_bytes(folder: str | Path) -> int:
    return sum(path.stat().st_size for path in Path(folder).rglob("*") if path.is_file())


def push_to_hub(folder: str | Path, repo_id: str, *, private: bool = True) -> str:
    """Upload a built folder as a Hub dataset repository (created if needed, private unless ``private=False``);
    returns the URL of the upload. Big folders go up in resumable parts (:data:`LARGE_FOLDER_BYTES`). Where the
    folder went is recorded in it (:func:`pushed_repo`)."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if folder_bytes(folder) > LARGE_FOLDER_BYTES and hasattr(api, "upload_large_folder"):
        api.upload_large_folder(
            repo_id=repo_id, folder_path=str(folder), repo_type="dataset", ignore_patterns=[HUB_RECORD]
        )
        url = f"https://huggingface.co/datasets/{repo_id}"
    else:
        url = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            repo_type="dataset",
            commit_message="Upload dataset built with unifer data build",
            ignore_patterns=[HUB_RECORD],
        ).commit_url
    (folder / HUB_RECORD).write_text(json.dumps({"repo_id": repo_id, "private": private}) + "\n", encoding="utf-8")
    return url


def pushed_repo(folder: str | Path) -> str | None:
    """The Hub dataset repository ``folder`` was last pushed to by :func:`push_to_hub`, if any."""
    record = Path(folder) / HUB_RECORD
    return json.loads(record.read_text(encoding="utf-8"))["repo_id"] if record.is_file() else None
