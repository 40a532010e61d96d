"""UniFER's metrics (installed as ``unifer.metrics``): scoring, reading prediction files, reports, and the
``evaluate`` metric ``fer_accuracy``; load that with ``evaluate.load(fer_accuracy_path())``."""

from pathlib import Path


def fer_accuracy_path() -> str:
    """The folder of the ``fer_accuracy`` evaluate metric, in a checkout or an installed package.

    >>> import evaluate; metric = evaluate.load(fer_accuracy_path())  # doctest: +SKIP
    """
    return str(Path(__file__).resolve().parent / "fer_accuracy")
