#!/usr/bin/env python3
"""Atheris target for receipts: ``verify_receipt`` on arbitrary bytes.

A receipt is verified offline by a party that trusts only a key; any other outcome than
a ``VerifiedReceipt`` or ``ReceiptError`` is a crash.

Run through ``fuzz/run.py --target receipt`` (or directly, with libFuzzer flags); the contract
itself lives in ``fuzz/_contract.py`` so that pytest replays the same checks.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["pda_lease"]):
    import _contract


def TestOneInput(data: bytes) -> None:
    _contract.check_receipt(data)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
