"""``unifer space``: serve the Gradio demo locally (the same app as the Hugging Face Space)."""

from __future__ import annotations

from unifer.commands.parsing import UniferArgumentParser, command_parser
from unifer.configs import SpaceConfig


def run(config: SpaceConfig) -> int:
    from unifer.sources import check_source
    from unifer.space.ui import build_demo, launch  # gradio and torch load only when the command runs

    if config.model is not None:  # before gradio starts: a typo reads "no such folder", not a Hub id error
        check_source(config.model, "model", "--model")
    demo = build_demo(config.model, max_new_tokens=config.max_new_tokens)
    launch(demo, server_name=config.host, server_port=config.port, share=config.share)
    return 0


def make_parser(subparsers=None) -> UniferArgumentParser:
    return command_parser(
        subparsers, "space", SpaceConfig, run, help="serve the Gradio demo (upload a face, see reasoning and answer)"
    )
