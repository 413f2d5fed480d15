"""Benchmark inputs that take minutes to build, kept between runs and checked before reuse.

Why: a state directory with a million revocations, or an audit log of a million decisions,
takes minutes to write through the public API, far longer than the figures measured on it.
``bench_revocations.py`` and ``bench_replay.py`` therefore build each input once into a cache
directory (default ``~/.cache/pda-lease-bench/``) and reuse it while it is still the same
input: the cache entry is named by what it holds, a content version string that a script bumps
whenever the way it builds the input changes, and a count, and it is reused only if its
description file matches and the script's own check (the audit chain, verified end to end)
passes. Anything else is deleted and rebuilt; a build is written under a temporary name and
renamed into place only once finished, so an interrupted build is never reused.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DEFAULT_CACHE_DIR = Path("~/.cache/pda-lease-bench").expanduser()
DESCRIPTION_FILE = "cached.json"

# Builds the input into the (empty) directory given; returns facts to keep with it.
Builder = Callable[[Path], dict[str, Any]]
# Checks a cached input: None if it may be reused, else why not.
Checker = Callable[[Path, dict[str, Any]], str | None]


def progress(message: str) -> None:
    """Progress of a long build or check, on stderr (stdout is for results)."""
    print(message, file=sys.stderr, flush=True)


def cached_input(
    cache_dir: Path,
    name: str,
    version: str,
    count: int,
    build: Builder,
    check: Checker,
    *,
    rebuild: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """The directory holding input ``name`` of ``count`` items, built now or reused.

    Returns the directory and its description: the builder's facts plus ``build_seconds``,
    ``built_at``, whether it was ``reused`` and, if so, ``check_seconds``.
    """
    entry = cache_dir / f"{name}-{version}-{count}"
    if entry.exists() and not rebuild:
        description, why = _checked(entry, name, version, count, check)
        if why is None:
            return entry, description
        progress(f"cache: {entry} is not reusable ({why}); rebuilding")
    if entry.exists():
        shutil.rmtree(entry)
    cache_dir.mkdir(parents=True, exist_ok=True)
    building = cache_dir / f".{entry.name}.building-{os.getpid()}"
    if building.exists():
        shutil.rmtree(building)
    building.mkdir()
    progress(f"cache: building {entry.name} (this is done once and then reused)")
    started = time.perf_counter()
    try:
        facts = build(building)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    description = {
        **facts,
        "name": name,
        "version": version,
        "count": count,
        "build_seconds": round(time.perf_counter() - started, 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (building / DESCRIPTION_FILE).write_text(
        json.dumps(description, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    building.rename(entry)
    progress(f"cache: built {entry} in {description['build_seconds']} s")
    return entry, {**description, "reused": False}


def _checked(
    entry: Path, name: str, version: str, count: int, check: Checker
) -> tuple[dict[str, Any], str | None]:
    """A cache entry's description and why it may not be reused (None if it may).

    The description gains ``reused`` and ``check_seconds`` (how long ``check`` took).
    """
    try:
        description = json.loads((entry / DESCRIPTION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, f"no readable {DESCRIPTION_FILE}: {exc}"
    if not isinstance(description, dict) or (
        description.get("name"),
        description.get("version"),
        description.get("count"),
    ) != (name, version, count):
        return {}, f"{DESCRIPTION_FILE} describes another input"
    progress(f"cache: checking {entry} before reusing it")
    started = time.perf_counter()
    why = check(entry, description)
    seconds = round(time.perf_counter() - started, 1)
    if why is None:
        progress(f"cache: {entry} checked in {seconds} s; reusing it")
    return {**description, "reused": True, "check_seconds": seconds}, why


def file_sizes(directory: Path) -> dict[str, int]:
    """Bytes of each regular file directly in ``directory`` (the description file excepted)."""
    return {
        path.name: path.stat().st_size
        for path in sorted(directory.iterdir())
        if path.is_file() and path.name != DESCRIPTION_FILE
    }


def mib(size: int) -> str:
    return f"{size / (1 << 20):,.1f} MiB"


def run_writers(target: Callable[..., None], argument_lists: list[tuple[Any, ...]]) -> None:
    """Run ``target(*arguments)`` for each argument list, each in its own spawned process.

    The inputs are built by several writer processes sharing one state directory (as the
    manager allows); all are started, then all joined, and any failure stops the build.
    """
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=target, args=arguments) for arguments in argument_lists]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    if any(process.exitcode != 0 for process in processes):
        raise SystemExit("a writer process failed; see above")
