#!/usr/bin/env python3
"""Atheris target for the input parsers: snapshot, HRC token and manifest from any JSON.

The parsers are the kernel's first contact with documents; each returns its value or a
``Failure`` with a reason and a field path.

Run through ``fuzz/run.py --target inputs`` (or directly, with libFuzzer flags); the contract
itself lives in ``fuzz/_contract.py`` so that pytest replays the same checks.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["pda_lease"]):
    import _contract


def TestOneInput(data: bytes) -> None:
    _contract.check_inputs(data)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
