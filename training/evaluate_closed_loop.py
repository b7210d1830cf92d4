"""Task success in closed loop: test-split commands through the real node and the simulator.

    python -m training.evaluate_closed_loop --limit 40 --stops 5 --out reports/closed_loop

Each command is published on /command of a controller process (config/controller.yaml unless
``--params-file``), which drives ``sim_robot``; odometry says what happened. Success, per command:
  straight moves : displacement along the start heading within 5 % of the asked distance,
                   rotation within 3 deg;
  turns          : rotation within 3 deg of the asked angle, no more than 2 cm travelled;
  arcs           : path length within 5 % and rotation within 3 deg;
  no motion      : queries, off-task text, navigation requests, stop: under 5 mm and 0.5 deg
                   (and a query gets an answer from the sensors);
  stop honoured  : ``--stops`` trials of "stop" during a long motion: zero within 0.5 s and no
                   motion afterwards.
"What the command asked" is the reference answer of the dataset through the same parser and
limits as the node. Multi-turn examples are skipped (the node takes one command at a time), and so
are motions longer than ``--max-duration-s`` (wall-clock time). Writes JSON and Markdown.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

from ros2_llm_controller.sim.closed_loop import ClosedLoop, Outcome
from ros2_llm_controller.core.config import ControllerConfig
from ros2_llm_controller.core.planner import resolve

from .data_io import command_line, load_conversations
from .stats import percentile

DISTANCE_REL_TOL = 0.05
ROTATION_TOL_DEG = 3.0
STILL_M, STILL_DEG = 0.005, 0.5
# Long motions interrupted by "stop" (command, the answer a right model gives).
STOP_TRIALS = (("Move forward 3 meters", "move forward 3 m"), ("Turn left 180 degrees", "turn left 180 deg"),
               ("Go backward 2 meters", "move backward 2 m"))


def expected(action) -> dict:
    """Signed distance [m] and rotation [deg] an action asks for (after limits)."""
    if not action.moves:
        return {"kind": "none", "distance_m": 0.0, "rotation_deg": 0.0}
    kind = "arc" if action.linear_x and action.angular_z else "move" if action.linear_x else "turn"
    return {"kind": kind, "distance_m": action.linear_x * action.duration_s,
            "rotation_deg": math.degrees(action.angular_z * action.duration_s)}


def judge(exp: dict, o: Outcome, query: str | None) -> tuple[bool, str]:
    """(success, why not) for one command."""
    if o.event != "result":
        return False, f"no result ({o.event})"
    rot_err = abs(o.rotation_deg - exp["rotation_deg"])
    if exp["kind"] == "none":
        if o.path_m >= STILL_M or abs(o.rotation_deg) >= STILL_DEG:
            return False, f"moved {o.path_m:.3f} m / {o.rotation_deg:.1f} deg on a no-motion command"
        if query and not (o.reply and "yet" not in o.reply):
            return False, f"query {query} not answered from sensors: {o.reply!r}"
        return True, ""
    d = exp["distance_m"]
    if exp["kind"] == "move":
        ok = abs(o.forward_m - d) <= DISTANCE_REL_TOL * abs(d) and rot_err <= ROTATION_TOL_DEG
        return ok, "" if ok else f"forward {o.forward_m:+.3f} m (asked {d:+.3f}), rotation {o.rotation_deg:+.1f} deg"
    if exp["kind"] == "turn":
        ok = rot_err <= ROTATION_TOL_DEG and o.path_m <= 0.02
        return ok, "" if ok else (f"rotation {o.rotation_deg:+.1f} deg (asked {exp['rotation_deg']:+.1f}), "
                                  f"path {o.path_m:.3f} m")
    ok = abs(o.path_m - abs(d)) <= DISTANCE_REL_TOL * abs(d) and rot_err <= ROTATION_TOL_DEG
    return ok, "" if ok else (f"path {o.path_m:.3f} m (asked {abs(d):.3f}), rotation {o.rotation_deg:+.1f} deg "
                              f"(asked {exp['rotation_deg']:+.1f})")


def select(examples: list[dict], cfg: ControllerConfig, limit: int, max_duration_s: float, seed: int) -> list[dict]:
    chosen = []
    for ex in examples:
        if len(ex["messages"]) != 3:
            continue
        ref = resolve(ex["messages"][-1]["content"], cfg, ex["messages"][-2]["content"])
        if ref.action.type == "reject" or (ref.action.moves and ref.action.duration_s > max_duration_s):
            continue
        chosen.append({**ex, "_ref": ref.action})
    random.Random(seed).shuffle(chosen)
    return chosen[:limit]


def markdown(report: dict) -> str:
    lines = [f"# Closed-loop task success ({report['split']} split)", "",
             f"Command: `{report['command']}`", "",
             f"**Task success: {report['success_rate']:.1%}** ({report['successes']} of {report['total']}: "
             f"{report['commands']} commands + {report['stop_trials']} stop trials). "
             f"Tolerances: distance {DISTANCE_REL_TOL:.0%}, rotation {ROTATION_TOL_DEG:g} deg.", "",
             "| category | n | success |", "|---|---|---|"]
    lines += [f"| {k} | {v['n']} | {v['success']:.1%} |" for k, v in report["by_kind"].items()]
    lines += ["", f"Command -> first motion (through ROS): p50 {report['first_motion_s']['p50']:.3f} s, "
              f"p95 {report['first_motion_s']['p95']:.3f} s. Stop -> zero: max "
              f"{report['stop_latency_s_max'] * 1000:.1f} ms." if report["stop_latency_s_max"] is not None else ""]
    fails = [r for r in report["rows"] if not r["success"]]
    if fails:
        lines += ["", "## Failures", "", "| command | reference | model said | why |", "|---|---|---|---|"]
        for r in fails[:30]:
            lines.append(f"| {r['command'][:60]} | {r['reference']} | {(r['model_output'] or '')[:50]} | {r['why']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.evaluate_closed_loop", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data/robot"))
    ap.add_argument("--split", default="test", choices=("train", "validation", "test"))
    ap.add_argument("--limit", type=int, default=40, help="commands to run (seeded sample)")
    ap.add_argument("--stops", type=int, default=5, help="stop-during-motion trials")
    ap.add_argument("--max-duration-s", type=float, default=12.0, help="skip longer motions (they run in real time)")
    ap.add_argument("--params-file", default="config/controller.yaml")
    ap.add_argument("--scripted", default=None, help="no model: answers from a JSON map (for tests)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("reports/closed_loop"))
    args = ap.parse_args(argv)

    cfg = ControllerConfig.from_yaml(args.params_file)
    examples = select(load_conversations(args.data / f"{args.split}.jsonl"), cfg, args.limit,
                      args.max_duration_s, args.seed)
    rows, firsts, stops = [], [], []
    t0 = time.monotonic()
    with ClosedLoop(args.params_file, scripted=args.scripted,
                    controller_log=args.out / "controller.log") as loop:
        for i, ex in enumerate(examples, start=1):
            command, reference = ex["messages"][-2]["content"], ex["messages"][-1]["content"]
            exp = expected(ex["_ref"])
            o = loop.run(command)
            ok, why = judge(exp, o, ex["_ref"].query)
            if o.first_motion_s is not None:
                firsts.append(o.first_motion_s)
            rows.append({"command": command, "reference": reference, "task": ex.get("task"), "kind": exp["kind"],
                         "expected": exp, "model_output": o.model_output, "success": ok, "why": why,
                         "outcome": o.to_dict()})
            print(f"[{i}/{len(examples)}] {'ok  ' if ok else 'FAIL'} {command[:50]!r} -> {o.model_output!r} {why}",
                  flush=True)
        for i in range(args.stops):
            s = loop.stop_during(STOP_TRIALS[i % len(STOP_TRIALS)][0], stop_after_s=0.5 + 0.3 * (i % 3))
            ok = bool(s["stayed_stopped"]) and s["stop_latency_s"] is not None and s["stop_latency_s"] < 0.5
            stops.append({**s, "success": ok})
            rows.append({"command": f"{s['command']} + stop", "reference": "stop", "task": "stop_during_motion",
                         "kind": "stop", "expected": None, "model_output": None, "success": ok,
                         "why": "" if ok else (f"stop latency {s['stop_latency_s']}, "
                                               f"stayed stopped {s['stayed_stopped']}"),
                         "outcome": s})
    by_kind = defaultdict(list)
    for r in rows:
        by_kind[r["kind"]].append(r["success"])
    lat = [s["stop_latency_s"] for s in stops if s["stop_latency_s"] is not None]
    report = {"command": command_line("training.evaluate_closed_loop", argv),
              "split": args.split, "commands": len(examples), "stop_trials": len(stops), "total": len(rows),
              "successes": sum(r["success"] for r in rows),
              "success_rate": sum(r["success"] for r in rows) / len(rows) if rows else 0.0,
              "by_kind": {k: {"n": len(v), "success": sum(v) / len(v)} for k, v in sorted(by_kind.items())},
              "first_motion_s": {"p50": percentile(firsts, 0.5), "p95": percentile(firsts, 0.95)},
              "stop_latency_s_max": max(lat) if lat else None, "wall_s": round(time.monotonic() - t0, 1), "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"closed_loop_{args.split}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (args.out / f"closed_loop_{args.split}.md").write_text(markdown(report))
    print(f"\ntask success {report['success_rate']:.1%} ({report['successes']}/{report['total']}); "
          f"wrote {args.out}/closed_loop_{args.split}.json and .md ({report['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
