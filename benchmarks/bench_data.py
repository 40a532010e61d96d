"""Throughput and memory of the RLVR builder: is a 360K-row build as flat in memory as a 36K-row one?

Writes RLVR JSON lists of 36K and 360K rows pointing at a pool of 64 distinct 32x32 PNG faces, builds each in a
fresh subprocess (``unifer.data.cot_rlvr.build``), and reports rows/s and the child's peak RSS. Exits non-zero
when peak RSS grows by more than ``--max-ratio`` (default 1.5) from the smallest to the largest build.

    HF_HUB_OFFLINE=1 python benchmarks/bench_data.py            # about 3 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import sys
from unifer.data.cot_rlvr import build
report = build("rlvr", sys.argv[1], sys.argv[2], sys.argv[3])
assert report.output.num_examples == int(sys.argv[4]) and not report.rejected, report.summary()
"""


def make_pool(root: Path, size: int = 32) -> list[str]:
    """64 distinct PNG faces (8 emotions x 8 seeds); returns their paths relative to ``root``."""
    from unifer.data.synfer import SYNFER_EMOTIONS, draw_face

    paths = []
    for emotion in SYNFER_EMOTIONS:
        for seed in range(8):
            path = root / "pool" / f"{emotion}_{seed}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            draw_face(emotion, seed, size).save(path)
            paths.append((f"/pool/{path.name}", emotion))
    return paths


def write_rlvr_json(path: Path, rows: int, pool: list[tuple[str, str]]) -> None:
    """An RLVR JSON list of ``rows`` rows, written incrementally (this process stays small too)."""
    from unifer.labels import CANONICAL_EMOTIONS
    from unifer.prompts import fer_question

    problem = fer_question(CANONICAL_EMOTIONS)
    with path.open("w", encoding="utf-8") as handle:
        handle.write("[\n")
        for i in range(rows):
            image_path, emotion = pool[i % len(pool)]
            row = {"image_path": image_path, "problem": problem, "solution": f"<answer>{emotion}</answer>"}
            handle.write(("," if i else "") + json.dumps(row) + "\n")
        handle.write("]\n")


def build_in_child(source: Path, images: Path, out: Path, rows: int) -> tuple[float, int]:
    """Seconds and peak RSS (bytes) of one build in a fresh interpreter; wait4 gives this child's own rusage."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(source), str(images), str(out), str(rows)])
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"build of {rows} rows failed with exit code {child.returncode}")
    return seconds, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[36_000, 360_000])
    parser.add_argument("--max-ratio", type=float, default=1.5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        root = Path(tmp)
        pool = make_pool(root / "images")
        results = []
        for rows in args.rows:
            source = root / f"rlvr_{rows}.json"
            write_rlvr_json(source, rows, pool)
            seconds, rss = build_in_child(source, root / "images", root / f"out_{rows}", rows)
            shards = len(list((root / f"out_{rows}" / "rlvr").glob("*.parquet")))
            results.append((rows, seconds, rss))
            print(
                f"{rows:>8,} rows: {seconds:7.1f} s  {rows / seconds:8,.0f} rows/s  peak RSS {rss / 2**20:6.0f} MiB"
                f"  ({source.stat().st_size / 2**20:.0f} MiB JSON -> {shards} shard(s))",
                flush=True,
            )
    ratio = results[-1][2] / results[0][2]
    print(f"peak RSS ratio {results[-1][0]:,} / {results[0][0]:,} rows: {ratio:.2f} (limit {args.max_ratio})")
    return 0 if ratio <= args.max_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
