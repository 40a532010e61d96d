"""lmms-eval's ``--model_args`` for a given model (its own pixel limits) and the face size run.json records.

Expected limits are read here from the model folders' JSON files; the wrapper's processor is loaded the way
lmms-eval's ``qwen2_5_vl`` wrapper loads it (``AutoProcessor.from_pretrained(pretrained, max_pixels=…,
min_pixels=…)``), without running lmms-eval (tests/test_lmms_eval.py runs it)."""

import json

import torch
from PIL import Image
from transformers import AutoProcessor

from unifer.commands import main
from unifer.lmms_eval_tasks import model_args

#: lmms-eval's qwen2_5_vl wrapper's own default (256 * 28 * 28): what faces get without our --model_args.
WRAPPER_MIN_PIXELS = 200704
CPU = ",device=cpu,device_map=cpu" if not torch.cuda.is_available() else ""


def parsed(args: str) -> dict[str, str]:
    return dict(pair.split("=", 1) for pair in args.split(","))


def test_model_args_name_the_models_own_pixel_limits(tiny_model_path, capsys):
    size = json.loads((tiny_model_path / "processor_config.json").read_text())["image_processor"]["size"]
    assert main(["lmms-eval-tasks", "--model", str(tiny_model_path) + "/"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == (
        f"pretrained={tiny_model_path.resolve()},min_pixels={size['shortest_edge']},"
        f"max_pixels={size['longest_edge']}{CPU}"
    )


def test_an_older_preprocessor_config_is_read_too(tmp_path):
    """UniFER-7B's base (Qwen2.5-VL-7B-Instruct) keeps its limits as min_pixels/max_pixels in
    preprocessor_config.json."""
    config = {
        "min_pixels": 3136,
        "max_pixels": 12845056,
        "patch_size": 14,
        "temporal_patch_size": 2,
        "merge_size": 2,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "image_processor_type": "Qwen2VLImageProcessor",
    }
    (tmp_path / "preprocessor_config.json").write_text(json.dumps(config))
    assert parsed(model_args(str(tmp_path))) == {
        "pretrained": str(tmp_path),
        "min_pixels": "3136",
        "max_pixels": "12845056",
    }


def test_the_wrapper_sees_faces_at_the_models_own_size(tiny_model_path):
    """With the printed limits the wrapper's processor makes of a 224 px face what the model's own processor
    makes of it; with the wrapper's defaults it upscales it."""
    args = parsed(model_args(str(tiny_model_path)))
    face = Image.new("RGB", (224, 224), "white")

    def grid(processor):
        return processor.image_processor(images=[face], return_tensors="pt")["image_grid_thw"][0].tolist()

    own = grid(AutoProcessor.from_pretrained(tiny_model_path))
    limits = {"min_pixels": int(args["min_pixels"]), "max_pixels": int(args["max_pixels"])}
    assert grid(AutoProcessor.from_pretrained(args["pretrained"], **limits)) == own
    wrapper_default = {"min_pixels": WRAPPER_MIN_PIXELS, "max_pixels": 1605632}
    assert grid(AutoProcessor.from_pretrained(args["pretrained"], **wrapper_default)) != own


def test_model_args_alone(tiny_model_path, capsys):
    assert main(["lmms-eval-tasks", "--model", str(tiny_model_path), "--benchmark", "x", "--out", "y"]) != 0
    assert "--model prints the --model_args alone" in capsys.readouterr().err


def test_run_json_records_the_face_size_the_processor_made(tiny_model_path, tmp_path):
    """The tiny model's processor allows at most 3136 = 56 × 56 pixels: a 224 px face reaches it at 56 px."""
    from unifer.configs import EvalConfig
    from unifer.data.synfer_dataset import build_synfer
    from unifer.evaluation import evaluate_model

    build_synfer(tmp_path / "bench", n_per_class=1, test_per_class=1, size=48, emotions=["anger", "fear"], num_proc=1)
    config = EvalConfig(
        model=str(tiny_model_path),
        benchmark=str(tmp_path / "bench"),
        output_dir=str(tmp_path / "run"),
        max_new_tokens=2,
        bootstrap=0,
    )
    evaluate_model(config)
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["image_size"] == 224 and run["processed_image_size"] == [56, 56]
