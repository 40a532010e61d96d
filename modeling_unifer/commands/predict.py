"""``unifer predict INPUT... --out FILE.jsonl|FILE.csv``: photos, folders and videos to one row per face, resumable
(see :mod:`unifer.predict_files`)."""

from __future__ import annotations

import sys

from unifer.commands.parsing import UniferArgumentParser
from unifer.configs import PredictConfig


def run(config: PredictConfig) -> int:
    from unifer.faces import DetectorUnavailableError
    from unifer.predict_files import predict_files

    try:
        summary = predict_files(config)
    except DetectorUnavailableError as err:
        print(f"unifer predict: error: {err}", file=sys.stderr)
        return 2
    for line in summary.lines():
        print(line)
    return 0


def make_parser(subparsers=None) -> UniferArgumentParser:
    help_text = "label every face of photos, folders and videos (one row per face; resumable)"
    if subparsers is None:
        parser = UniferArgumentParser(PredictConfig, prog="unifer predict", description=help_text)
    else:
        parser = subparsers.add_parser("predict", dataclass_types=PredictConfig, help=help_text, description=help_text)
    parser.set_defaults(handler=run)
    return parser
