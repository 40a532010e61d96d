"""``unifer predict``: photos, folders and videos to one row per face, written as they are read, resumable.

Each *unit* (a photo, or one sampled video frame) is read face by face (:mod:`unifer.faces`: EXIF orientation,
detection, FER crops, one batched generate) and gives its rows in one append to a JSONL ledger
(:class:`unifer.jsonl.Ledger`: flushed and fsynced). A row: ``source``, ``time_s`` (videos; None for photos),
``face`` (its number; in a video the tracker's, kept across frames), ``faces`` (faces in the unit), ``box``
(``[x0, y0, x1, y1]`` in displayed pixels), ``detected`` (False: the whole image), ``label``, ``score`` (the label's probability), ``probabilities``,
``reasoning``, ``well_formed``, ``error``. A unit with no face gives one row with ``face`` None; a file that cannot
be read gives one row with its ``error`` and the run goes on (counted in the summary).

Resuming: a rerun with the same settings skips every unit whose rows are all in the ledger (a unit's rows say how
many faces it has); rows of a unit cut off by a kill are dropped and the unit is read again, so every row is
written once. A video's face numbers are rebuilt from the boxes already written, so they continue unchanged.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unifer.configs import PredictConfig
from unifer.faces import FaceResult, detector, find_faces, load_photo, predict_crops
from unifer.images import ImageInputError
from unifer.jsonl import Ledger, check_run_settings, read_records, write_records
from unifer.video import VIDEO_SUFFIXES, FaceTracker, VideoInputError, check_video, sample_frames

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
ROW_FIELDS = (
    "source",
    "time_s",
    "face",
    "faces",
    "box",
    "detected",
    "label",
    "score",
    "probabilities",
    "reasoning",
    "well_formed",
    "error",
)
#: The settings a resumed run must share with the rows already written.
RUN_SETTINGS = (
    "model",
    "candidate_labels",
    "detect",
    "no_face",
    "fps",
    "margin",
    "max_new_tokens",
    "reasoning",
    "image_size",
)


@dataclass
class PredictSummary:
    """What a run did: units read now, and already done before (``resumed``)."""

    out: str
    images: int = 0
    frames: int = 0
    videos: int = 0
    faces: int = 0
    without_face: int = 0
    resumed: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        lines = [
            f"read {self.images} images and {self.frames} frames of {self.videos} videos: {self.faces} faces, "
            f"{self.without_face} images/frames without a face"
            + (f"; {self.resumed} already done before this run" if self.resumed else ""),
            f"rows: {self.out}",
        ]
        if self.skipped:
            lines.append(
                f"skipped {len(self.skipped)} files that are neither images nor videos: "
                f"{', '.join(self.skipped[:5])}{' …' if len(self.skipped) > 5 else ''}"
            )
        if self.errors:
            lines.append(f"{len(self.errors)} files could not be read (their rows carry the error):")
            lines += [f"  {error}" for error in self.errors]
        return lines


def collect_inputs(inputs: list[str]) -> tuple[list[Path], list[str]]:
    """Files to read, in order (a folder's images and videos, recursively, sorted), and the folder files skipped
    (neither image nor video by suffix, or hidden). A named file is read whatever its suffix."""
    files, skipped = [], []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES and not child.name.startswith("."):
                    files.append(child)
                else:
                    skipped.append(str(child))
        else:
            files.append(path)  # a missing file gives an error row naming it
    return files, skipped


def ledger_path(out: str | Path) -> Path:
    """The JSONL ledger: ``out`` itself, or ``FILE.csv.jsonl`` beside a ``FILE.csv``."""
    out = Path(out)
    return out if out.suffix == ".jsonl" else out.with_name(out.name + ".jsonl")


def _unit_key(record: dict[str, Any]) -> tuple[str, float | None]:
    return record["source"], record.get("time_s")


def completed_units(path: Path) -> dict[tuple[str, float | None], list[dict[str, Any]]]:
    """The ledger's complete units (all their rows present); drops a cut-off unit's rows from the file."""
    records = read_records(path, repair=True) if path.exists() else []
    units: dict[tuple[str, float | None], list[dict[str, Any]]] = {}
    for record in records:
        units.setdefault(_unit_key(record), []).append(record)
    complete = {key: rows for key, rows in units.items() if len(rows) >= max(1, rows[0].get("faces") or 0)}
    if len(complete) < len(units):
        cut = [key for key in units if key not in complete]
        logger.warning("%s: dropping the rows of %d unit(s) cut off by an interruption: %s", path, len(cut), cut)
        write_records(path, [row for rows in complete.values() for row in rows])
    return complete


def face_rows(source: str, time_s: float | None, results: list[FaceResult], numbers: list[int] | None = None):
    """The rows of one unit; one row with ``face`` None when it has no face."""
    if not results:
        return [{**dict.fromkeys(ROW_FIELDS), "source": source, "time_s": time_s, "faces": 0}]
    rows = []
    numbers = numbers if numbers and len(numbers) == len(results) else [result.face for result in results]
    for result, number in zip(results, numbers):
        prediction = result.prediction
        rows.append(
            {
                "source": source,
                "time_s": time_s,
                "face": number,
                "faces": len(results),
                "box": list(result.box),
                "detected": result.detected,
                "label": prediction.label,
                "score": prediction.probabilities.get(prediction.label) if prediction.label else None,
                "probabilities": prediction.probabilities,
                "reasoning": prediction.reasoning,
                "well_formed": prediction.well_formed,
                "error": None,
            }
        )
    return rows


def error_row(source: str, message: str) -> dict[str, Any]:
    return {**dict.fromkeys(ROW_FIELDS), "source": source, "faces": 0, "error": message}


class _Reader:
    """Reads units with one engine and one config (the faces of a unit in one batched generate)."""

    def __init__(self, config: PredictConfig, engine: Any, candidates: tuple[str, ...]):
        self.config, self.engine, self.candidates = config, engine, candidates

    def faces(self, image, name: str) -> list[tuple[tuple[int, int, int, int], bool]]:
        no_face = "whole_image" if self.config.no_face == "whole_image" else "skip"
        return find_faces(
            image, detect=self.config.detect, max_faces=self.config.max_faces, no_face=no_face, name=name
        )

    def read(self, image, faces) -> list[FaceResult]:
        c = self.config
        return predict_crops(
            self.engine,
            image,
            faces,
            self.candidates,
            margin=c.margin,
            image_size=c.image_size,
            reasoning=c.reasoning,
            max_new_tokens=c.max_new_tokens,
            probabilities=c.probabilities,
        )


def _video_units(reader: _Reader, path: Path, source: str, done, summary: PredictSummary) -> Iterator[list[dict]]:
    c = reader.config
    tracker = FaceTracker()
    summary.videos += 1
    for time_s, frame in sample_frames(
        path, fps=c.fps, max_seconds=c.max_seconds, max_frames=c.max_frames, name=source
    ):
        if (source, time_s) in done:  # feed the written boxes back, so the numbers continue as they were
            rows = done[(source, time_s)]
            tracker.assign([row["box"] for row in rows if row["detected"]])
            summary.resumed += 1
            yield []
            continue
        faces = reader.faces(frame, f"{source} at {time_s:.3f} s")
        numbers = tracker.assign([box for box, detected in faces if detected])
        results = reader.read(frame, faces)
        summary.frames += 1
        yield face_rows(source, time_s, results, numbers)


def _count(summary: PredictSummary, rows: list[dict[str, Any]]) -> None:
    faces = [row for row in rows if row["face"] is not None]
    summary.faces += len(faces)
    summary.without_face += not faces and not any(row["error"] for row in rows)


def predict_files(config: PredictConfig, engine: Any = None, *, progress: bool = True) -> PredictSummary:
    """Run ``config`` (see the module): write the rows to the ledger as units finish, then the CSV if asked for.

    ``engine``: an inference engine (default: ``config.backend`` loading ``config.model``)."""
    from tqdm.auto import tqdm

    out, path = Path(config.out), ledger_path(config.out)
    settings = {name: getattr(config, name) for name in RUN_SETTINGS}
    check_run_settings(path.parent, settings, file_name=path.name + ".settings.json", what="rows", option="--out")
    if config.detect:
        detector()  # a missing detector stops the run here, before the model loads, not at the first photo
    files, skipped = collect_inputs(config.inputs)
    summary = PredictSummary(out=str(out), skipped=skipped)
    done = completed_units(path)
    engine = engine or _load_engine(config)
    reader = _Reader(config, engine, _candidates(config, engine))
    plan = _plan(files, config)
    with Ledger(path) as ledger, tqdm(total=sum(units for _, units in plan), unit="unit", disable=not progress) as bar:
        for file, _ in plan:
            source = str(file)
            for rows in _file_units(reader, file, source, done, summary):
                if rows:
                    ledger.append(rows)
                    _count(summary, rows)
                bar.update(1)
    records = read_records(path)
    summary.errors = [r["error"] for r in records if r.get("error")]  # this run's and earlier runs' alike
    if out.suffix == ".csv":
        write_csv(out, records)
    return summary


def _file_units(reader: _Reader, file: Path, source: str, done, summary: PredictSummary) -> Iterator[list[dict]]:
    """Each unit's rows ([] for a unit already done); a file that fails gives one error row where it failed."""
    if (source, None) in done:
        summary.resumed += 1
        yield []
        return
    try:
        if file.suffix.lower() in VIDEO_SUFFIXES:
            yield from _video_units(reader, file, source, done, summary)
            return
        image = load_photo(file, name=source)
        results = reader.read(image, reader.faces(image, source))
        summary.images += 1
        yield face_rows(source, None, results)
    except (ImageInputError, ValueError, OSError) as err:  # ImageInputError covers faces' and video's errors
        logger.warning("%s", err)
        yield [error_row(source, str(err))]


def _plan(files: list[Path], config: PredictConfig) -> list[tuple[Path, int]]:
    """Each file and its number of units (a video's sampled frames), for the progress bar."""
    plan = []
    for file in files:
        units = 1
        if file.suffix.lower() in VIDEO_SUFFIXES:
            try:
                units = check_video(
                    file, fps=config.fps, max_seconds=config.max_seconds, max_frames=config.max_frames
                ).frames_to_read
            except VideoInputError:
                units = 1  # reported with its error row when its turn comes
        plan.append((file, units))
    return plan


def _load_engine(config: PredictConfig):
    from unifer.inference import load_engine

    kwargs = {"dtype": config.dtype} if config.backend == "transformers" and config.dtype != "auto" else {}
    return load_engine(config.backend, config.model, **kwargs)


def _candidates(config: PredictConfig, engine: Any) -> tuple[str, ...]:
    from unifer.labels import CANONICAL_EMOTIONS, validate_candidates

    model_config = getattr(getattr(engine, "model", None), "config", None)
    return validate_candidates(
        config.candidate_labels or getattr(model_config, "candidate_labels", None) or CANONICAL_EMOTIONS
    )


def write_csv(path: str | Path, records: list[dict[str, Any]]) -> Path:
    """The rows as CSV (``box`` and ``probabilities`` as JSON), written whole to a temporary file then renamed."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ROW_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for record in records:
            writer.writerow(
                {
                    **record,
                    "box": json.dumps(record["box"]) if record.get("box") is not None else "",
                    "probabilities": json.dumps(record["probabilities"]) if record.get("probabilities") else "",
                }
            )
    temporary.replace(path)
    return path
