"""``make demo`` is the project's end-to-end showcase: it must keep running, start to finish.

The script runs under ``set -euo pipefail``, so any step that fails (or a pipe that breaks)
ends it with a non-zero status; the markers below check that each part really ran.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_demo_runs_end_to_end() -> None:
    environment = dict(os.environ)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment['PATH']}"
    environment.pop("PDA_LEASE_STATE", None)
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    for marker in (
        '"result": "ALLOW"',
        '"reason": "HOLDER_PROOF_REPLAYED"',
        '"reason": "REVOKED"',
        '"cause": "explicit"',
        "audit log BROKEN at line 4",
        '"live": 1, "expired": 0',
        '"live": 0, "expired": 1',
    ):
        assert marker in out, marker
    governed, pooled = out.split("== 20.", 1)[1].split("== 26.", 1)  # spec §13, then §14
    for marker in (
        "0 error(s), 0 warning(s)",
        "error CONTRADICTION",
        '"reason": "MODEL_NOT_IN_ROLE"',
        '"reason": "TOOL_NOT_IN_ROLE"',
        '"reason": "APPROVALS_INSUFFICIENT"',
        "GRANT approvals digest",
        "UNKNOWN_REVIEWER",
        "approvals: bob APPROVE, carol APPROVE",
        '"ended": 2',
        "ROLLBACK",
    ):
        assert marker in governed, marker
    assert governed.count("replay OK") == 1
    for marker in (  # every pool's denial, release, sub-lease, safety, report (spec §14)
        "CONCURRENCY_EXCEEDED",
        "CONTEXT_TOO_LARGE",
        "COMPUTE_EXCEEDED",
        "UNITS_EXCEEDED",
        "SPEND_EXCEEDED",
        "REQUESTS_EXCEEDED",
        "CLAMPED",
        '"reason": "ALREADY_RELEASED"',
        '"reason": "CALLS_EXHAUSTED"',
        "PRINCIPAL_COOLDOWN",
        "WORKSPACE_CIRCUIT_OPEN",
        "Daily report for day",
        "PNG signature True",
        "receipt verified",
        "the lease was released",
    ):
        assert marker in pooled, marker
    assert pooled.count("replay OK") == 1
    assert re.search(r"conformance: [1-9][0-9]* passed, 0 failed", out)
    assert "pda-lease.audit/" in out and '"ok": true' in out
    assert "replay OK" in out
    before_governance = out.split("== 20.", 1)[0]
    assert '"revoked": true' in before_governance
    assert '"ok": false' in before_governance.rsplit("receipt", 1)[-1]
