"""SFT and GRPO trainers, recipes and the ``unifer train`` CLI on the tiny random model, on a CPU."""

import json
import math
from pathlib import Path

import pytest
import torch
import yaml

pytest.importorskip("trl")
from datasets import Dataset  # noqa: E402
from peft import LoraConfig  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor, TrainerCallback  # noqa: E402

from unifer.commands import build_parser  # noqa: E402
from unifer.commands import main as cli  # noqa: E402
from unifer.data.synfer import iter_faces  # noqa: E402
from unifer.images import prepare_image  # noqa: E402
from unifer.labels import CANONICAL_EMOTIONS, SUBSET_LABELS  # noqa: E402
from unifer.prompts import chat_messages, fer_question  # noqa: E402
from unifer.trainers.configs import UniFERGRPOConfig, UniFERSFTConfig  # noqa: E402
from unifer.trainers.grpo import UniFERGRPOTrainer  # noqa: E402
from unifer.trainers.rewards import accuracy_reward, completion_text, format_reward  # noqa: E402
from unifer.trainers.sft import UniFERSFTTrainer, response_mask  # noqa: E402
from unifer.trainers.train import cli_main as train_main  # noqa: E402
from unifer.trainers.train import make_parser, recipe_names

RECIPES = Path(__file__).resolve().parents[1] / "trainers" / "recipes"
QUESTION = fer_question(CANONICAL_EMOTIONS)
RESPONSE = "<think>The mouth corners are raised.</think><answer>{}</answer>"
CPU = {"bf16": False, "report_to": "none", "save_strategy": "no", "logging_steps": 1}


@pytest.fixture(scope="module")
def faces():
    """One SynFER face per canonical emotion, drawn small: the trainers prepare them to 224×224."""
    return [(emotion, image) for _, emotion, image in iter_faces(1, seed=0, size=64)]


@pytest.fixture(scope="module")
def cot_dataset(faces):
    return Dataset.from_dict(
        {
            "messages": [chat_messages(None, QUESTION, response=RESPONSE.format(emotion)) for emotion, _ in faces],
            "images": [[image] for _, image in faces],
        }
    )


@pytest.fixture(scope="module")
def rlvr_dataset(faces):
    return Dataset.from_dict(
        {
            "prompt": [chat_messages(None, QUESTION) for _ in faces],
            "image": [image for _, image in faces],
            "solution": [emotion for emotion, _ in faces],
            "candidate_labels": [list(CANONICAL_EMOTIONS)] * len(faces),
        }
    )


def load(path):
    return AutoModelForImageTextToText.from_pretrained(path)


def snapshot(model):
    return {name: param.detach().clone() for name, param in model.named_parameters()}


def changed(model, before):
    return {name for name, param in model.named_parameters() if not torch.equal(before[name], param)}


def losses(trainer):
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


def sft(model, dataset, tmp_path, **config):
    defaults = {"max_steps": 2, "per_device_train_batch_size": 2, "learning_rate": 1e-3, **CPU}
    args = UniFERSFTConfig(output_dir=str(tmp_path), **{**defaults, **config})
    return UniFERSFTTrainer(model, args=args, train_dataset=dataset)


# ---------------------------------------------------------------- SFT


def test_sft_two_steps_change_parameters(tiny_model_path, cot_dataset, tmp_path):
    model = load(tiny_model_path)
    before = snapshot(model)
    trainer = sft(model, cot_dataset, tmp_path, gradient_checkpointing=True)
    trainer.train()
    assert len(losses(trainer)) == 2 and all(math.isfinite(loss) for loss in losses(trainer))
    assert changed(model, before) == set(before)


def is_vision_encoder(name):
    return ".visual." in f".{name}" and ".merger." not in name


def test_sft_freeze_vision_tower_trains_only_the_merger_and_language_model(tiny_model_path, cot_dataset, tmp_path):
    model = load(tiny_model_path)
    before = snapshot(model)
    sft(model, cot_dataset, tmp_path, freeze_vision_tower=True).train()
    moved = changed(model, before)
    assert not {name for name in moved if is_vision_encoder(name)}
    assert {name for name in before if not is_vision_encoder(name)} == moved
    assert any(".merger." in name for name in moved)


def test_sft_labels_only_the_response_and_end_of_turn(tiny_model_path, cot_dataset, tmp_path):
    trainer = sft(load(tiny_model_path), cot_dataset, tmp_path)
    tokenizer = trainer.processing_class.tokenizer
    batch = trainer.data_collator([cot_dataset[0], cot_dataset[1]])
    for row, (labels, emotion) in enumerate(zip(batch["labels"], CANONICAL_EMOTIONS)):
        expected = tokenizer(RESPONSE.format(emotion), add_special_tokens=False)["input_ids"]
        expected.append(tokenizer.convert_tokens_to_ids("<|im_end|>"))
        assert labels[labels != -100].tolist() == expected, row
        # The labelled tokens are the last ones of the sequence, just before any padding.
        length = int(batch["attention_mask"][row].sum())
        assert batch["input_ids"][row, length - len(expected) - 1 : length - 1].tolist() == expected


def test_response_mask_covers_every_assistant_turn_and_its_end_of_turn_only():
    header, end = [7, 5], 9
    two_turns = torch.tensor([[7, 1, 2, 9, 3, 7, 5, 2, 4, 9, 3, 7, 1, 4, 9, 3, 7, 5, 6, 9, 3, 0]])
    expected = [i in (7, 8, 9, 18, 19) for i in range(two_turns.shape[1])]
    assert response_mask(two_turns, header, end)[0].tolist() == expected
    truncated = torch.tensor([[7, 1, 2, 9, 3, 7, 5, 2, 4]])
    assert response_mask(truncated, header, end)[0].tolist() == [False] * 7 + [True, True]
    assert not response_mask(torch.tensor([[7, 1, 2, 9]]), header, end).any()  # no assistant turn
    assert not response_mask(torch.tensor([[7]]), header, end).any()  # shorter than the header


def test_sft_loss_on_all_masks_only_padding_and_image_placeholders(tiny_model_path, cot_dataset, tmp_path):
    trainer = sft(load(tiny_model_path), cot_dataset, tmp_path, loss_on="all")
    batch = trainer.data_collator([cot_dataset[0], cot_dataset[2]])
    image_pad = trainer.processing_class.image_token_id
    expected = batch["input_ids"].clone()
    expected[(batch["attention_mask"] == 0) | (batch["input_ids"] == image_pad)] = -100
    assert torch.equal(batch["labels"], expected)
    assert (batch["input_ids"] == image_pad).sum() == 8  # two 224×224 faces, 4 image tokens each


def test_sft_prepares_faces_at_image_size(tiny_model_path, cot_dataset, tmp_path):
    trainer = sft(load(tiny_model_path), cot_dataset, tmp_path, image_size=112)
    processor = trainer.processing_class
    expected = processor.image_processor([prepare_image(cot_dataset[0]["images"][0], 112)], return_tensors="pt")
    batch = trainer.data_collator([cot_dataset[0]])
    assert torch.equal(batch["pixel_values"], expected["pixel_values"])


def test_sft_accepts_raw_cot_rows(tiny_model_path, faces, tmp_path):
    paths = []
    for i, (_, image) in enumerate(faces[:2]):
        paths.append(str(tmp_path / f"face{i}.png"))
        image.convert("L").save(paths[-1])  # grayscale, as FERPlus: prepared to RGB by the collator
    raw = Dataset.from_dict(
        {
            "image_path": paths,
            "question": [QUESTION] * 2,
            "response": [RESPONSE.format(emotion) for emotion, _ in faces[:2]],
        }
    )
    trainer = sft(load(tiny_model_path), raw, tmp_path / "out")
    assert trainer.train_dataset.column_names == ["messages", "images"]
    batch = trainer.data_collator([trainer.train_dataset[0], trainer.train_dataset[1]])
    assert batch["image_grid_thw"].tolist() == [[1, 4, 4], [1, 4, 4]]


def test_sft_lora_trains_only_the_adapter(tiny_model_path, cot_dataset, tmp_path):
    model = load(tiny_model_path)
    trainer = UniFERSFTTrainer(
        model,
        args=UniFERSFTConfig(
            output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=2, learning_rate=1e-2, **CPU
        ),
        train_dataset=cot_dataset,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    before = snapshot(trainer.model)
    trainer.train()
    moved = changed(trainer.model, before)
    assert moved and all("lora_" in name for name in moved)
    assert all(math.isfinite(loss) for loss in losses(trainer))


def test_sft_refuses_a_max_length_that_cuts_image_tokens(tiny_model_path, cot_dataset, tmp_path):
    processor = AutoProcessor.from_pretrained(tiny_model_path)
    text = processor.apply_chat_template(chat_messages(None, QUESTION), tokenize=False, add_generation_prompt=True)
    face = prepare_image(cot_dataset[0]["images"][0])
    prompt_tokens = processor(text=[text], images=[face], return_tensors="pt")["input_ids"].shape[1]
    image_end = text.index("<|vision_end|>")  # the image tokens end before this marker
    image_end = len(processor.tokenizer(text[:image_end], add_special_tokens=False)["input_ids"]) + 3  # 4 per face
    with pytest.raises(ValueError, match=rf"cut its image tokens.*at least {prompt_tokens + 1} "):
        sft(load(tiny_model_path), cot_dataset, tmp_path, max_length=image_end - 1)
    with pytest.raises(ValueError, match=rf"cut its question.*at least {prompt_tokens + 1} "):
        sft(load(tiny_model_path), cot_dataset, tmp_path, max_length=prompt_tokens)
    sft(load(tiny_model_path), cot_dataset, tmp_path, max_length=prompt_tokens + 1)


def official_sft_messages(face, question, response):
    """The conversation the official ``sft_fer.py`` builds (``prepare_dataset``): an empty system turn first."""
    return [
        {"role": "system", "content": [{"type": "text", "text": ""}]},
        {"role": "user", "content": [{"type": "image", "image": face}, {"type": "text", "text": question}]},
        {"role": "assistant", "content": [{"type": "text", "text": response}]},
    ]


def test_sft_system_prompt_renders_the_official_token_ids(tiny_model_path, cot_dataset, tmp_path):
    """The official SFT rendered an empty system turn; without one the Qwen template adds its default prompt."""
    processor = AutoProcessor.from_pretrained(tiny_model_path)
    face = prepare_image(cot_dataset[0]["images"][0])
    official = official_sft_messages(face, QUESTION, RESPONSE.format(CANONICAL_EMOTIONS[0]))
    text = processor.apply_chat_template(official, tokenize=False)
    official_ids = processor(text=[text], images=[face], return_tensors="pt")["input_ids"][0]
    official_labels = official_ids.clone()  # the official collate_fn: every token but padding and image pads
    official_labels[official_ids == processor.image_token_id] = -100

    def rendered(system_prompt):
        trainer = sft(load(tiny_model_path), cot_dataset, tmp_path, system_prompt=system_prompt, loss_on="all")
        batch = trainer.data_collator([trainer.train_dataset[0]])
        return batch["input_ids"][0], batch["labels"][0]

    ids, labels = rendered("")
    assert torch.equal(ids, official_ids) and torch.equal(labels, official_labels)
    default_ids, _ = rendered(None)
    no_system = processor.apply_chat_template(official[1:], tokenize=False)  # the template adds its default
    assert "You are a helpful assistant." in no_system
    assert torch.equal(default_ids, processor(text=[no_system], images=[face], return_tensors="pt")["input_ids"][0])
    assert not torch.equal(default_ids, official_ids)


def token_losses(model, batch):
    """Per-token cross-entropy of one collated batch (labels shifted as in causal LM training)."""
    inputs = {key: value for key, value in batch.items() if key != "labels"}
    logits = model(**inputs).logits[:, :-1]
    labels = batch["labels"][:, 1:]
    return torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="none"
    )[labels.reshape(-1) != -100]


def test_sft_loss_is_the_mean_of_micro_batch_means_as_in_the_official_run(tiny_model_path, faces, tmp_path):
    """The official run (transformers 4.49/4.50, Qwen2.5-VL's own mean loss) averaged each micro-batch's token mean
    over the accumulation steps; TRL 1.16 does the same for Qwen2.5-VL (it declares no loss kwargs, so no global
    token count). One SGD step (lr 1) over two rows of different lengths, one per micro-batch: the update is the
    gradient of the mean of the rows' token means, not of the mean over all tokens (which would weigh the long row
    more)."""
    responses = [
        RESPONSE.format("happiness"),
        "<think>" + "Brows low, lips pressed. " * 6 + "</think><answer>anger</answer>",
    ]
    rows = Dataset.from_dict(
        {
            "messages": [chat_messages(None, QUESTION, response=response) for response in responses],
            "images": [[faces[0][1]], [faces[1][1]]],
        }
    )
    model = load(tiny_model_path)
    before = snapshot(model)
    trainer = sft(
        model,
        rows,
        tmp_path,
        max_steps=1,
        per_device_train_batch_size=1,
        gradient_accumulation_steps=2,
        optim="sgd",
        learning_rate=1.0,
        max_grad_norm=0.0,
        gradient_checkpointing=False,
    )
    batches = [trainer.data_collator([row]) for row in trainer.train_dataset]
    trainer.train()
    update = {name: before[name] - param.detach() for name, param in model.named_parameters()}

    def gradient(loss_of):
        reference = load(tiny_model_path)
        reference.train()
        loss_of(reference).backward()
        return {name: param.grad for name, param in reference.named_parameters()}

    by_rows = gradient(lambda m: sum(token_losses(m, batch).mean() for batch in batches) / len(batches))
    by_tokens = gradient(lambda m: torch.cat([token_losses(m, batch) for batch in batches]).mean())
    for name in ("lm_head.weight", "model.visual.merger.mlp.0.weight"):
        assert torch.allclose(update[name], by_rows[name], atol=1e-6, rtol=1e-4), name
        assert not torch.allclose(update[name], by_tokens[name], atol=1e-6, rtol=1e-4), name


def test_sft_refuses_rlvr_rows_naming_the_columns(tiny_model_path, rlvr_dataset, tmp_path):
    with pytest.raises(ValueError) as error:
        sft(load(tiny_model_path), rlvr_dataset, tmp_path)
    assert str(error.value) == (
        "unifer train sft needs CoT rows (messages, images) or raw CoT rows (image_path, question, response), but "
        "the dataset's columns are: prompt, image, solution, candidate_labels. These look like RLVR rows, which "
        "`unifer train grpo` takes."
    )


# ---------------------------------------------------------------- GRPO


def length_reward(completions, **kwargs):
    """Varies across a random model's completions, so advantages (and gradients) are non-zero."""
    return [len(completion_text(completion)) / 100 for completion in completions]


def grpo_config(tmp_path, **config):
    defaults = {
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "num_generations": 2,
        "max_completion_length": 8,
        "learning_rate": 1e-3,
        "beta": 0.04,
        **CPU,
    }
    return UniFERGRPOConfig(output_dir=str(tmp_path), **{**defaults, **config})


def test_grpo_two_steps_change_parameters_and_log_fer_metrics(tiny_model_path, rlvr_dataset, tmp_path):
    model = load(tiny_model_path)
    before = snapshot(model)
    trainer = UniFERGRPOTrainer(
        model,
        reward_funcs=[accuracy_reward, format_reward, length_reward],
        args=grpo_config(tmp_path, temperature=1.5),
        train_dataset=rlvr_dataset,
    )
    trainer.train()
    assert len(losses(trainer)) == 2 and all(math.isfinite(loss) for loss in losses(trainer))
    assert changed(model, before)
    logged = set().union(*trainer.state.log_history)
    assert "fer/format_rate" in logged
    assert any(key.startswith("fer/accuracy/") and key.split("/")[-1] in CANONICAL_EMOTIONS for key in logged)


def test_grpo_freeze_vision_tower_keeps_the_encoder(tiny_model_path, rlvr_dataset, tmp_path):
    model = load(tiny_model_path)
    before = snapshot(model)
    UniFERGRPOTrainer(
        model,
        reward_funcs=[length_reward],
        args=grpo_config(tmp_path, temperature=1.5, freeze_vision_tower=True),
        train_dataset=rlvr_dataset,
    ).train()
    assert not {name for name in changed(model, before) if is_vision_encoder(name)}
    assert changed(model, before)


def test_grpo_defaults_to_the_fer_rewards_and_prepares_faces(tiny_model_path, rlvr_dataset, tmp_path):
    trainer = UniFERGRPOTrainer(
        load(tiny_model_path), args=grpo_config(tmp_path, reward_weights=[2.0, 1.0]), train_dataset=rlvr_dataset
    )
    assert trainer.reward_funcs == [accuracy_reward, format_reward]
    assert trainer.reward_weights.tolist() == [2.0, 1.0]
    seen = []

    def probe(completions, image, **kwargs):
        seen.extend(image)
        return [0.0] * len(completions)

    trainer = UniFERGRPOTrainer(
        load(tiny_model_path),
        reward_funcs=[probe],
        args=grpo_config(tmp_path, max_steps=1),
        train_dataset=rlvr_dataset,
    )
    trainer.train()
    # The faces are drawn at 64×64; generation and the rewards see them prepared to 224×224 RGB.
    assert seen and all(image.size == (224, 224) and image.mode == "RGB" for image in seen)


def test_grpo_accepts_raw_rlvr_rows(tiny_model_path, faces, tmp_path):
    path = tmp_path / "face.png"
    faces[0][1].convert("L").save(path)  # grayscale, as FERPlus: prepared to RGB as it is read
    raw = Dataset.from_dict(
        {"image_path": [str(path)] * 2, "problem": [QUESTION] * 2, "solution": ["<answer> Calm </answer>", "neutral"]}
    )  # tagged as released, or bare
    trainer = UniFERGRPOTrainer(load(tiny_model_path), args=grpo_config(tmp_path / "out"), train_dataset=raw)
    rows = [trainer.train_dataset[i] for i in range(2)]
    assert sorted(rows[0]) == ["candidate_labels", "image", "prompt", "solution", "source_solution"]
    assert [row["solution"] for row in rows] == ["neutral", "neutral"]
    assert [row["source_solution"] for row in rows] == ["<answer> Calm </answer>", "neutral"]  # as released
    assert rows[0]["candidate_labels"] == list(CANONICAL_EMOTIONS)
    assert rows[0]["prompt"][0]["content"][1]["text"] == QUESTION
    assert rows[0]["image"].size == (224, 224) and rows[0]["image"].mode == "RGB"


def test_raw_rlvr_rows_keep_the_candidates_the_official_reward_needs(tiny_model_path, faces, tmp_path):
    """A released FERPlus row names "happy": converted without its candidates, the solution became "happiness"
    and the official reward scored the correct "<answer>happy</answer>" 0.0."""
    path = tmp_path / "face.png"
    faces[0][1].save(path)
    ferplus = list(SUBSET_LABELS["ferplus"])
    raw = Dataset.from_dict(
        {"image_path": [str(path)], "problem": [fer_question(ferplus)], "solution": ["<answer>happy</answer>"]}
    )
    trainer = UniFERGRPOTrainer(
        load(tiny_model_path),
        args=grpo_config(tmp_path / "out", reward_funcs=["official_accuracy"]),
        train_dataset=raw,
    )
    row = trainer.train_dataset[0]
    assert "happy" in ferplus and row["candidate_labels"] == ferplus
    official_accuracy = trainer.reward_funcs[0]
    assert official_accuracy(
        ["<think>The mouth corners are raised.</think><answer>happy</answer>"],
        solution=[row["solution"]],
        candidate_labels=[row["candidate_labels"]],
    ) == [1.0]


def test_raw_rows_the_data_builder_rejects_are_refused(tiny_model_path, faces, tmp_path):
    path = tmp_path / "face.png"
    faces[0][1].save(path)
    raw = Dataset.from_dict(
        {
            "image_path": [str(path)],
            "problem": [fer_question(["happy", "sad"])],
            "solution": ["<answer>angry</answer>"],
        }
    )
    with pytest.raises(ValueError, match="label_not_in_candidates"):
        UniFERGRPOTrainer(load(tiny_model_path), args=grpo_config(tmp_path / "out"), train_dataset=raw)


def test_grpo_refuses_cot_rows_naming_the_columns(tiny_model_path, cot_dataset, tmp_path):
    with pytest.raises(ValueError) as error:
        UniFERGRPOTrainer(load(tiny_model_path), args=grpo_config(tmp_path), train_dataset=cot_dataset)
    assert str(error.value) == (
        "unifer train grpo needs RLVR rows (prompt, image, solution) or raw RLVR rows (image_path, problem, "
        "solution), but the dataset's columns are: messages, images. These look like CoT rows, which "
        "`unifer train sft` takes."
    )


def test_grpo_prompt_renders_the_official_token_ids(tiny_model_path, rlvr_dataset, tmp_path):
    """The official GRPO prompt is the user turn alone (grpo.py ``make_conversation_image``), so the template adds
    its default system prompt: UniFER's default (system_prompt None) renders the same ids, "" does not."""
    processor = AutoProcessor.from_pretrained(tiny_model_path)
    official = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]

    def ids(messages, face):
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return processor(text=[text], images=[face], return_tensors="pt")["input_ids"][0]

    for system_prompt, same in ((None, True), ("", False)):
        trainer = UniFERGRPOTrainer(
            load(tiny_model_path), args=grpo_config(tmp_path, system_prompt=system_prompt), train_dataset=rlvr_dataset
        )
        row = trainer.train_dataset[0]
        assert torch.equal(ids(row["prompt"], row["image"]), ids(official, row["image"])) == same


@pytest.mark.parametrize(
    "per_device, accumulation, generations, valid, multiple",
    [
        (3, 1, 2, "3", 6),
        (4, 1, 3, "2, 4", 12),
        (2, 3, 4, "2, 3, 6", 4),
    ],
)
def test_grpo_batch_divisibility_error_lists_valid_values(
    per_device, accumulation, generations, valid, multiple, tmp_path
):
    with pytest.raises(ValueError) as error:
        grpo_config(
            tmp_path,
            per_device_train_batch_size=per_device,
            gradient_accumulation_steps=accumulation,
            num_generations=generations,
        )
    message = str(error.value)
    batch = per_device * accumulation
    assert f"holds {batch} completions" in message
    assert f"Valid num_generations for this batch: {valid}." in message
    assert f"a multiple of {multiple} (e.g. {multiple}, {2 * multiple}," in message


def test_grpo_config_rejects_unknown_reward_names(tmp_path):
    with pytest.raises(ValueError, match="Unknown reward function.*'accurate'"):
        grpo_config(tmp_path, reward_funcs=["accurate"])


# ---------------------------------------------------------------- recipes and CLI

SEVEN_B = [path.stem for path in sorted(RECIPES.glob("*_qwen2_5_vl_7b*.yaml"))]


def parse(recipe):
    stage = recipe.split("_")[0]
    # The GPU recipes ask for bf16, which transformers refuses on a CPU-only machine unless told it is one.
    return make_parser(stage).parse_args_and_config(["--config", str(RECIPES / f"{recipe}.yaml"), "--use_cpu", "true"])


def test_every_shipped_recipe_is_a_training_stage_or_the_quickstart_stage_0():
    """``unifer train`` lists and runs the sft/grpo recipes; ``vision_quickstart`` is read by the quickstart alone
    (tests/test_quickstart.py parses it)."""
    assert {path.stem for path in RECIPES.glob("*.yaml")} == {*recipe_names(), "vision_quickstart"}
    assert "vision_quickstart" not in recipe_names()


@pytest.mark.parametrize("recipe", [f"{name}.yaml" for name in recipe_names()])
def test_every_recipe_parses(recipe):
    data_args, args, model_args = parse(recipe.removesuffix(".yaml"))
    assert data_args.dataset_name and model_args.model_name_or_path
    assert type(args).__name__ == ("UniFERSFTConfig" if recipe.startswith("sft") else "UniFERGRPOConfig")
    assert model_args.use_peft == ("lora" in recipe)


def test_seven_b_recipes_are_the_full_lora_and_paper_variants():
    expected = [f"{stage}_qwen2_5_vl_7b{variant}" for stage in ("grpo", "sft") for variant in ("", "_lora", "_paper")]
    assert expected == SEVEN_B


# The official run's GRPO objective and schedule (run_grpo_vllm.sh, vllm_grpo_trainer_modified.py); the knobs
# marked True have a different TRL 1.16 default, so a recipe that left them out would train another objective.
OFFICIAL_GRPO = {
    "beta": (0.04, True),
    "loss_type": ("grpo", True),
    "use_bias_correction_kl": (False, True),
    "vllm_importance_sampling_correction": (False, True),
    "max_completion_length": (1024, True),
    "lr_scheduler_type": ("cosine", True),
    "max_grad_norm": (5.0, True),
    "scale_rewards": ("group", False),
    "num_iterations": (1, False),
    "multi_objective_aggregation": ("sum_then_normalize", False),
    "importance_sampling_level": ("token", False),
    "mask_truncated_completions": (False, False),
    "sync_ref_model": (False, False),
    "num_generations": (8, False),
    "temperature": (1.0, False),
    "top_p": (1.0, False),
    "top_k": (0, False),
    "num_train_epochs": (1, True),
}


@pytest.mark.parametrize("recipe", [name for name in SEVEN_B if name.startswith("grpo")])
def test_grpo_recipes_set_the_official_objective_explicitly(recipe, tmp_path):
    _, args, _ = parse(recipe)
    defaults = UniFERGRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False)
    for knob, (official, differs) in OFFICIAL_GRPO.items():
        assert getattr(args, knob) == official, knob
        assert (getattr(defaults, knob) != official) == differs, knob
    if "lora" not in recipe:
        assert (args.learning_rate, args.weight_decay) == (1e-6, 0.01)


def test_paper_recipes_carry_the_official_settings():
    sft_data, sft_args, sft_model = parse("sft_qwen2_5_vl_7b_paper")
    assert (sft_args.num_train_epochs, sft_args.learning_rate, sft_args.max_grad_norm, sft_args.image_size) == (
        2,
        2e-5,
        5.0,
        224,
    )
    assert sft_args.per_device_train_batch_size * sft_args.gradient_accumulation_steps * 4 == 16  # on 4 GPUs
    assert sft_args.lr_scheduler_type == "cosine" and sft_args.bf16 and sft_args.weight_decay == 0.0
    # the official chat formatting, labels and data: an empty system turn, every token, no truncation, every
    # released row with its images under images_root
    assert (sft_args.system_prompt, sft_args.loss_on, sft_args.max_length) == ("", "all", None)
    assert sft_data.dataset_name.endswith(".json") and sft_data.images_root and not sft_data.answer_filter
    assert sft_model.model_name_or_path == "Qwen/Qwen2.5-VL-7B-Instruct"

    grpo_data, grpo_args, _ = parse("grpo_qwen2_5_vl_7b_paper")
    assert grpo_args.reward_funcs == ["official_accuracy", "official_format"] and grpo_args.system_prompt is None
    assert grpo_data.dataset_name.endswith(".json") and grpo_data.images_root
    assert grpo_args.use_vllm and grpo_args.vllm_mode == "server" and grpo_args.vllm_max_model_length == 5120
    # 7 training processes (the 8th GPU serves vLLM) x 4 accumulation steps x 8 completions = 28 prompts x 8
    accelerate = yaml.safe_load((RECIPES.parent / "accelerate" / "zero3_vllm_server.yaml").read_text())
    assert accelerate["num_processes"] == 7 and accelerate["deepspeed_config"]["zero_stage"] == 3
    completions = grpo_args.per_device_train_batch_size * grpo_args.gradient_accumulation_steps * 7
    assert (completions // grpo_args.num_generations, completions % grpo_args.num_generations) == (28, 0)


def test_default_recipes_keep_our_choices():
    _, sft_args, _ = parse("sft_qwen2_5_vl_7b")
    assert (sft_args.system_prompt, sft_args.loss_on) == (None, "response")
    _, grpo_args, _ = parse("grpo_qwen2_5_vl_7b")
    assert grpo_args.reward_funcs == ["accuracy", "format"] and grpo_args.vllm_mode == "colocate"


class Outcome(TrainerCallback):
    """Keeps the trainer state at the end of training."""

    def on_train_end(self, args, state, control, **kwargs):
        self.state = state


# What a CPU needs (no bf16, no flash-attn, no vLLM) and the tiny model's batch and completion sizes.
CPU_OVERRIDES = ["--use_cpu", "true", "--bf16", "false", "--attn_implementation", "sdpa", "--max_steps", "2"]
SIZES = {
    "sft": ["--per_device_train_batch_size", "1", "--gradient_accumulation_steps", "1"],
    "grpo": [
        *("--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1", "--num_generations", "2"),
        *("--max_completion_length", "8", "--use_vllm", "false"),
    ],
}


@pytest.mark.parametrize("recipe", SEVEN_B)
def test_seven_b_recipe_trains_two_steps_on_the_tiny_model(
    recipe, tiny_model_path, cot_dataset, rlvr_dataset, tmp_path
):
    """Only the model, data, output folder, batch sizes and what a CPU needs are overridden: every other key
    is read and used by this TRL. This proves the keys valid, not the hardware figures."""
    stage = recipe.split("_")[0]
    data = tmp_path / "data.parquet"
    (cot_dataset if stage == "sft" else rlvr_dataset).to_parquet(data)
    outcome = Outcome()
    train_main(
        [
            stage,
            "--config",
            recipe,
            *("--model_name_or_path", str(tiny_model_path), "--dataset_name", str(data)),
            *("--output_dir", str(tmp_path / "out"), *CPU_OVERRIDES, *SIZES[stage]),
        ],
        callbacks=[outcome],
    )
    assert outcome.state.global_step == 2
    assert math.isfinite(outcome.state.log_history[-1]["train_loss"])  # the recipes log every 2 or 20 steps
    assert_loadable(tmp_path / "out")


def test_make_parser_registers_a_stage_under_trl_subparsers():
    from trl import TrlParser

    subparsers = TrlParser(prog="unifer train").add_subparsers(dest="stage")
    parser = make_parser("grpo", subparsers)
    _, args, _ = parser.parse_args_and_config(["--config", str(RECIPES / "grpo_tiny_cpu.yaml")])
    assert isinstance(args, UniFERGRPOConfig) and args.reward_funcs == ["accuracy", "format"]


def test_cli_registers_train():
    args = build_parser().parse_args(["train", "grpo", "--config", "r.yaml", "--learning_rate", "1e-5"])
    assert (args.stage, args.options) == ("grpo", ["--config", "r.yaml", "--learning_rate", "1e-5"])


def assert_loadable(folder):
    folder = Path(folder)
    assert not (folder / "adapter_config.json").exists()
    AutoProcessor.from_pretrained(folder)
    assert isinstance(AutoModelForImageTextToText.from_pretrained(folder), torch.nn.Module)


def test_tiny_recipes_train_end_to_end_by_name_and_save_an_evaluable_folder(
    tiny_model_path, cot_dataset, rlvr_dataset, tmp_path
):
    """Recipes resolve by name from the installed package (``.yaml`` optional), through ``unifer train``."""
    cot, rlvr = tmp_path / "cot.parquet", tmp_path / "rlvr.parquet"
    cot_dataset.to_parquet(cot)
    rlvr_dataset.to_parquet(rlvr)
    sft_run = ["--model_name_or_path", str(tiny_model_path), "--dataset_name", str(cot)]
    assert cli(["train", "sft", "--config", "sft_tiny_cpu", *sft_run, "--output_dir", str(tmp_path / "sft")]) == 0
    assert_loadable(tmp_path / "sft")
    grpo_run = ["--model_name_or_path", str(tmp_path / "sft"), "--dataset_name", str(rlvr)]
    assert (
        cli(["train", "grpo", "--config", "grpo_tiny_cpu.yaml", *grpo_run, "--output_dir", str(tmp_path / "grpo")])
        == 0
    )
    assert_loadable(tmp_path / "grpo")


def one_line_error(capsys):
    """The command's error: one line, no traceback (progress bars may come before it)."""
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("unifer")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_train_without_a_recipe_lists_the_recipes(capsys):
    assert cli(["train", "sft"]) == 2
    error = one_line_error(capsys)
    assert "needs a recipe: --config NAME_OR_PATH" in error
    assert all(name in error for name in ("sft_tiny_cpu", "sft_qwen2_5_vl_7b", "sft_qwen2_5_vl_7b_paper"))
    assert "grpo_tiny_cpu" not in error and "bf16" not in error
    assert cli(["train", "grpo", "--config", "grpo_nope"]) == 2
    assert "no such recipe: grpo_nope" in one_line_error(capsys)


@pytest.mark.parametrize("dataset", ["missing-folder", "unifer-cot/cot", "./unifer-cot/cot", "rows.parquet"])
def test_train_names_a_missing_dataset_in_one_line(dataset, tiny_model_path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = ["train", "sft", "--config", "sft_tiny_cpu", "--model_name_or_path", str(tiny_model_path)]
    assert cli([*run, "--dataset_name", dataset]) == 2
    kind = "file" if dataset.endswith(".parquet") else "folder"
    assert one_line_error(capsys).startswith(f"unifer train: error: no such {kind}: {dataset} ")


def test_train_names_a_missing_model_before_loading_data(tmp_path, capsys):
    run = ["train", "sft", "--config", "sft_tiny_cpu", "--dataset_name", str(tmp_path / "no-data")]
    assert cli([*run, "--model_name_or_path", str(tmp_path / "nomodel")]) == 2
    assert f"no such folder: {tmp_path / 'nomodel'} " in one_line_error(capsys)


def benchmark_folder(faces, folder):
    """A FERBench-shaped dataset folder: a test split only, with image, label, prompt and candidate_labels."""
    (folder / "data").mkdir(parents=True)
    Dataset.from_dict(
        {
            "image": [image for _, image in faces[:2]],
            "label": [emotion for emotion, _ in faces[:2]],
            "prompt": [QUESTION] * 2,
            "candidate_labels": [list(CANONICAL_EMOTIONS)] * 2,
        }
    ).to_parquet(folder / "data" / "test-00000-of-00001.parquet")
    return folder


@pytest.mark.parametrize(
    "stage, data, expected, found, looks_like",
    [
        ("sft", "rlvr", "messages, images", "prompt, image, solution, candidate_labels", "RLVR rows"),
        ("grpo", "cot", "prompt, image, solution", "messages, images", "CoT rows"),
        ("sft", "benchmark", "messages, images", "image, label, prompt, candidate_labels", "a benchmark"),
        ("grpo", "benchmark", "prompt, image, solution", "image, label, prompt, candidate_labels", "a benchmark"),
    ],
)
def test_train_names_the_expected_and_found_columns_of_the_wrong_data(
    stage, data, expected, found, looks_like, tiny_model_path, faces, cot_dataset, rlvr_dataset, tmp_path, capsys
):
    if data == "benchmark":
        path = benchmark_folder(faces, tmp_path / "bench")
    else:
        path = tmp_path / f"{data}.parquet"
        (cot_dataset if data == "cot" else rlvr_dataset).to_parquet(path)
    run = ["train", stage, "--config", f"{stage}_tiny_cpu", "--model_name_or_path", str(tiny_model_path)]
    assert cli([*run, "--dataset_name", str(path), "--output_dir", str(tmp_path / "out")]) == 2
    error = one_line_error(capsys)
    assert f"({expected})" in error and f"the dataset's columns are: {found}." in error
    assert f"These look like {looks_like}" in error


def test_lora_run_saves_a_merged_model_and_its_adapter(tiny_model_path, cot_dataset, tmp_path):
    cot = tmp_path / "cot.parquet"
    cot_dataset.to_parquet(cot)
    train_main(
        [
            "sft",
            "--config",
            str(RECIPES / "sft_tiny_cpu.yaml"),
            "--model_name_or_path",
            str(tiny_model_path),
            "--dataset_name",
            str(cot),
            "--output_dir",
            str(tmp_path / "out"),
            "--use_peft",
            "true",
            "--lora_r",
            "4",
            "--lora_target_modules",
            "q_proj",
            "v_proj",
        ]
    )
    assert (tmp_path / "out" / "adapter" / "adapter_config.json").exists()
    assert_loadable(tmp_path / "out")


def test_resume_from_the_last_checkpoint(tiny_model_path, cot_dataset, tmp_path):
    cot = tmp_path / "cot.parquet"
    cot_dataset.to_parquet(cot)
    run = [
        "sft",
        "--config",
        str(RECIPES / "sft_tiny_cpu.yaml"),
        "--model_name_or_path",
        str(tiny_model_path),
        "--dataset_name",
        str(cot),
        "--output_dir",
        str(tmp_path / "out"),
        "--save_strategy",
        "steps",
        "--save_steps",
        "1",
    ]
    train_main([*run, "--max_steps", "1", "--learning_rate", "1e-3"])
    train_main([*run, "--max_steps", "2", "--learning_rate", "7e-4", "--resume_from_checkpoint", "last"])
    state = json.loads((tmp_path / "out" / "checkpoint-2" / "trainer_state.json").read_text())
    assert state["global_step"] == 2 and [entry["step"] for entry in state["log_history"]] == [1, 2]
    # Step 1 comes from the first run (a restart would have logged the second run's learning rate).
    assert state["log_history"][0]["learning_rate"] == pytest.approx(1e-3)
