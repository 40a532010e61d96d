"""FERBench builder: the official index + a fake images root (tiny SynFER faces) -> Parquet + card, loadable."""

import io
import json
import shutil

import datasets
import pyarrow.parquet as pq
import pytest
import yaml

from unifer.commands import main
from unifer.data import ferbench
from unifer.data.configs import FerbenchBuildConfig
from unifer.data.synfer import draw_face
from unifer.labels import CANONICAL_EMOTIONS, SUBSET_LABELS, SUBSETS, normalize
from unifer.prompts import fer_question

from .support import SHARED_FERBENCH, requires_shared

pytestmark = requires_shared


def official(subset):
    return json.loads((SHARED_FERBENCH / f"{subset}_qa.json").read_text())


@pytest.fixture(scope="session")
def images_root(tmp_path_factory):
    """Every official image path, holding a 16x16 SynFER face of its label (PNG or JPEG as the extension says)."""
    root = tmp_path_factory.mktemp("ferbench_images")
    pool = {}
    for emotion in CANONICAL_EMOTIONS:
        for fmt in ("PNG", "JPEG"):
            buffer = io.BytesIO()
            draw_face(emotion, 0, 16).save(buffer, fmt)
            pool[emotion, fmt] = buffer.getvalue()
    for subset in SUBSETS:
        for record in official(subset):
            path = root / record["image_path"].lstrip("/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pool[normalize(record["true_label"]), "PNG" if path.suffix == ".png" else "JPEG"])
    return root


@pytest.fixture(scope="session")
def built(images_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("ferbench_out")
    result = ferbench.build(FerbenchBuildConfig(images_root, out, index_dir=SHARED_FERBENCH))
    return out, result


@pytest.fixture
def sfew_root(images_root, tmp_path):
    """A root holding only SFEW 2.0 (431 images), safe to damage."""
    root = tmp_path / "images"
    shutil.copytree(images_root / "SFEW-2.0", root / "SFEW-2.0")
    return root


def load(out, config, cache):
    return datasets.load_dataset(str(out), config, split="test", cache_dir=str(cache))


@pytest.mark.slow
def test_all_config_equals_the_official_index_in_order(built, tmp_path):
    out, result = built
    assert result["rows"] == {"all": 11072, **{s: len(official(s)) for s in SUBSETS}} and not result["skipped"]
    ds = load(out, "all", tmp_path).remove_columns("image")
    expected = [(s, i, r) for s in SUBSETS for i, r in enumerate(official(s))]
    assert len(ds) == len(expected) == 11072
    assert ds.features["label"] == datasets.Value("string")
    assert ds["image_path"] == [r["image_path"] for _, _, r in expected]
    assert ds["label"] == [r["true_label"] for _, _, r in expected]
    assert ds["prompt"] == [r["prompt"] for _, _, r in expected]
    assert ds["candidate_labels"] == [r["candidate_labels"] for _, _, r in expected]
    assert ds["id"] == [f"{s}-{i:05d}" for s, i, _ in expected]
    assert ds["subset"] == [s for s, _, _ in expected]
    names = ds.features["canonical_label"].names
    assert [names[v] for v in ds["canonical_label"]] == [normalize(r["true_label"]) for _, _, r in expected]


def test_subset_config_loads_with_decodable_original_images(built, images_root, tmp_path):
    out, _ = built
    ds = load(out, "rafdb", tmp_path)
    records = official("rafdb")
    assert len(ds) == 3068
    label = ds.features["label"]
    assert isinstance(label, datasets.ClassLabel) and tuple(label.names) == SUBSET_LABELS["rafdb"]
    assert [label.int2str(v) for v in ds["label"]] == [r["true_label"] for r in records]
    assert ds[0]["prompt"] == fer_question(SUBSET_LABELS["rafdb"])
    for i in (0, 1234, 3067):
        image = ds[i]["image"]
        image.load()
        assert image.size == (16, 16) and image.format == "JPEG"
    raw = ds.cast_column("image", datasets.Image(decode=False))[5]["image"]
    path = images_root / records[5]["image_path"].lstrip("/")
    assert raw["bytes"] == path.read_bytes() and raw["path"] == path.name  # stored as-is, not re-encoded


def test_card_declares_configs_sizes_and_licence(built):
    out, _ = built
    text = (out / "README.md").read_text()
    meta = yaml.safe_load(text.split("---")[1])
    configs = {c["config_name"]: c for c in meta["configs"]}
    assert set(configs) == {"all", *SUBSETS}
    assert [name for name, c in configs.items() if c.get("default")] == ["all"]
    assert configs["rafdb"]["data_files"] == [{"split": "test", "path": "rafdb/test-*.parquet"}]
    infos = {info["config_name"]: info for info in meta["dataset_info"]}
    assert {name: info["splits"][0]["num_examples"] for name, info in infos.items()} == {
        "all": 11072,
        "rafdb": 3068,
        "ferplus": 3573,
        "affectnet": 4000,
        "sfew_2.0": 431,
    }
    assert meta["license"] == "other" and meta["size_categories"] == "10K<n<100K"
    assert set(meta["task_categories"]) == {"image-classification", "visual-question-answering"}
    assert "NOT redistributed" in text and "| happiness | 1,185 |" in text and "| contempt | 30 |" in text
    assert "Access requests" in text and "licence" in meta["extra_gated_prompt"]  # suggests gating, and is ready
    assert all(sha in text for sha in ferbench.INDEX_SHA256.values())
    assert not (out / "skipped.jsonl").exists()
    assert sorted(p.name for p in (out / "all").iterdir()) == ["test-00000-of-00001.parquet"]


def test_missing_images_fail_before_anything_is_written(sfew_root, tmp_path, capsys):
    records = official("sfew_2.0")
    for i in (3, 10):
        (sfew_root / records[i]["image_path"].lstrip("/")).unlink()
    (sfew_root / records[20]["image_path"].lstrip("/")).write_bytes(b"not a png")
    out = tmp_path / "out"
    code = main(
        [
            "data",
            "build",
            "ferbench",
            "--images-root",
            str(sfew_root),
            "--out",
            str(out),
            "--index-dir",
            str(SHARED_FERBENCH),
            "--subsets",
            "sfew_2.0",
        ]
    )
    # One error line, after the image check's progress bar.
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and not out.exists() and error.startswith("unifer data: error:")
    assert "3 FERBench images" in error and "sfew_2.0 3/431" in error
    assert records[3]["image_path"].lstrip("/") in error and "(image_unreadable)" in error
    assert "SFEW-2.0/Val/Val_Aligned_Faces/<Class>/<name>.png" in error and "--allow-missing" in error


def test_allow_missing_skips_and_reports(sfew_root, tmp_path):
    records = official("sfew_2.0")
    (sfew_root / records[7]["image_path"].lstrip("/")).unlink()
    out = tmp_path / "out"
    result = ferbench.build(
        FerbenchBuildConfig(sfew_root, out, subsets=["sfew_2.0"], index_dir=SHARED_FERBENCH, allow_missing=True)
    )
    assert result["rows"] == {"all": 430, "sfew_2.0": 430}
    skipped = [json.loads(line) for line in (out / "skipped.jsonl").read_text().splitlines()]
    assert [(s["id"], s["image_path"], s["reason"]) for s in skipped] == [
        ("sfew_2.0-00007", records[7]["image_path"], "image_missing")
    ]
    card = (out / "README.md").read_text()
    assert "missing or unreadable: 1 " in card and records[7]["image_path"] in card
    ids = load(out, "sfew_2.0", tmp_path / "cache").remove_columns("image")["id"]
    assert "sfew_2.0-00007" not in ids and ids[7] == "sfew_2.0-00008" and len(ids) == 430


def test_shards_are_bounded_and_keep_row_order(sfew_root, tmp_path):
    out = tmp_path / "out"
    ferbench.build(
        FerbenchBuildConfig(sfew_root, out, subsets=["sfew_2.0"], index_dir=SHARED_FERBENCH), max_shard_bytes=20_000
    )
    shards = sorted((out / "sfew_2.0").glob("*.parquet"))
    assert len(shards) > 1 and all(p.name.endswith(f"-of-{len(shards):05d}.parquet") for p in shards)
    assert not list(out.rglob(".*partial"))
    assert sum(pq.ParquetFile(p).metadata.num_rows for p in shards) == 431
    ds = load(out, "sfew_2.0", tmp_path / "cache").remove_columns("image")
    assert ds["image_path"] == [r["image_path"] for r in official("sfew_2.0")]


def test_generator_based_builder_prepares_the_same_rows(sfew_root, tmp_path):
    builder = ferbench.Ferbench(
        config_name="sfew_2.0",
        data_dir=str(sfew_root),
        index_dir=str(SHARED_FERBENCH),
        cache_dir=str(tmp_path / "cache"),
    )
    builder.download_and_prepare()
    ds = builder.as_dataset(split="test")
    assert len(ds) == 431 and ds.features == ferbench.features("sfew_2.0")
    assert ds[0]["id"] == "sfew_2.0-00000" and ds[0]["image"].size == (16, 16)
    assert ferbench.Ferbench(cache_dir=str(tmp_path / "cache")).config.name == "all"


def test_index_is_verified_and_downloaded_from_the_pinned_commit(tmp_path):
    seen = []

    def fake_download(url):
        seen.append(url)
        return str(SHARED_FERBENCH / "sfew_2.0_qa.json")

    assert ferbench.load_index("sfew_2.0", download=fake_download) == official("sfew_2.0")
    assert seen == [
        "https://raw.githubusercontent.com/zfkarl/UniFER/08c2ed6ef752e0aaa14165041b6a1aa4d35f3518/"
        "eval_sfew_2.0/data/sfew_2.0_qa.json"
    ]

    tampered = tmp_path / "sfew_2.0_qa.json"
    tampered.write_bytes((SHARED_FERBENCH / "sfew_2.0_qa.json").read_bytes() + b"\n")
    with pytest.raises(ValueError, match="sha256 .* expected efe10ba3"):
        ferbench.load_index("sfew_2.0", index_dir=tmp_path)

    def offline(url):
        raise ConnectionError("Offline mode is enabled")

    with pytest.raises(FileNotFoundError, match="--index-dir"):
        ferbench.load_index("rafdb", download=offline)
