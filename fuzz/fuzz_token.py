#!/usr/bin/env python3
"""Atheris target for lease tokens: ``decode_unverified``, ``open_token``, ``verify_token``.

A token is the one input an executor receives from outside; the contract is a value or
``InvalidLease`` with a catalogued reason, never another exception.

Run through ``fuzz/run.py --target token`` (or directly, with libFuzzer flags); the contract
itself lives in ``fuzz/_contract.py`` so that pytest replays the same checks.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["pda_lease"]):
    import _contract


def TestOneInput(data: bytes) -> None:
    _contract.check_token(data)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
