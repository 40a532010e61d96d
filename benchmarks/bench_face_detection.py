"""Face detectors whose weights ship inside their PyPI package, side by side on real photos that packages ship.

Photos: scikit-image's ``astronaut.png`` (Eileen Collins) and ``camera.png`` (the cameraman, a face in profile),
matplotlib's ``grace_hopper.jpg``; their face boxes were drawn by hand on a 10-px grid (``PHOTOS``), not by any
detector. Scenes: real faces pasted onto real face-free photos (scikit-learn's ``china.jpg`` and ``flower.jpg``,
scikit-image's ``coffee``, ``chelsea`` (a cat), ``rocket``, ``horse``), at several sizes, positions and
slight turns (±12°): the two portraits' faces with their context, and scikit-image's LFW subset (real faces
cropped at 25×25 px, upscaled, so blurrier). A pasted face's expected box is known by construction: its
hand-drawn (or crop) box scaled to where it was pasted, turned about its centre. The face-free photos alone
count false boxes.

A detection is *found* when it overlaps a not yet matched expected box with IoU ≥ 0.3 (detectors draw face boxes
of different extents: forehead or not, chin or not); every other detection is *false*. Prints found / missed /
false and the time per image for each detector, in one run.

    python benchmarks/bench_face_detection.py           # about 1 minute on 2 cores

Detectors (each skipped with the reason where its package is absent): ``unifer`` (``unifer.faces.detect_faces``:
the shipped choice), dlib's HOG detector (``dlib-bin`` wheels, the model is compiled into dlib), scikit-image's
LBP cascade (``skimage.feature.Cascade`` with the ``lbpcascade_frontalface_opencv.xml`` it ships), and OpenCV
4.x's Haar cascades (``cv2.data``; the 5.x wheels carry no cascades and no ``CascadeClassifier``).
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from unifer.video import box_iou

Box = tuple[float, float, float, float]
IOU_MATCH = 0.3
SCENE_SIZE = (960, 720)


@dataclass
class Sample:
    name: str
    image: Image.Image
    faces: list[Box]


def _skimage_photo(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def _matplotlib_photo(name: str) -> Image.Image:
    import matplotlib.cbook

    return Image.open(matplotlib.cbook.get_sample_data(name)).convert("RGB")


def _sklearn_photo(name: str) -> Image.Image:
    from sklearn.datasets import load_sample_image

    return Image.fromarray(load_sample_image(name))


# Real faces, boxes drawn by hand (brow line's forehead to chin, cheek to cheek), in the photo's pixels.
PHOTOS: dict[str, tuple[Callable[[], Image.Image], Box]] = {
    "astronaut": (lambda: _skimage_photo("astronaut"), (175, 75, 255, 160)),
    "grace_hopper": (lambda: _matplotlib_photo("grace_hopper.jpg"), (165, 140, 355, 320)),
}
PROFILE = ("camera", (195, 105, 265, 190))  # the cameraman, seen from the side: a frontal detector's known miss
BACKGROUNDS: dict[str, Callable[[], Image.Image]] = {
    "china.jpg": lambda: _sklearn_photo("china.jpg"),
    "flower.jpg": lambda: _sklearn_photo("flower.jpg"),
    "coffee": lambda: _skimage_photo("coffee"),
    "chelsea (cat)": lambda: _skimage_photo("chelsea"),
    "rocket": lambda: _skimage_photo("rocket"),
    "horse": lambda: _skimage_photo("horse"),
}


def face_sources() -> list[tuple[Image.Image, Box]]:
    """(patch, face box inside the patch): the portraits' faces with half a face of context on each side, and
    the LFW subset's first 40 faces (the whole 25×25 crop is the face)."""
    from skimage import data

    sources = []
    for load, (x0, y0, x1, y1) in PHOTOS.values():
        photo = load()
        margin_x, margin_y = (x1 - x0) / 2, (y1 - y0) / 2
        patch_box = (
            max(0, x0 - margin_x),
            max(0, y0 - margin_y),
            min(photo.width, x1 + margin_x),
            min(photo.height, y1 + margin_y),
        )
        patch = photo.crop(tuple(round(v) for v in patch_box))
        sources.append((patch, (x0 - patch_box[0], y0 - patch_box[1], x1 - patch_box[0], y1 - patch_box[1])))
    for face in data.lfw_subset()[:40]:
        sources.append((Image.fromarray((face * 255).astype(np.uint8)).convert("RGB"), (0, 0, 25, 25)))
    return sources


def compose_scene(background: Image.Image, sources, rng: random.Random, count: int) -> Sample:
    """Paste ``count`` faces at random sizes (face width 50–200 px), places and turns (±12°) without overlap."""
    scene = background.resize(SCENE_SIZE, Image.Resampling.BICUBIC)
    faces: list[Box] = []
    taken: list[Box] = []
    while len(faces) < count:
        patch, (fx0, fy0, fx1, fy1) = rng.choice(sources)
        face_width = rng.uniform(50, 200)
        scale = face_width / (fx1 - fx0)
        size = (max(1, round(patch.width * scale)), max(1, round(patch.height * scale)))
        angle = rng.uniform(-12, 12)
        rgba = patch.resize(size, Image.Resampling.BICUBIC).convert("RGBA")
        turned = rgba.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
        x = rng.randrange(0, SCENE_SIZE[0] - turned.width)
        y = rng.randrange(0, SCENE_SIZE[1] - turned.height)
        footprint = (x, y, x + turned.width, y + turned.height)
        if any(box_iou(footprint, other) > 0 for other in taken):
            continue
        taken.append(footprint)
        scene.paste(turned, (x, y), turned)
        # The face's centre in the patch, turned about the patch centre (PIL turns counter-clockwise).
        cx, cy = (fx0 + fx1) / 2 * scale - size[0] / 2, (fy0 + fy1) / 2 * scale - size[1] / 2
        theta = math.radians(angle)
        tx, ty = cx * math.cos(theta) + cy * math.sin(theta), -cx * math.sin(theta) + cy * math.cos(theta)
        centre = (x + turned.width / 2 + tx, y + turned.height / 2 + ty)
        half_w, half_h = (fx1 - fx0) * scale / 2, (fy1 - fy0) * scale / 2
        faces.append((centre[0] - half_w, centre[1] - half_h, centre[0] + half_w, centre[1] + half_h))
    return Sample("", scene, faces)


def samples(num_scenes: int, seed: int) -> list[Sample]:
    result = [Sample(name, load(), [box]) for name, (load, box) in PHOTOS.items()]
    result.append(Sample(PROFILE[0] + " (profile)", _skimage_photo(PROFILE[0]), [PROFILE[1]]))
    result += [Sample(f"{name} (no face)", load(), []) for name, load in BACKGROUNDS.items()]
    rng = random.Random(seed)
    sources = face_sources()
    backgrounds = list(BACKGROUNDS.values())
    for index in range(num_scenes):
        scene = compose_scene(backgrounds[index % len(backgrounds)](), sources, rng, count=rng.randint(2, 5))
        scene.name = f"scene {index}"
        result.append(scene)
    return result


def score(expected: list[Box], detected: list[Box]) -> tuple[int, int, int]:
    """(found, missed, false): each detection matches at most one expected box, best overlap first."""
    pairs = sorted(
        ((box_iou(e, d), i, j) for i, e in enumerate(expected) for j, d in enumerate(detected)), reverse=True
    )
    used_e, used_d = set(), set()
    for overlap, i, j in pairs:
        if overlap >= IOU_MATCH and i not in used_e and j not in used_d:
            used_e.add(i)
            used_d.add(j)
    return len(used_e), len(expected) - len(used_e), len(detected) - len(used_d)


# ------------------------------------------------------------------------------------------------ detectors


def unifer_detector() -> Callable[[Image.Image], list[Box]]:
    from unifer.faces import detect_faces

    return detect_faces


def dlib_hog(upsample: int) -> Callable[[], Callable[[Image.Image], list[Box]]]:
    def make():
        import dlib

        detector = dlib.get_frontal_face_detector()

        def detect(image: Image.Image) -> list[Box]:
            rects = detector(np.asarray(image), upsample)
            return [(r.left(), r.top(), r.right(), r.bottom()) for r in rects]

        return detect

    return make


def skimage_lbp():
    from skimage import data
    from skimage.feature import Cascade

    cascade = Cascade(data.lbp_frontal_face_cascade_filename())

    def detect(image: Image.Image) -> list[Box]:
        found = cascade.detect_multi_scale(
            np.asarray(image), scale_factor=1.2, step_ratio=1, min_size=(40, 40), max_size=(400, 400)
        )
        return [(d["c"], d["r"], d["c"] + d["width"], d["r"] + d["height"]) for d in found]

    return detect


def opencv_haar(file_name: str) -> Callable[[], Callable[[Image.Image], list[Box]]]:
    def make():
        import cv2

        if not hasattr(cv2, "CascadeClassifier"):
            raise ImportError(f"OpenCV {cv2.__version__} has no CascadeClassifier (4.x wheels have it)")
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + file_name)

        def detect(image: Image.Image) -> list[Box]:
            gray = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2GRAY)
            found = cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
            return [(x, y, x + w, y + h) for x, y, w, h in found]

        return detect

    return make


DETECTORS = {
    "unifer.faces (shipped)": unifer_detector,
    "dlib HOG, upsample 0": dlib_hog(0),
    "dlib HOG, upsample 1": dlib_hog(1),
    "scikit-image LBP cascade": skimage_lbp,
    "OpenCV 4.x Haar default": opencv_haar("haarcascade_frontalface_default.xml"),
    "OpenCV 4.x Haar alt2": opencv_haar("haarcascade_frontalface_alt2.xml"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenes", type=int, default=24, help="composed scenes (each with 2 to 5 real faces)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-scenes", type=Path, help="write the scenes with their expected boxes here")
    args = parser.parse_args()
    data = samples(args.scenes, args.seed)
    total_faces = sum(len(sample.faces) for sample in data)
    print(f"{len(data)} images ({args.scenes} composed scenes), {total_faces} real faces; match: IoU >= {IOU_MATCH}")
    if args.save_scenes:
        from PIL import ImageDraw

        args.save_scenes.mkdir(parents=True, exist_ok=True)
        for sample in data:
            drawn = sample.image.copy()
            for box in sample.faces:
                ImageDraw.Draw(drawn).rectangle(box, outline=(0, 255, 0), width=3)
            drawn.save(args.save_scenes / f"{sample.name.replace(' ', '_')}.png")
    print(
        f"{'detector':<28} {'found':>6} {'missed':>7} {'false':>6} {'recall':>7} {'ms/image':>9}  misses / false boxes on"
    )
    for name, make in DETECTORS.items():
        try:
            detect = make()
        except ImportError as err:
            print(f"{name:<28} skipped: {err}")
            continue
        found = missed = false = 0
        notes = []
        started = time.perf_counter()
        for sample in data:
            f, m, x = score(sample.faces, detect(sample.image))
            found, missed, false = found + f, missed + m, false + x
            if m or x:
                notes.append(f"{sample.name}: -{m}/+{x}")
        ms = 1000 * (time.perf_counter() - started) / len(data)
        print(
            f"{name:<28} {found:>6} {missed:>7} {false:>6} {found / total_faces:>7.2f} {ms:>9.0f}  {'; '.join(notes)}"
        )


if __name__ == "__main__":
    main()
