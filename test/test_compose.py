"""The compositional dataset generator (training/compose/): determinism, held-out design, the copy
rule, operators that keep quantities, no-motion wrappers, and stats that add up. Small builds only."""

from __future__ import annotations

import json
import random
import re

import pytest

from ros2_llm_controller.core.grammar import check_answer
from ros2_llm_controller.core.normalise import normalise, quantities
from ros2_llm_controller.core.parser import AnswerKind, parse_answer
from training import make_dataset as md
from training.compose import operators as ops
from training.compose import surface as S
from training.compose import tasks as T
from training.compose.builder import check, key, perturb_file, perturb_text
from training.compose.choice import Ctx
from training.compose.quantities import POOLS, Qty, forms, valid_forms

SPLITS = ("train", "validation", "test")


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("robot")
    stats = md.build(out, n_train=400, n_validation=40, n_test=120, seed=7)
    rows = {s: [json.loads(line) for line in (out / f"{s}.jsonl").read_text().splitlines()] for s in SPLITS}
    return out, stats, rows


def _turns(row):
    """(user, assistant) pairs of a row, earlier turns first."""
    msgs = row["messages"][1:]
    return [(msgs[i]["content"], msgs[i + 1]["content"]) for i in range(0, len(msgs), 2)]


def test_same_seed_same_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    md.build(a, 80, 8, 30, seed=11)
    md.build(b, 80, 8, 30, seed=11)
    for name in ("train.jsonl", "validation.jsonl", "test.jsonl", "stats.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_rows_have_the_format_and_sizes(small):
    _, _, rows = small
    assert {s: len(r) for s, r in rows.items()} == {"train": 400, "validation": 40, "test": 120}
    for split, rs in rows.items():
        for r in rs:
            msgs = r["messages"]
            assert msgs[0]["role"] == "system" and msgs[0]["content"] == md.build.__globals__["DEFAULT_SYSTEM_PROMPT"]
            assert [m["role"] for m in msgs[1:]] == ["user", "assistant"] * (len(msgs[1:]) // 2)
            assert {"task", "template", "operators", "held_out", "normalised"} <= r.keys()
            assert r["normalised"] == normalise(msgs[-2]["content"])
    seeds = [r["messages"][-2]["content"] for r in rows["train"][:5]]
    assert seeds == [u for u, _ in T.COURSE_SEEDS]
    assert [r["messages"][-1]["content"] for r in rows["train"][:5]] == [a for _, a in T.COURSE_SEEDS]


def test_every_answer_obeys_the_copy_rule_and_parses(small):
    _, _, rows = small
    for rs in rows.values():
        for r in rs:
            for user, answer in _turns(r):
                assert check_answer(user, answer) is None, (user, answer)
                parsed = parse_answer(answer)
                qs = quantities(normalise(user))
                allowed = ({x.text for x in qs} | {f"{x.text} {u}" for x in qs if not x.unit for u in ("m", "deg", "s")}
                           | {"90 deg", "180 deg", "360 deg"})
                for q in re.findall(r"\d+(?:\.\d+)? [a-z/]+", answer):  # verbatim in the normalised command
                    assert q in allowed, (user, answer)
                assert not re.search(r"\d\.0\b|\d\.\d*0\b", answer), answer  # minimal numbers
                if answer.startswith("reply"):
                    assert parsed.kind is AnswerKind.REPLY and not parsed.moves


def test_test_split_holds_out_and_shares_no_command_with_train(small):
    _, _, rows = small
    train_keys = {key(r["messages"][-2]["content"]) for r in rows["train"] + rows["validation"]}
    assert not train_keys & {key(r["messages"][-2]["content"]) for r in rows["test"]}
    assert all(r["held_out"]["items"] for r in rows["test"])
    assert not any(r["held_out"]["items"] for r in rows["train"] + rows["validation"])
    kinds = {h.split(":")[0].split(".")[0] for r in rows["test"] for h in r["held_out"]["items"]}
    assert {"verb", "values", "operator", "connector"} <= kinds
    # Held-out operators never in training.
    train_ops = {o for r in rows["train"] + rows["validation"] for o in r["operators"]}
    assert not train_ops & set(ops.HELD_OPERATORS)
    test_ops = {o for r in rows["test"] for o in r["operators"]}
    assert test_ops & set(ops.HELD_OPERATORS)


def _tables():
    for name in dir(S):
        v = getattr(S, name)
        if isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, tuple) for x in v) and name.isupper():
            yield name, v
    for what, v in {**S.QUERIES, **S.MEMORY}.items():
        yield what, v


@pytest.mark.parametrize("name, table", list(_tables()), ids=lambda x: x if isinstance(x, str) else "")
def test_held_out_options_are_never_training_options(name, table):
    train, held = table
    if name in ("FORWARD", "BACKWARD", "LEFT", "RIGHT"):
        return  # (phrase, word) pairs without a held-out part
    assert held, name
    assert not set(train) & set(held), name


def test_value_pools_are_disjoint_and_every_form_reads_back():
    for pools in POOLS.values():
        for unit, _ in pools:
            assert not set(unit.train) & set(unit.held), unit.unit
            for v in unit.train + unit.held:
                q = Qty(float(v), unit.unit)
                good = valid_forms(q)
                assert any(style == "digits" for style, _, _ in good), q
                for _, text, _ in good:
                    assert normalise(f"go {text} now") == f"go {q.text} now"
    assert len([f for f in forms(Qty(1500, "mm")) if f[0] == "thousands"]) == 1


def test_training_contexts_never_draw_held_out():
    rng = random.Random(3)
    for _ in range(400):
        c = T.generate(rng, test=False)
        assert not c.held


@pytest.mark.parametrize("seed", range(30))
def test_typos_fillers_and_casing_keep_quantities(seed):
    rng = random.Random(seed)
    c = T.generate(rng, test=False)
    ctx = Ctx(rng)
    text = c.user
    for _ in range(3):
        text = ops.typo(ctx, text, ops.protected())
        text = ops.filler(ctx, text)
    for style in ("lower", "upper", "title", "random_case"):
        cased = ops.case(ctx, text, style)
        assert [q.text for q in quantities(normalise(cased))] == [q.text for q in quantities(normalise(c.user))]
    nums = re.findall(r"\d+(?:[.,]\d+)*", c.user)
    assert re.findall(r"\d+(?:[.,]\d+)*", text) == nums


def test_typo_never_touches_numbers_units_or_places():
    ctx = Ctx(random.Random(0))
    keep = ops.protected(("charging dock",))
    for _ in range(300):
        out = ops.typo(ctx, "drive forward 2 metres then go to the charging dock at 0.5 meters per second", keep)
        for w in ("2", "metres", "charging", "dock", "0.5", "meters", "per", "second"):
            assert w in out.split(), out


@pytest.mark.parametrize("task, reason", [("negated", "negated"), ("hypothetical", "hypothetical"),
                                          ("question", "question"), ("offtask", "offtask"), ("unclear", "unclear")])
def test_no_motion_wrappers_always_map_to_replies(task, reason):
    rng = random.Random(5)
    for _ in range(60):
        c = T.TASKS[task][1](Ctx(rng, test=rng.random() < 0.5))
        assert c.answer == f"reply {reason}"
        assert not parse_answer(c.answer).moves


@pytest.mark.parametrize("command, answer", [
    ("back up 2 m and stop", "move back 2 m"),
    ("stop, then turn left", "turn left"),
    ("can you move forward 2 m?", "move forward 2 m"),
    ("turn left 30 degrees, sorry, I mean right", "turn right 30 deg"),
    ("for 3 s go forward at 0.7 m/s", "move forward for 3 s at 0.7 m/s"),
    ("spin around twice", "turn left 360 deg x2"),
    ("navigate to the charging dock", "go to charging dock"),
    ("go back to where you started", "go to where you started"),
    ("move 1 foot 6 inches", "move forward 18 in"),
    ("rotate pi/2 rad", "turn left 1.570796 rad"),
])
def test_the_briefs_examples_satisfy_the_grammar(command, answer):
    assert check_answer(command, answer) is None


def test_stats_counts_add_up(small):
    _, stats, rows = small
    for split in ("test", "train_and_validation"):
        f = stats["filters"][split]
        assert f["candidates"] == f["kept"] + sum(f["removed"].values()), split
    assert stats["filters"]["train_and_validation"]["kept"] == len(rows["train"]) + len(rows["validation"])
    for split in SPLITS:
        s = stats[split]
        assert s["kept"] == len(rows[split]) == sum(s["tasks"].values()) == sum(s["kinds"].values())
        assert s["multi_turn"] == sum(len(r["messages"]) > 3 for r in rows[split])
    assert stats["filters"]["train_and_validation"]["removed"].get("near_duplicate", 0) > 0


def test_every_task_builds_and_passes_its_checks():
    rng = random.Random(9)
    for name, (_, build) in T.TASKS.items():
        ok = sum(check(build(Ctx(rng, test=False))) is None for _ in range(10))
        assert ok >= 8, name


def test_perturbed_split_keeps_answers_and_quantities(small, tmp_path):
    out, _, rows = small
    dst = tmp_path / "p.jsonl"
    res = perturb_file(out / "test.jsonl", dst, seed=1)
    new = [json.loads(line) for line in dst.read_text().splitlines()]
    assert res["rows"] == len(new) == len(rows["test"]) and res["perturbed"] >= 0.8 * len(new)
    for a, b in zip(rows["test"], new):
        assert a["messages"][-1] == b["messages"][-1]
        assert check_answer(b["messages"][-2]["content"], b["messages"][-1]["content"]) is None
    assert perturb_text(random.Random(2), "turn left 90 degrees") != "turn left 90 degrees"
