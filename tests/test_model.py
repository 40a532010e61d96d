"""The UniFER model classes, Auto registration, remote code, engines and the prediction API (tiny model)."""

import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForImageTextToText,
    AutoProcessor,
    Qwen2_5_VLForConditionalGeneration,
)

from unifer.data.synfer import draw_face
from unifer.images import ImageInputError
from unifer.inference import TransformersEngine, make_requests, predict
from unifer.labels import SUBSET_LABELS
from unifer.modeling_unifer import UniFERConfig, UniFERForConditionalGeneration, UniFERModel

RAF = SUBSET_LABELS["rafdb"]


def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def unifer_path(tiny_model_path, tmp_path_factory):
    """The tiny Qwen2.5-VL checkpoint loaded into the UniFER class and saved as a UniFER checkpoint."""
    out = tmp_path_factory.mktemp("unifer")
    UniFERForConditionalGeneration.from_pretrained(tiny_model_path).save_pretrained(out)
    AutoProcessor.from_pretrained(tiny_model_path).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def engine(unifer_path):
    return TransformersEngine(unifer_path)


def test_qwen_checkpoint_loads_into_unifer_and_back(tiny_model_path, unifer_path):
    qwen = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_path)
    ours = UniFERForConditionalGeneration.from_pretrained(unifer_path)
    assert ours.config.model_type == "unifer" and same_weights(qwen, ours)
    back = Qwen2_5_VLForConditionalGeneration.from_pretrained(unifer_path)
    assert type(back) is Qwen2_5_VLForConditionalGeneration and same_weights(qwen, back)
    auto = AutoModelForImageTextToText.from_pretrained(unifer_path)  # by the folder's model type: Qwen2.5-VL
    assert type(auto) is Qwen2_5_VLForConditionalGeneration and same_weights(qwen, auto)
    assert auto.config.candidate_labels == list(UniFERConfig().candidate_labels)  # the FER defaults travel


def test_saved_folder_has_remote_code_and_auto_map(unifer_path):
    config = json.loads((unifer_path / "config.json").read_text())
    assert config["model_type"] == "qwen2_5_vl"  # a Qwen2.5-VL checkpoint on disk: no prompt where unifer is absent
    assert config["architectures"] == ["Qwen2_5_VLForConditionalGeneration"]
    assert config["auto_map"]["AutoConfig"] == "configuration_unifer.UniFERConfig"
    assert config["auto_map"]["AutoModelForImageTextToText"] == "modeling_unifer.UniFERForConditionalGeneration"
    assert config["candidate_labels"] == list(UniFERConfig().candidate_labels)
    for name in ("configuration_unifer.py", "modeling_unifer.py", "labels.py"):
        assert (unifer_path / name).exists(), name


def test_auto_classes_resolve_the_unifer_config(unifer_path):
    """A config of the ``unifer`` type (one made in memory) still resolves to the UniFER classes."""
    config = UniFERConfig.from_pretrained(unifer_path)
    assert isinstance(AutoModel.from_config(config), UniFERModel)
    assert type(AutoConfig.for_model("unifer")) is UniFERConfig


@pytest.mark.slow
def test_a_saved_folder_loads_without_unifer_and_without_a_prompt(unifer_path):
    """What lmms-eval and vLLM do: load the processor, tokenizer and config with no unifer imported and nobody to
    answer a "run the custom code? [y/N]" prompt (stdin closed); nothing may ask, warn or fail."""
    script = textwrap.dedent(f"""
        import sys
        assert "unifer" not in sys.modules
        from transformers import AutoConfig, AutoProcessor, AutoTokenizer
        processor = AutoProcessor.from_pretrained({str(unifer_path)!r})
        AutoTokenizer.from_pretrained({str(unifer_path)!r})
        config = AutoConfig.from_pretrained({str(unifer_path)!r})
        assert type(processor).__name__ == "Qwen2_5_VLProcessor", type(processor)
        assert type(config).__name__ == "Qwen2_5_VLConfig", type(config)
        print("PLAIN-OK")
    """)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    assert "PLAIN-OK" in result.stdout, result.stderr[-3000:]
    for noise in ("custom code", "trust_remote_code", "to instantiate a model of type"):
        assert noise not in result.stdout + result.stderr


def test_old_layout_qwen_checkpoint_loads(tiny_model_path, tmp_path):
    """UniFER-7B on the Hub stores keys as `model.layers…` / `visual…` (pre-transformers-5 layout)."""
    state = load_file(tiny_model_path / "model.safetensors")
    old = {}
    for key, value in state.items():
        key = key.replace("model.language_model.", "model.").replace("model.visual.", "visual.")
        old[key] = value
    assert any(k.startswith("visual.") for k in old)
    for item in tiny_model_path.iterdir():
        if item.name != "model.safetensors":
            (tmp_path / item.name).write_bytes(item.read_bytes())
    save_file(old, tmp_path / "model.safetensors", metadata={"format": "pt"})
    reference = Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_path)
    loaded = UniFERForConditionalGeneration.from_pretrained(tmp_path)
    assert same_weights(reference, loaded)


@pytest.mark.slow
def test_remote_code_loads_without_the_package(unifer_path):
    script = textwrap.dedent(f"""
        import importlib.abc, sys
        class BlockUnifer(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "unifer" or name.startswith("unifer."):
                    raise ImportError("unifer is blocked in this test")
        sys.meta_path.insert(0, BlockUnifer())
        try:
            import unifer
            raise SystemExit("unifer was importable")
        except ImportError:
            pass
        from PIL import Image
        from transformers import AutoModelForImageTextToText
        model = AutoModelForImageTextToText.from_pretrained({str(unifer_path)!r}, trust_remote_code=True)
        assert type(model).__name__ == "UniFERForConditionalGeneration", type(model)
        assert "transformers_modules" in type(model).__module__
        [prediction] = model.predict(Image.new("RGB", (64, 64), "white"), ["happiness", "sadness"],
                                     max_new_tokens=4)
        assert abs(sum(prediction.probabilities.values()) - 1) < 1e-6
        print("REMOTE-OK")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert "REMOTE-OK" in result.stdout, result.stderr[-3000:]


def faces_of_many_kinds():
    rgba = draw_face("happiness", 1, size=96).convert("RGBA")
    rgba.putalpha(128)
    buffer = io.BytesIO()
    draw_face("anger", 2, size=64).save(buffer, format="PNG")
    return [
        draw_face("sadness", 3, size=224),
        draw_face("surprise", 4, size=48, mode="L"),
        rgba,
        draw_face("fear", 5, size=20),
        draw_face("neutral", 6, size=224).resize((3000, 2000)),
        np.asarray(draw_face("disgust", 7, size=80)),
        buffer.getvalue(),
        draw_face("contempt", 8, size=224).convert("CMYK"),
    ]


def test_predict_on_many_sizes_and_modes(unifer_path):
    model = UniFERForConditionalGeneration.from_pretrained(unifer_path)
    predictions = model.predict(faces_of_many_kinds(), RAF, max_new_tokens=6)
    assert len(predictions) == 8
    for prediction in predictions:
        assert list(prediction.probabilities) == list(RAF)
        assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-6)
        assert all(0 < p < 1 for p in prediction.probabilities.values())
        assert prediction.label is None or prediction.label in RAF
        assert isinstance(prediction.raw_text, str)


def test_default_candidates_come_from_the_config(unifer_path):
    [prediction] = predict(unifer_path, draw_face("happiness", 0), reasoning=False, max_new_tokens=4)
    assert list(prediction.probabilities) == list(UniFERConfig().candidate_labels)


def test_batch_size_does_not_change_greedy_output(engine):
    faces = [draw_face(emotion, seed) for seed, emotion in enumerate(["happiness", "sadness", "anger", "fear"] * 3)]
    requests = make_requests(faces[:8], RAF) + make_requests(faces[8:], SUBSET_LABELS["sfew_2.0"])
    one = [g.text for g in engine.generate(requests, batch_size=1, max_new_tokens=16)]
    eight = [g.text for g in engine.generate(requests, batch_size=8, max_new_tokens=16)]
    assert one == eight
    assert len(set(one)) > 1  # the faces really differ in what they produce


def test_probabilities_do_not_depend_on_other_items(engine):
    requests = make_requests([draw_face("happiness", s) for s in range(3)], RAF)
    responses = ["<think>Mouth corners up.</think>", "", "no tags at all"]
    together = engine.score_candidates(requests, responses)
    alone = [engine.score_candidates([r], [t])[0] for r, t in zip(requests, responses)]
    assert together == alone


def test_probabilities_follow_the_model(engine, monkeypatch):
    """Scores must come from the model's likelihoods: raise the logits of tokens only "sadness" uses and its
    probability must rise."""
    requests = make_requests([draw_face("fear", 0)], ["happiness", "sadness"])
    before = engine.score_candidates(requests, [""])[0]
    tails = {
        label: set(engine.tokenizer(f"<answer>{label}</answer>", add_special_tokens=False)["input_ids"])
        for label in ("happiness", "sadness")
    }
    boosted = sorted(tails["sadness"] - tails["happiness"])
    forward = engine.model.forward

    def boosted_forward(*args, **kwargs):
        output = forward(*args, **kwargs)
        output.logits[..., boosted] += 5.0
        return output

    monkeypatch.setattr(engine.model, "forward", boosted_forward)
    after = engine.score_candidates(requests, [""])[0]
    assert after["sadness"] > before["sadness"] + 0.2


@pytest.mark.parametrize(
    "bad, message",
    [
        (b"definitely not an image", "image 1"),
        ("/no/such/face.png", "not found"),
        (12345, "unsupported"),
    ],
)
def test_bad_images_raise_naming_the_item(bad, message):
    with pytest.raises(ImageInputError, match=message):
        make_requests([draw_face("happiness", 0), bad], RAF)


def test_empty_candidates_raise():
    with pytest.raises(ValueError, match="empty"):
        make_requests([draw_face("happiness", 0)], [])


def test_pipeline_returns_sorted_labels(unifer_path):
    from transformers import pipeline

    import unifer.pipeline  # noqa: F401  (registers the task)

    fer = pipeline("facial-expression-recognition", model=str(unifer_path))
    out = fer(draw_face("happiness", 0), candidate_labels=["happiness", "sadness", "anger"], max_new_tokens=4)
    assert [entry["label"] for entry in out] and {e["label"] for e in out} == {"happiness", "sadness", "anger"}
    scores = [entry["score"] for entry in out]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1.0)
    assert {"reasoning", "well_formed"} <= out[0].keys()


def test_pipeline_defaults_to_the_canonical_emotions_on_a_plain_qwen_checkpoint(tiny_model_path):
    from transformers import pipeline

    import unifer.pipeline  # noqa: F401  (registers the task)

    fer = pipeline("facial-expression-recognition", model=str(tiny_model_path))
    assert fer.model.config.model_type == "qwen2_5_vl"  # no candidate_labels in its config
    out = fer(draw_face("happiness", 0), max_new_tokens=4)
    assert sorted(entry["label"] for entry in out) == sorted(UniFERConfig().candidate_labels)


def test_a_qwen_config_is_read_as_unifer_only_by_the_unifer_classes(tiny_model_path):
    assert type(AutoConfig.from_pretrained(tiny_model_path)).__name__ == "Qwen2_5_VLConfig"
    config = UniFERConfig.from_pretrained(tiny_model_path)
    assert config.model_type == "unifer" and config.candidate_labels == list(UniFERConfig().candidate_labels)
    assert config.text_config.hidden_size == AutoConfig.from_pretrained(tiny_model_path).text_config.hidden_size


def test_decompression_bomb_is_a_clear_input_error(tmp_path):
    bomb = tmp_path / "bomb.png"
    Image.new("1", (14_000, 14_000)).save(bomb)  # 196M pixels: PIL refuses it before decoding
    with pytest.raises(ImageInputError, match="image 0: larger than"):
        make_requests([bomb], RAF)


def test_engine_pads_left_without_changing_a_shared_processor(tiny_model_path):
    processor = AutoProcessor.from_pretrained(tiny_model_path)
    side = processor.tokenizer.padding_side
    engine = TransformersEngine(str(tiny_model_path), processor)
    faces = [draw_face("anger", 0, size=64), draw_face("fear", 1, size=224)]
    together = engine.generate(make_requests(faces, RAF), batch_size=2, max_new_tokens=4)
    alone = [engine.generate(make_requests([face], RAF), max_new_tokens=4)[0] for face in faces]
    assert [g.text for g in together] == [g.text for g in alone]  # left padding: batching changes nothing
    assert processor.tokenizer.padding_side == side  # a trainer sharing the processor keeps its setting


def test_a_16_bit_face_keeps_its_levels_through_prepare_image(tmp_path):
    from unifer.images import prepare_image

    # A 16-bit grayscale ramp as a PNG: 0 … 65535 across; 8-bit levels are the 16-bit ones / 257 (65535 / 255).
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))
    path = tmp_path / "ramp16.png"
    Image.fromarray(ramp).save(path)
    assert Image.open(path).mode.startswith("I")
    pixels = np.asarray(prepare_image(path, size=None))
    assert pixels.shape == (64, 64, 3)
    expected = (ramp[0] / 257.0).astype(np.uint8)
    assert np.abs(pixels[0, :, 0].astype(int) - expected.astype(int)).max() <= 1  # not clipped to 255 (white)
    assert pixels[0, 0, 0] == 0 and pixels[0, -1, 0] == 255
