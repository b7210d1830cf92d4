"""Score a pipeline on an independent evaluation set: commands written blind to the generator.

A row (JSONL)::

    {"id": "IA-001", "category": "basic", "command": "Move forward 2 meters.",
     "expect": [{"op": "drive", "distance_m": 2.0}]}
    {"id": ..., "context": ["Move forward 1 meter"], "command": "do that again", "expect": [...]}
    {"id": ..., "command": "don't go forward", "expect": "none"}

Steps: ``drive`` (distance_m | direction + duration_s | direction; optional speed_mps), ``turn``
(angle_deg, + = left | direction + duration_s | direction; optional rate_dps; direction "any"
for a turn whose sense the user left open), ``arc`` (distance_m, angle_deg), ``goto`` (place),
``query`` (what), ``stop``. Labels say what the user asked; the expected actions are built with
the same defaults and safety limits as the robot's (``ControllerConfig``), so a clamped answer
to an over-limit request is right. A stop inside a plan with motion is dropped (the motion ends
in zero anyway); consecutive steps with the same velocities are merged on both sides ("spin
around twice" may be one 720 deg turn or two of 360).

"none" rows are right when nothing moved (a reply, a refusal, or a stop). Every other
row needs the same kind, the same steps in order, directions right and quantities within 2 %.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ros2_llm_controller.core.actions import Action
from ros2_llm_controller.core.config import ControllerConfig
from ros2_llm_controller.core.limits import apply_limits

REL_TOL = 0.02
_SIGN = {"forward": 1, "backward": -1, "left": 1, "right": -1}


class LabelError(ValueError):
    """A row of the set that does not follow the schema above."""


@dataclass(frozen=True)
class Expected:
    kind: str  # "plan", "none", "stop", "query"
    steps: tuple[Action, ...] = ()
    any_sign: tuple[bool, ...] = ()  # per step: a turn whose direction the user left open
    query: str | None = None


def load_rows(path: str | Path) -> list[dict]:
    rows = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise LabelError(f"{path}:{i}: not JSON: {exc}") from exc
    return rows


def _arc(dist: float, angle: float, cfg: ControllerConfig) -> Action:
    d = cfg.motion_defaults
    duration = max(abs(dist) / d.linear_mps, abs(angle) / d.angular_rps)
    return Action("move", linear_x=dist / duration, angular_z=angle / duration, duration_s=duration,
                  distance_m=dist, angle_rad=angle)


def _step(s: dict, cfg: ControllerConfig) -> tuple[Action, bool]:
    d = cfg.motion_defaults
    op = s.get("op")
    if op == "drive":
        speed = float(s.get("speed_mps") or d.linear_mps)
        if "distance_m" in s:
            dist = float(s["distance_m"])
            return Action("move", linear_x=math.copysign(speed, dist), duration_s=abs(dist) / speed,
                          distance_m=dist), False
        sign = _SIGN[s["direction"]]
        return Action("move", linear_x=sign * speed, duration_s=float(s.get("duration_s") or d.duration_s)), False
    if op == "turn":
        rate = math.radians(float(s["rate_dps"])) if s.get("rate_dps") else d.angular_rps
        any_sign = s.get("direction") == "any"
        if "angle_deg" in s:
            angle = math.radians(float(s["angle_deg"]))
            return Action("move", angular_z=math.copysign(rate, angle), duration_s=abs(angle) / rate,
                          angle_rad=angle), any_sign
        if "duration_s" in s:
            sign = 1 if any_sign else _SIGN[s["direction"]]
            return Action("move", angular_z=sign * rate, duration_s=float(s["duration_s"])), any_sign
        sign = 1 if any_sign else _SIGN[s["direction"]]  # "turn left": a quarter turn
        return Action("move", angular_z=sign * rate, duration_s=(math.pi / 2) / rate, angle_rad=sign * math.pi / 2), \
            any_sign
    if op == "arc":
        return _arc(float(s["distance_m"]), math.radians(float(s["angle_deg"])), cfg), False
    if op == "goto":
        return Action("goto", place=str(s["place"]).lower()), False
    raise LabelError(f"unknown step {s!r}")


def expected(row: dict, cfg: ControllerConfig) -> Expected:
    exp = row["expect"]
    if exp == "none":
        return Expected("none")
    if not isinstance(exp, list) or not exp:
        raise LabelError(f"{row.get('id')}: expect must be 'none' or a list of steps")
    ops = [s.get("op") for s in exp]
    if ops == ["stop"]:
        return Expected("stop")
    if ops == ["query"]:
        return Expected("query", query=exp[0]["what"])
    steps, signs = [], []
    for s in exp:
        if s.get("op") == "stop":
            continue  # "back up 2 m and stop": the motion ends in zero anyway
        a, any_sign = _step(s, cfg)
        if a.type == "move":
            a = apply_limits(a, cfg.limits).action
        steps.append(a)
        signs.append(any_sign)
    return Expected("plan", tuple(steps), tuple(signs))


def merge(steps: Iterable[Action], signs: Iterable[bool] | None = None) -> tuple[list[Action], list[bool]]:
    """Consecutive moves with the same velocities as one move (durations and amounts added)."""
    out: list[Action] = []
    out_signs: list[bool] = []
    signs = list(signs) if signs is not None else None
    for i, s in enumerate(steps):
        sign = signs[i] if signs else False
        prev = out[-1] if out else None
        if (prev is not None and prev.type == s.type == "move" and _close(prev.linear_x, s.linear_x)
                and _close(prev.angular_z, s.angular_z)):
            add = (lambda a, b: None if a is None or b is None else a + b)
            out[-1] = prev.with_(duration_s=prev.duration_s + s.duration_s,
                                 distance_m=add(prev.distance_m, s.distance_m),
                                 angle_rad=add(prev.angle_rad, s.angle_rad))
            out_signs[-1] = out_signs[-1] or sign
            continue
        out.append(s)
        out_signs.append(sign)
    return out, out_signs


def _close(a: float, b: float, rel: float = REL_TOL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-6)


def same_step(pred: Action, ref: Action, any_sign: bool = False) -> bool:
    if ref.type == "goto":
        return pred.type == "goto" and (pred.place or "").lower() == ref.place
    if ref.type == "wait":
        return pred.type == "wait" and _close(pred.duration_s, ref.duration_s)
    if pred.type != "move":
        return False
    for p, r in ((pred.linear_x, ref.linear_x), (pred.angular_z, ref.angular_z)):
        if any_sign and ref.linear_x == 0:
            p, r = abs(p), abs(r)
        if (p > 0) != (r > 0) or (p < 0) != (r < 0) or not _close(p, r):
            return False
    return _close(pred.duration_s, ref.duration_s)


def score(row: dict, result: Any, cfg: ControllerConfig) -> tuple[bool, str]:
    """(right, why not) for one row and the pipeline's result (``core.planner.PlanResult``)."""
    exp = expected(row, cfg)
    actions = list(getattr(result, "actions", ()) or ([result.action] if result.action.type != "reply" or
                                                       result.action.query else []))
    moving = [a for a in actions if a.moves or a.type == "goto"]
    if exp.kind == "none":
        return (not moving, "moved" if moving else "")
    if exp.kind == "stop":
        ok = result.action.type == "stop" and not moving
        return ok, "" if ok else f"expected a stop, got {result.action.type}"
    if exp.kind == "query":
        q = result.action.query
        return q == exp.query, "" if q == exp.query else f"expected query {exp.query}, got {q or result.action.type}"
    if not moving:
        return False, f"expected motion, got {result.action.type}" + (f" ({result.error})" if result.error else "")
    pred, _ = merge([a for a in actions if a.type in ("move", "goto", "wait")])
    ref, signs = merge(exp.steps, exp.any_sign)
    if len(pred) != len(ref):
        return False, f"{len(pred)} steps, expected {len(ref)}"
    for i, (p, r, any_sign) in enumerate(zip(pred, ref, signs)):
        if not same_step(p, r, any_sign):
            return False, f"step {i + 1} differs"
    return True, ""
