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
    governed = out.split("== 20.", 1)[1]  # the governance part (spec §13)
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
    assert re.search(r"conformance: [1-9][0-9]* passed, 0 failed", out)
    assert "pda-lease.audit/" in out and '"ok": true' in out
    assert "replay OK" in out
    assert '"revoked": true' in out and '"ok": false' in out.rsplit("receipt", 1)[-1]
