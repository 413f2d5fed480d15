"""Run the atheris targets for a fixed time each and fail if any of them crashes.

``make fuzz`` (long runs) and ``make test`` (a few seconds per target) both call this script.
Each target runs in its own process, one after another (the machine's CPUs are shared), on a
copy of its committed corpus in a temporary directory, so a run never modifies the repository.
Every run is bounded: ``-rss_limit_mb`` caps memory, ``-timeout`` turns a hang on one input into
a crash, and ``-max_total_time`` caps the run. A crash prints the target's output, the crashing
input in hex and where its file was kept (outside the repository): copy it to
``fuzz/regressions/<target>/`` so that ``tests/test_fuzz_regressions.py`` replays it.

    .venv/bin/python fuzz/run.py --seconds 60 [--target token ...] [--merge]

``--merge`` folds the inputs that found new coverage back into ``fuzz/corpus/<target>/``
(libFuzzer ``-merge=1``, which keeps a minimal set); use it deliberately, then review the size.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
TARGETS = (
    "token",
    "decide",
    "inputs",
    "receipt",
    "checkpoint",
    "audit",
    "cbor",
    "governed",
    "bundle",
    "policy_yaml",
    "pools",
)
_STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.MULTILINE)
_COVERAGE = re.compile(r"^#\d+\s+\w+\s+cov: (\d+) ft: (\d+)", re.MULTILINE)


def _libfuzzer_flags(args: argparse.Namespace, artifacts: Path) -> list[str]:
    return [
        f"-max_total_time={args.seconds}",
        f"-rss_limit_mb={args.rss_limit_mb}",
        f"-timeout={args.timeout}",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
    ]


def _report_crash(name: str, output: str, artifacts: Path) -> None:
    print(f"--- {name}: output tail ---", file=sys.stderr)
    print("\n".join(output.splitlines()[-60:]), file=sys.stderr)
    for artifact in sorted(artifacts.iterdir()):
        data = artifact.read_bytes()
        print(f"--- {name}: {artifact} ({len(data)} bytes) ---", file=sys.stderr)
        print(data.hex(), file=sys.stderr)


def run_target(name: str, args: argparse.Namespace, workdir: Path) -> bool:
    """Fuzz one target on a copy of its corpus; True if it ran clean."""
    corpus = workdir / name / "corpus"
    artifacts = workdir / name / "artifacts"
    shutil.copytree(args.corpus / name, corpus)
    artifacts.mkdir()
    seeds = len(os.listdir(corpus))
    command = [sys.executable, str(HERE / f"fuzz_{name}.py"), str(corpus)]
    command += _libfuzzer_flags(args, artifacts)
    started = time.monotonic()
    # The wall-clock guard only matters if libFuzzer itself wedges: max_total_time plus the
    # time to load and replay the corpus, plus one -timeout.
    guard = args.seconds + 10 * args.timeout + 60
    try:
        completed = subprocess.run(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=guard,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        captured = exc.stdout or b""
        output = captured.decode("utf-8", "replace") if isinstance(captured, bytes) else captured
        print(f"{name}: FAILED, still running after {guard} s", file=sys.stderr)
        _report_crash(name, output, artifacts)
        return False
    elapsed = time.monotonic() - started
    output = completed.stdout
    stats = dict(_STAT.findall(output))
    coverage = _COVERAGE.findall(output)
    cov, ft = coverage[-1] if coverage else ("?", "?")
    crashed = completed.returncode != 0 or any(artifacts.iterdir())
    status = "CRASH" if crashed else "ok"
    print(
        f"{name:<10} {status:<5} {elapsed:5.1f} s  "
        f"execs {stats.get('number_of_executed_units', '?'):>8}  "
        f"exec/s {stats.get('average_exec_per_sec', '?'):>6}  "
        f"cov {cov:>5} ft {ft:>5}  seeds {seeds:>4}  new {stats.get('new_units_added', '?'):>4}  "
        f"rss {stats.get('peak_rss_mb', '?')} MB",
        flush=True,
    )
    if crashed:
        _report_crash(name, output, artifacts)
        return False
    if args.merge:
        merge = [sys.executable, str(HERE / f"fuzz_{name}.py"), "-merge=1"]
        merge += [str(args.corpus / name), str(corpus)]
        merge += [f"-rss_limit_mb={args.rss_limit_mb}", f"-timeout={args.timeout}"]
        # libFuzzer's merge re-runs the target as ``argv[0]`` through the shell: the targets are
        # executable with a ``python3`` shebang, so put this interpreter's directory first.
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), env.get("PATH", "")))
        subprocess.run(merge, capture_output=True, check=True, timeout=guard, env=env)
        print(f"{name:<10} merged: {len(os.listdir(args.corpus / name))} files in the corpus")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds",
        type=int,
        default=int(os.environ.get("FUZZ_SECONDS", "60")),
        help="fuzzing time per target (default: $FUZZ_SECONDS or 60)",
    )
    parser.add_argument("--target", action="append", choices=TARGETS, help="repeatable")
    parser.add_argument(
        "--corpus", type=Path, default=CORPUS, help="corpus root (<root>/<target>/ is copied)"
    )
    parser.add_argument("--rss-limit-mb", type=int, default=512)
    parser.add_argument("--timeout", type=int, default=5, help="seconds per input")
    parser.add_argument("--merge", action="store_true", help="fold new coverage into the corpus")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.seconds < 1:
        parser.error("--seconds must be at least 1")
    workdir = Path(tempfile.mkdtemp(prefix="pda-lease-fuzz-"))
    failed = []
    try:
        for name in args.target or TARGETS:
            if not run_target(name, args, workdir):
                failed.append(name)
    finally:
        if args.keep or failed:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir)
    if failed:
        print(f"fuzz: crashes in {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
