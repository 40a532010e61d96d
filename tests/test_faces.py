"""unifer.faces on real photos (scikit-image's astronaut, matplotlib's Grace Hopper, composed scenes): detection
against hand-drawn / by-construction boxes, EXIF orientation, FER crops, one batched generate per photo, predict
and the pipeline with detect_faces, and bad input (tiny random model where a model is needed)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from unifer.faces import (
    DEFAULT_MAX_FACES,
    FaceInputError,
    crop_box,
    crop_face,
    detect_faces,
    load_photo,
    predict_faces,
)
from unifer.inference import TransformersEngine, predict

from .faces_photos import ASTRONAUT_FACE, astronaut, compose, iou, jpeg_with_orientation, no_face_photo, three_faces

EMOTIONS = ("happiness", "sadness", "neutral")


def assert_matches(expected, found, minimum_iou=0.5):
    """Each expected box has its own detection (in the same left-to-right order) overlapping it by ``minimum_iou``."""
    assert len(found) == len(expected), (expected, found)
    for want, got in zip(expected, found):
        assert iou(want, got) >= minimum_iou, (want, got)


@pytest.fixture(scope="module")
def engine(tiny_model_path):
    return TransformersEngine(tiny_model_path)


def test_the_astronaut_face_is_found_where_it_was_drawn_by_hand():
    assert_matches([ASTRONAUT_FACE], detect_faces(astronaut()))


def test_faces_pasted_into_a_scene_are_found_at_their_places_left_to_right():
    scene, expected = three_faces()
    assert_matches(expected, detect_faces(scene))


def test_a_photo_without_a_face_gives_no_box():
    assert detect_faces(no_face_photo()) == []


@pytest.mark.parametrize(
    "orientation, store",
    [
        # EXIF 6: the camera was turned; the stored pixels are the upright picture turned 90° counter-clockwise.
        (6, lambda im: im.transpose(Image.Transpose.ROTATE_90)),
        (8, lambda im: im.transpose(Image.Transpose.ROTATE_270)),
        (3, lambda im: im.transpose(Image.Transpose.ROTATE_180)),
    ],
)
def test_a_sideways_phone_photo_is_read_upright_and_boxed_in_displayed_pixels(tmp_path, orientation, store):
    scene, expected = three_faces()
    path = tmp_path / "phone.jpg"
    path.write_bytes(jpeg_with_orientation(orientation, store(scene)))
    with Image.open(path) as raw:
        assert raw.size != scene.size or orientation == 3  # stored sideways
    photo = load_photo(path)
    assert photo.size == scene.size
    assert_matches(expected, detect_faces(photo))


def test_crop_box_grows_squares_and_stays_inside_the_image():
    # 100×50 box, 20 % per side: 140×70, squared to 140 about the centre (150, 125).
    assert crop_box((100, 100, 200, 150), (1000, 1000), 0.2) == (80, 55, 220, 195)
    # At the corner the square moves inside: 70×70 from the origin.
    assert crop_box((0, 0, 50, 50), (1000, 1000), 0.2) == (0, 0, 70, 70)
    # Larger than the image: it stays centred and overflows.
    assert crop_box((0, 0, 50, 50), (60, 60), 0.2) == (-10, -10, 60, 60)


def test_crop_face_is_the_grown_square_at_224_px():
    photo = astronaut()
    crop = crop_face(photo, ASTRONAUT_FACE, margin=0.2)
    assert crop.size == (224, 224) and crop.mode == "RGB"
    # The face box (80×85) grown by 20 % per side is 119 px square around (215, 117.5): pixel (215, 117) of the
    # photo lands at the crop's centre.
    centre = np.asarray(crop, dtype=float)[112, 112]
    assert np.abs(centre - np.asarray(photo, dtype=float)[117, 215]).max() < 25


class CountingEngine(TransformersEngine):
    """The real engine, recording the size of each batch it generates."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches = []

    def generate_batches(self, requests, **kwargs):
        self.batches.append(len(requests))
        yield from super().generate_batches(requests, **kwargs)


def test_all_faces_of_a_photo_go_through_one_batched_generate(tiny_model_path):
    engine = CountingEngine(tiny_model_path)
    scene, expected = three_faces()
    results = predict_faces(engine, scene, EMOTIONS, max_new_tokens=4)
    assert engine.batches == [3]
    assert [r.face for r in results] == [0, 1, 2] and all(r.detected for r in results)
    assert_matches(expected, [r.box for r in results])
    assert all(set(r.prediction.probabilities) == set(EMOTIONS) for r in results)


def test_no_face_is_an_empty_result_or_the_whole_image_when_asked(engine):
    photo = no_face_photo()
    assert predict_faces(engine, photo, EMOTIONS, max_new_tokens=4) == []
    [whole] = predict_faces(engine, photo, EMOTIONS, max_new_tokens=4, no_face="whole_image")
    assert whole.box == (0, 0, 960, 720) and not whole.detected


def test_users_can_pass_their_own_boxes(engine):
    scene, expected = three_faces()
    given = [[round(v) for v in expected[1]]]
    [result] = predict_faces(engine, scene, EMOTIONS, boxes=given, max_new_tokens=4)
    assert list(result.box) == given[0] and not result.detected
    with pytest.raises(FaceInputError, match=r"scene.jpg: box 0 .* outside"):
        predict_faces(engine, scene, EMOTIONS, boxes=[[2000, 10, 2100, 90]], name="scene.jpg")


def test_predict_with_detect_faces_gives_one_entry_per_face_with_its_box(tiny_model_path, tmp_path):
    scene, expected = three_faces()
    path = tmp_path / "group.jpg"
    scene.save(path)
    results = predict(tiny_model_path, path, EMOTIONS, detect_faces=True, max_new_tokens=4)
    assert_matches(expected, [r.box for r in results])
    both = predict(tiny_model_path, [path, no_face_photo()], EMOTIONS, detect_faces=True, max_new_tokens=4)
    assert [len(faces) for faces in both] == [3, 0]
    # Without detection, the photo is one face as before.
    assert len(predict(tiny_model_path, path, EMOTIONS, max_new_tokens=4)) == 1


def test_the_pipeline_with_detect_faces_returns_one_entry_per_face(tiny_model_path):
    from transformers import pipeline

    import unifer.pipeline  # noqa: F401  (registers the task)

    fer = pipeline("facial-expression-recognition", model=str(tiny_model_path))
    scene, expected = three_faces()
    entries = fer(scene, candidate_labels=list(EMOTIONS), detect_faces=True, max_new_tokens=4)
    assert [entry["face"] for entry in entries] == [0, 1, 2]
    assert_matches(expected, [entry["box"] for entry in entries])
    assert all({p["label"] for p in entry["predictions"]} == set(EMOTIONS) for entry in entries)
    assert fer(no_face_photo(), candidate_labels=list(EMOTIONS), detect_faces=True, max_new_tokens=4) == []


# ------------------------------------------------------------------------------------------------ bad input


def _write(path, image, **kwargs):
    image.save(path, **kwargs)
    return path


def test_modes_become_rgb_and_the_face_is_still_found(tmp_path):
    photo = astronaut()
    gray16 = np.asarray(photo.convert("L"), dtype=np.uint16) * 257  # the 8-bit gray values, as 16-bit
    cases = {
        "gray.png": _write(tmp_path / "gray.png", photo.convert("L")),
        "cmyk.jpg": _write(tmp_path / "cmyk.jpg", photo.convert("CMYK")),
        "gray16.png": _write(tmp_path / "gray16.png", Image.fromarray(gray16)),
        "rgba.png": _write(tmp_path / "rgba.png", photo.convert("RGBA")),
    }
    with Image.open(cases["gray16.png"]) as raw:
        assert raw.mode.startswith("I")  # a real 16-bit PNG
    for name, path in cases.items():
        loaded = load_photo(path)
        assert loaded.mode == "RGB" and loaded.size == photo.size, name
        # Not washed out: a 16-bit photo clipped at 255 would be nearly white.
        assert abs(np.asarray(loaded.convert("L"), dtype=float).mean() - np.asarray(photo.convert("L")).mean()) < 8
        assert_matches([ASTRONAUT_FACE], detect_faces(loaded))


def test_bad_files_get_a_message_naming_them(tmp_path):
    from skimage import data

    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    gif = data.data_dir + "/no_time_for_that_tiny.gif"  # a real animated GIF scikit-image ships
    huge = _write(tmp_path / "huge.png", Image.new("1", (9000, 8000)))  # 72 MP of blank: a small file
    for path, message in [
        (empty, r"empty\.jpg: empty file \(0 bytes\)"),
        (corrupt, r"corrupt\.jpg: not a readable image"),
        (text, r"notes\.txt: not a readable image"),
        (gif, r"no_time_for_that_tiny\.gif: an animated image \(24 frames\)"),
        (huge, r"huge\.png: 9000×8000 is larger than"),
    ]:
        with pytest.raises(FaceInputError if path in (empty, gif) else ValueError, match=message):
            load_photo(path)


@pytest.mark.slow
def test_a_photo_with_sixty_faces_is_refused_naming_the_cap(engine, tmp_path):
    placements = [(astronaut(), ASTRONAUT_FACE, 60, (20 + 125 * (i % 10), 20 + 125 * (i // 10))) for i in range(60)]
    crowd, expected = compose(placements, size=(1270, 770))
    assert len(detect_faces(crowd)) > DEFAULT_MAX_FACES
    path = _write(tmp_path / "crowd.jpg", crowd)
    with pytest.raises(
        FaceInputError, match=rf"crowd\.jpg: \d+ faces found, more than the cap of {DEFAULT_MAX_FACES}"
    ):
        predict_faces(engine, path, EMOTIONS, max_new_tokens=4)
    assert len(predict_faces(engine, path, EMOTIONS, max_new_tokens=1, max_faces=100, probabilities=False)) > 32


def test_a_12_megapixel_photo_is_searched_downscaled_and_boxed_in_its_own_pixels():
    scene, expected = three_faces()
    big = scene.resize((4000, 3000), Image.Resampling.BICUBIC)  # 960×720 → 4000×3000: boxes scale by 25/6
    scale = 4000 / 960
    assert_matches([[v * scale for v in box] for box in expected], detect_faces(big))
