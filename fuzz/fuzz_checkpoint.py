#!/usr/bin/env python3
"""Atheris target for signed notes: ``open_note``, ``open_checkpoint``, ``Checkpoint.parse``.

Notes come from other logs and witnesses; the contract is a value or ``NoteError``, and
``Checkpoint.parse`` must be the exact inverse of ``to_text``.

Run through ``fuzz/run.py --target checkpoint`` (or directly, with libFuzzer flags); the contract
itself lives in ``fuzz/_contract.py`` so that pytest replays the same checks.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["pda_lease"]):
    import _contract


def TestOneInput(data: bytes) -> None:
    _contract.check_checkpoint(data)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
