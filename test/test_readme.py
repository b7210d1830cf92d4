"""The README documents what exists: every parameter, make target and example answer."""

from __future__ import annotations

import re
from pathlib import Path

from ros2_llm_controller.core.config import PARAMS
from ros2_llm_controller.core.parser import parse_action

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_parameter_is_in_the_readme_table_with_its_default():
    for p in PARAMS:
        row = next((line for line in README.splitlines() if line.startswith(f"| `{p.name}` |")), None)
        assert row is not None, f"{p.name} missing from the README's parameter table"
        if isinstance(p.default, (int, float)) and not isinstance(p.default, bool):
            assert f"`{p.default}`" in row, f"{p.name}: README default differs from {p.default}"


def test_make_targets_named_in_the_readme_exist():
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
    for name in set(re.findall(r"\bmake ([a-z][\w-]*)", README)):
        assert name in targets, f"README mentions `make {name}`, the Makefile has no such target"


def test_example_answers_in_the_readme_parse_to_what_the_table_says():
    rows = [line for line in README.splitlines() if re.match(r"^\| .* \| `(move|turn|arc|query|reply)[^`]*` \|", line)]
    assert len(rows) >= 6
    for row in rows:
        answer = re.search(r"`((?:move|turn|arc|query|reply)[^`]*)`", row).group(1).replace("...", "x")
        action = parse_action(answer)
        said = row.rsplit("|", 2)[-2]
        if "linear.x=" in said:
            value = float(re.search(r"linear\.x=(-?[\d.]+)", said).group(1))
            assert round(action.linear_x, 2) == value, row
        if "angular.z=" in said:
            value = float(re.search(r"angular\.z=(-?[\d.]+)", said).group(1))
            assert round(action.angular_z, 2) == value, row
        if "no motion" in said or "reply" in said:
            assert not action.moves, row
