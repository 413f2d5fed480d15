#!/usr/bin/env python3
"""Atheris target for audit lines: ``check_line`` on arbitrary bytes.

Recovery and ``audit verify`` read lines from a file anyone with disk access can edit; the
contract is an ``AuditEntry`` or ``AuditProblem``, and only canonical lines pass.

Run through ``fuzz/run.py --target audit`` (or directly, with libFuzzer flags); the contract
itself lives in ``fuzz/_contract.py`` so that pytest replays the same checks.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["pda_lease"]):
    import _contract


def TestOneInput(data: bytes) -> None:
    _contract.check_audit(data)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
