"""A dataset card records the command that rebuilds it, rendered from the build's config
(``CommandConfig.to_command_line``). Parsed again by ``unifer``'s own parser, that command must give the same
config. Every option of each config here is set away from its default, so a renderer that drops, misspells or
mis-quotes any option fails; paths hold a space, so quoting is exercised too."""

from __future__ import annotations

import doctest
import json
import re
import shlex
from dataclasses import MISSING, fields

import pytest

from unifer.commands import build_parser
from unifer.commands.parsing import parsed_configs
from unifer.data import cot_rlvr
from unifer.data.configs import (
    CotBuildConfig,
    CurateCotConfig,
    FerbenchBuildConfig,
    IngestConfig,
    RlvrBuildConfig,
    SynferBuildConfig,
)
from unifer.data.ingest import ingest
from unifer.data.synfer import draw_face
from unifer.data.synfer_dataset import build_synfer
from unifer.labels import CANONICAL_EMOTIONS
from unifer.prompts import fer_question

QUESTION = fer_question(CANONICAL_EMOTIONS)


def parse(command: str):
    """The config ``unifer`` parses from ``command`` (as a shell would split it)."""
    argv = shlex.split(command)
    assert argv[0] == "unifer", command
    return parsed_configs(build_parser().parse_args(argv[1:]))[0]


def card_command(folder) -> str:
    """The ``unifer data …`` line of the card's bash block."""
    card = (folder / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^```bash\n(unifer data [^\n]*)\n```$", card, flags=re.MULTILINE)
    assert len(commands) == 1, card
    return commands[0]


def assert_every_option_set(config) -> None:
    """The round trip can only notice a dropped option that differs from its default."""
    for spec in fields(config):
        default = spec.default_factory() if spec.default_factory is not MISSING else spec.default
        assert getattr(config, spec.name) != default, f"{spec.name} is at its default: the test would not see it"


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """Two faces in class folders (``happy/``, ``grumpy/``), a CSV naming them, and a folder with a space."""
    root = tmp_path_factory.mktemp("faces") / "my faces"
    for folder, emotion in (("happy", "happiness"), ("grumpy", "anger")):
        (root / folder).mkdir(parents=True)
        draw_face(emotion, 1, 16).save(root / folder / "a.png")
    (root / "labels.csv").write_text("path,label\nhappy/a.png,happy\ngrumpy/a.png,grumpy\n", encoding="utf-8")
    return root


def test_synfer_card_command_parses_back_to_its_config(tmp_path):
    config = SynferBuildConfig(
        out=tmp_path / "syn fer",
        n_per_class=1,
        test_per_class=2,
        seed=3,
        size=24,
        emotions=["sad", "happy"],
        num_proc=1,
        style="bold",
    )
    assert_every_option_set(config)
    build_synfer(config)
    assert parse(card_command(tmp_path / "syn fer")) == config


def test_ingest_card_command_parses_back_to_its_config(faces, tmp_path):
    config = IngestConfig(
        images_root=faces,
        out=tmp_path / "my rlvr",
        csv=faces / "labels.csv",
        label_map="grumpy=anger",
        name="mine",
        format="rlvr",
    )
    assert_every_option_set(config)
    ingest(config)
    assert parse(card_command(tmp_path / "my rlvr")) == config


@pytest.mark.parametrize("config_class", [CotBuildConfig, RlvrBuildConfig])
def test_released_card_command_parses_back_to_its_config(config_class, faces, tmp_path):
    row = (
        {"image_path": "/happy/a.png", "question": QUESTION, "response": "<think>x</think><answer>glad</answer>"}
        if config_class is CotBuildConfig
        else {"image_path": "/happy/a.png", "problem": QUESTION, "solution": "happy"}
    )
    (tmp_path / "rows.json").write_text(json.dumps([row, row]), encoding="utf-8")
    options = {"answer_filter": False} if config_class is CotBuildConfig else {}
    config = config_class(tmp_path / "rows.json", faces, tmp_path / "the out", **options)
    assert_every_option_set(config)
    assert cot_rlvr.build(config).output.num_examples == 2
    assert parse(card_command(tmp_path / "the out")) == config


def test_ferbench_and_curation_command_lines_parse_back():
    """FERBench needs the licensed images and curation a teacher; their cards record these same renderings."""
    ferbench = FerbenchBuildConfig(
        "fer images", "fer bench", index_dir="idx", subsets=["sfew_2.0", "rafdb"], allow_missing=True
    )
    assert ferbench.subsets == ["rafdb", "sfew_2.0"]  # paper order, as built
    curate = CurateCotConfig(
        config="rlvr",
        backend="vllm",
        model_name="teacher model",
        samples_per_item=3,
        max_per_item=2,
        balance_classes=True,
        max_per_class=5,
        dedup=True,
        dedup_threshold=0.8,
        temperature=0.5,
        top_p=0.9,
        max_new_tokens=64,
        image_size=112,
        concurrency=2,
        retries=1,
        timeout=9.5,
        limit=10,
        api_key_env="KEY",
        seed=7,
        rlvr="my rlvr",
        teacher="http://127.0.0.1:8000/v1",
        out="cot out",
    )
    for config in (ferbench, curate):
        assert_every_option_set(config)
        assert parse(config.to_command_line()) == config


def test_defaults_are_left_out_and_resolved_values_recorded():
    """Seed, size, style and num_proc stay at their defaults; the test faces (4 // 4) and the emotions (all eight,
    canonical order) are resolved, so the card says exactly what was drawn."""
    line = SynferBuildConfig(out="s", n_per_class=4).to_command_line()
    emotions = "neutral happiness sadness surprise fear disgust anger contempt"
    assert line == f"unifer data build synfer --out s --n-per-class 4 --test-per-class 1 --emotions {emotions}"


def test_the_configs_docstring_example_runs():
    import unifer.data.configs

    result = doctest.testmod(unifer.data.configs)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["build", "synfer", "--out", "s", "--n-per-class", "0", "--size", "0", "--test-per-class", "-1"],
            "--n-per-class must be at least 1 (got 0); --size must be at least 1 (got 0); "
            "--test-per-class must be at least 0 (got -1).",
        ),
        (
            ["curate-cot", "--rlvr", "r", "--teacher", "t", "--out", "o", "--samples-per-item", "0"]
            + ["--retries", "-1", "--timeout", "0"],
            "--samples-per-item must be at least 1 (got 0); --retries must be at least 0 (got -1); "
            "--timeout must be positive (got 0.0).",
        ),
        (
            ["curate-cot", "--rlvr", "r", "--teacher", "t", "--out", "o", "--dedup-threshold", "1.5"],
            "--dedup-threshold must be in (0, 1] (got 1.5).",
        ),
    ],
)
def test_a_bad_data_option_is_refused_as_every_command_refuses_one(argv, error, tmp_path, capsys, monkeypatch):
    """The data configs bound their numbers with the core's one check (``unifer.configs.check_options``): the same
    one-line message as ``unifer eval --batch-size 0``, each bad option named with its value, nothing written."""
    from unifer.commands import main

    monkeypatch.chdir(tmp_path)
    assert main(["data", *argv]) == 2
    assert capsys.readouterr().err == f"unifer data: error: {error}\n"
    assert not any(tmp_path.iterdir())


def test_curation_settings_refuse_a_backend_from_python_too():
    """argparse checks ``--backend``'s choices; a library caller of ``Settings`` is checked by the same rule."""
    from unifer.data.configs import Settings

    with pytest.raises(ValueError, match=r"^--backend must be one of transformers, vllm \(got 'sglang'\)\.$"):
        Settings(backend="sglang")
