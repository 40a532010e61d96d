"""The tiny offline Qwen2.5-VL test model built by ``unifer.tiny.build_tiny_unifer``."""

import time

import numpy as np
import pytest
import torch
from PIL import Image

from unifer.prompts import QUESTION_TEMPLATE as FER_PROMPT
from unifer.tiny import QWEN2_5_VL_CHAT_TEMPLATE, build_tiny_unifer

transformers = pytest.importorskip("transformers")
from transformers import (  # noqa: E402
    AutoImageProcessor,
    AutoModelForImageTextToText,
    AutoProcessor,
    Qwen2_5_VLForConditionalGeneration,
)

LABELS7 = "surprise, fear, disgust, happiness, sadness, anger, neutral"


def face(seed, size=(224, 224)):
    """A deterministic random RGB 'image' of the given (width, height)."""
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def chat(processor, prompt):
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]}]
    return processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)


@pytest.fixture(scope="module")
def processor(tiny_model_path):
    return AutoProcessor.from_pretrained(tiny_model_path)


@pytest.fixture(scope="module")
def model(tiny_model_path):
    return AutoModelForImageTextToText.from_pretrained(tiny_model_path).eval()


def state_dict_of(path):
    return Qwen2_5_VLForConditionalGeneration.from_pretrained(path).state_dict()


def test_folder_contents_and_readme(tiny_model_path):
    names = {p.name for p in tiny_model_path.iterdir()}
    for required in (
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "processor_config.json",
        "chat_template.jinja",
        "README.md",
    ):
        assert required in names, required
    readme = (tiny_model_path / "README.md").read_text()
    assert "NOT trained" in readme and "meaningless" in readme


def test_loads_offline_with_auto_classes(tiny_model_path, processor, model):
    assert type(processor).__name__ == "Qwen2_5_VLProcessor"
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert model.dtype == torch.float32
    cfg = model.config
    tok = processor.tokenizer
    assert cfg.text_config.vocab_size == len(tok)
    assert cfg.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert cfg.video_token_id == tok.convert_tokens_to_ids("<|video_pad|>")
    assert cfg.vision_start_token_id == tok.convert_tokens_to_ids("<|vision_start|>")
    assert cfg.vision_end_token_id == tok.convert_tokens_to_ids("<|vision_end|>")
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    gen = model.generation_config
    assert gen.do_sample is False
    assert tok.convert_tokens_to_ids("<|im_end|>") in gen.eos_token_id
    assert gen.pad_token_id == tok.pad_token_id
    vision = cfg.vision_config
    assert processor.image_processor.patch_size == vision.patch_size
    assert processor.image_processor.merge_size == vision.spatial_merge_size
    assert processor.image_processor.temporal_patch_size == vision.temporal_patch_size
    head_dim = cfg.text_config.hidden_size // cfg.text_config.num_attention_heads
    assert sum(cfg.text_config.rope_parameters["mrope_section"]) == head_dim // 2
    # The explicit class loads the same folder too.
    assert isinstance(Qwen2_5_VLForConditionalGeneration.from_pretrained(tiny_model_path), torch.nn.Module)


def test_pil_image_processor_backend_also_loads(tiny_model_path):
    pil = AutoImageProcessor.from_pretrained(tiny_model_path, backend="pil")
    out = pil(images=[face(0)], return_tensors="pt")
    assert out["image_grid_thw"].tolist() == [[1, 4, 4]]


def test_chat_template_matches_qwen2_5_vl(processor):
    assert processor.chat_template == QWEN2_5_VL_CHAT_TEMPLATE
    text = chat(processor, "Which emotion?")
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Which emotion?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    with_system = processor.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        add_generation_prompt=False,
        tokenize=False,
    )
    assert with_system == "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"


def test_224_image_gives_four_image_tokens(processor):
    inputs = processor(text=[chat(processor, "Which emotion?")], images=[face(0)], return_tensors="pt")
    assert inputs["image_grid_thw"].tolist() == [[1, 4, 4]]  # 56x56 px -> 4x4 patches of 14 px
    image_id = processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert int((inputs["input_ids"] == image_id).sum()) == 4  # 2x2 merge


def test_generate_from_one_image(processor, model):
    text = chat(processor, FER_PROMPT.format(labels=LABELS7))
    inputs = processor(text=text, images=face(1), return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1] :].tolist()
    # Greedy decoding by hand, without generate's cache: the argmax of a full forward pass, token by token.
    stop = set(model.generation_config.eos_token_id)
    ids, expected = inputs["input_ids"], []
    with torch.no_grad():
        while len(expected) < 8 and not stop.intersection(expected):
            image = {key: inputs[key] for key in ("pixel_values", "image_grid_thw")}
            expected.append(
                int(model(input_ids=ids, attention_mask=torch.ones_like(ids), **image).logits[0, -1].argmax())
            )
            ids = torch.cat([ids, torch.tensor([[expected[-1]]])], dim=1)
        # The face is read: another face changes the next-token distribution.
        other = processor(text=text, images=face(2), return_tensors="pt")
        first, second = (model(**batch).logits[0, -1] for batch in (inputs, other))
    assert new == expected
    assert not torch.allclose(first, second)


def test_left_padded_batch_matches_single_generation(processor, model):
    prompts = [
        "Which emotion?",
        FER_PROMPT.format(labels="happiness, sadness, neutral"),
        "Describe this image.",
        FER_PROMPT.format(labels=LABELS7 + ", contempt") + " Think carefully.",
    ]
    sizes = [(224, 224), (300, 200), (112, 160), (224, 224)]  # different image-token counts too
    texts = [chat(processor, p) for p in prompts]
    images = [face(10 + i, s) for i, s in enumerate(sizes)]
    eos = set(model.generation_config.eos_token_id)

    singles, single_first_logits = [], []
    with torch.no_grad():
        for text, image in zip(texts, images):
            inputs = processor(text=[text], images=[image], return_tensors="pt")
            out = model.generate(
                **inputs, max_new_tokens=8, do_sample=False, output_scores=True, return_dict_in_generate=True
            )
            singles.append(out.sequences[0, inputs["input_ids"].shape[1] :].tolist())
            single_first_logits.append(out.scores[0][0])

    padding_side = processor.tokenizer.padding_side
    processor.tokenizer.padding_side = "left"
    try:
        batch = processor(text=texts, images=images, return_tensors="pt", padding=True)
    finally:
        processor.tokenizer.padding_side = padding_side
    lengths = batch["attention_mask"].sum(dim=1).tolist()
    assert len(set(lengths)) == 4, lengths  # really different lengths -> real left padding
    assert (batch["attention_mask"][:, -1] == 1).all()  # left padded
    with torch.no_grad():
        out = model.generate(
            **batch, max_new_tokens=8, do_sample=False, output_scores=True, return_dict_in_generate=True
        )
    prompt_len = batch["input_ids"].shape[1]
    for i, single in enumerate(singles):
        row = out.sequences[i, prompt_len:].tolist()
        # After a row hits eos the batch keeps padding it; compare up to the single run's length.
        assert row[: len(single)] == single, (i, row, single)
        assert len(single) == 8 or single[-1] in eos
        torch.testing.assert_close(out.scores[0][i], single_first_logits[i], rtol=1e-4, atol=1e-4)
    # The model is random, but not degenerate: outputs depend on the input.
    assert len({tuple(s) for s in singles}) > 1


def test_answer_tags_survive_skip_special_tokens(processor):
    tok = processor.tokenizer
    text = "<think>The mouth corners are raised.</think><answer>happiness</answer>"
    ids = tok(text + "<|im_end|><|endoftext|>", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == text
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        assert tag not in tok.all_special_tokens
        assert len(tok(tag, add_special_tokens=False)["input_ids"]) <= 3
    # control tokens are single special tokens
    for special in ("<|im_start|>", "<|im_end|>", "<|image_pad|>", "<|vision_start|>", "<|vision_end|>"):
        assert len(tok(special, add_special_tokens=False)["input_ids"]) == 1
        assert special in tok.all_special_tokens


def test_parameter_count_in_range(model):
    n = sum(p.numel() for p in model.parameters())
    assert 100_000 <= n <= 5_000_000, n


def test_same_seed_identical_different_seed_different(tmp_path, tiny_model_path):
    start = time.perf_counter()
    again = build_tiny_unifer(tmp_path / "again", seed=0)
    elapsed = time.perf_counter() - start
    assert elapsed < 30, f"build took {elapsed:.1f}s"

    ref, same = state_dict_of(tiny_model_path), state_dict_of(again)
    assert ref.keys() == same.keys()
    assert all(torch.equal(ref[k], same[k]) for k in ref)
    for name in (
        "tokenizer.json",
        "tokenizer_config.json",
        "config.json",
        "processor_config.json",
        "chat_template.jinja",
        "generation_config.json",
    ):
        assert (tiny_model_path / name).read_bytes() == (again / name).read_bytes(), name

    other = state_dict_of(build_tiny_unifer(tmp_path / "other", seed=1))
    assert ref.keys() == other.keys()
    assert any(not torch.equal(ref[k], other[k]) for k in ref)
    # the tokenizer does not depend on the seed
    assert (tiny_model_path / "tokenizer.json").read_bytes() == (tmp_path / "other" / "tokenizer.json").read_bytes()


def test_overrides_build_a_bigger_model(tmp_path):
    from unifer.tiny import tiny_config

    path = build_tiny_unifer(
        tmp_path / "big",
        seed=0,
        hidden_size=128,
        num_attention_heads=8,
        num_key_value_heads=2,
        vision_depth=4,
        vision_hidden_size=96,
        vision_num_heads=6,
    )
    model = AutoModelForImageTextToText.from_pretrained(path)
    assert model.config.text_config.hidden_size == 128
    assert model.config.vision_config.depth == 4
    assert model.config.vision_config.out_hidden_size == 128
    assert list(model.config.vision_config.fullatt_block_indexes) == [1, 3]
    processor = AutoProcessor.from_pretrained(path)
    with pytest.raises(ValueError):
        tiny_config(processor.tokenizer, hidden_size=64, num_attention_heads=4, mrope_section=[1, 1, 1])
    with pytest.raises(TypeError):
        tiny_config(processor.tokenizer, no_such_option=1)
