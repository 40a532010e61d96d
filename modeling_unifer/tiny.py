"""Offline test fixtures: a tiny, randomly initialised Qwen2.5-VL-architecture model.

``build_tiny_unifer(path)`` writes a complete Hugging Face model folder (weights, config,
generation config, tokenizer, image/video processor, chat template) that loads with
``AutoProcessor.from_pretrained(path)`` and ``AutoModelForImageTextToText.from_pretrained(path)``
without any network access. It exists so that the inference, evaluation and training code
paths of UniFER can be exercised end-to-end on a CPU in a few seconds.

The model is **random-initialised and NOT trained; its outputs are meaningless.** Only the
architecture, the tokenizer/processor plumbing and the chat format are realistic.

Design choices:

* Tokenizer: a byte-level BPE (same normaliser / pre-tokeniser / decoder as Qwen2's
  tokenizer, so it round-trips through ``Qwen2Tokenizer``) trained with the ``tokenizers``
  library on a small built-in facial-expression-recognition corpus (:func:`fer_corpus`).
  ``<think>``, ``</think>``, ``<answer>`` and ``</answer>`` are *ordinary* BPE text (2-3
  tokens each, e.g. ``<answer`` + ``>``), as in the real Qwen2.5 vocabulary, so
  ``skip_special_tokens=True`` decoding keeps them. The Qwen2.5-VL control tokens
  (``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``, ``<|vision_start|>``, ...) are
  added special tokens at the end of the vocabulary, as in the real model.
* Vision: the image processor is configured with ``min_pixels = 28*28`` and
  ``max_pixels = 56*56``, so every image is downscaled hard (a 224x224 face becomes
  56x56 pixels = 4x4 patches of 14 px = 4 merged image tokens). That keeps tests fast; the
  tiny model does not need to see anything.
* Chat template: the Qwen2.5-VL-Instruct template (default system prompt
  "You are a helpful assistant.", ``<|vision_start|><|image_pad|><|vision_end|>`` per image).
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterator
from typing import Any

from unifer.labels import CANONICAL_EMOTIONS, SUBSET_LABELS
from unifer.prompts import DEFAULT_SYSTEM_PROMPT, QUESTION_TEMPLATE

__all__ = [
    "TINY_MODEL_DESCRIPTION",
    "QWEN2_5_VL_CHAT_TEMPLATE",
    "QWEN_SPECIAL_TOKENS",
    "fer_corpus",
    "build_tokenizer",
    "build_processor",
    "tiny_config",
    "build_tiny_unifer",
]

TINY_MODEL_DESCRIPTION = (
    "# Tiny UniFER test model\n\n"
    "This is a random-initialised tiny test model, NOT trained; outputs are meaningless.\n\n"
    "It has the Qwen2.5-VL architecture (Qwen2_5_VLForConditionalGeneration) with a tiny\n"
    "configuration, a small byte-level BPE tokenizer trained on built-in facial-expression\n"
    "text, and an image processor that downscales every image to about 56x56 pixels\n"
    "(a 224x224 input becomes 4 image tokens). It was generated offline by\n"
    "`unifer.tiny.build_tiny_unifer` and exists only to exercise code paths in tests.\n"
)

# Qwen2-VL / Qwen2.5-VL-Instruct chat_template.json, verbatim.
QWEN2_5_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Special tokens of Qwen2.5-VL (ids 151643-151656 in the real vocabulary), in the same order.
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

_EMOTION_VARIANTS = ("angry", "happy", "sad", "surprised", "fearful", "disgusted", "contemptuous", "calm")


# Qwen2 pre-tokenisation regex (kept identical so the tokenizer round-trips through Qwen2Tokenizer).
_PRETOKENIZE_REGEX = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

# Image/vision geometry shared by the config and the processors.
PATCH_SIZE = 14
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2
MIN_PIXELS = 28 * 28  # one merged token at least
MAX_PIXELS = 56 * 56  # a 224x224 image -> 56x56 -> 4x4 patches -> 4 merged tokens


# ----------------------------------------------------------------------------------------------
# Corpus
# ----------------------------------------------------------------------------------------------

_FEATURES = {
    "neutral": [
        "the mouth is relaxed and closed",
        "the brows are level and relaxed",
        "the eyes are open with a calm gaze",
        "no facial muscles appear tense",
    ],
    "happiness": [
        "the mouth corners are raised into a smile",
        "the cheeks are lifted",
        "the eyes are narrowed with crow's feet wrinkles",
        "the teeth are visible in a broad smile",
    ],
    "sadness": [
        "the mouth corners are turned down",
        "the inner corners of the brows are raised",
        "the eyelids are drooping",
        "the gaze is lowered",
    ],
    "surprise": [
        "the eyes are wide open",
        "the brows are raised high and curved",
        "the jaw has dropped and the mouth is open",
        "the forehead shows horizontal wrinkles",
    ],
    "fear": [
        "the eyes are widened and the upper eyelids are raised",
        "the brows are raised and drawn together",
        "the lips are stretched horizontally",
        "the mouth is slightly open",
    ],
    "disgust": [
        "the nose is wrinkled",
        "the upper lip is raised",
        "the brows are lowered",
        "the cheeks are raised and the eyes are narrowed",
    ],
    "anger": [
        "the brows are lowered and drawn together",
        "the eyes are glaring",
        "the lips are pressed firmly together",
        "the nostrils are flared",
    ],
    "contempt": [
        "one mouth corner is raised and tightened",
        "the expression is asymmetric",
        "the head is slightly tilted back",
        "the eyes look down with a neutral brow",
    ],
}

_GENERIC_TEXT = [
    "The quick brown fox jumps over the lazy dog.",
    "Describe this image.",
    "What is the facial expression of the person in the picture?",
    "Answer with a single word.",
    "The image shows a face. The person is looking at the camera.",
    "Image 0 1 2 3 4 5 6 7 8 9 10 100 2024 2025.",
    "Label: happy. Label: sad. Label: angry. Label: neutral.",
    "Yes. No. Maybe. I think so. It is not clear.",
    "Question: which emotion? Answer: the emotion is happiness.",
    "A man, a woman, a child, an old person, a young person.",
    "Let me think step by step about the visual cues.",
    "Therefore, the most prominent expression is",
    "Facial Action Coding System: AU1, AU2, AU4, AU5, AU6, AU7, AU9, AU10, AU12, AU15, AU20, AU23, AU26.",
    "accuracy, precision, recall, F1 score, confusion matrix, reward, format reward, GRPO.",
    "Datasets: RAF-DB, AffectNet, FERPlus, SFEW, CAER, ExpW, KDEF, JAFFE, CK+, Oulu-CASIA, MMI.",
    "The subject smiles warmly while talking with friends at a party.",
    "She frowns and looks away, clearly upset by the news she just heard.",
    "He stares with an open mouth, shocked by the sudden loud noise behind him.",
    "The child cries after dropping an ice cream cone on the ground.",
    "The woman wrinkles her nose at the smell of spoiled food in the kitchen.",
    "His jaw is clenched, his fists are tight, and his face turns red with rage.",
    "The old man gives a faint, knowing smirk as if he does not believe the story.",
    "The athlete screams in celebration after scoring the winning goal.",
    "Her lips tremble and tears roll down her cheeks.",
    "The audience gasps as the magician reveals the hidden card.",
    "A soft gaze, relaxed forehead, and slightly parted lips suggest calmness.",
    "Tight eyelids, a tense mouth, and a lowered brow usually indicate irritation or annoyance.",
    "Bright eyes, lifted cheeks, and a genuine Duchenne smile indicate joy and delight.",
    "Pale skin, frozen posture, and raised eyebrows can signal terror, panic, or worry.",
    "A curled upper lip and squinting eyes express revulsion or distaste.",
    "Mixed expressions are common in the wild; lighting, pose, occlusion and blur make recognition harder.",
    "Note that the face is partially occluded by a hand, glasses, a mask, or hair.",
    "The photo was taken outdoors in bright sunlight; the person wears a hat and a scarf.",
    "Low resolution, side view, profile, frontal view, grayscale, cropped, aligned face.",
    "Emotion recognition, affective computing, multimodal large language model, reinforcement learning.",
    "Chain of thought reasoning helps the model explain which facial muscles are active.",
    "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday; January, February, March.",
    "first, second, third, finally, however, moreover, because, although, while, whereas, since.",
    "very, slightly, strongly, clearly, subtle, intense, obvious, faint, genuine, posed, spontaneous.",
    "forehead, eyebrow, eyelid, eyelash, pupil, iris, nose, nostril, cheek, lip, chin, jaw, teeth, tongue, dimple.",
    "raised, lowered, furrowed, narrowed, widened, parted, pursed, tightened, stretched, relaxed, drooping.",
    "smile, grin, frown, scowl, pout, sneer, smirk, grimace, glare, squint, blink, stare, gasp, sob, laugh.",
    "joyful, cheerful, delighted, content, pleased, gloomy, miserable, upset, scared, terrified, anxious, nervous.",
    "furious, irritated, annoyed, hostile, shocked, astonished, amazed, startled, bored, indifferent, disdainful.",
    "Valence and arousal: positive valence, negative valence, high arousal, low arousal.",
    "The ground truth label is given, and the prediction is compared with it to compute the reward.",
    "If the answer is correct the reward is one, otherwise it is zero.",
    "Output format: <think> reasoning </think> <answer> label </answer>",
]


def _rotations(items: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for i in range(len(items)):
        yield items[i:] + items[:i]


def fer_corpus() -> list[str]:
    """Deterministic built-in text corpus used to train the tiny tokenizer."""
    lines: list[str] = [DEFAULT_SYSTEM_PROMPT, DEFAULT_SYSTEM_PROMPT.lower()]
    seven = SUBSET_LABELS["rafdb"]
    label_sets = list(_rotations(seven)) + list(_rotations(CANONICAL_EMOTIONS)) + list(_rotations(seven[::-1]))
    for labels in label_sets:
        lines.append(QUESTION_TEMPLATE.format(labels=", ".join(labels)))
    # Emotion names in several surface forms.
    names = list(CANONICAL_EMOTIONS) + list(_EMOTION_VARIANTS)
    for name in names:
        lines += [name, name.capitalize(), name.upper(), f" {name}", f"{name}.", f"'{name}'", f'"{name}"']
    lines.append(", ".join(names))
    for tag in ("think", "answer"):
        lines += [f"<{tag}>", f"</{tag}>", f"<{tag}></{tag}>", f" <{tag}>", f"\n<{tag}>\n"]
    # Reasoning + answer responses.
    for emotion in CANONICAL_EMOTIONS:
        feats = _FEATURES[emotion]
        for k in range(len(feats)):
            a, b = feats[k], feats[(k + 1) % len(feats)]
            think = (
                f"Looking at the face, {a}, and {b}. "
                f"These cues are typical of {emotion}. "
                f"The person appears {emotion} rather than any other emotion."
            )
            lines.append(f"<think>{think}</think><answer>{emotion}</answer>")
            lines.append(f"<think>\n{think}\n</think>\n<answer>\n{emotion}\n</answer>")
            lines.append(f"<think> {a.capitalize()}. {b.capitalize()}. </think> <answer> {emotion} </answer>")
            lines.append(f"{a.capitalize()}; {b}.")
    lines += _GENERIC_TEXT
    # Role headers as they appear between <|im_start|> and the message body.
    for role in ("system", "user", "assistant"):
        lines += [f"{role}\n", f"\n{role}\n"]
    return lines


# ----------------------------------------------------------------------------------------------
# Tokenizer / processor
# ----------------------------------------------------------------------------------------------


def _train_bpe(vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE

    tok = Tokenizer(BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[],
    )
    # Fixed corpus + fixed iteration order; the BPE trainer breaks count ties deterministically
    # (checked: byte-identical tokenizer.json across processes and thread counts).
    tok.train_from_iterator(fer_corpus(), trainer=trainer)
    model = json.loads(tok.to_str())["model"]
    vocab = {k: int(v) for k, v in model["vocab"].items()}
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return vocab, merges


def build_tokenizer(vocab_size: int = 1536):
    """Train the tiny byte-level BPE tokenizer and wrap it as a ``Qwen2Tokenizer``."""
    from transformers import AddedToken, Qwen2Tokenizer

    vocab, merges = _train_bpe(vocab_size)
    # eos starts as <|endoftext|> so that it is the first added token (as in Qwen); it is
    # switched to <|im_end|> (Qwen2.5-VL-Instruct's eos) once all control tokens exist.
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        model_max_length=4096,
        errors="replace",
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
    )
    # Add the Qwen control tokens in Qwen's order so <|endoftext|> < <|im_start|> < ... by id.
    tokenizer.add_special_tokens(
        {"extra_special_tokens": [AddedToken(t, special=True, normalized=False) for t in QWEN_SPECIAL_TOKENS]}
    )
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.chat_template = QWEN2_5_VL_CHAT_TEMPLATE
    return tokenizer


def build_processor(
    tokenizer=None, *, min_pixels: int = MIN_PIXELS, max_pixels: int = MAX_PIXELS, patch_size: int = PATCH_SIZE
):
    """``Qwen2_5_VLProcessor`` = tiny tokenizer + Qwen2-VL image/video processors (``patch_size`` must match the
    model's vision config)."""
    from transformers import Qwen2_5_VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor

    if tokenizer is None:
        tokenizer = build_tokenizer()
    geometry = dict(patch_size=patch_size, merge_size=MERGE_SIZE, temporal_patch_size=TEMPORAL_PATCH_SIZE)
    image_processor = Qwen2VLImageProcessor(size={"shortest_edge": min_pixels, "longest_edge": max_pixels}, **geometry)
    video_processor = Qwen2VLVideoProcessor(
        size={"shortest_edge": min_pixels, "longest_edge": max_pixels},
        cap_pixels_per_frame=True,
        **geometry,
    )
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=QWEN2_5_VL_CHAT_TEMPLATE,
    )


# ----------------------------------------------------------------------------------------------
# Config / model
# ----------------------------------------------------------------------------------------------


def _default_fullatt_blocks(depth: int) -> list[int]:
    # Qwen2.5-VL-7B: depth 32 -> [7, 15, 23, 31]; depth 2 -> [1] (layer 0 keeps window attention).
    step = max(2, depth // 4)
    return [i for i in range(step - 1, depth, step)] or [depth - 1]


def _default_mrope_section(head_dim: int) -> list[int]:
    # Qwen2.5-VL uses [16, 24, 24] for head_dim 128 (sum = head_dim / 2); keep the 2:3:3 ratio.
    half = head_dim // 2
    t = max(1, round(half * 2 / 8))
    h = (half - t) // 2
    w = half - t - h
    return [t, h, w]


def tiny_config(tokenizer, **overrides: Any):
    """Tiny ``Qwen2_5_VLConfig`` wired to ``tokenizer``'s special-token ids.

    Overrides (all optional): ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads``, ``head_dim``
    (sets the number of attention heads to ``hidden_size // head_dim``; vLLM's CPU attention has 32, 64, 80, …
    not the default model's 16), ``num_key_value_heads``, ``intermediate_size``, ``max_position_embeddings``,
    ``rope_theta``, ``mrope_section``, ``vision_depth``, ``vision_hidden_size``, ``vision_num_heads``,
    ``vision_intermediate_size``, ``fullatt_block_indexes``, ``window_size``, ``patch_size``,
    ``tie_word_embeddings``, ``initializer_range``, ``vocab_size`` (defaults to ``len(tokenizer)``).
    """
    from transformers import Qwen2_5_VLConfig

    o = dict(overrides)
    hidden = int(o.pop("hidden_size", 64))
    n_layers = int(o.pop("num_hidden_layers", 2))
    wanted_head_dim = o.pop("head_dim", None)
    n_heads = int(o.pop("num_attention_heads", hidden // int(wanted_head_dim) if wanted_head_dim else 4))
    n_kv = int(o.pop("num_key_value_heads", min(2, n_heads)))
    inter = int(o.pop("intermediate_size", 2 * hidden))
    max_pos = int(o.pop("max_position_embeddings", 4096))
    rope_theta = float(o.pop("rope_theta", 1_000_000.0))
    init_range = float(o.pop("initializer_range", 0.02))
    tie = bool(o.pop("tie_word_embeddings", False))
    vocab_size = int(o.pop("vocab_size", len(tokenizer)))
    v_depth = int(o.pop("vision_depth", 2))
    v_hidden = int(o.pop("vision_hidden_size", 64))
    v_heads = int(o.pop("vision_num_heads", 4))
    v_inter = int(o.pop("vision_intermediate_size", 2 * v_hidden))
    window_size = int(o.pop("window_size", 112))
    patch_size = int(o.pop("patch_size", PATCH_SIZE))
    if hidden % n_heads or n_heads % n_kv:
        raise ValueError(f"hidden_size={hidden} / heads={n_heads} / kv_heads={n_kv} are inconsistent")
    if v_hidden % v_heads:
        raise ValueError(f"vision_hidden_size={v_hidden} not divisible by vision_num_heads={v_heads}")
    head_dim = hidden // n_heads
    if wanted_head_dim is not None and head_dim != int(wanted_head_dim):
        raise ValueError(f"head_dim={wanted_head_dim} needs hidden_size={hidden} = heads x head_dim (heads={n_heads})")
    mrope_section = list(o.pop("mrope_section", _default_mrope_section(head_dim)))
    if sum(mrope_section) != head_dim // 2:
        raise ValueError(f"mrope_section {mrope_section} must sum to head_dim/2 = {head_dim // 2}")
    fullatt = list(o.pop("fullatt_block_indexes", _default_fullatt_blocks(v_depth)))
    if any(not 0 <= i < v_depth for i in fullatt):
        raise ValueError(f"fullatt_block_indexes {fullatt} out of range for vision depth {v_depth}")
    if o:
        raise TypeError(f"unknown tiny_config overrides: {sorted(o)}")

    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    eos, pad = ids["<|im_end|>"], ids["<|endoftext|>"]
    text_config = dict(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=n_layers,
        num_attention_heads=n_heads,
        num_key_value_heads=n_kv,
        hidden_act="silu",
        max_position_embeddings=max_pos,
        initializer_range=init_range,
        rms_norm_eps=1e-6,
        use_cache=True,
        use_sliding_window=False,
        max_window_layers=n_layers,
        attention_dropout=0.0,
        rope_parameters={"rope_type": "default", "rope_theta": rope_theta, "mrope_section": mrope_section},
        bos_token_id=pad,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    vision_config = dict(
        depth=v_depth,
        hidden_size=v_hidden,
        hidden_act="silu",
        intermediate_size=v_inter,
        num_heads=v_heads,
        in_channels=3,
        patch_size=patch_size,
        spatial_merge_size=MERGE_SIZE,
        temporal_patch_size=TEMPORAL_PATCH_SIZE,
        tokens_per_second=2,
        window_size=window_size,
        out_hidden_size=hidden,
        fullatt_block_indexes=fullatt,
        initializer_range=init_range,
    )
    config = Qwen2_5_VLConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=tie,
    )
    config.bos_token_id = pad
    config.eos_token_id = eos
    config.pad_token_id = pad
    return config


def build_tiny_unifer(path: str | os.PathLike, seed: int = 0, **overrides: Any) -> pathlib.Path:
    """Build and save the tiny random Qwen2.5-VL model + processor into ``path``; return it.

    Deterministic: the same ``seed`` (and overrides) gives byte-identical weights and tokenizer.
    ``overrides`` go to :func:`tiny_config`. Needs no network.
    """
    import torch
    from transformers import GenerationConfig, Qwen2_5_VLForConditionalGeneration

    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)

    processor = build_processor()
    tokenizer = processor.tokenizer
    config = tiny_config(tokenizer, **overrides)

    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    generation_config = GenerationConfig(
        bos_token_id=pad,
        eos_token_id=[eos, pad],
        pad_token_id=pad,
        do_sample=False,
    )

    previous_dtype = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = Qwen2_5_VLForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous_dtype)
    model.generation_config = generation_config
    model.eval()

    model.save_pretrained(path)
    processor.save_pretrained(path)
    (path / "README.md").write_text(TINY_MODEL_DESCRIPTION, encoding="utf-8")
    return path
