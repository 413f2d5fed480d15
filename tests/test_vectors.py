"""Golden conformance vectors: regenerated from fixed keys and diffed; catalog vs spec text.

The vectors in specs/vectors are the contract a second implementation must meet. This module
checks that (1) regenerating them from the fixed seeds gives byte-identical files, (2) this
implementation passes every one, (3) they cover every reason of the closed catalog, and (4) the
catalog in code, ``specs/error_catalog.json`` and the spec's own §5 and §13.9 tables say the
same words.
The reference model (tests/test_differential.py) is the independent second path for each vector.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pda_lease import CATALOG
from pda_lease.conformance import all_vectors, run_vector, vector_files
from pda_lease.kernel.catalog import MANAGER_REASONS

ROOT = Path(__file__).resolve().parent.parent
VECTOR_DIR = ROOT / "specs" / "vectors"
SPEC = ROOT / "LEASE_MANAGER_SPEC_v1.0.md"


def committed() -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8") for path in VECTOR_DIR.glob("*.json")}


def test_regenerated_vectors_are_identical_to_committed() -> None:
    regenerated = vector_files(all_vectors())
    on_disk = committed()
    assert sorted(regenerated) == sorted(on_disk), "vector set differs: regenerate and review"
    changed = [name for name in regenerated if regenerated[name] != on_disk[name]]
    assert changed == [], f"regenerated vectors differ from the committed ones: {changed}"


@pytest.mark.parametrize("name", sorted(committed()))
def test_committed_vector_passes(name: str) -> None:
    vector = json.loads((VECTOR_DIR / name).read_text(encoding="utf-8"))
    assert set(vector) == {"id", "description", "kind", "input", "expected"}
    assert vector["id"] + ".json" == name
    assert run_vector(vector) == vector["expected"]


def test_vectors_cover_every_reason_of_the_catalog() -> None:
    seen = set()
    for text in committed().values():
        expected = json.loads(text)["expected"]
        if "code" in expected:
            seen.add((expected["code"], expected["reason"]))
    catalog = {
        (str(code), reason)
        for code, reasons in CATALOG.items()
        for reason in reasons
        if (code, reason) not in MANAGER_REASONS
    }
    assert catalog - seen == set()
    assert seen - catalog == set()


def test_vectors_cover_each_outcome_kind() -> None:
    outcomes = set()
    for text in committed().values():
        expected = json.loads(text)["expected"]
        outcomes.add(expected.get("decision") or expected.get("result") or expected["standing"])
    assert outcomes == {"GRANT", "DENY", "VALID", "INVALID", "ACTIVE", "ENDED"}


def _spec_catalog() -> dict[str, dict[str, dict[str, str]]]:
    """Parse spec §5: per code, per reason, the message and recommendation as written."""
    text = SPEC.read_text(encoding="utf-8")
    section = text.split("## 5. The closed error catalog", 1)[1].split("\n## 6.", 1)[0]
    result: dict[str, dict[str, dict[str, str]]] = {}
    for block in re.split(r"\n### 5\.\d+ ", section)[1:]:
        code = re.match(r"`([A-Z_]+)`", block)
        assert code, block[:80]
        shared = re.search(r'^Recommendation for [^:]*:\s*"(.+?)"', block, re.S | re.M)
        common = " ".join(shared.group(1).split()) if shared else ""
        rows: dict[str, dict[str, str]] = {}
        for line in block.splitlines():
            cells = re.findall(r"`([^`]*)`", line)
            if not line.startswith("| `") or not cells:
                continue
            reason, message = cells[0], cells[1]
            rest = cells[2] if len(cells) > 2 else common
            rows[reason] = {"message": message, "recommendation": rest}
        result[code.group(1)] = rows
    # The governance categories (§13.9): each starts with "`CODE` — " and has its own table.
    governance = text.split("### 13.9 Catalog additions", 1)[1].split("\n### 13.10", 1)[0]
    for block in re.split(r"\n(?=`[A-Z_]+` — )", governance)[1:]:
        code = re.match(r"`([A-Z_]+)`", block)
        assert code, block[:80]
        rows = {}
        for line in block.splitlines():
            cells = re.findall(r"`([^`]*)`", line)
            if line.startswith("| `") and len(cells) == 3:
                rows[cells[0]] = {"message": cells[1], "recommendation": cells[2]}
        result[code.group(1)] = rows
    # The pool and sub-lease categories (§14.5), and three more LEASE_REVOKED reasons.
    pools = text.split("### 14.5 Catalog additions", 1)[1].split("\n### 14.6", 1)[0]
    for block in re.split(r"\n(?=`[A-Z_]+` — )", pools)[1:]:
        code = re.match(r"`([A-Z_]+)`", block)
        assert code, block[:80]
        rows = result.setdefault(code.group(1), {})
        for line in block.splitlines():
            cells = re.findall(r"`([^`]*)`", line)
            if line.startswith("| `") and len(cells) == 3:
                rows[cells[0]] = {"message": cells[1], "recommendation": cells[2]}
    return result


def test_catalog_matches_the_spec_tables() -> None:
    spec = _spec_catalog()
    code_table = {
        str(code): {
            reason: {"message": entry.message, "recommendation": entry.recommendation}
            for reason, entry in reasons.items()
        }
        for code, reasons in CATALOG.items()
    }
    assert spec == code_table


def test_catalog_json_matches_code() -> None:
    document: dict[str, Any] = json.loads(
        (ROOT / "specs" / "error_catalog.json").read_text(encoding="utf-8")
    )
    assert document["version"] == "1.0"
    assert document["codes"] == {
        str(code): {
            reason: {"message": entry.message, "recommendation": entry.recommendation}
            for reason, entry in reasons.items()
        }
        for code, reasons in CATALOG.items()
    }
