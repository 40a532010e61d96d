"""Writing RLVR rows as Parquet shards: UniFER's ``publish.ShardWriter`` against ``datasets`` itself
(``Dataset.from_generator`` with the same ``Features``, then ``Dataset.shard(...).to_parquet`` per shard), side by
side in one run. Is either as flat in memory at 360K rows as at 36K, and which is faster?

Writes RLVR JSON lists of 36K and 360K rows pointing at a pool of 64 distinct 32x32 PNG faces. Each (writer, size)
pair runs in a fresh interpreter that streams the rows through ``cot_rlvr.convert`` (what ``unifer data build
rlvr`` does) into that writer, so both writers see the same examples and the child's own peak RSS (``os.wait4``)
is that writer's. Prints rows/s, peak RSS and the output per run, then datasets / ShardWriter ratios per size.
Exits non-zero when a writer's peak RSS grows by more than ``--max-ratio`` (default 1.5) from the smallest to the
largest build, for the writers ``publish.py`` keeps (``--check``, default ``shards``).

    HF_HUB_OFFLINE=1 python benchmarks/bench_data.py            # about 6 minutes on 2 idle cores
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# One child per (writer, size): the writer is chosen by name, the rows come from cot_rlvr as in a build.
CHILD = """
import sys
sys.path.insert(0, sys.argv[6])
from bench_data import WRITERS
from unifer.data.cot_rlvr import KINDS, convert, iter_rows

kind = KINDS["rlvr"]
examples = (convert(kind, row, sys.argv[3]) for _, row in iter_rows(sys.argv[2]))
output = WRITERS[sys.argv[1]](examples, sys.argv[4], kind.name, "train", kind.features)
assert output.num_examples == int(sys.argv[5]), output
"""


def write_with_shard_writer(examples, out_dir, config, split, features):
    """UniFER's writer: one row group buffered, encoded column-wise, streamed into size-bounded shards."""
    from unifer.data.publish import ShardWriter

    with ShardWriter(out_dir, config, split, features) as writer:
        for example in examples:
            writer.write(example)
    return writer.output


def write_with_datasets(examples, out_dir, config, split, features):
    """``datasets`` itself: ``Dataset.from_generator`` writes an Arrow cache file (rows encoded one by one), then
    each of ``ceil(size / MAX_SHARD_BYTES)`` contiguous shards goes to Parquet with ``to_parquet``, as
    ``Dataset.push_to_hub`` shards. The cache lies in a temporary folder removed afterwards."""
    import math
    import uuid

    import datasets

    from unifer.data.publish import MAX_SHARD_BYTES, SplitOutput

    datasets.disable_progress_bars()
    folder = Path(out_dir) / config
    folder.mkdir(parents=True, exist_ok=True)
    output = SplitOutput(config, split, features)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".cache-") as cache:
        dataset = datasets.Dataset.from_generator(
            lambda: examples, features=features, cache_dir=cache, split=split, fingerprint=uuid.uuid4().hex
        )
        output.num_examples, output.num_bytes = dataset.num_rows, dataset.data.nbytes
        shards = max(1, math.ceil(output.num_bytes / MAX_SHARD_BYTES))
        for index in range(shards):
            name = f"{split}-{index:05d}-of-{shards:05d}.parquet"
            dataset.shard(shards, index, contiguous=True).to_parquet(folder / name)
            output.files.append(name)
        del dataset  # close the memory map before the cache folder goes
    return output


WRITERS = {"shards": write_with_shard_writer, "datasets": write_with_datasets}


def make_pool(root: Path, size: int = 32) -> list[tuple[str, str]]:
    """64 distinct PNG faces (8 emotions x 8 seeds); returns their paths relative to ``root`` and emotions."""
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


def write_in_child(writer: str, source: Path, images: Path, out: Path, rows: int) -> tuple[float, int]:
    """Seconds and peak RSS (bytes) of one write in a fresh interpreter; wait4 gives this child's own rusage."""
    argv = [
        sys.executable,
        "-c",
        CHILD,
        writer,
        str(source),
        str(images),
        str(out),
        str(rows),
        str(Path(__file__).parent),
    ]
    started = time.perf_counter()
    child = subprocess.Popen(argv)
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{writer}: writing {rows} rows failed with exit code {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_maxrss * 1024  # ru_maxrss is in KiB on Linux


def parquet_rows(folder: Path) -> tuple[int, int, int]:
    """Rows, shards and bytes of the Parquet files in ``folder`` (read from their footers)."""
    import pyarrow.parquet as pq

    files = sorted(folder.glob("*.parquet"))
    return sum(pq.read_metadata(f).num_rows for f in files), len(files), sum(f.stat().st_size for f in files)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[36_000, 360_000])
    parser.add_argument("--writers", nargs="+", choices=WRITERS, default=list(WRITERS))
    parser.add_argument("--check", nargs="*", choices=WRITERS, default=["shards"], help="writers held to --max-ratio")
    parser.add_argument("--max-ratio", type=float, default=1.5)
    args = parser.parse_args()
    results: dict[tuple[str, int], tuple[float, int]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        root = Path(tmp)
        pool = make_pool(root / "images")
        for rows in args.rows:
            source = root / f"rlvr_{rows}.json"
            write_rlvr_json(source, rows, pool)
            for writer in args.writers:  # one size at a time, the writers back to back
                out = root / f"{writer}_{rows}"
                seconds, rss = results[writer, rows] = write_in_child(writer, source, root / "images", out, rows)
                written, shards, size = parquet_rows(out / "rlvr")
                assert written == rows, f"{writer} wrote {written} of {rows} rows"
                print(
                    f"{writer:>8} {rows:>8,} rows: {seconds:7.1f} s  {rows / seconds:8,.0f} rows/s  "
                    f"peak RSS {rss / 2**20:6.0f} MiB  ({source.stat().st_size / 2**20:.0f} MiB JSON -> {shards} "
                    f"shard(s), {size / 2**20:.0f} MiB)",
                    flush=True,
                )
                shutil.rmtree(out)  # keep the disk footprint to one output at a time
    if set(args.writers) == set(WRITERS):
        for rows in args.rows:
            (hand_s, hand_rss), (ds_s, ds_rss) = results["shards", rows], results["datasets", rows]
            print(
                f"datasets / ShardWriter at {rows:,} rows: rows/s {hand_s / ds_s:.2f}x, peak RSS {ds_rss / hand_rss:.2f}x"
            )
    failed = False
    for writer in args.writers:
        first, last = results[writer, args.rows[0]][1], results[writer, args.rows[-1]][1]
        checked = writer in args.check
        failed |= checked and last / first > args.max_ratio
        print(
            f"{writer}: peak RSS ratio {args.rows[-1]:,} / {args.rows[0]:,} rows: {last / first:.2f}"
            + (f" (limit {args.max_ratio})" if checked else "")
        )
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
