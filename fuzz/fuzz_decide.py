#!/usr/bin/env python3
"""Atheris target for decisions: ``parse_json`` then ``Authority.decide`` on arbitrary bytes.

``decide`` promises Grant or Deny and never raises on manifest, snapshot or HRC content
(spec §4.1, §5); the bytes are tried as each of the three.

Run through ``fuzz/run.py --target decide`` (or directly, with libFuzzer flags); the contract
itself lives in ``fuzz/_contract.py`` so that pytest replays the same checks.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["pda_lease"]):
    import _contract


def TestOneInput(data: bytes) -> None:
    _contract.check_decide(data)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
