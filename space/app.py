"""Hugging Face Space entry point: the UniFER demo, built by ``unifer.space.ui`` (also: ``unifer space``)."""

import os
from pathlib import Path

from unifer.space.ui import build_demo, launch

# Leaderboard runs live beside this file on the Hub, whatever the working directory.
demo = build_demo(results_dir=os.environ.get("UNIFER_RESULTS_DIR") or Path(__file__).parent / "results")

if __name__ == "__main__":
    launch(demo)  # 127.0.0.1 locally; a Space sets GRADIO_SERVER_NAME=0.0.0.0
