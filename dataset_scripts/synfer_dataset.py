"""SynFER as a dataset: synthetic faces in the three shapes the real data takes, in one folder.

Configs ``benchmark`` (FERBench format, split ``test``), ``cot`` (templated reasoning, split ``train``) and
``rlvr`` (split ``train``); ``cot`` and ``rlvr`` share their faces, each drawn and PNG-encoded once, and
``benchmark`` draws from another seed stream so that no test face is trained on.

Faces are drawn in worker processes (:func:`drawing_context`). This module imports only SynFER at the top: where
workers are spawned, they import it, and should start fast.
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unifer.data import synfer
from unifer.labels import CANONICAL_EMOTIONS, normalize, validate_candidates

if TYPE_CHECKING:
    from unifer.data.configs import SynferBuildConfig

logger = logging.getLogger(__name__)

#: PNG compression 1: about 4x faster than PIL's default level for files about 10% larger.
PNG_COMPRESS_LEVEL = 1
#: Below this many faces, starting worker processes costs more than it saves.
_MIN_PARALLEL_FACES = 256


def face_png(job: tuple[str, int, int, str]) -> bytes:
    """PNG bytes of ``synfer.draw_face(emotion, seed, size, style=style)`` for ``job = (emotion, seed, size,
    style)``."""
    emotion, seed, size, style = job
    buffer = io.BytesIO()
    synfer.draw_face(emotion, seed, size, style=style).save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def stream_jobs(
    emotions: Sequence[str], n_per_class: int, seed: int, size: int, style: str = "default"
) -> list[tuple[str, int, int, str]]:
    """The faces of ``synfer.iter_faces(n_per_class, seed, size, emotions, style=style)``, as ``(emotion, item seed,
    size, style)``."""
    return [
        (emotions[i % len(emotions)], synfer.item_seed(seed, i), size, style)
        for i in range(n_per_class * len(emotions))
    ]


def drawing_context() -> multiprocessing.context.BaseContext:
    """How the drawing workers start: ``fork`` on Linux, else ``spawn``.

    A forked worker starts at once with this module loaded and never re-imports the caller's script, so
    ``build_synfer`` works from any script: one without an ``if __name__ == "__main__":`` guard, or one read from
    stdin (``python -``), where ``spawn`` re-runs the script in every worker, or cannot find it, and the pool breaks.
    Forking a process that runs other threads copies their locks as they are; it is safe here because the workers
    only draw and PNG-encode faces (PIL, numpy, zlib), which take none of the locks the parent's other threads
    (pyarrow's, for one) hold, and because the pool forks all its workers before the first progress bar starts a
    thread. Elsewhere fork is unsafe (macOS) or absent (Windows): there ``spawn`` needs the script's main guard.
    """
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def start_pool(num_proc: int) -> ProcessPoolExecutor:
    """A drawing pool whose workers are all started (a fork pool starts them at its first task)."""
    context = drawing_context()
    pool = ProcessPoolExecutor(num_proc, mp_context=context)
    pool.submit(int).result()
    logger.info("drawing faces in %d %s processes", num_proc, context.get_start_method())
    return pool


def render(jobs: Sequence[tuple[str, int, int, str]], pool: ProcessPoolExecutor | None) -> Iterable[bytes]:
    """PNG bytes for ``jobs``, in order, drawn in ``pool`` when one is given."""
    return pool.map(face_png, jobs, chunksize=32) if pool else map(face_png, jobs)


def synfer_emotions(names: Sequence[str] | None) -> tuple[str, ...]:
    """Chosen SynFER emotions (aliases allowed), canonical and in canonical order; two names of one emotion
    (``happy joy``) or an unknown name are refused with the accepted names."""
    chosen = {normalize(name) for name in (validate_candidates(names) if names else synfer.SYNFER_EMOTIONS)}
    missing = chosen - set(synfer.SYNFER_EMOTIONS)
    if missing:
        raise ValueError(f"SynFER cannot draw {sorted(missing)}; choose from {', '.join(synfer.SYNFER_EMOTIONS)}.")
    return tuple(e for e in CANONICAL_EMOTIONS if e in chosen)


def build_synfer(
    config: SynferBuildConfig | str | Path,
    *,
    max_shard_bytes: int | None = None,
    progress: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Write configs ``benchmark`` (``test_per_class`` faces per emotion from stream ``seed + 1``), ``cot`` and
    ``rlvr`` (``n_per_class`` shared faces from stream ``seed``), drawn and described in SynFER ``style``
    (:data:`unifer.data.synfer.STYLES`). ``config``: a :class:`~unifer.data.configs.SynferBuildConfig`, or (for
    scripts) the output folder with the config's other fields as keywords: ``build_synfer("synfer",
    n_per_class=2)``. Faces are drawn in ``num_proc`` processes (default: the CPU count, at most 8; see
    :func:`drawing_context`), from any script. ``progress``: show a progress bar.

    Returns rows per config, seconds, and faces drawn per second.
    """
    from unifer.data.configs import SynferBuildConfig
    from unifer.data.publish import MAX_SHARD_BYTES, write_dataset

    if not isinstance(config, SynferBuildConfig):
        config = SynferBuildConfig(out=config, **options)
    elif options:
        raise TypeError(f"build_synfer: options {sorted(options)} given beside a SynferBuildConfig")
    test_jobs = stream_jobs(config.emotions, config.test_per_class, config.seed + 1, config.size, config.style)
    train_jobs = stream_jobs(config.emotions, config.n_per_class, config.seed, config.size, config.style)
    faces = len(test_jobs) + len(train_jobs)
    started = time.perf_counter()
    outputs, _ = write_dataset(
        config,
        _splits(config.emotions),
        _examples(config, test_jobs, train_jobs, progress),
        lambda outputs, command: _card(outputs, config.emotions, command, faces),
        max_shard_bytes=max_shard_bytes or MAX_SHARD_BYTES,
    )
    seconds = time.perf_counter() - started
    return {"rows": {o.config: o.num_examples for o in outputs}, "seconds": seconds, "faces_per_s": faces / seconds}


def _splits(candidates: Sequence[str]) -> list[tuple[str, str, Any]]:
    from unifer.data.cot_rlvr import COT_FEATURES, RLVR_FEATURES
    from unifer.data.ferbench import benchmark_features

    return [
        ("benchmark", "test", benchmark_features(candidates)),
        ("cot", "train", COT_FEATURES),
        ("rlvr", "train", RLVR_FEATURES),
    ]


def _examples(config, test_jobs, train_jobs, progress: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(split index, example)`` for :func:`_splits`: each benchmark face, then each training face as a CoT row and
    an RLVR row, drawn in a worker pool when there are enough faces to pay for one."""
    from tqdm.auto import tqdm

    from unifer.data.cot_rlvr import cot_example, rlvr_example
    from unifer.data.ferbench import benchmark_example
    from unifer.prompts import fer_question

    num_proc = config.num_proc or min(os.cpu_count() or 1, 8)
    parallel = num_proc > 1 and len(test_jobs) + len(train_jobs) >= _MIN_PARALLEL_FACES
    candidates, question = config.emotions, fer_question(config.emotions)
    with ExitStack() as stack:
        pool = stack.enter_context(start_pool(num_proc)) if parallel else None
        bar = stack.enter_context(
            tqdm(total=len(test_jobs) + len(train_jobs), desc="SynFER", unit=" faces", disable=not progress)
        )
        for i, ((emotion, *_), png) in enumerate(zip(test_jobs, render(test_jobs, pool))):
            bar.update()
            path = f"SynFER/test/{emotion}/{i:06d}.png"
            image = {"bytes": png, "path": Path(path).name}
            yield 0, benchmark_example(f"synfer-{i:05d}", "synfer", image, f"/{path}", emotion, candidates, question)
        for i, ((emotion, item_seed, *_), png) in enumerate(zip(train_jobs, render(train_jobs, pool))):
            bar.update()
            image = {"bytes": png, "path": f"{i:06d}.png"}
            response = f"<think>{synfer.describe(emotion, item_seed, config.style)}</think><answer>{emotion}</answer>"
            yield 1, cot_example(question, response, image)
            yield 2, rlvr_example(question, emotion, image)


def _card(outputs, candidates: Sequence[str], command: str, faces: int) -> dict[str, Any]:
    from unifer.data.publish import markdown_table, size_category

    shapes = (
        "FERBench format: `image`, `label`, `prompt`, `candidate_labels`, ...",
        "SFT: `messages`, `images`",
        "GRPO: `prompt`, `image`, `solution`, `candidate_labels`",
    )
    counts = markdown_table(
        ("config", "split", "rows", "shape"),
        [(o.config, o.split, o.num_examples, shape) for o, shape in zip(outputs, shapes)],
    )
    body = f"""
# SynFER — SYNTHETIC facial expressions

**SYNTHETIC DATA.** Every image is a procedurally drawn cartoon face (`unifer.data.synfer`), not a photograph of a
person. Labels are exact by construction and the faces are far easier than real ones: use SynFER to test pipelines
and for offline quickstarts, never to claim real-world FER accuracy.

Candidate labels: {", ".join(candidates)}. The `benchmark` faces come from a different seed stream than the
`cot`/`rlvr` faces, so no test face is trained on. CoT responses are templated: `<think>` a description of the
drawn features that does not name the expression `</think><answer>label</answer>`.

{counts}

Rebuild (deterministic: same arguments, same pixels):

```bash
{command}
```
"""
    return dict(
        default="benchmark",
        body=body,
        pretty_name="SynFER (synthetic)",
        license="apache-2.0",
        synthetic=True,
        size_categories=size_category(faces),
        task_categories=["image-classification", "visual-question-answering"],
        tags=["synthetic", "facial-expression-recognition", "unifer"],
    )
