"""Faces in the wild: find the faces of a photo, crop each the way FER datasets do, read them in one batch.

FERBench's images are face crops, so a photo is read face by face:

1. :func:`load_photo`: the EXIF orientation is applied before anything else, so boxes are in *displayed* pixels
   (a phone photo stored sideways is read upright); 16-bit, grayscale, CMYK and alpha become 8-bit RGB; empty,
   animated, unreadable and oversized files are refused with a message naming the file.
2. :func:`detect_faces`: OpenCV's Haar cascade ``haarcascade_frontalface_alt2.xml``, which the OpenCV 4.x wheels
   carry (``cv2.data``), so detection works offline (why this one, with found / missed / false figures:
   ``docs/faces.md``). Users can pass their own boxes instead.
3. :func:`crop_face`: the box grown by ``margin`` (a fraction of its width / height on every side), squared about
   its centre, then the usual 224-px preparation (:func:`unifer.images.prepare_image`).
4. :func:`predict_faces`: all faces of a photo go through one batched generate.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from unifer.images import DEFAULT_IMAGE_SIZE, ImageInputError, load_image, prepare_image, to_rgb

if TYPE_CHECKING:  # torch loads with unifer.inference only when faces are read, so the CLI's configs can import this
    from unifer.inference import Engine, FERPrediction

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, int]

#: Growth of a face box on every side, as a fraction of its width / height, before squaring: the detector's box
#: runs from the brows to the chin; FER crops (RAF-DB's aligned faces, AffectNet's boxes) show the whole head.
DEFAULT_MARGIN = 0.2
#: More faces than this in one photo is refused (a crowd, or a texture the detector misreads), not read for minutes.
DEFAULT_MAX_FACES = 32
#: Detection runs on a copy whose longer side is at most this (boxes are scaled back): a 12-MP phone photo is
#: searched in a fraction of the time, and its faces are still far above the smallest size searched.
DETECTION_MAX_SIDE = 1280
#: The smallest face searched, in pixels of the detection copy.
MIN_FACE_SIZE = 40
CASCADE = "haarcascade_frontalface_alt2.xml"
NO_FACE_CHOICES = ("skip", "whole_image")


class FaceInputError(ImageInputError):
    """A photo that cannot be read face by face; the message names the file and what to do."""


@dataclass(frozen=True)
class FaceResult:
    """One face of a photo: its index (left to right), its box ``[x0, y0, x1, y1]`` in displayed pixels, and the
    model's prediction. ``detected`` is False where the box is the whole image (no face found, or ``detect=False``)
    or was given by the caller."""

    face: int
    box: Box
    prediction: FERPrediction
    detected: bool = True


# ------------------------------------------------------------------------------------------------ loading


def load_photo(source: Any, *, name: str | None = None) -> Image.Image:
    """An 8-bit RGB photo the right way up (EXIF orientation applied), or :class:`FaceInputError` naming it."""
    name = name or (str(source) if isinstance(source, (str, os.PathLike)) else "image")
    if isinstance(source, (str, os.PathLike)) and Path(source).is_file() and Path(source).stat().st_size == 0:
        raise FaceInputError(f"{name}: empty file (0 bytes); give a photo.")
    image = load_image(source, name=name)
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise FaceInputError(
            f"{name}: an animated image ({frames} frames); give a still photo, or convert it to a video file "
            "(videos are read frame by frame)."
        )
    return to_rgb(image)


# ------------------------------------------------------------------------------------------------ detection


class DetectorUnavailableError(ImportError):
    """The face detector cannot run here (OpenCV missing, or a 5.x OpenCV without cascades); the message says what
    to install."""


def detector():
    """The loaded Haar cascade (once per process), or :class:`DetectorUnavailableError` saying what to install."""
    global _CASCADE_CLASSIFIER
    if _CASCADE_CLASSIFIER is None:
        try:
            import cv2
        except ImportError:
            raise DetectorUnavailableError(
                "Face detection needs OpenCV 4.x: pip install 'unifer[faces]' (or pass your own boxes)."
            ) from None
        if not hasattr(cv2, "CascadeClassifier"):
            raise DetectorUnavailableError(
                f"OpenCV {cv2.__version__} has no Haar cascades (the 5.x wheels dropped them): "
                "pip install 'opencv-python-headless>=4.9,<5' (the unifer[faces] extra), or pass your own boxes."
            )
        _CASCADE_CLASSIFIER = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)
    return _CASCADE_CLASSIFIER


_CASCADE_CLASSIFIER = None


def detect_faces(image: Image.Image) -> list[Box]:
    """Face boxes ``(x0, y0, x1, y1)`` in ``image``'s pixels, left to right (then top to bottom).

    Example:
        >>> from skimage import data                              # doctest: +SKIP
        >>> detect_faces(Image.fromarray(data.astronaut()))       # doctest: +SKIP
        [(168, 67, 256, 155)]
    """
    import cv2

    cascade = detector()
    scale = min(1.0, DETECTION_MAX_SIDE / max(image.size))
    small = image if scale == 1.0 else image.resize((round(image.width * scale), round(image.height * scale)))
    gray = cv2.cvtColor(np.asarray(small.convert("RGB")), cv2.COLOR_RGB2GRAY)
    found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(MIN_FACE_SIZE, MIN_FACE_SIZE))
    boxes = [
        (round(x / scale), round(y / scale), round((x + w) / scale), round((y + h) / scale)) for x, y, w, h in found
    ]
    return sorted(boxes, key=lambda box: (box[0], box[1]))


def crop_box(box: Sequence[float], image_size: tuple[int, int], margin: float = DEFAULT_MARGIN) -> Box:
    """The square crop of a face: ``box`` grown by ``margin`` of its width / height on every side, squared (the
    longer side) about its centre, moved inside the image where it fits (else it stays centred and overflows)."""
    x0, y0, x1, y1 = box
    side = max((x1 - x0) * (1 + 2 * margin), (y1 - y0) * (1 + 2 * margin))
    centre_x, centre_y = (x0 + x1) / 2, (y0 + y1) / 2
    left = _fit(centre_x - side / 2, side, image_size[0])
    top = _fit(centre_y - side / 2, side, image_size[1])
    return round(left), round(top), round(left + side), round(top + side)


def _fit(start: float, side: float, limit: int) -> float:
    if side > limit:
        return start
    return min(max(start, 0.0), limit - side)


def crop_face(
    image: Image.Image, box: Sequence[float], *, margin: float = DEFAULT_MARGIN, size: int = DEFAULT_IMAGE_SIZE
) -> Image.Image:
    """The face in ``box`` as the model sees it: :func:`crop_box`, then :func:`unifer.images.prepare_image`
    (``size``×``size``). Where the square overflows the image, the outside is black, as PIL crops it."""
    return prepare_image(image.crop(crop_box(box, image.size, margin)), size)


def check_boxes(boxes: Sequence[Sequence[float]], image_size: tuple[int, int], *, name: str) -> list[Box]:
    """Caller-given boxes as integer ``(x0, y0, x1, y1)``; each must have x0 < x1, y0 < y1 and overlap the image."""
    checked = []
    for index, box in enumerate(boxes):
        if len(box) != 4:
            raise FaceInputError(f"{name}: box {index} {list(box)} is not [x0, y0, x1, y1].")
        x0, y0, x1, y1 = (round(float(v)) for v in box)
        if not (x0 < x1 and y0 < y1 and x1 > 0 and y1 > 0 and x0 < image_size[0] and y0 < image_size[1]):
            raise FaceInputError(
                f"{name}: box {index} {list(box)} is empty or outside the {image_size[0]}×{image_size[1]} image; "
                "boxes are [x0, y0, x1, y1] in displayed pixels, x0 < x1 and y0 < y1."
            )
        checked.append((x0, y0, x1, y1))
    return checked


# ------------------------------------------------------------------------------------------------ prediction


def find_faces(
    image: Image.Image,
    *,
    boxes: Sequence[Sequence[float]] | None = None,
    detect: bool = True,
    max_faces: int = DEFAULT_MAX_FACES,
    no_face: str = "skip",
    name: str = "image",
) -> list[tuple[Box, bool]]:
    """``(box, detected)`` for each face to read: the caller's ``boxes``, the detector's, or (``detect=False``,
    or no face found with ``no_face="whole_image"``) the whole image. More than ``max_faces`` is refused."""
    if no_face not in NO_FACE_CHOICES:
        raise ValueError(f"no_face must be one of {', '.join(NO_FACE_CHOICES)} (got {no_face!r}).")
    whole = [((0, 0, image.width, image.height), False)]
    if boxes is not None:
        return [(box, False) for box in check_boxes(boxes, image.size, name=name)]
    if not detect:
        return whole
    found = detect_faces(image)
    if len(found) > max_faces:
        raise FaceInputError(
            f"{name}: {len(found)} faces found, more than the cap of {max_faces}; crop the photo into groups, "
            "or raise max_faces (--max-faces)."
        )
    if not found:
        logger.debug("%s: no face found%s.", name, "; reading the whole image" if no_face == "whole_image" else "")
        return whole if no_face == "whole_image" else []
    return [(box, True) for box in found]


def predict_faces(
    engine: Engine,
    photo: Any,
    candidate_labels: Sequence[str],
    *,
    boxes: Sequence[Sequence[float]] | None = None,
    detect: bool = True,
    margin: float = DEFAULT_MARGIN,
    max_faces: int = DEFAULT_MAX_FACES,
    no_face: str = "skip",
    reasoning: bool = True,
    max_new_tokens: int | None = None,
    image_size: int = DEFAULT_IMAGE_SIZE,
    probabilities: bool = True,
    system: str | None = None,
    name: str | None = None,
) -> list[FaceResult]:
    """One :class:`FaceResult` per face of ``photo`` (a path, bytes, PIL image or array), left to right; all its
    faces go through one batched generate. No face found: ``[]`` (``no_face="skip"``), or the whole image read as
    one face (``"whole_image"``, ``detected=False``). See :func:`find_faces` for ``boxes``, ``detect`` and
    ``max_faces``, and :func:`crop_face` for ``margin`` and ``image_size``.

    Example:
        >>> engine = TransformersEngine("path/to/unifer")                       # doctest: +SKIP
        >>> [f.prediction.label for f in predict_faces(engine, "group.jpg", ["happiness", "sadness"])]  # doctest: +SKIP
        ['happiness', 'sadness']
    """
    name = name or (str(photo) if isinstance(photo, (str, os.PathLike)) else "image")
    image = load_photo(photo, name=name)
    faces = find_faces(image, boxes=boxes, detect=detect, max_faces=max_faces, no_face=no_face, name=name)
    return predict_crops(
        engine,
        image,
        faces,
        candidate_labels,
        margin=margin,
        reasoning=reasoning,
        max_new_tokens=max_new_tokens,
        image_size=image_size,
        probabilities=probabilities,
        system=system,
    )


def predict_crops(
    engine: Engine,
    image: Image.Image,
    faces: Sequence[tuple[Box, bool]],
    candidate_labels: Sequence[str],
    *,
    margin: float = DEFAULT_MARGIN,
    image_size: int = DEFAULT_IMAGE_SIZE,
    probabilities: bool = True,
    **generation: Any,
) -> list[FaceResult]:
    """Read the ``(box, detected)`` faces of an RGB ``image`` in one batched generate (whole-image boxes are not
    cropped), scoring every candidate unless ``probabilities=False``. ``generation``: ``reasoning``,
    ``max_new_tokens``, ``system``."""
    from unifer.inference import generate_predictions, make_requests

    if not faces:
        return []
    full = (0, 0, image.width, image.height)
    crops = [
        prepare_image(image, image_size) if box == full else crop_face(image, box, margin=margin, size=image_size)
        for box, _ in faces
    ]
    reasoning, system = generation.pop("reasoning", True), generation.pop("system", None)
    requests = make_requests(crops, candidate_labels, reasoning=reasoning, image_size=image_size, system=system)
    predictions: list[FERPrediction | None] = [None] * len(requests)
    batches = generate_predictions(
        engine, requests, batch_size=len(requests), probabilities=probabilities, **generation
    )
    for batch in batches:
        for i, prediction in batch:
            predictions[i] = prediction
    return [
        FaceResult(index, box, prediction, detected)
        for index, ((box, detected), prediction) in enumerate(zip(faces, predictions))
    ]
