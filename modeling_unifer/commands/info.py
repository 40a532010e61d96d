"""``unifer info``: versions, compute device and which optional backends are importable."""

from __future__ import annotations

import json

from unifer.commands.parsing import UniferArgumentParser, command_parser
from unifer.configs import InfoConfig


def run(config: InfoConfig) -> int:
    from unifer.environment import collect

    info = collect()
    if config.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"python      {info['python']} ({info['platform']})")
    print(f"device      {json.dumps(info['device'])}")
    for name, version in info["packages"].items():
        print(f"{name:<15} {version or 'not installed'}")
    return 0


def make_parser(subparsers=None) -> UniferArgumentParser:
    return command_parser(subparsers, "info", InfoConfig, run, help="versions, device and available backends")
