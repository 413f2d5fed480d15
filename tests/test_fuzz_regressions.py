"""Replay every fuzz corpus file and every found crash through the fuzzing contract, in pytest.

The atheris targets (``fuzz/fuzz_*.py``) need an instrumented interpreter and run for a fixed
time; this file runs the same contract functions (``fuzz/_contract.py``, imported by path) on
the committed inputs in plain pytest, so ``make test`` catches a regression of any crash the
fuzzer once found, and a contract change that the corpus already contradicts, without atheris.
A regression whose fix is still pending is listed in ``PENDING`` and expected to fail (strict).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

FUZZ = Path(__file__).resolve().parent.parent / "fuzz"


def _load_contract() -> dict[str, Callable[[bytes], None]]:
    spec = importlib.util.spec_from_file_location("_contract", FUZZ / "_contract.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("_contract", module)
    spec.loader.exec_module(module)
    targets: dict[str, Callable[[bytes], None]] = module.TARGETS
    return targets


TARGETS = _load_contract()

# Regression files (``<target>/<file name>``) whose fix in src/ is pending: why, and the
# exception they still raise (any other failure is a real one).
PENDING: dict[str, tuple[str, type[BaseException]]] = {}


def _regressions() -> list[object]:
    cases: list[object] = []
    for path in sorted((FUZZ / "regressions").glob("*/*")):
        target = path.parent.name
        if not path.is_file() or path.name.startswith("."):
            continue
        case_id = f"{target}/{path.name}"
        marks = []
        if case_id in PENDING:
            reason, raises = PENDING[case_id]
            marks.append(pytest.mark.xfail(strict=True, reason=reason, raises=raises))
        cases.append(pytest.param(target, path, id=case_id, marks=marks))
    return cases


def test_every_target_has_a_corpus() -> None:
    assert sorted(TARGETS) == sorted(p.name for p in (FUZZ / "corpus").iterdir() if p.is_dir())
    for target in TARGETS:
        assert any((FUZZ / "corpus" / target).iterdir()), f"empty corpus for {target}"


@pytest.mark.parametrize(("target", "path"), _regressions())
def test_regression(target: str, path: Path) -> None:
    TARGETS[target](path.read_bytes())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_corpus(target: str) -> None:
    """Every corpus input of ``target`` keeps the contract (one test per target: the corpus
    grows by merges, and a failure names its file)."""
    for path in sorted((FUZZ / "corpus" / target).iterdir()):
        try:
            TARGETS[target](path.read_bytes())
        except Exception as exc:
            raise AssertionError(f"{path.relative_to(FUZZ)} breaks the contract") from exc
