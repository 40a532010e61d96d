"""``unifer export metric|space DIR``: write a Hub artifact's folder, self-contained, ready to push."""

from __future__ import annotations


def run_metric(args) -> int:
    from unifer.metrics.export import export_metric

    files = export_metric(args.dir, overwrite=args.overwrite)
    print(f"fer_accuracy metric -> {args.dir}: {', '.join(path.name for path in files)}")
    return 0


def run_space(args) -> int:
    from unifer.space.export import export_space

    files = export_space(args.dir, args.unifer_requirement, overwrite=args.overwrite)
    print(f"Space -> {args.dir}: {', '.join(path.name for path in files)}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("export", help="write the evaluate metric or the Gradio Space as a Hub folder")
    kinds = parser.add_subparsers(dest="artifact", metavar="ARTIFACT", required=True)
    metric = kinds.add_parser(
        "metric", help="the fer_accuracy evaluate metric, its scoring code bundled (no unifer needed to load it)"
    )
    metric.add_argument("dir", help="output folder; name it fer_accuracy (evaluate looks for DIR/<name of DIR>.py)")
    metric.set_defaults(handler=run_metric)
    space = kinds.add_parser("space", help="the Gradio Space: app.py, README.md, requirements.txt")
    space.add_argument("dir", help="output folder")
    space.add_argument(
        "--unifer-requirement",
        required=True,
        metavar="REQUIREMENT",
        help='how the Space installs unifer, e.g. "unifer @ git+https://github.com/OWNER/unifer.git@v0.1.0"',
    )
    space.set_defaults(handler=run_space)
    for command in (metric, space):
        command.add_argument("--overwrite", action="store_true", help="replace files in DIR that differ")
