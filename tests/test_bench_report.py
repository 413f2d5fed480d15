"""benchmarks/report.py: the wording of targets and the rewrite between its markers.

Why: ``BENCHMARKS.md`` is read by people deciding whether a target is met, and its
hand-written analysis lives around the generated part; a wrong "met" or a lost paragraph
would go unnoticed. These tests run the report's pure functions on a tiny hand-made results
document (no benchmark is run and nothing is timed); the chart is drawn only where matplotlib
is installed.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import report


def target(
    value: float, target: float | None, goal: str = "<=", label: str = "a / b"
) -> dict[str, Any]:
    met = None if target is None else (value <= target if goal == "<=" else value >= target)
    return {
        "id": label,
        "label": label,
        "value": value,
        "unit": "x",
        "target": target,
        "goal": goal,
        "met": met,
        "numerator": "a",
        "denominator": "b",
    }


def document(suite: str = "kernel") -> dict[str, Any]:
    return {
        "suite": suite,
        "generated": "2026-11-23T12:00:00Z",
        "command": "python benchmarks/bench_kernel.py --seconds 1",
        "machine": {"nproc": "2", "cpu": "Test CPU"},
        "measurements": [
            {
                "id": "a",
                "label": "decide GRANT",
                "unit": "us/op",
                "median": 187.0,
                "min": 180.25,
                "max": 1234.5,
                "rounds": 3,
                "notes": "",
            },
            {
                "id": "b",
                "label": "crypto_sign",
                "unit": "us/op",
                "median": 100.0,
                "min": 99.0,
                "max": 101.0,
                "rounds": 3,
                "notes": "",
            },
        ],
        "targets": [
            target(1.87, 1.3, label="decide / sign"),
            target(1.12, 1.2, label="open / verify"),
            target(0.5, None, label="cold / warm"),
        ],
        "notes": ["a note"],
    }


def cells(line: str) -> list[str]:
    """The cells of one Markdown table line, stripped."""
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_a_miss_says_by_how_much() -> None:
    assert report.verdict(target(1.87, 1.3)) == "1.87x vs ≤1.3x: missed by 44%"
    assert report.result_text(target(1.87, 1.3)) == "missed by 44%"


def test_a_met_target_says_met() -> None:
    assert report.verdict(target(1.12, 1.2)) == "1.12x vs ≤1.2x: met"
    assert report.verdict(target(1.2, 1.2)) == "1.20x vs ≤1.2x: met"


def test_an_at_least_goal_misses_below_its_target() -> None:
    assert report.verdict(target(0.8, 1.0, goal=">=")) == "0.80x vs ≥1x: missed by 20%"
    assert report.verdict(target(1.5, 1.0, goal=">=")) == "1.50x vs ≥1x: met"


def test_a_tiny_miss_is_not_rounded_to_zero() -> None:
    assert report.result_text(target(1.301, 1.3)) == "missed by <1%"


def test_a_figure_without_target_has_no_verdict() -> None:
    assert report.verdict(target(0.5, None)) == "0.50x"
    assert report.result_text(target(0.5, None)) == "no target"


def test_the_targets_table_lists_only_targeted_rows_with_their_result() -> None:
    lines = report.targets_table([document()])
    assert [cells(line) for line in lines[2:]] == [
        ["kernel", "decide / sign", "1.87x", "≤1.3x", "missed by 44%"],
        ["kernel", "open / verify", "1.12x", "≤1.2x", "met"],
    ]
    assert cells(lines[0]) == ["suite", "ratio", "measured", "target", "result"]


def test_the_measurement_table_has_fixed_formats() -> None:
    lines = report.measurement_table(document())
    assert cells(lines[2]) == ["decide GRANT", "187.0", "180.2", "1,234.5", "us/op", "3"]


def test_the_generated_part_is_deterministic_and_sorted_by_suite() -> None:
    documents = [document("manager"), document("kernel")]
    first = report.generated_part(documents, "ratios.png")
    second = report.generated_part(copy.deepcopy(documents[::-1]), "ratios.png")
    assert first == second
    assert first.index("Suite `kernel`") < first.index("Suite `manager`")
    assert first.startswith(report.BEGIN_MARKER) and first.rstrip().endswith(report.END_MARKER)
    assert "![" in first and "(ratios.png)" in first


def test_the_rewrite_keeps_everything_outside_the_markers() -> None:
    before = "# Title\n\nHand-written analysis.\n\n"
    after = "\n## Older run\n\nKept as is.\n"
    old_part = f"{report.BEGIN_MARKER}\nold figures\n{report.END_MARKER}"
    text = before + old_part + after
    generated = report.generated_part([document()], None)
    rewritten = report.replace_generated(text, generated)
    assert rewritten.startswith(before)
    assert rewritten.endswith(after)
    assert "old figures" not in rewritten
    assert "decide / sign" in rewritten
    assert report.replace_generated(rewritten, generated) == rewritten


def test_the_markers_are_appended_when_missing() -> None:
    text = "# Title\n\nHand-written analysis.\n"
    generated = report.generated_part([document()], None)
    rewritten = report.replace_generated(text, generated)
    assert rewritten == text + "\n" + generated
    assert report.replace_generated(rewritten, generated) == rewritten


def test_a_lone_marker_is_refused() -> None:
    with pytest.raises(ValueError, match="marker"):
        report.replace_generated(f"# Title\n{report.BEGIN_MARKER}\n", "x")
    with pytest.raises(ValueError, match="marker"):
        report.replace_generated(f"{report.END_MARKER}\n{report.BEGIN_MARKER}\n", "x")


def test_the_chart_is_drawn_when_matplotlib_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    chart = tmp_path / "ratios.png"
    assert report.draw_ratio_chart([document()], chart)
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert not report.draw_ratio_chart([document("empty") | {"targets": []}], tmp_path / "x.png")
