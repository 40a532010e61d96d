"""Videos frame by frame: decoding through PyAV (its wheels carry FFmpeg), with caps, and simple face tracking.

:func:`sample_frames` yields ``(time_s, RGB image)`` at ``fps`` frames per second of video time, refusing a video
longer than ``max_seconds`` or one that would give more than ``max_frames`` frames, before any frame is read.
:class:`FaceTracker` gives each face a number that it keeps from frame to frame (a box that overlaps the box of a
face seen in the last frames is that face), so a CSV reads as "person 2 over time".
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from unifer.images import ImageInputError

#: Default caps: a video longer than this, or one giving more sampled frames than this, is refused.
DEFAULT_MAX_SECONDS = 600.0
DEFAULT_MAX_FRAMES = 1200
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv"})


class VideoInputError(ImageInputError):
    """A video that cannot be read within the caps; the message names the file and what to do."""


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    frames_to_read: int


def _open(path: str | Path, name: str):
    import av

    if Path(path).is_file() and Path(path).stat().st_size == 0:
        raise VideoInputError(f"{name}: empty file (0 bytes); give a video.")
    try:
        container = av.open(str(path))
    except FileNotFoundError:
        raise VideoInputError(f"{name}: file not found.") from None
    except (av.FFmpegError, ValueError) as err:
        raise VideoInputError(
            f"{name}: not a readable video ({err}); give an MP4, MOV, MKV, WebM or AVI file."
        ) from None
    if not container.streams.video:
        container.close()
        raise VideoInputError(f"{name}: has no video stream; give a video file.")
    return container


def _duration(container) -> float | None:
    stream = container.streams.video[0]
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # av.time_base: microseconds
    return None


def check_video(
    path: str | Path,
    *,
    fps: float,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_frames: int = DEFAULT_MAX_FRAMES,
    name: str | None = None,
) -> VideoInfo:
    """The video's duration and the number of frames ``fps`` will read, or :class:`VideoInputError` naming the file
    where it cannot be read or breaks a cap."""
    name = name or str(path)
    with _open(path, name) as container:
        duration = _duration(container)
    if duration is None:
        raise VideoInputError(f"{name}: its duration is unknown; remux it (ffmpeg -i IN -c copy OUT.mp4) first.")
    if duration > max_seconds:
        raise VideoInputError(
            f"{name}: {duration:.0f} s long, more than the cap of {max_seconds:g} s; cut it, or raise the cap "
            "(--max-seconds)."
        )
    frames = max(1, math.ceil(duration * fps))
    if frames > max_frames:
        raise VideoInputError(
            f"{name}: {frames} frames at {fps:g} fps, more than the cap of {max_frames}; lower --fps or raise "
            "--max-frames."
        )
    return VideoInfo(duration, frames)


def sample_frames(
    path: str | Path,
    *,
    fps: float,
    max_seconds: float = DEFAULT_MAX_SECONDS,
    max_frames: int = DEFAULT_MAX_FRAMES,
    name: str | None = None,
) -> Iterator[tuple[float, Image.Image]]:
    """``(time_s, RGB frame)`` every ``1 / fps`` seconds of video time (the first decoded frame at or after each
    step), after :func:`check_video`. A video that breaks off mid-way raises :class:`VideoInputError` there."""
    import av

    name = name or str(path)
    if fps <= 0:
        raise ValueError(f"fps must be positive (got {fps}).")
    check_video(path, fps=fps, max_seconds=max_seconds, max_frames=max_frames, name=name)
    step, next_time, read = 1.0 / fps, 0.0, 0
    with _open(path, name) as container:
        stream = container.streams.video[0]
        try:
            for frame in container.decode(stream):
                if frame.time is None or frame.time + 1e-6 < next_time:
                    continue
                yield round(frame.time, 3), frame.to_image().convert("RGB")
                read += 1
                next_time = (math.floor(frame.time / step + 1e-6) + 1) * step
                if read >= max_frames:
                    return
        except av.FFmpegError as err:
            raise VideoInputError(f"{name}: decoding failed after {read} frames ({err}).") from None


# ------------------------------------------------------------------------------------------------ tracking


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two [x0, y0, x1, y1] boxes (0 where they do not overlap)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@dataclass
class FaceTracker:
    """Face numbers that last across frames: each new frame's boxes are matched to the faces seen in the last
    ``patience`` frames by overlap (IoU ≥ ``min_iou``, best pairs first); a box matching none is a new face with the
    next number. Deterministic: the same boxes in the same order give the same numbers (a resumed run feeds the
    boxes it wrote back in)."""

    min_iou: float = 0.2
    patience: int = 5
    _tracks: dict[int, tuple[tuple[float, ...], int]] = field(default_factory=dict)
    _frame: int = 0
    _next: int = 0

    def assign(self, boxes: Sequence[Sequence[float]]) -> list[int]:
        """The face number of each box of the next frame."""
        self._frame += 1
        live = {face: box for face, (box, seen) in self._tracks.items() if self._frame - seen <= self.patience}
        pairs = sorted(
            ((box_iou(box, old), i, face) for i, box in enumerate(boxes) for face, old in live.items()), reverse=True
        )
        numbers: list[int | None] = [None] * len(boxes)
        taken = set()
        for overlap, i, face in pairs:
            if overlap >= self.min_iou and numbers[i] is None and face not in taken:
                numbers[i] = face
                taken.add(face)
        for i, box in enumerate(boxes):
            if numbers[i] is None:
                numbers[i], self._next = self._next, self._next + 1
            self._tracks[numbers[i]] = (tuple(box), self._frame)
        return numbers  # type: ignore[return-value]
