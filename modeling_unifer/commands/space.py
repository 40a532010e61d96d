"""``unifer space``: serve the Gradio demo locally (the same app as the Hugging Face Space)."""

from __future__ import annotations


def run(args) -> int:
    from unifer.space.ui import build_demo, launch  # gradio and torch load only when the command runs

    demo = build_demo(args.model, max_new_tokens=args.max_new_tokens)
    launch(demo, server_name=args.host, server_port=args.port, share=args.share)
    return 0


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("space", help="serve the Gradio demo (upload a face, see reasoning and answer)")
    parser.add_argument(
        "--model",
        help="model folder or Hub id (default: $UNIFER_MODEL, else Karl28/UniFER-7B). A named model, or any model "
        "on a GPU, that cannot load stops start-up; only the CPU demo with no model named falls back to the "
        "quickstart or tiny model, with a notice",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, help="port (default: the first free one from 7860)")
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    parser.add_argument(
        "--max-new-tokens", type=int, help="generation budget (default: $UNIFER_MAX_NEW_TOKENS, else 1024)"
    )
    parser.set_defaults(handler=run)
