"""Mutation score of the modules every reported figure depends on: answer parsing, scoring, rewards, the label
vocabulary and the JSONL ledger.

Mutants are cosmic-ray's (its operator plugins: comparison, binary and unary operator swaps, boolean and number
replacement, ``not`` added, loops that run zero times, exception and decorator removal). Each mutant is run
against that module's own fast tests only, in a forked child that imports the mutated source in place of the module
(an import hook; nothing in the working tree is written, so engineers sharing the tree are never handed a mutant).
A mutant is *killed* when its tests fail or run past the timeout, and *survives* when they pass.

Skipped as equivalent by construction (not counted): mutations inside type annotations, which are never
evaluated (every module uses ``from __future__ import annotations``), and the bare ``*`` of a signature turned
into ``/`` (callers pass those arguments by keyword either way).

    python benchmarks/mutation.py                                # every module, prints scores and survivors
    python benchmarks/mutation.py --module answers --json out.json
"""

from __future__ import annotations

import argparse
import ast
import importlib.abc
import importlib.util
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Module name -> (source file, its fast tests). Tests that only exercise other code (the report's figures, the CLI,
# file reading) are left out so that a run takes minutes.
MODULES: dict[str, tuple[str, list[str]]] = {
    "answers": (
        "modeling_unifer/answers.py",
        ["tests/test_answers.py", "tests/test_answers_properties.py", "tests/test_answers_mutants.py"],
    ),
    "scoring": (
        "metrics/scoring.py",
        [
            "tests/test_scoring.py",
            "tests/test_scoring_pure.py",
            "tests/test_scoring_mutants.py",
            # The report's figures, the CLI and file reading (metrics/prediction_files.py) are other modules' tests.
            "-k",
            "not report and not cli and not torn_last_line and not reads_official and not reads_no_files",
        ],
    ),
    "rewards": ("trainers/rewards.py", ["tests/test_rewards.py", "tests/test_rewards_mutants.py"]),
    "labels": (
        "modeling_unifer/labels.py",
        ["tests/test_labels_prompts.py", "tests/test_answers.py", "tests/test_labels_mutants.py"],
    ),
    "jsonl": ("modeling_unifer/jsonl.py", ["tests/test_jsonl.py", "tests/test_jsonl_mutants.py"]),
}
PACKAGE_DIRS = {
    "modeling_unifer": "unifer",
    "dataset_scripts": "unifer.data",
    "trainers": "unifer.trainers",
    "metrics": "unifer.metrics",
    "space": "unifer.space",
}
# Imported once in the parent, so that each forked child only imports the module under test and the tests.
WARM_IMPORTS = (
    "pytest",
    "pytest_timeout",
    "hypothesis",
    "hypothesis.extra.pytestplugin",
    "numpy",
    "scipy",
    "sklearn.metrics",
    "pandas",
    "pyarrow",
    "PIL.Image",
    "yaml",
    "huggingface_hub",
    "transformers",
    "matplotlib.pyplot",
)


@dataclass
class Mutant:
    operator: str
    occurrence: int
    line: int
    before: str
    after: str
    outcome: str = ""


def module_name(path: str) -> str:
    """The import name of a source file under setup.py's package_dir mapping (``metrics/scoring.py`` ->
    ``unifer.metrics.scoring``)."""
    top, *rest = Path(path).with_suffix("").parts
    return ".".join([PACKAGE_DIRS[top], *rest])


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(start, end) positions of every annotation: never evaluated under ``from __future__ import annotations``."""
    spans = []
    for node in ast.walk(ast.parse(source)):
        annotations = []
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            annotations.append(node.annotation)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns is not None:
            annotations.append(node.returns)
        spans += [((a.lineno, a.col_offset), (a.end_lineno, a.end_col_offset)) for a in annotations]
    return spans


def is_keyword_only_marker(node) -> bool:
    """The bare ``*`` of a signature, which the binary-operator swaps would turn into ``/``: that only lets callers
    pass keyword-only arguments by position too, which no caller does."""
    return getattr(node, "value", None) == "*" and node.parent.type in ("parameters", "typedargslist", "lambdef")


def enumerate_mutants(path: Path) -> list[tuple[object, Mutant]]:
    """Every cosmic-ray mutant of ``path`` outside annotations, as (operator instance, description)."""
    from cosmic_ray.ast import ast_nodes, get_ast_from_path
    from cosmic_ray.plugins import get_operator, operator_names

    source = path.read_text(encoding="utf-8")
    lines, spans, tree = source.splitlines(), annotation_spans(source), get_ast_from_path(path)
    mutants = []
    for name in operator_names():
        operator_class = get_operator(name)
        if operator_class.arguments():  # parameterised operators need a per-module configuration; not used
            continue
        operator = operator_class()
        positions = [(node, start) for node in ast_nodes(tree) for start, _ in operator.mutation_positions(node)]
        for occurrence, (node, start) in enumerate(positions):
            if any(low <= start < high for low, high in spans) or is_keyword_only_marker(node):
                continue
            mutants.append((operator, Mutant(name.split("/", 1)[1], occurrence, start[0], lines[start[0] - 1], "")))
    return mutants


class SourceOverride(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import ``name`` from ``source`` instead of its file (first on ``sys.meta_path``)."""

    def __init__(self, name: str, source: str, origin: str):
        self.name, self.source, self.origin = name, source, origin

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        return importlib.util.spec_from_loader(fullname, self, origin=self.origin)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__file__ = self.origin
        exec(compile(self.source, self.origin, "exec"), module.__dict__)


def run_tests(name: str, source: str, origin: str, tests: list[str], timeout: float) -> tuple[str, float]:
    """Run ``tests`` in a forked child that imports ``source`` as module ``name``: 'passed', 'failed' or 'timeout'."""
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child: its own process group, so a timeout also ends anything the tests started
        os.setpgid(0, 0)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1), os.dup2(devnull, 2)
        sys.meta_path.insert(0, SourceOverride(name, source, origin))
        import pytest

        # Plugin auto-loading (every pytest plugin in the environment) costs seconds per mutant; load only the two
        # the tests use.
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        plugins = ["-p", "pytest_timeout", "-p", "hypothesis.extra.pytestplugin", "-p", "no:cacheprovider"]
        arguments = [*tests, *plugins, "-m", "not slow", "-x", "-q", "--rootdir", str(REPO), "-W", "ignore"]
        os._exit(int(pytest.main(arguments)))
    deadline = started + timeout
    while time.perf_counter() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
            return ("passed" if code == 0 else "failed"), time.perf_counter() - started
        time.sleep(0.05)
    os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "timeout", time.perf_counter() - started


def mutate_module(key: str, limit: int | None, timeout_factor: float, rerun: dict | None = None) -> dict:
    from cosmic_ray.mutating import mutate_code

    relative, tests = MODULES[key]
    path = REPO / relative
    name, original = module_name(relative), path.read_text(encoding="utf-8")
    tests = [t for t in tests if not t.startswith("tests/") or (REPO / t).exists()]  # mutant tests may be absent
    baseline, seconds = run_tests(name, original, str(path), tests, timeout=600)
    if baseline != "passed":
        raise SystemExit(f"{key}: the unmutated module fails its tests ({' '.join(tests)}); fix that first.")
    timeout = max(10.0, timeout_factor * seconds)
    mutants = enumerate_mutants(path)[:limit]
    if rerun is not None:  # only the previous run's survivors: tests are only ever added, so the killed stay killed
        survived = {(m["operator"], m["occurrence"]) for m in rerun.get(key, [])}
        for _, mutant in mutants:
            if (mutant.operator, mutant.occurrence) not in survived:
                mutant.outcome = "killed before"
    print(
        f"{key}: {len(mutants)} mutants of {relative}; tests take {seconds:.1f} s; timeout {timeout:.0f} s", flush=True
    )
    started = time.perf_counter()
    for done, (operator, mutant) in enumerate(mutants, 1):
        if done % 25 == 0:
            print(f"  {done}/{len(mutants)} in {time.perf_counter() - started:.0f} s", flush=True)
        if mutant.outcome:
            continue
        mutated = mutate_code(original, operator, mutant.occurrence)
        if mutated is None:
            mutant.outcome = "not applied"
            continue
        changed = [b for a, b in zip(original.splitlines(), mutated.splitlines()) if a != b]
        mutant.after = changed[0] if changed else ""
        mutant.outcome, _ = run_tests(name, mutated, str(path), tests, timeout)
        if mutant.outcome == "passed":
            print(f"  survived {mutant.operator} line {mutant.line}:", flush=True)
            print(f"    - {mutant.before.strip()}\n    + {mutant.after.strip()}", flush=True)
    counted = [m for _, m in mutants if m.outcome in ("passed", "failed", "timeout", "killed before")]
    killed = sum(m.outcome != "passed" for m in counted)
    survivors = [m for m in counted if m.outcome == "passed"]
    return {
        "module": key,
        "file": relative,
        "tests": tests,
        "mutants": len(counted),
        "killed": killed,
        "score": killed / len(counted) if counted else None,
        "seconds": round(time.perf_counter() - started, 1),
        "survivors": [asdict(m) for m in survivors],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", action="append", choices=sorted(MODULES), help="default: every module")
    parser.add_argument("--limit", type=int, help="only the first N mutants of each module (a quick look)")
    parser.add_argument("--timeout-factor", type=float, default=4.0, help="per-mutant timeout / unmutated run time")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument(
        "--survivors-of", help="a previous --json file: run only its survivors (the others count as killed)"
    )
    args = parser.parse_args(argv)
    rerun = None
    if args.survivors_of:
        rerun = {r["module"]: r["survivors"] for r in json.loads(Path(args.survivors_of).read_text(encoding="utf-8"))}
    os.chdir(REPO)
    for module in WARM_IMPORTS:
        try:
            importlib.import_module(module)
        except ImportError:
            pass
    results = []
    for key in args.module or list(MODULES):
        result = mutate_module(key, args.limit, args.timeout_factor, rerun)
        results.append(result)
        print(
            f"{key}: score {result['score']:.1%} ({result['killed']}/{result['mutants']} killed) in "
            f"{result['seconds']:.0f} s",
            flush=True,
        )
    print("\nmodule     mutants  killed  score")
    for r in results:
        print(f"{r['module']:<10} {r['mutants']:>7} {r['killed']:>7}  {r['score']:.1%}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
