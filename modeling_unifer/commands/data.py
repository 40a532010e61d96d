"""``unifer data``: build FERBench, UniFER-CoT/RLVR and SynFER, ingest your own labelled images, or curate CoT data
from RLVR data with a teacher, as dataset folders that ``datasets.load_dataset(folder, config)`` reads with no code
(and ``--push-to-hub`` uploads). Every command's options are a config of :mod:`unifer.data.configs`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unifer.commands.parsing import UniferArgumentParser, subcommand_parser
from unifer.data.configs import (
    BUILD_CONFIGS,
    CommandConfig,
    CotBuildConfig,
    CurateCotConfig,
    FerbenchBuildConfig,
    IngestConfig,
    PublishOptions,
    RlvrBuildConfig,
    SynferBuildConfig,
)

DESCRIPTION = "build or ingest datasets (Parquet + dataset card), or curate CoT data with a teacher"
BUILD_HELP = {
    "ferbench": "FERBench from the official index + your images",
    "cot": "UniFER-CoT-230K from the released JSON + your images",
    "rlvr": "UniFER-RLVR-360K from the released JSON + your images",
    "synfer": "SYNTHETIC SynFER faces: benchmark, cot and rlvr configs",
}
INGEST_HELP = "your labelled images as a benchmark or RLVR rows"
CURATE_HELP = "make CoT data from RLVR data with a teacher (rejection sampling)"


def _ferbench(config: FerbenchBuildConfig) -> str:
    from unifer.data.ferbench import build

    result = build(config, progress=True)
    rows = ", ".join(f"{name} {n:,}" for name, n in result["rows"].items())
    skipped = f"; skipped {len(result['skipped'])} (see skipped.jsonl)" if result["skipped"] else ""
    return f"FERBench -> {config.out}: {rows}{skipped}"


def _released(config: CotBuildConfig | RlvrBuildConfig) -> str:
    from unifer.data.cot_rlvr import build

    return build(config, progress=True).summary()


def _synfer(config: SynferBuildConfig) -> str:
    from unifer.data.synfer_dataset import build_synfer

    result = build_synfer(config, progress=True)
    rows = ", ".join(f"{name} {n:,}" for name, n in result["rows"].items())
    return (
        f"SynFER (SYNTHETIC) -> {config.out}: {rows} in {result['seconds']:.1f}s ({result['faces_per_s']:.0f} faces/s)"
    )


def _ingest(config: IngestConfig) -> str:
    from unifer.data.ingest import ingest

    result = ingest(config, progress=True)
    rows = ", ".join(f"{label} {n:,}" for label, n in result["rows"].items())
    return f"ingested -> {config.out} ({config.format}): {rows}"


#: Each build's writer, which returns the line to print.
WRITERS: dict[type, Callable[[Any], str]] = {
    FerbenchBuildConfig: _ferbench,
    CotBuildConfig: _released,
    RlvrBuildConfig: _released,
    SynferBuildConfig: _synfer,
    IngestConfig: _ingest,
}


def run_build(config: CommandConfig, publish: PublishOptions) -> int:
    """Every build and ingest: refuse a non-empty ``--out`` unless ``--overwrite`` (before any work), write the
    folder and its card, print the summary, then upload it when ``--push-to-hub`` asks."""
    from unifer.data.publish import prepare_out_dir, push_to_hub

    prepare_out_dir(config.out, overwrite=publish.overwrite)
    print(WRITERS[type(config)](config))
    if publish.push_to_hub:
        url = push_to_hub(config.out, publish.push_to_hub, private=not publish.public)
        print(f"pushed ({'public' if publish.public else 'private'}): {url}")
    return 0


def run_curate(config: CurateCotConfig) -> int:
    from pathlib import Path

    from unifer.data.curation import curate_cot, format_rate

    report = curate_cot(config.rlvr, config.out, config.teacher, **config.settings())
    samples, rejected = report["samples"], report["rejected"]
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in rejected.items() if n)
    written = Path(config.out) / "cot" if samples["kept"] else "nothing written (no sample kept)"
    print(
        f"curated {report['items']['curated']:,} items: {samples['drawn']:,} samples drawn, "
        f"{samples['accepted']:,} accepted ({format_rate(report['acceptance_rate'])}), {samples['kept']:,} kept"
        f"{f' (rejected: {reasons})' if reasons else ''} -> {written}; see {Path(config.out) / 'report.md'}"
    )
    return 0


def make_parser(subparsers=None) -> UniferArgumentParser:
    """``unifer data`` with its actions ``build DATASET``, ``ingest`` and ``curate-cot``; registered as ``data``
    under ``subparsers`` when given."""
    parser = subcommand_parser(subparsers, "data", help=DESCRIPTION)
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="build FERBench, UniFER-CoT/RLVR or SynFER")
    datasets = build.add_subparsers(dest="kind", metavar="DATASET", required=True)
    for name, config_class in BUILD_CONFIGS.items():
        datasets.add_parser(
            name, dataclass_types=(config_class, PublishOptions), help=BUILD_HELP[name], description=BUILD_HELP[name]
        ).set_defaults(handler=run_build)
    actions.add_parser(
        "ingest", dataclass_types=(IngestConfig, PublishOptions), help=INGEST_HELP, description=INGEST_HELP
    ).set_defaults(handler=run_build)
    actions.add_parser(
        "curate-cot", dataclass_types=CurateCotConfig, help=CURATE_HELP, description=CURATE_HELP
    ).set_defaults(handler=run_curate)
    return parser
