"""The independent set's scorer: labels -> expected actions (robot defaults and limits), merged steps, scores."""

import json
from pathlib import Path

import pytest

from ros2_llm_controller.core.config import ControllerConfig, load_places
from ros2_llm_controller.core.planner import resolve
from training.independent import LabelError, expected, load_rows, score

CFG = ControllerConfig()
PLACES = load_places(CFG)
ROOT = Path(__file__).resolve().parents[1]


def row(expect, **kw):
    return {"id": "T", "category": "x", "command": "c", "expect": expect, **kw}


@pytest.mark.parametrize("expect, answer, ok", [
    ([{"op": "drive", "distance_m": 2.0}], "move forward 2 m", True),
    ([{"op": "drive", "distance_m": 2.0}], "move back 2 m", False),
    ([{"op": "drive", "distance_m": 2.0}], "move forward 2.1 m", False),
    ([{"op": "drive", "distance_m": -0.5, "speed_mps": 0.2}], "move back 50 cm at 0.2 m/s", True),
    ([{"op": "drive", "direction": "forward", "duration_s": 5, "speed_mps": 0.3}], "move forward for 5 s at 0.3 m/s",
     True),
    ([{"op": "drive", "direction": "forward"}], "move ahead", True),
    ([{"op": "turn", "angle_deg": -90}], "turn clockwise 90 deg", True),
    ([{"op": "turn", "angle_deg": 180, "direction": "any"}], "turn right 180 deg", True),
    ([{"op": "turn", "angle_deg": 180}], "turn right 180 deg", False),
    ([{"op": "turn", "direction": "left"}], "turn left", True),  # a plain turn is a quarter turn
    ([{"op": "turn", "angle_deg": 720, "direction": "any"}], "turn left 360 deg x2", True),  # merged
    ([{"op": "drive", "distance_m": 1}, {"op": "turn", "angle_deg": 90}], "move forward 1 m; turn left 90 deg", True),
    ([{"op": "drive", "distance_m": 1}, {"op": "turn", "angle_deg": 90}], "move forward 1 m", False),
    ([{"op": "drive", "distance_m": -2}, {"op": "stop"}], "move back 2 m", True),  # a trailing stop is implicit
    ([{"op": "drive", "distance_m": 10, "speed_mps": 5}], "move forward 10 m at 5 m/s", True),  # both clamped
    ([{"op": "arc", "distance_m": 2, "angle_deg": -45}], "arc forward 2 m right 45 deg", True),
    ([{"op": "goto", "place": "charging station"}], "go to charging dock", True),
    ([{"op": "goto", "place": "kitchen"}], "go to office", False),
    ([{"op": "query", "what": "battery"}], "query battery", True),
    ([{"op": "query", "what": "position"}], "query status", False),
    ([{"op": "stop"}], "stop", True),
    ("none", "reply negated", True),
    ("none", "move forward 1 m", False),
])
def test_score(expect, answer, ok):
    result = resolve(answer, CFG, places=PLACES)
    assert score(row(expect), result, CFG)[0] is ok


def test_a_refused_unknown_place_counts_as_no_motion():
    assert score(row("none"), resolve("go to garage", CFG, places=PLACES), CFG) == (True, "")


def test_bad_labels_are_clear_errors():
    with pytest.raises(LabelError):
        expected(row([]), CFG)
    with pytest.raises(LabelError):
        expected(row([{"op": "fly", "distance_m": 1}]), CFG)


def test_the_committed_set_is_well_formed():
    rows = load_rows(ROOT / "eval/independent/commands.jsonl")
    assert len(rows) >= 300 and len({r["id"] for r in rows}) == len(rows)
    cats = {r["category"] for r in rows}
    assert sum(r["category"] == "multi_step" for r in rows) >= 40 and sum(r["category"] == "places" for r in rows) >= 20
    for r in rows:
        expected(r, CFG)  # every label builds
    assert {"no_motion", "units", "noise", "memory"} <= cats
    json.dumps(rows)


def test_rows_that_are_training_commands_are_counted_apart():
    from training.evaluate_independent import summarize

    rows = [{"category": "basic", "ok": ok, "must_not_move": False, "moved": True, "kind": "action",
             "in_training": seen} for ok, seen in ((True, True), (True, False), (False, False))]
    report = summarize(rows, "x")
    assert report["in_training_rows"] == 1 and report["accuracy_not_in_training"] == 0.5
    assert report["accuracy"] == 2 / 3
