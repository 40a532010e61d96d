"""SFT and GRPO trainers, recipes and the ``unifer train`` CLI on the tiny random model, on a CPU."""

import json
import math
from pathlib import Path

import pytest
import torch

pytest.importorskip("trl")
from datasets import Dataset  # noqa: E402
from peft import LoraConfig  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402

from unifer.commands import build_parser  # noqa: E402
from unifer.data.synfer import iter_faces  # noqa: E402
from unifer.images import prepare_image  # noqa: E402
from unifer.labels import CANONICAL_EMOTIONS, SUBSET_LABELS  # noqa: E402
from unifer.prompts import chat_messages, fer_question  # noqa: E402
from unifer.trainers.configs import UniFERGRPOConfig, UniFERSFTConfig  # noqa: E402
from unifer.trainers.grpo import UniFERGRPOTrainer  # noqa: E402
from unifer.trainers.rewards import accuracy_reward, completion_text, format_reward  # noqa: E402
from unifer.trainers.sft import UniFERSFTTrainer, response_mask  # noqa: E402
from unifer.trainers.train import cli_main as train_main  # noqa: E402
from unifer.trainers.train import make_parser

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
    assert sorted(rows[0]) == ["candidate_labels", "image", "prompt", "solution"]
    assert [row["solution"] for row in rows] == ["neutral", "neutral"]
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


@pytest.mark.parametrize("recipe", sorted(path.name for path in RECIPES.glob("*.yaml")))
def test_every_recipe_parses(recipe):
    stage = recipe.split("_")[0]
    # The GPU recipes ask for bf16, which transformers refuses on a CPU-only machine unless told it is one.
    data_args, args, model_args = make_parser(stage).parse_args_and_config(
        ["--config", str(RECIPES / recipe), "--use_cpu", "true"]
    )
    assert data_args.dataset_name and model_args.model_name_or_path
    assert type(args).__name__ == ("UniFERSFTConfig" if stage == "sft" else "UniFERGRPOConfig")
    assert model_args.use_peft == ("lora" in recipe)


def test_paper_recipes_carry_the_paper_settings():
    _, sft_args, _ = make_parser("sft").parse_args_and_config(
        ["--config", str(RECIPES / "sft_qwen2_5_vl_7b.yaml"), "--use_cpu", "true"]
    )
    assert (sft_args.num_train_epochs, sft_args.learning_rate, sft_args.max_grad_norm, sft_args.image_size) == (
        2,
        2e-5,
        5.0,
        224,
    )
    assert sft_args.per_device_train_batch_size * sft_args.gradient_accumulation_steps * 4 == 16  # on 4 GPUs
    assert sft_args.lr_scheduler_type == "cosine" and sft_args.bf16
    _, grpo_args, _ = make_parser("grpo").parse_args_and_config(
        ["--config", str(RECIPES / "grpo_qwen2_5_vl_7b.yaml"), "--use_cpu", "true"]
    )
    assert (
        grpo_args.learning_rate,
        grpo_args.weight_decay,
        grpo_args.num_train_epochs,
        grpo_args.beta,
        grpo_args.num_generations,
        grpo_args.temperature,
        grpo_args.max_completion_length,
        grpo_args.vllm_max_model_length,
        grpo_args.max_grad_norm,
    ) == (1e-6, 0.01, 1, 0.04, 8, 1.0, 1024, 5120, 5.0)
    assert grpo_args.use_vllm and grpo_args.lr_scheduler_type == "cosine"


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


def test_tiny_recipes_train_end_to_end_and_save_an_evaluable_folder(
    tiny_model_path, cot_dataset, rlvr_dataset, tmp_path
):
    cot, rlvr = tmp_path / "cot.parquet", tmp_path / "rlvr.parquet"
    cot_dataset.to_parquet(cot)
    rlvr_dataset.to_parquet(rlvr)
    common = ["--model_name_or_path", str(tiny_model_path)]
    train_main(
        [
            "sft",
            "--config",
            str(RECIPES / "sft_tiny_cpu.yaml"),
            *common,
            "--dataset_name",
            str(cot),
            "--output_dir",
            str(tmp_path / "sft"),
        ]
    )
    assert_loadable(tmp_path / "sft")
    train_main(
        [
            "grpo",
            "--config",
            str(RECIPES / "grpo_tiny_cpu.yaml"),
            "--model_name_or_path",
            str(tmp_path / "sft"),
            "--dataset_name",
            str(rlvr),
            "--output_dir",
            str(tmp_path / "grpo"),
        ]
    )
    assert_loadable(tmp_path / "grpo")


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
