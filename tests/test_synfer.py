"""SynFER synthetic faces: determinism, sizes, API errors, reasoning text, streams, speed, legibility."""

import hashlib
import itertools
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from unifer.data.synfer import SYNFER_EMOTIONS, describe, draw_face, geometry, item_seed, iter_faces, save_grid
from unifer.labels import ALIASES

# Words that would leak the answer into a <think> block, beyond the label aliases of unifer.labels.
LEAKY_WORDS = {
    "neutral",
    "happiness",
    "happy",
    "joy",
    "joyful",
    "smile",
    "smiling",
    "grin",
    "grinning",
    "cheerful",
    "sadness",
    "sad",
    "sorrow",
    "unhappy",
    "crying",
    "frown",
    "frowning",
    "surprise",
    "surprised",
    "astonished",
    "amazed",
    "shock",
    "shocked",
    "startled",
    "anger",
    "angry",
    "mad",
    "furious",
    "rage",
    "fear",
    "afraid",
    "scared",
    "fearful",
    "frightened",
    "terrified",
    "panic",
    "disgust",
    "disgusted",
    "revulsion",
    "repulsed",
    "grossed",
    "contempt",
    "contemptuous",
    "scorn",
    "disdain",
    "smirk",
    "smirking",
    "sneer",
    "sneering",
}


def _digest(img: Image.Image) -> str:
    return hashlib.sha256(img.tobytes()).hexdigest()


def test_emotions_are_the_eight_canonical_names_in_order():
    assert SYNFER_EMOTIONS == ("neutral", "happiness", "sadness", "surprise", "anger", "fear", "disgust", "contempt")


@pytest.mark.parametrize("emotion", SYNFER_EMOTIONS)
def test_same_arguments_give_identical_pixels(emotion):
    assert draw_face(emotion, 7).tobytes() == draw_face(emotion, 7).tobytes()
    assert draw_face(emotion, 7).tobytes() != draw_face(emotion, 8).tobytes()


def test_pixels_are_identical_in_a_fresh_process():
    # A salted hash (Python's hash()) would pass the in-process test above but fail here.
    code = (
        "import hashlib; from unifer.data.synfer import draw_face; "
        "print(hashlib.sha256(draw_face('fear', 3, 64).tobytes()).hexdigest())"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _digest(draw_face("fear", 3, 64))


def test_emotions_of_one_seed_differ():
    digests = {_digest(draw_face(emotion, 5, 64)) for emotion in SYNFER_EMOTIONS}
    assert len(digests) == len(SYNFER_EMOTIONS)


@pytest.mark.parametrize("size", [16, 48, 224, 512])
@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_size_and_mode(size, mode):
    img = draw_face("surprise", 1, size, mode=mode)
    assert img.size == (size, size) and img.mode == mode
    assert np.asarray(img).std() > 5  # not a blank canvas


def test_sizes_show_the_same_face():
    # Drawing in face-local units means a 512 px face shrunk to 48 px matches the 48 px face
    # far better than another person's face does.
    big = np.asarray(draw_face("anger", 4, 512, mode="L").resize((48, 48), Image.Resampling.BOX), dtype=float)
    same = np.asarray(draw_face("anger", 4, 48, mode="L"), dtype=float)
    other = np.asarray(draw_face("anger", 5, 48, mode="L"), dtype=float)
    assert np.abs(big - same).mean() < 0.25 * np.abs(big - other).mean()


@pytest.mark.parametrize(
    "call",
    [
        lambda: draw_face("joy", 0),
        lambda: geometry("Happiness", 0),
        lambda: describe("angry", 0),
        lambda: next(iter_faces(1, emotions=("neutral", "boredom"))),
    ],
)
def test_unknown_emotion_lists_the_allowed_ones(call):
    with pytest.raises(ValueError, match="neutral, happiness, sadness, surprise, anger, fear, disgust, contempt"):
        call()


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="mode"):
        draw_face("neutral", 0, mode="RGBA")


def test_geometry_names_the_drawn_features():
    for emotion in SYNFER_EMOTIONS:
        geom = geometry(emotion, 0)
        assert set(geom) == {"eyes", "brows", "mouth", "extras"}
        assert geom == geometry(emotion, 0)
    assert geometry("happiness", 0)["mouth"] in ("corners up", "open, corners up")
    assert geometry("contempt", 0)["mouth"] == "one corner raised"


def test_describe_never_names_the_expression():
    forbidden = LEAKY_WORDS | set(ALIASES)
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(forbidden))) + r")\b", re.IGNORECASE)
    for emotion in SYNFER_EMOTIONS:
        texts = {describe(emotion, seed) for seed in range(30)}
        assert len(texts) > 1, f"{emotion}: phrasing never varies"
        for text in texts:
            assert not pattern.search(text), (emotion, text)
            assert 2 <= text.count(". ") + 1 <= 3, text
            assert text.endswith(".")


def test_describe_is_deterministic():
    assert describe("sadness", 11) == describe("sadness", 11)


def test_iter_faces_cycles_classes_with_fresh_seeds():
    items = list(iter_faces(3, seed=0, size=32, emotions=("fear", "anger")))
    assert [(i, e) for i, e, _ in items] == [(i, ("fear", "anger")[i % 2]) for i in range(6)]
    for index, emotion, img in items:
        assert img.tobytes() == draw_face(emotion, item_seed(0, index), 32).tobytes()


def test_train_and_test_streams_share_no_faces():
    train = {_digest(img) for _, _, img in iter_faces(10, seed=0, size=32)}
    test = {_digest(img) for _, _, img in iter_faces(10, seed=1, size=32)}
    assert len(train) == len(test) == 10 * len(SYNFER_EMOTIONS)
    assert not train & test


def test_drawing_is_fast():
    draw_face("neutral", 0)  # warm-up (imports, allocator)
    # CPU time of this process, so other jobs on a busy CI machine do not count against it.
    start = time.process_time()
    for index in range(50):
        draw_face(SYNFER_EMOTIONS[index % 8], index)
    assert (time.process_time() - start) / 50 < 0.020


def test_mean_images_of_each_class_differ():
    # Seeds name persons shared by all emotions, so these means differ only through the expressions.
    means = {
        e: np.mean([np.asarray(draw_face(e, seed, 32, mode="L"), dtype=float) for seed in range(40)], axis=0)
        for e in SYNFER_EMOTIONS
    }
    for a, b in itertools.combinations(SYNFER_EMOTIONS, 2):
        assert np.abs(means[a] - means[b]).mean() > 0.3, (a, b)


def test_expressions_of_one_person_are_far_apart_at_48px_grayscale():
    # FER2013-sized faces: every pair of expressions must change a visible number of pixels a lot,
    # not just shift a few edges by a grey level.
    for seed in range(10):
        faces = {e: np.asarray(draw_face(e, seed, 48, mode="L"), dtype=int) for e in SYNFER_EMOTIONS}
        for a, b in itertools.combinations(SYNFER_EMOTIONS, 2):
            assert (np.abs(faces[a] - faces[b]) > 40).sum() >= 8, (seed, a, b)


def test_save_grid_writes_a_labelled_png(tmp_path):
    path = tmp_path / "grid.png"
    grid = save_grid(path, emotions=("neutral", "fear"), per_class=3, size=40, mode="L")
    with Image.open(path) as saved:
        assert saved.size == grid.size and saved.mode == "L"
        assert saved.height >= 2 * 40 and saved.width > 3 * 40  # faces plus a label column


def test_bold_style_keeps_the_label_out_of_the_reasoning_and_refuses_unknown_styles():
    from unifer.data.synfer import SYNFER_EMOTIONS, describe, draw_face

    for emotion in SYNFER_EMOTIONS:
        text = describe(emotion, seed=3, style="bold").lower()
        assert emotion not in text and 2 <= text.count(". ") + 1 <= 3  # cues, never the answer
        assert draw_face(emotion, seed=3, size=56, style="bold").size == (56, 56)
    assert draw_face("anger", 1, 56, style="bold").tobytes() != draw_face("anger", 1, 56).tobytes()
    with pytest.raises(ValueError, match="unknown SynFER style 'glossy'"):
        draw_face("anger", 1, 56, style="glossy")
