"""``unifer export metric|space DIR``: write a Hub artifact's folder, self-contained, ready to push."""

from __future__ import annotations

from unifer.commands.parsing import UniferArgumentParser, command_parser, subcommand_parser
from unifer.configs import ExportMetricConfig, ExportSpaceConfig


def run_metric(config: ExportMetricConfig) -> int:
    from unifer.metrics.export import export_metric

    files = export_metric(config.dir, overwrite=config.overwrite)
    print(f"fer_accuracy metric -> {config.dir}: {', '.join(path.name for path in files)}")
    return 0


def run_space(config: ExportSpaceConfig) -> int:
    from unifer.space.export import export_space

    files = export_space(config.dir, config.unifer_requirement, overwrite=config.overwrite)
    print(f"Space -> {config.dir}: {', '.join(path.name for path in files)}")
    return 0


def make_parser(subparsers=None) -> UniferArgumentParser:
    help_text = "write the evaluate metric or the Gradio Space as a Hub folder"
    parser = subcommand_parser(subparsers, "export", help=help_text)
    kinds = parser.add_subparsers(dest="artifact", metavar="ARTIFACT", required=True)
    command_parser(
        kinds,
        "metric",
        ExportMetricConfig,
        run_metric,
        help="the fer_accuracy evaluate metric, its scoring code bundled (no unifer needed to load it)",
    )
    command_parser(
        kinds, "space", ExportSpaceConfig, run_space, help="the Gradio Space: app.py, README.md, requirements.txt"
    )
    return parser
