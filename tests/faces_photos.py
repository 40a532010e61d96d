"""Real photos with known face boxes, for the face tests (not a test module).

The portraits ship with packages: scikit-image's ``astronaut.png`` and matplotlib's ``grace_hopper.jpg``. Their face
boxes were drawn by hand on a 10-px grid (brows' forehead to chin, cheek to cheek), not by any detector. A composed
scene pastes such a face (with half a face of context around it) onto scikit-learn's ``china.jpg`` (no face), so
each expected box is the hand box scaled and moved to where it was pasted: known by construction.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import matplotlib.cbook
from PIL import Image
from skimage import data
from sklearn.datasets import load_sample_image

ASTRONAUT_FACE = (175, 75, 255, 160)
GRACE_HOPPER_FACE = (165, 140, 355, 320)


def astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut())


def grace_hopper() -> Image.Image:
    return Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")


def no_face_photo(size=(960, 720)) -> Image.Image:
    """scikit-learn's ``china.jpg`` (a temple, no face), resized."""
    return Image.fromarray(load_sample_image("china.jpg")).resize(size, Image.Resampling.BICUBIC)


def head(photo: Image.Image, face: tuple[int, int, int, int]) -> tuple[Image.Image, tuple[float, ...]]:
    """The face with half a face of context on every side, and the face box inside that patch."""
    x0, y0, x1, y1 = face
    mx, my = (x1 - x0) // 2, (y1 - y0) // 2
    left, top = max(0, x0 - mx), max(0, y0 - my)
    patch = photo.crop((left, top, min(photo.width, x1 + mx), min(photo.height, y1 + my)))
    return patch, (x0 - left, y0 - top, x1 - left, y1 - top)


def compose(placements, size=(960, 720)) -> tuple[Image.Image, list[tuple[float, float, float, float]]]:
    """Paste faces onto the face-free photo. ``placements``: ``(photo, face box, face width in px, (x, y))`` with
    (x, y) the top-left corner of the pasted patch. Returns the scene and each face's expected box."""
    scene = no_face_photo(size)
    expected = []
    for photo, face, width, (x, y) in placements:
        patch, (fx0, fy0, fx1, fy1) = head(photo, face)
        scale = width / (fx1 - fx0)
        patch = patch.resize((round(patch.width * scale), round(patch.height * scale)), Image.Resampling.BICUBIC)
        scene.paste(patch, (x, y))
        expected.append((x + fx0 * scale, y + fy0 * scale, x + fx1 * scale, y + fy1 * scale))
    return scene, expected


def three_faces() -> tuple[Image.Image, list[tuple[float, float, float, float]]]:
    """Three real faces, left to right: astronaut (120 px), Grace Hopper (150 px), astronaut (200 px)."""
    return compose(
        [
            (astronaut(), ASTRONAUT_FACE, 120, (30, 380)),
            (grace_hopper(), GRACE_HOPPER_FACE, 150, (300, 60)),
            (astronaut(), ASTRONAUT_FACE, 200, (560, 300)),
        ]
    )


def iou(a, b) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def jpeg_with_orientation(orientation: int, stored: Image.Image) -> bytes:
    """A JPEG of the ``stored`` pixels whose EXIF orientation tag says how to turn them for display."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    stored.save(buffer, "JPEG", quality=95, exif=exif.tobytes())
    return buffer.getvalue()


#: The crossing-faces video: 6 s at 10 frames per second.
VIDEO_SECONDS, VIDEO_RATE = 6, 10


def crossing_faces(t: float):
    """The frame at ``t`` s: the astronaut moves right along the top while Grace Hopper moves left below, so
    their left-to-right order swaps half-way; each expected box is known by construction."""
    return compose(
        [
            (astronaut(), ASTRONAUT_FACE, 90, (round(20 + 60 * t), 20)),
            (grace_hopper(), GRACE_HOPPER_FACE, 100, (round(400 - 60 * t), 250)),
        ],
        size=(640, 480),
    )


def write_video(path: Path) -> None:
    """The crossing-faces video: MPEG-4 in a ``.mp4``, or VP9 in a ``.webm`` (what Debian's Chromium plays)."""
    webm = path.suffix == ".webm"
    with av.open(str(path), "w") as container:
        codec_options = {"deadline": "realtime", "cpu-used": "8"} if webm else {}
        stream = container.add_stream("libvpx-vp9" if webm else "mpeg4", rate=VIDEO_RATE, options=codec_options)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.bit_rate = 4_000_000
        for index in range(VIDEO_SECONDS * VIDEO_RATE):
            frame = av.VideoFrame.from_image(crossing_faces(index / VIDEO_RATE)[0])
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
