"""Mutation testing of the pure kernel (``src/pda_lease/kernel/``) with mutmut 3.

``make mutation`` runs this script. mutmut reads its configuration from ``[tool.mutmut]`` in
the ``pyproject.toml`` of its working directory and copies the tree into ``mutants/`` there,
so the script builds a scratch copy of the project in ``.mutation/`` (git-ignored) and runs
mutmut inside it; the repository itself is never touched. The scratch copy holds:

* ``src/`` (all of it: the tests import the shell too; only the kernel is mutated),
* ``specs/`` and the spec (the vectors, catalog and §5 tables the tests read),
* the kernel's tests plus their helpers (``KERNEL_TESTS`` below),
* this repository's ``pyproject.toml`` with a generated ``[tool.mutmut]`` section.

The copy's ``tests/conftest.py`` gets one more Hypothesis profile, ``mutation``: the ``quick``
profile (60 examples, no deadline) with a fixed seed and no example database, so a run is
reproducible and one mutant's counterexample cannot leak into the next mutant's run.

Score: killed / total, where *killed* counts mutmut's ``killed`` and ``timeout`` verdicts (a
mutant that makes the tests loop forever is detected), and every other verdict (``survived``,
``no tests``, ``suspicious``, ``segfault``, ``skipped``, ``not checked``) counts as *not*
killed. Mutants listed in docs/MUTATION.md as equivalent are reported separately; the score
line also shows the figure with them excluded from the total.

Usage::

    python scripts/mutation.py                       # whole kernel, fresh run
    python scripts/mutation.py decide token          # only these kernel modules
    python scripts/mutation.py --keep decide         # reuse .mutation/ (mutmut's cache)
    python scripts/mutation.py --min-score 95        # exit 1 below this score (percent)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
KERNEL = ROOT / "src" / "pda_lease" / "kernel"
SPEC = "LEASE_MANAGER_SPEC_v1.0.md"
EQUIVALENTS_DOC = ROOT / "docs" / "MUTATION.md"

# The fast kernel tests; the helpers they import come along.
KERNEL_TESTS = (
    "test_vectors.py",
    "test_differential.py",
    "test_fast_paths.py",
    "test_cbor.py",
    "test_token_tamper.py",
    "test_api.py",
    "test_properties.py",
    "test_crypto_vectors.py",
    "test_mutation_kills.py",
    "test_governance.py",
    "test_mutation_tables.py",
    "test_pools_reference.py",
)
TEST_HELPERS = ("conftest.py", "reference_model.py", "strategies.py")

MUTATION_PROFILE = """\
# Added by scripts/mutation.py in its scratch copy only: the quick profile, reproducible.
settings.register_profile(
    "mutation", max_examples=60, deadline=None, derandomize=True, database=None
)
"""

# Lines mutmut leaves alone: the text of an embedder-misuse exception. The spec fixes that
# misuse raises UsageError / PolicyError (Appendix A), not the words; the conditions that
# decide whether to raise are still mutated. See docs/MUTATION.md.
NOT_MUTATED = (r"^\s*raise (UsageError|PolicyError|(cbor\.)?EncodeError)\(",)

KILLED = frozenset({"killed", "timeout"})
STATUS_BY_EXIT_CODE = {
    1: "killed",
    3: "killed",
    0: "survived",
    5: "no tests",
    2: "check was interrupted by user",
    None: "not checked",
    33: "no tests",
    34: "skipped",
    35: "suspicious",
    36: "timeout",
    37: "caught by type check",
    -24: "timeout",
    24: "timeout",
    152: "timeout",
    255: "timeout",
    -11: "segfault",
    -9: "segfault",
}


def kernel_modules() -> list[str]:
    return sorted(p.stem for p in KERNEL.glob("*.py"))


def toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def build_workdir(modules: list[str], keep: bool) -> None:
    if WORK.exists() and not keep:
        shutil.rmtree(WORK)
    WORK.mkdir(exist_ok=True)
    # With --keep, mutmut's results (mutants/**/*.meta) stay; mutmut re-copies the tests.
    for stale in (WORK / "src", WORK / "tests", WORK / "specs"):
        shutil.rmtree(stale, ignore_errors=True)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "src", WORK / "src", ignore=junk)
    shutil.copytree(ROOT / "specs", WORK / "specs", ignore=junk)
    shutil.copy2(ROOT / SPEC, WORK / SPEC)
    (WORK / "tests").mkdir()
    tests = [t for t in KERNEL_TESTS if (ROOT / "tests" / t).exists()]
    for name in (*TEST_HELPERS, *tests):
        shutil.copy2(ROOT / "tests" / name, WORK / "tests" / name)
    conftest = WORK / "tests" / "conftest.py"
    text = conftest.read_text(encoding="utf-8")
    at = text.rfind("settings.load_profile(")
    if at < 0:
        raise SystemExit("tests/conftest.py no longer calls settings.load_profile")
    conftest.write_text(text[:at] + MUTATION_PROFILE + text[at:], encoding="utf-8")
    only = [f"src/pda_lease/kernel/{m}.py" for m in modules]
    config = (
        "\n\n# ------------------------------------------- generated by scripts/mutation.py ---\n"
        "[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"only_mutate = {toml_list(only)}\n"
        f'also_copy = ["specs", "{SPEC}"]\n'
        f"pytest_add_cli_args_test_selection = {toml_list([f'tests/{t}' for t in tests])}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider"]\n'
        f"do_not_mutate_patterns = {toml_list(list(NOT_MUTATED))}\n"
        "use_git_change_detection = false\n"
    )
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (WORK / "pyproject.toml").write_text(text + config, encoding="utf-8")


def equivalent_mutants() -> set[str]:
    """Mutant names listed as equivalent in docs/MUTATION.md (lines ``- `name` ...``)."""
    if not EQUIVALENTS_DOC.exists():
        return set()
    text = EQUIVALENTS_DOC.read_text(encoding="utf-8")
    return set(re.findall(r"^\s*[-*] `(pda_lease\.kernel\.[^`]+__mutmut_\d+)`", text, re.M))


def load_results(modules: list[str]) -> dict[str, dict[str, str]]:
    """Module -> mutant name -> status, from mutmut's per-file ``.meta`` files."""
    results: dict[str, dict[str, str]] = {}
    for module in modules:
        meta = WORK / "mutants" / "src" / "pda_lease" / "kernel" / f"{module}.py.meta"
        if not meta.exists():
            continue
        data = json.loads(meta.read_text(encoding="utf-8"))
        codes: dict[str, int | None] = data.get("exit_code_by_key", {})
        results[module] = {
            name: STATUS_BY_EXIT_CODE.get(code, "suspicious") for name, code in codes.items()
        }
    return results


def report(results: dict[str, dict[str, str]], seconds: float) -> float:
    equivalents = equivalent_mutants()
    total = killed = 0
    survivors: list[tuple[str, str]] = []
    print()
    print(f"{'module':<10} {'total':>6} {'killed':>7} {'timeout':>8} {'other':>6} {'score':>7}")
    pending = 0
    for module, all_statuses in sorted(results.items()):
        # An interrupted run leaves mutants "not checked": report them, score the rest.
        statuses = {m: s for m, s in all_statuses.items() if s != "not checked"}
        pending += len(all_statuses) - len(statuses)
        counts = Counter(statuses.values())
        module_killed = sum(counts[s] for s in KILLED)
        n = len(statuses)
        total += n
        killed += module_killed
        survivors += [(m, s) for m, s in sorted(statuses.items()) if s not in KILLED]
        score = 100.0 * module_killed / n if n else 100.0
        print(
            f"{module:<10} {n:>6} {counts['killed']:>7} {counts['timeout']:>8} "
            f"{n - module_killed:>6} {score:>6.1f}%"
        )
    print()
    if pending:
        print(f"{pending} mutants not checked yet (interrupted run): not in the figures below")
    listed = [(m, s) for m, s in survivors if m in equivalents]
    unexplained = [(m, s) for m, s in survivors if m not in equivalents]
    for name, status in unexplained:
        print(f"NOT KILLED  {status:<12} {name}")
    score = 100.0 * killed / total if total else 100.0
    effective = total - len(listed)
    adjusted = 100.0 * killed / effective if effective else 100.0
    print(
        f"\nmutation score: {killed}/{total} killed = {score:.2f}% "
        f"(timeouts count as killed; suspicious, segfault and no-tests do not)"
    )
    print(
        f"{len(listed)} not killed are documented equivalent in docs/MUTATION.md; "
        f"excluding them: {killed}/{effective} = {adjusted:.2f}%; "
        f"{len(unexplained)} unexplained survivors; run took {seconds:.0f}s"
    )
    return score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("modules", nargs="*", help="kernel modules to mutate (default: all)")
    parser.add_argument("--keep", action="store_true", help="reuse .mutation/ and its results")
    parser.add_argument("--report-only", action="store_true", help="print the last results")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--min-score", type=float, default=0.0, help="fail below this percent")
    args = parser.parse_args(argv)
    available = kernel_modules()
    modules = args.modules or available
    unknown = sorted(set(modules) - set(available))
    if unknown:
        parser.error(f"not kernel modules: {', '.join(unknown)} (have: {', '.join(available)})")
    started = time.monotonic()
    if not args.report_only:
        build_workdir(modules, keep=args.keep)
        env = dict(os.environ, HYPOTHESIS_PROFILE="mutation", PYTHONDONTWRITEBYTECODE="1")
        command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)]
        completed = subprocess.run(command, cwd=WORK, env=env, check=False)
        if completed.returncode != 0:
            print(f"mutmut run failed with exit status {completed.returncode}", file=sys.stderr)
            return 2
    results = load_results(modules)
    if not results:
        print("no mutation results: run without --report-only first", file=sys.stderr)
        return 2
    score = report(results, time.monotonic() - started)
    return 1 if score < args.min_score else 0


if __name__ == "__main__":
    sys.exit(main())
