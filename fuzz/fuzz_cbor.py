#!/usr/bin/env python3
"""Atheris target for the strict CBOR decoder: ``cbor.decode`` on arbitrary bytes.

Every byte that is signed or verified goes through this decoder; the contract is a value or
``CborError``, and a decoded item re-encodes to exactly its bytes.

Run through ``fuzz/run.py --target cbor`` (or directly, with libFuzzer flags); the contract
itself lives in ``fuzz/_contract.py`` so that pytest replays the same checks.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["pda_lease"]):
    import _contract


def TestOneInput(data: bytes) -> None:
    _contract.check_cbor(data)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
