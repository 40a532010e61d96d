"""Do candidate probabilities agree with the model's answer? Side by side for `unifer eval --probabilities` runs.

For each run folder (its predictions.jsonl, made with --probabilities), counts the items whose most probable
candidate is the model's well-formed answer, the items the answer gets right and the items the most probable
candidate gets right (strict parse against the gold label).

    python benchmarks/probability_agreement.py RUN_FOLDER [RUN_FOLDER ...]

Results and the commands that made the runs: docs/evaluation.md ("Candidate probabilities").
"""

from __future__ import annotations

import argparse

from unifer.metrics.prediction_files import read_prediction_records


def agreement(folder: str) -> dict[str, int]:
    """Counts over one run's records: items, well-formed answers, most probable candidate = well-formed answer,
    answer right, most probable candidate right."""
    records = read_prediction_records(folder)
    if not all(record.get("probabilities") for record in records):
        raise SystemExit(f"{folder}: some records have no probabilities (run unifer eval with --probabilities).")
    top = [max(record["probabilities"], key=record["probabilities"].get) for record in records]
    return {
        "items": len(records),
        "well_formed": sum(bool(record["well_formed"]) for record in records),
        "top_is_answer": sum(
            bool(record["well_formed"]) and best == record["parsed_label"] for record, best in zip(records, top)
        ),
        "answer_right": sum(record["parsed_label"] == record["label"] for record in records),
        "top_right": sum(best == record["label"] for record, best in zip(records, top)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="unifer eval output folders made with --probabilities")
    folders = parser.parse_args().runs
    rows = [(folder, agreement(folder)) for folder in folders]
    print(f"{'run':<40} {'items':>6} {'well-formed':>12} {'top = answer':>13} {'answer right':>13} {'top right':>10}")
    for folder, counts in rows:
        formed = counts["well_formed"]
        print(
            f"{folder:<40} {counts['items']:>6} {formed:>12} "
            f"{counts['top_is_answer']:>6} ({counts['top_is_answer'] / max(formed, 1):.3f}) "
            f"{counts['answer_right']:>13} {counts['top_right']:>10}"
        )


if __name__ == "__main__":
    main()
