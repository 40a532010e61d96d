"""``unifer data``: build FERBench, UniFER-CoT/RLVR and SynFER, ingest your own labelled images, or curate CoT data
from RLVR data with a teacher, as dataset folders that ``datasets.load_dataset(folder, config)`` reads with no code
(and ``--push-to-hub`` uploads)."""

from __future__ import annotations

import argparse


def _push(args, folder) -> None:
    if args.push_to_hub:
        from unifer.data.publish import push_to_hub

        visibility = "public" if args.public else "private"
        print(f"pushed ({visibility}): {push_to_hub(folder, args.push_to_hub, private=not args.public)}")


def _check_out(args) -> None:
    """Refuse a non-empty --out unless --overwrite, before any work."""
    from unifer.data.publish import prepare_out_dir

    prepare_out_dir(args.out, overwrite=args.overwrite)


def run_ferbench(args) -> int:
    from unifer.data.ferbench import build

    _check_out(args)
    result = build(
        args.images_root,
        args.out,
        subsets=args.subsets,
        index_dir=args.index_dir,
        allow_missing=args.allow_missing,
        progress=True,
    )
    rows = ", ".join(f"{config} {n:,}" for config, n in result["rows"].items())
    skipped = f"; skipped {len(result['skipped'])} (see skipped.jsonl)" if result["skipped"] else ""
    print(f"FERBench -> {args.out}: {rows}{skipped}")
    _push(args, args.out)
    return 0


def run_released(args) -> int:
    from unifer.data.cot_rlvr import build

    _check_out(args)
    check_answers = not getattr(args, "no_answer_filter", False)  # the option exists for cot only
    report = build(args.kind, args.json, args.images_root, args.out, progress=True, check_answers=check_answers)
    print(report.summary())
    _push(args, args.out)
    return 0


def run_synfer(args) -> int:
    from unifer.data.synfer_dataset import build_synfer

    _check_out(args)
    result = build_synfer(
        args.out,
        n_per_class=args.n_per_class,
        seed=args.seed,
        size=args.size,
        emotions=args.emotions,
        test_per_class=args.test_per_class,
        num_proc=args.num_proc,
        style=args.style,
        progress=True,
    )
    rows = ", ".join(f"{config} {n:,}" for config, n in result["rows"].items())
    print(
        f"SynFER (SYNTHETIC) -> {args.out}: {rows} in {result['seconds']:.1f}s ({result['faces_per_s']:.0f} faces/s)"
    )
    _push(args, args.out)
    return 0


def run_ingest(args) -> int:
    from unifer.data.ingest import ingest

    _check_out(args)
    result = ingest(
        args.images_root,
        args.out,
        csv_path=args.csv,
        label_map=args.label_map,
        name=args.name,
        fmt=args.format,
        progress=True,
    )
    rows = ", ".join(f"{label} {n:,}" for label, n in result["rows"].items())
    print(f"ingested -> {args.out} ({args.format}): {rows}")
    _push(args, args.out)
    return 0


CURATE_HELP = "make CoT data from RLVR data with a teacher (rejection sampling)"


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default where it has one: for a None default the help says what happens instead."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        return action.help if action.default is None else super()._get_help_string(action)


def curate_parser():
    """``unifer data curate-cot``'s options: every ``Settings`` field (``--samples-per-item`` or
    ``--samples_per_item``, help from the field's metadata), then the input, teacher and output."""
    from transformers import HfArgumentParser

    from unifer.data.curation import Settings

    parser = HfArgumentParser(
        Settings, prog="unifer data curate-cot", description=CURATE_HELP, formatter_class=_HelpFormatter
    )
    parser.add_argument(
        "--rlvr", required=True, help="RLVR dataset folder or Hub id (unifer data ingest --format rlvr, ...)"
    )
    parser.add_argument(
        "--teacher",
        required=True,
        help="local model path / Hub id, or an OpenAI-compatible endpoint URL (http://host:port/v1)",
    )
    parser.add_argument("--out", required=True, help="output folder (rerun with the same one to resume)")
    return parser


def run_curate(args) -> int:
    from dataclasses import asdict
    from pathlib import Path

    from unifer.data.curation import curate_cot, format_rate

    settings, paths = curate_parser().parse_args_into_dataclasses(args.options, look_for_args_file=False)
    report = curate_cot(paths.rlvr, paths.out, paths.teacher, **asdict(settings))
    samples, rejected = report["samples"], report["rejected"]
    reasons = ", ".join(f"{reason} {n:,}" for reason, n in rejected.items() if n)
    print(
        f"curated {report['items']['curated']:,} items: {samples['drawn']:,} samples drawn, "
        f"{samples['accepted']:,} accepted ({format_rate(report['acceptance_rate'])}), {samples['kept']:,} kept"
        f"{f' (rejected: {reasons})' if reasons else ''} -> "
        f"{Path(paths.out) / 'cot' if samples['kept'] else 'nothing written (no sample kept)'}; see "
        f"{Path(paths.out) / 'report.md'}"
    )
    return 0


def _hub_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--push-to-hub", metavar="REPO", help="upload the folder to this Hub dataset repository (private by default)"
    )
    parent.add_argument(
        "--public", action="store_true", help="create the Hub repository as public (check the images' licences first)"
    )
    parent.add_argument("--overwrite", action="store_true", help="replace the dataset in a non-empty --out folder")
    return parent


def add_parser(subparsers) -> None:
    from unifer.labels import SUBSETS

    hub = _hub_options()
    data = subparsers.add_parser("data", help="build or ingest datasets (Parquet + dataset card)")
    actions = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    build = actions.add_parser("build", help="build FERBench, UniFER-CoT/RLVR or SynFER")
    kinds = build.add_subparsers(dest="kind", metavar="DATASET", required=True)

    ferbench = kinds.add_parser("ferbench", parents=[hub], help="FERBench from the official index + your images")
    ferbench.add_argument(
        "--images-root",
        required=True,
        help="folder holding RAF-DB/, FERPlus/, AffectNet/, SFEW-2.0/ as in the official paths",
    )
    ferbench.add_argument("--out", required=True, help="output folder")
    ferbench.add_argument("--index-dir", help="local copies of the official *_qa.json files (default: download)")
    ferbench.add_argument(
        "--subsets",
        nargs="+",
        choices=SUBSETS,
        default=list(SUBSETS),
        metavar="SUBSET",
        help=f"subsets to build (default: all of {', '.join(SUBSETS)})",
    )
    ferbench.add_argument(
        "--allow-missing",
        action="store_true",
        help="skip missing/unreadable images (listed in skipped.jsonl) instead of failing",
    )
    ferbench.set_defaults(handler=run_ferbench)

    for kind, title, fields in (
        ("cot", "UniFER-CoT-230K", "image_path, question, response"),
        ("rlvr", "UniFER-RLVR-360K", "image_path, problem, solution"),
    ):
        released = kinds.add_parser(kind, parents=[hub], help=f"{title} from the released JSON + your images")
        released.add_argument("--json", required=True, help=f"released JSON list or JSONL with {fields}")
        released.add_argument("--images-root", required=True, help="folder the rows' image_path values are under")
        released.add_argument("--out", required=True, help="output folder")
        if kind == "cot":
            released.add_argument(
                "--no-answer-filter",
                action="store_true",
                help="keep responses that name no single candidate in one <answer> block (the official SFT trained "
                "on every released row); the summary and card count them",
            )
        released.set_defaults(handler=run_released)

    syn = kinds.add_parser("synfer", parents=[hub], help="SYNTHETIC SynFER faces: benchmark, cot and rlvr configs")
    syn.add_argument("--out", required=True, help="output folder")
    syn.add_argument("--n-per-class", type=int, required=True, help="training faces per emotion (cot and rlvr)")
    syn.add_argument("--test-per-class", type=int, help="benchmark faces per emotion (default: n-per-class // 4)")
    syn.add_argument("--seed", type=int, default=0)
    syn.add_argument("--size", type=int, default=224, help="image side in pixels (default: %(default)s)")
    syn.add_argument("--emotions", nargs="+", help="emotions to draw (default: all eight)")
    syn.add_argument("--num-proc", type=int, help="drawing processes (default: CPU count, at most 8)")
    syn.add_argument(
        "--style",
        choices=("default", "bold"),
        default="default",
        help="SynFER look: default, or bold (the quickstart's 56 px faces: bigger cues, no nuisance)",
    )
    syn.set_defaults(handler=run_synfer)

    ing = actions.add_parser("ingest", parents=[hub], help="your labelled images as a benchmark or RLVR rows")
    ing.add_argument("--images-root", required=True, help="folder with one sub-folder per class (or see --csv)")
    ing.add_argument("--csv", help="CSV of path,label rows (paths relative to --images-root) instead of folders")
    ing.add_argument(
        "--label-map",
        help="JSON file or 'folder=emotion,folder=emotion' (default: folder names read as emotions or their aliases)",
    )
    ing.add_argument("--out", required=True, help="output folder")
    ing.add_argument("--name", help="dataset / config name (default: the images folder's name)")
    ing.add_argument(
        "--format",
        choices=("ferbench", "rlvr"),
        default="ferbench",
        help="benchmark rows (split test) or RLVR training rows (split train)",
    )
    ing.set_defaults(handler=run_ingest)

    # Everything after curate-cot goes to curate_parser() when the command runs: building it here would import
    # transformers (about a second) for every `unifer` command. With a prefix character that no argument can hold
    # (NUL), this parser takes `--flags` (and --help) as plain strings and leaves them to it.
    curate = actions.add_parser("curate-cot", help=CURATE_HELP, add_help=False, prefix_chars="\0")
    curate.add_argument("options", nargs=argparse.REMAINDER)
    curate.set_defaults(handler=run_curate)
