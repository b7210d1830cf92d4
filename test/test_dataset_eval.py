"""The robot dataset builder and the offline evaluation (no model: a scripted generator answers)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ros2_llm_controller.core.actions import Action
from ros2_llm_controller.core.config import DEFAULT_SYSTEM_PROMPT, ControllerConfig
from ros2_llm_controller.core.generation import GenerationError, GenerationResult, ScriptedGenerator
from ros2_llm_controller.core.parser import parse_action
from training import make_dataset as md
from training import robot_tasks as rt
from training.evaluate import evaluate, markdown, same_action

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("robot")
    stats = md.build(out, n_train=600, n_validation=60, n_test=150, seed=7)
    splits = {s: [json.loads(line) for line in (out / f"{s}.jsonl").read_text().splitlines()]
              for s in ("train", "validation", "test")}
    return out, stats, splits


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


def test_splits_have_the_requested_sizes_and_every_answer_is_its_stored_action(small_dataset):
    _, stats, splits = small_dataset
    assert {k: len(v) for k, v in splits.items()} == {"train": 600, "validation": 60, "test": 150}
    for rows in splits.values():
        for row in rows:
            msgs = row["messages"]
            assert msgs[0] == {"role": "system", "content": DEFAULT_SYSTEM_PROMPT}
            assert msgs[-1]["role"] == "assistant" and msgs[-2]["role"] == "user"
            assert parse_action(msgs[-1]["content"]).to_dict() == row["action"]
    assert stats["train"]["removed"].get("near_duplicate", 0) > 0  # the filter ran and is counted


def test_test_split_holds_out_templates_and_values_and_shares_no_command(small_dataset):
    _, _, splits = small_dataset
    train_templates = {r["template"] for r in splits["train"] + splits["validation"]}
    held_templates = [r for r in splits["test"] if r["held_out"]["template"]]
    assert held_templates and all(r["template"] not in train_templates for r in held_templates)
    train_numbers = set()
    for pools in (rt.LENGTH, rt.ANGLE, rt.LINEAR_SPEED, rt.ANGULAR_SPEED, rt.TIME):
        for p in pools:
            assert not set(p.train) & set(p.test), p.unit  # value pools really are disjoint
    held_values = [r for r in splits["test"] if r["held_out"]["values"]]
    assert len(held_values) >= 20
    for r in held_values:
        answer = r["messages"][-1]["content"]
        nums = [t for t in answer.split() if t[0].isdigit()]
        assert any(any(n in p.test for p in pools) for n in nums
                   for pools in (rt.LENGTH, rt.ANGLE, rt.LINEAR_SPEED, rt.ANGULAR_SPEED, rt.TIME)), answer
    norm = lambda r: " ".join(md.tokens(r["messages"][-2]["content"]))  # noqa: E731
    assert not {norm(r) for r in splits["test"]} & {norm(r) for r in splits["train"]}
    del train_numbers


def test_dataset_covers_what_the_issue_lists(small_dataset):
    _, _, splits = small_dataset
    rows = splits["train"]
    tasks = {r["task"] for r in rows}
    assert {"move", "turn", "arc", "stop", "query_battery", "query_obstacles", "off_task", "navigate"} <= tasks
    assert any(len(r["messages"]) > 3 for r in rows)  # multi-turn
    users = " ".join(r["messages"][-2]["content"] for r in rows).lower()
    for word in ("clockwise", "backward", "cm", "feet", "degrees", "radians"):
        assert word in users, word


def test_same_seed_same_dataset(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    md.build(a, 50, 5, 20, seed=11)
    md.build(b, 50, 5, 20, seed=11)
    assert (a / "train.jsonl").read_bytes() == (b / "train.jsonl").read_bytes()


def test_committed_dataset_is_what_the_builder_writes(tmp_path):
    """data/robot is reproducible: `python -m training.make_dataset --out data/robot/` with the defaults."""
    assert md.main(["--out", str(tmp_path)]) == 0
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "stats.json"):
        assert (tmp_path / name).read_bytes() == (ROOT / "data/robot" / name).read_bytes(), name


def test_every_task_has_training_and_held_out_templates():
    assert set(rt.TEMPLATES) == set(rt.TASK_WEIGHTS) | {"again"}
    for task in ("again", "dance"):  # "again" is built by make_dataset from a history
        with pytest.raises(ValueError, match="unknown task"):
            rt.build_task(task, random.Random(0), False, False)


@pytest.mark.parametrize("task", sorted(rt.TEMPLATES))
def test_held_out_templates_are_never_training_templates(task):
    train, test = rt.TEMPLATES[task]
    text = lambda t: (t[0] if isinstance(t, tuple) else t).lower()  # noqa: E731
    assert test and not {text(t) for t in train} & {text(t) for t in test}


@pytest.mark.parametrize("phrase, word", [*rt.FORWARD, *rt.BACKWARD, *rt.LEFT, *rt.RIGHT])
def test_every_direction_word_an_answer_copies_parses_with_the_commands_sign(phrase, word):
    assert word in phrase  # the answer keeps the command's own word
    if (phrase, word) in rt.FORWARD + rt.BACKWARD:
        sign = 1 if (phrase, word) in rt.FORWARD else -1
        assert parse_action(f"move {word} 1 m").linear_x == 0.5 * sign
        assert parse_action(f"arc {word} 1 m left 10 deg").linear_x * sign > 0
    else:
        sign = 1 if (phrase, word) in rt.LEFT else -1
        assert parse_action(f"turn {word} 90 deg").angular_z == 0.5 * sign
        assert parse_action(f"arc forward 1 m {word} 10 deg").angular_z * sign > 0


@pytest.mark.parametrize("seed, task, answer", [
    ("Move the robot forward 2 meters", "move", "move forward 2 m"),
    ("What is your battery level?", "query_battery", "query battery"),
    ("Navigate to the charging station", "navigate", rt.NAV_ANSWER),
    ("Rotate 90 degrees clockwise", "turn", "turn clockwise 90 deg"),
    ("Report any obstacles", "query_obstacles", "query obstacles"),
])
def test_course_seed_commands_are_generated_with_the_right_answers(seed, task, answer):
    assert seed in rt.COURSE_SEEDS
    rng = random.Random(0)
    for _ in range(100_000):
        s = rt.build_task(task, rng, False, False)
        if s.user == seed:
            assert s.answer == answer
            return
    pytest.fail(f"{task} never generates {seed!r}")


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
    rep = evaluate(_examples(), lambda msgs: gen.generate(msgs), ControllerConfig(), "scripted", progress=False)
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
    def boom(_msgs):
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
