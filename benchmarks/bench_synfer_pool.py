"""SynFER's drawing pool: ``fork`` (what ``build_synfer`` uses on Linux) vs ``spawn`` (what it used before).

Prints the pool's start-up time (start, then draw one face per worker) and, over interleaved rounds, the wall time
and the CPU time (this process and its workers) of one ``build_synfer``. On a shared machine the wall time is noisy;
the CPU time is the steadier figure.

    python benchmarks/bench_synfer_pool.py --n-per-class 100 --num-proc 2 --rounds 5
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

from unifer.data import synfer_dataset

METHODS = ("spawn", "fork")


def cpu_seconds() -> float:
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def pool_start(method: str, num_proc: int) -> float:
    started = time.perf_counter()
    with ProcessPoolExecutor(num_proc, mp_context=multiprocessing.get_context(method)) as pool:
        jobs = synfer_dataset.stream_jobs(("happiness",), num_proc, 0, 8)
        list(pool.map(synfer_dataset.face_png, jobs, chunksize=1))
    return time.perf_counter() - started


def build(method: str, n_per_class: int, num_proc: int) -> tuple[float, float]:
    synfer_dataset.drawing_context = lambda: multiprocessing.get_context(method)
    cpu, started = cpu_seconds(), time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        synfer_dataset.build_synfer(out, n_per_class=n_per_class, num_proc=num_proc)
    return time.perf_counter() - started, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-per-class", type=int, default=100)
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for method in METHODS:
        starts = [pool_start(method, args.num_proc) for _ in range(args.rounds)]
        print(f"{method:5}: pool start + one face per worker, median {statistics.median(starts):.3f} s")
    runs: dict[str, list[tuple[float, float]]] = {method: [] for method in METHODS}
    for _ in range(args.rounds):
        for method in METHODS:
            runs[method].append(build(method, args.n_per_class, args.num_proc))
    faces = len(synfer_dataset.synfer.SYNFER_EMOTIONS) * (args.n_per_class + args.n_per_class // 4)
    for method, results in runs.items():
        wall, cpu = (statistics.median(values) for values in zip(*results))
        print(f"{method:5}: build_synfer of {faces} faces, median wall {wall:.2f} s, median CPU {cpu:.2f} s")


if __name__ == "__main__":
    main()
