"""``unifer train STAGE --help`` is short and shows ``--config`` first; a recipe of the other stage is named as such."""

from unifer.commands import main
from unifer.trainers.train import recipe_names


def test_train_help_is_short_with_the_recipe_first(capsys):
    assert main(["train", "sft", "--help"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) <= 10  # TRL's full list (--help-all) is hundreds of lines
    assert lines[0].startswith("usage: unifer train sft --config RECIPE")
    options = [line.split()[0] for line in lines[1:] if line.strip()]
    assert options[0] == "--config" and "--help-all" in options
    assert all(name in "\n".join(lines) for name in recipe_names("sft"))


def test_a_recipe_of_the_other_stage_is_refused_by_name(capsys):
    assert main(["train", "sft", "--config", "grpo_tiny_cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("unifer train: error: grpo_tiny_cpu is a grpo recipe: run `unifer train grpo --config")
    assert len(err.splitlines()) == 1


def test_the_recipes_set_no_deprecated_option(tmp_path, recwarn):
    """transformers 5 renamed gradient_checkpointing to activation_checkpointing; a recipe that sets the old name
    (or leaves TRL's default on it) warns at every run."""
    import warnings

    from unifer.trainers.train import make_parser, with_recipe

    for stage in ("sft", "grpo"):
        for recipe in (f"{stage}_tiny_cpu", f"{stage}_quickstart"):
            warnings.simplefilter("always")
            make_parser(stage).parse_args_and_config(
                with_recipe(stage, ["--config", recipe, "--output_dir", str(tmp_path)])
            )
    deprecated = [str(w.message) for w in recwarn if "deprecated" in str(w.message)]
    assert not deprecated
