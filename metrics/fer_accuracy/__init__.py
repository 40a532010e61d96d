"""The ``fer_accuracy`` evaluate metric. This file only makes the folder an installable package; load the metric
with ``evaluate.load(unifer.metrics.fer_accuracy_path())`` rather than importing it."""
