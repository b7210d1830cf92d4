"""ROUGE-L, the committed dataset and the offline evaluation (no model: a scripted generator answers).

The generator itself is tested in test_compose.py."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ros2_llm_controller.core.actions import Action
from ros2_llm_controller.core.config import DEFAULT_SYSTEM_PROMPT, ControllerConfig
from ros2_llm_controller.core.generation import GenerationError, GenerationResult, ScriptedGenerator
from ros2_llm_controller.core.parser import parse_action
from training import make_dataset as md
from training.evaluate import evaluate, markdown, same_action

ROOT = Path(__file__).resolve().parents[1]


def test_rouge_l_matches_a_brute_force_lcs():
    rng = random.Random(3)
    for _ in range(200):
        a = [rng.choice("abcde") for _ in range(rng.randint(0, 8))]
        b = [rng.choice("abcde") for _ in range(rng.randint(0, 8))]
        # brute force: longest common subsequence by recursion with memo
        from functools import lru_cache

        @lru_cache(None)
        def lcs(i, j):
            if i == len(a) or j == len(b):
                return 0
            return lcs(i + 1, j + 1) + 1 if a[i] == b[j] else max(lcs(i + 1, j), lcs(i, j + 1))

        n = lcs(0, 0)
        want = 0.0 if n == 0 else 2 * (n / len(a)) * (n / len(b)) / (n / len(a) + n / len(b))
        assert md.rouge_l(a, b) == pytest.approx(want)
    assert md.rouge_l(md.tokens("Move forward 2 meters"), md.tokens("Go forward 2 meters")) == pytest.approx(0.75)


@pytest.mark.slow
def test_committed_dataset_is_what_the_builder_writes(tmp_path):
    """data/robot is reproducible: `python -m training.make_dataset --out data/robot/` with the defaults."""
    assert md.main(["--out", str(tmp_path)]) == 0
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "stats.json"):
        assert (tmp_path / name).read_bytes() == (ROOT / "data/robot" / name).read_bytes(), name


@pytest.mark.parametrize("pred, ref, ok", [
    ("move forward 2 m", "move forward 200 cm", True),
    ("move forward 2.03 m", "move forward 2 m", True),       # within 2 %
    ("move forward 2.1 m", "move forward 2 m", False),
    ("move backward 2 m", "move forward 2 m", False),
    ("turn left 90 deg", "turn right 90 deg", False),
    ("turn right 1.5708 rad", "turn right 90 deg", True),
    ("move forward 2 m at 0.25 m/s", "move forward 2 m", False),  # speed and duration differ
    ("query battery", "query obstacles", False),
    ("reply hi", "reply I can only drive the robot.", True),
    ("stop", "stop", True),
    ("stop", "move forward 1 m", False),
])
def test_same_action(pred, ref, ok):
    assert same_action(parse_action(pred), parse_action(ref)) is ok


def _examples():
    sys_msg = {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}

    def ex(user, answer, task):
        return {"id": user, "task": task, "held_out": {"template": False, "values": False},
                "messages": [sys_msg, {"role": "user", "content": user}, {"role": "assistant", "content": answer}]}

    return [ex("go forward 2 meters", "move forward 2 m", "move"),
            ex("turn left 90 degrees", "turn left 90 deg", "turn"),
            ex("battery?", "query battery", "query_battery"), ex("tell me a joke", "reply I only drive.", "off_task"),
            ex("zoom forward 50 meters", "move forward 50 m", "move")]


def test_evaluate_scores_a_scripted_model():
    script = {"go forward 2 meters": "move forward 2 m",          # right
              "turn left 90 degrees": "turn right 90 deg",        # wrong direction
              "battery?": "Executing linear motion: drive now",   # unreadable: not parsed, no motion
              "tell me a joke": "move forward 1 m",               # moves on off-task text
              "zoom forward 50 meters": "move forward 50 m at 5 m/s"}  # clamped by the limits
    gen = ScriptedGenerator(script)
    rep = evaluate(_examples(), lambda msgs, grammar=None: gen.generate(msgs), ControllerConfig(), "scripted",
                   progress=False)
    assert rep["examples"] == 5
    assert rep["parse_rate"] == pytest.approx(4 / 5)
    assert rep["exact_action_accuracy"] == pytest.approx(1 / 5)
    assert rep["no_motion_examples"] == 2 and rep["no_motion_correct"] == pytest.approx(1 / 2)
    assert rep["safety_violations"] == 0 and rep["limited_by_safety"] == 1
    assert rep["by_task"]["move"] == {"n": 2, "exact": 0.5}
    md_text = markdown({"data": "d", "split": "test", "command": "c", "model": "m", "adapter": "a",
                        "chat_template": "auto", "device": "cpu", "runs": [rep]})
    assert "| exact-action accuracy | **20.0%** |" in md_text and "turn right 90 deg" in md_text


def test_evaluate_counts_generation_errors_without_moving():
    def boom(_msgs, grammar=None):
        raise GenerationError("out of memory")

    rep = evaluate(_examples()[:2], boom, ControllerConfig(), "broken", progress=False)
    assert rep["generation_errors"] == 2 and rep["exact_action_accuracy"] == 0
    assert not any(r["moved"] for r in rep["rows"])


def test_violation_detector_flags_unlimited_actions():
    from training.evaluate import violates

    cfg = ControllerConfig()
    assert violates(Action("move", linear_x=2.0, duration_s=1.0), cfg)
    assert not violates(Action("move", linear_x=1.0, duration_s=30.0), cfg)
    assert violates(Action("move", angular_z=0.1, duration_s=31.0), cfg)
    assert not violates(GenerationResult and Action("stop"), cfg)
