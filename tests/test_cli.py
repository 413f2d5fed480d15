"""The ``pda-lease`` command line: JSON in, JSON out, documented exit statuses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pda_lease.cli import main
from pda_lease.conformance import decision_vectors, vector_seed, verification_vectors

ROOT = Path(__file__).resolve().parent.parent


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def write(tmp_path: Path, name: str, document: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return str(path)


def first(kind: str, prefix: str) -> Any:
    vectors = decision_vectors() if kind == "decision" else verification_vectors()
    return next(vector for vector in vectors if vector.id.startswith(prefix))


def test_decide_grant_and_deny(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grant = first("decision", "decide-grant-low")
    status, out, _ = run(["decide", write(tmp_path, "g.json", grant.input)], capsys)
    assert status == 0 and json.loads(out) == grant.expected
    deny = first("decision", "decide-deny-no-score")
    status, out, _ = run(["decide", write(tmp_path, "d.json", deny.to_json())], capsys)
    assert status == 1 and json.loads(out)["reason"] == "NO_SCORE"


def test_verify_valid_and_invalid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    valid = first("verification", "verify-valid")
    status, out, _ = run(["verify", write(tmp_path, "v.json", valid.input)], capsys)
    assert status == 0 and json.loads(out)["result"] == "VALID"
    expired = first("verification", "verify-expired")
    status, out, _ = run(["verify", write(tmp_path, "e.json", expired.input)], capsys)
    assert status == 1 and json.loads(out)["reason"] == "EXPIRED"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"a": 1, "a": 2}', "duplicate JSON object name"),
        ('{"a": NaN}', "NaN"),
        ("{not json", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "too deep"),
    ],
)
def test_unusable_json_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, needle: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    status, out, err = run(["decide", str(path)], capsys)
    assert status == 2 and out == ""
    assert err.startswith("pda-lease: error:") and needle in err


def test_missing_file_and_wrong_shape_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, err = run(["decide", str(tmp_path / "absent.json")], capsys)
    assert status == 2 and "cannot read" in err
    status, _, err = run(["decide", write(tmp_path, "x.json", {"manifest": {}})], capsys)
    assert status == 2 and "authority" in err


def test_conformance_passes_and_names_a_mismatch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["conformance", str(ROOT / "specs" / "vectors")], capsys)
    assert status == 0 and out.strip().endswith("0 failed")
    copy = tmp_path / "vectors"
    shutil.copytree(ROOT / "specs" / "vectors", copy)
    victim = copy / "decide-deny-no-score.json"
    vector = json.loads(victim.read_text(encoding="utf-8"))
    vector["expected"]["reason"] = "BELOW_THRESHOLD"
    victim.write_text(json.dumps(vector), encoding="utf-8")
    status, out, _ = run(["conformance", str(copy)], capsys)
    assert status == 1
    assert "FAIL decide-deny-no-score.json" in out and "1 failed" in out


def test_inspect_readable_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    grant = first("decision", "decide-grant-low")
    status, out, _ = run(["inspect", str(grant.expected["token"])], capsys)
    assert status == 0 and "NOT verified" in out and "task-2026-0001" in out
    status, out, _ = run(["inspect", "--json", str(grant.expected["token"])], capsys)
    view = json.loads(out)
    assert status == 0 and view["claims"]["cti"] == grant.expected["lease_id"]
    status, out, _ = run(["inspect", "d2"], capsys)
    assert status == 1 and json.loads(out)["reason"] == "MALFORMED_CBOR"


def test_keygen_hrc_sign_and_holder_prove_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(["keygen", "--out", str(tmp_path / "k")], capsys)
    assert status == 0
    assert (tmp_path / "k.seed").stat().st_mode & 0o777 == 0o600
    assert json.loads(out)["public_key"] == (tmp_path / "k.pub").read_text().strip()
    status, _, err = run(["keygen", "--out", str(tmp_path / "k")], capsys)
    assert status == 2 and "refusing to overwrite" in err

    # An HRC signed on the command line makes a HIGH manifest grantable.
    grant = first("decision", "decide-grant-high-hrc")
    document = grant.input
    (tmp_path / "hrc.seed").write_text(vector_seed("hrc").hex())
    manifest = write(tmp_path, "m.json", document["manifest"])
    status, out, _ = run(
        [
            "hrc-sign",
            "--key",
            str(tmp_path / "hrc.seed"),
            "--manifest",
            manifest,
            "--epoch",
            document["now"]["epoch"],
            "--ns",
            str(95_000_000_000),
        ],
        capsys,
    )
    assert status == 0 and json.loads(out) == document["hrc_token"]

    status, out, _ = run(["digest", manifest], capsys)
    assert status == 0 and out.strip() == grant.expected["manifest_digest"]

    valid = first("verification", "verify-valid")
    (tmp_path / "holder.seed").write_text(vector_seed("holder").hex())
    status, out, _ = run(
        [
            "holder-prove",
            "--key",
            str(tmp_path / "holder.seed"),
            "--lease-id",
            grant.expected["lease_id"],
            "--challenge",
            valid.input["holder_proof"]["challenge"],
        ],
        capsys,
    )
    assert status == 0 and set(json.loads(out)) == {"challenge", "signature"}
