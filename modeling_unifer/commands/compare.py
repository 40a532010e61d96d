"""``unifer compare``: two evaluations of the same items, paired (see
:func:`unifer.metrics.scoring.compare_paired`)."""

from __future__ import annotations

from unifer.commands.parsing import UniferArgumentParser, command_parser
from unifer.configs import CompareConfig


def run(config: CompareConfig) -> int:
    from unifer.metrics.prediction_files import paired_correctness
    from unifer.metrics.scoring import compare_paired

    before, after = paired_correctness(config.run_a, config.run_b)
    result = compare_paired(before, after, config.resamples, config.seed)
    low, high = result["ci95"]
    n = result["n"]
    print(f"{n} items in both runs, paired by id (strict parse)")
    print(f"A  {config.run_a}: accuracy {result['accuracy_before']:.4f} ({sum(before)}/{n})")
    print(f"B  {config.run_b}: accuracy {result['accuracy_after']:.4f} ({sum(after)}/{n})")
    print(
        f"B - A: {result['lift']:+.4f}, 95% paired-bootstrap interval [{low:+.4f}, {high:+.4f}] "
        f"({config.resamples} resamples, seed {config.seed})"
    )
    print(f"fixed (wrong in A, right in B): {result['fixed']}; broken (right in A, wrong in B): {result['broken']}")
    print(f"McNemar's exact test (two-sided): p = {result['mcnemar_p']:.4g}")
    return 0


def make_parser(subparsers=None) -> UniferArgumentParser:
    return command_parser(
        subparsers,
        "compare",
        CompareConfig,
        run,
        help="compare two evaluations of the same items, paired (difference, interval, fixed/broken, McNemar)",
    )
