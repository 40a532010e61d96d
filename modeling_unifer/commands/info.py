"""``unifer info``: versions, compute device and which optional backends are importable."""

from __future__ import annotations

import json

from unifer.environment import collect


def run(args) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"python      {info['python']} ({info['platform']})")
    print(f"device      {json.dumps(info['device'])}")
    for name, version in info["packages"].items():
        print(f"{name:<15} {version or 'not installed'}")
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("info", help="versions, device and available backends")
    parser.add_argument("--json", action="store_true", help="print as JSON")
    parser.set_defaults(handler=run)
