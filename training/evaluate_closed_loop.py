"""Task success in closed loop: test-split commands, named places, 3-step plans and collisions, through
the real node and the simulator.

    python -m training.evaluate_closed_loop --limit 40 --stops 5 --out reports/closed_loop
    python -m training.evaluate_closed_loop --limit 0 --stops 0 --place-trials 5 --plan-trials 20 --collisions

Test commands (the model's understanding and the node's execution): each command, from the start pose
in an open world (no obstacles; ``--world default`` for the simulator's), is published on
/command of a controller process (config/controller.yaml unless ``--params-file``; the real model
unless ``--scripted``), which drives ``sim_robot``; odometry says what happened. Success, per command:
  straight moves : displacement along the start heading within 5 % of the asked distance,
                   rotation within 3 deg;
  turns          : rotation within 3 deg of the asked angle, no more than 2 cm travelled;
  arcs           : path length within 5 % and rotation within 3 deg;
  plans          : every step so, measured between the simulator's poses at the step boundaries;
  no motion      : queries, off-task text, stop: under 5 mm and 0.5 deg
                   (and a query gets an answer from the sensors);
  stop honoured  : ``--stops`` trials of "stop" during a long motion: zero within 0.5 s and no
                   motion afterwards.
"What the command asked" is the reference answer of the dataset through the same parser and
limits as the node. Multi-turn examples are skipped (the node takes one command at a time), and so
are motions longer than ``--max-duration-s`` (wall-clock time) and references the node would refuse
(a place the places file does not know).

Execution sets (``training.closed_loop_tasks``; scripted answers unless ``--tasks-model model``):
``--place-trials N`` navigates to each place of the places file N times from the start pose,
``--plan-trials N`` runs N seeded 3-step plans, ``--collisions`` runs the guard scenarios and the
test commands with the collision guard on, then off, and counts collisions in the simulator.
Collisions are counted in every run. Writes JSON and Markdown.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

from ros2_llm_controller.core.config import ControllerConfig, load_places
from ros2_llm_controller.core.planner import resolve
from ros2_llm_controller.sim.closed_loop import ClosedLoop, Outcome
from ros2_llm_controller.sim.physics import World

from . import closed_loop_tasks as tasks
from .closed_loop_tasks import DISTANCE_REL_TOL, ROTATION_TOL_DEG, judge_motion, judge_steps
from .data_io import command_line, load_conversations
from .stats import percentile

STILL_M, STILL_DEG = 0.005, 0.5
# The test commands' world: no obstacles, walls 50 m away (beyond the 8 m laser). Each command starts from
# the start pose: the set measures understanding and execution, not avoidance (--collisions does).
FAR_WALLS = World((), 50.0)
# Long motions interrupted by "stop" (command, the answer a right model gives).
STOP_TRIALS = (("Move forward 3 meters", "move forward 3 m"), ("Turn left 180 degrees", "turn left 180 deg"),
               ("Go backward 2 meters", "move backward 2 m"))


def expected(action) -> dict:
    """Signed distance [m] and rotation [deg] an action asks for (after limits)."""
    return tasks.expected(action)


def judge(exp: dict | list, o: Outcome, query: str | None) -> tuple[bool, str]:
    """(success, why not) for one command; ``exp`` is a list of per-step expectations for a plan."""
    if o.event != "result":
        return False, f"no result ({o.event})"
    if isinstance(exp, list):
        return judge_steps(exp, o.steps)
    if exp["kind"] == "none":
        if o.path_m >= STILL_M or abs(o.rotation_deg) >= STILL_DEG:
            return False, f"moved {o.path_m:.3f} m / {o.rotation_deg:.1f} deg on a no-motion command"
        if query and not (o.reply and "yet" not in o.reply):
            return False, f"query {query} not answered from sensors: {o.reply!r}"
        return True, ""
    return judge_motion(exp, o.forward_m, o.path_m, o.rotation_deg)


def expected_for(ref) -> dict | list:
    """One expectation, or a list of them for a plan of two or more steps."""
    return [expected(a) for a in ref.steps] if len(ref.steps) > 1 else expected(ref.action)


def select(examples: list[dict], cfg: ControllerConfig, limit: int, max_duration_s: float, seed: int) -> list[dict]:
    """A seeded sample of single-turn examples the closed loop can judge; ``_ref`` is the reference's first
    action, ``_plan`` the whole reference result (a goto, which needs odometry to judge, is skipped)."""
    chosen = []
    places = load_places(cfg)
    for ex in examples:
        if len(ex["messages"]) != 3:
            continue
        ref = resolve(ex["messages"][-1]["content"], cfg, ex["messages"][-2]["content"], places=places)
        if ref.action.type == "reject" or any(a.type in ("goto", "wait") for a in ref.steps):
            continue
        if sum(a.duration_s for a in ref.steps if a.moves) > max_duration_s:
            continue
        chosen.append({**ex, "_ref": ref.action, "_plan": ref})
    random.Random(seed).shuffle(chosen)
    return chosen[:limit]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def markdown(report: dict) -> str:
    lines = [f"# Closed-loop task success ({report['split']} split)", "", f"Command: `{report['command']}`", ""]
    if report["total"]:
        lines += [f"**Task success: {report['success_rate']:.1%}** ({report['successes']} of {report['total']}: "
                  f"{report['commands']} test commands + {report['stop_trials']} stop trials; model: "
                  f"{report['model']}; each from the start pose, {report['world']} world). "
                  f"Tolerances: distance {DISTANCE_REL_TOL:.0%}, rotation "
                  f"{ROTATION_TOL_DEG:g} deg. Collisions: {report['collisions']}.", "",
                  "| category | n | success |", "|---|---|---|"]
        lines += [f"| {k} | {v['n']} | {v['success']:.1%} |" for k, v in report["by_kind"].items()]
        fm = report["first_motion_s"]
        if fm["p50"] is not None:
            lines += ["", f"Command -> first motion (through ROS): p50 {fm['p50']:.3f} s, p95 {fm['p95']:.3f} s."]
        if report["stop_latency_s_max"] is not None:
            lines += ["", f"Stop -> zero: max {report['stop_latency_s_max'] * 1000:.1f} ms."]
    places = report.get("places")
    if places:
        lines += ["", f"## Navigation to named places ({report['tasks_model']} answers)", "",
                  f"**{_pct(places['success_rate'])}** of {places['n']} trials ({places['trials_per_place']} per "
                  f"place, each from the start pose) ended within {places['xy_tolerance_m']:g} m and "
                  f"{places['yaw_tolerance_rad']:g} rad of the place (target >= 95 %). Collisions: "
                  f"{places['collisions']}.", "", "| place | n | success |", "|---|---|---|"]
        lines += [f"| {k} | {v['n']} | {v['success']:.1%} |" for k, v in places["by_place"].items()]
    plans = report.get("plans")
    if plans:
        lines += ["", f"## 3-step plans ({report['tasks_model']} answers)", "",
                  f"**{_pct(plans['success_rate'])}** of {plans['n']} plans had every step within tolerance "
                  f"(target >= 90 %); {plans['world']}. Collisions: {plans['collisions']}."]
    col = report.get("collisions_eval")
    if col:
        on, off = col["guard_on"], col["guard_off"]
        lines += ["", f"## Collisions, collision guard on and off ({report['tasks_model']} answers)", "",
                  "| set | runs | guard on: collisions | guard off: collisions |", "|---|---|---|---|",
                  f"| guard scenarios (config/guard_scenarios.yaml) | {col['scenarios']} | "
                  f"{on['scenario_collisions']} | {off['scenario_collisions']} |",
                  f"| test commands, each from the start pose | {col['test_commands']} | "
                  f"{on['test_command_collisions']} | {off['test_command_collisions']} |"]
    fails = [r for r in report["rows"] if not r["success"]]
    fails += [{"command": r["command"], "reference": r["reference"], "model_output": r["model_output"],
               "why": r["why"]} for part in ("places", "plans") for r in (report.get(part) or {}).get("rows", [])
              if not r["success"]]
    if fails:
        lines += ["", "## Failures", "", "| command | reference | model said | why |", "|---|---|---|---|"]
        for r in fails[:40]:
            lines.append(f"| {r['command'][:60]} | {r['reference']} | {(r['model_output'] or '')[:50]} | {r['why']} |")
    return "\n".join(lines) + "\n"


def run_test_commands(args, examples: list[dict]) -> tuple[list[dict], list[float], list[dict], int]:
    """The test-command set and the stop trials on one controller (the real model unless --scripted)."""
    rows, firsts, stops = [], [], []
    with ClosedLoop(args.params_file, scripted=args.scripted,
                    controller_log=args.out / "controller.log") as loop:
        world = FAR_WALLS if args.world == "open" else loop.sim.world

        def reset() -> None:
            loop.reset_robot(*tasks.START_POSE, world=world)

        for i, ex in enumerate(examples, start=1):
            command, reference = ex["messages"][-2]["content"], ex["messages"][-1]["content"]
            exp = expected_for(ex["_plan"])
            reset()
            o = loop.run(command)
            ok, why = judge(exp, o, ex["_ref"].query)
            if o.first_motion_s is not None:
                firsts.append(o.first_motion_s)
            kind = "plan" if isinstance(exp, list) else exp["kind"]
            rows.append({"command": command, "reference": reference, "task": ex.get("task"), "kind": kind,
                         "expected": exp, "model_output": o.model_output, "success": ok, "why": why,
                         "outcome": o.to_dict()})
            print(f"[{i}/{len(examples)}] {'ok  ' if ok else 'FAIL'} {command[:50]!r} -> {o.model_output!r} {why}",
                  flush=True)
        for i in range(args.stops):
            reset()
            s = loop.stop_during(STOP_TRIALS[i % len(STOP_TRIALS)][0], stop_after_s=0.5 + 0.3 * (i % 3))
            ok = bool(s["stayed_stopped"]) and s["stop_latency_s"] is not None and s["stop_latency_s"] < 0.5
            stops.append({**s, "success": ok})
            rows.append({"command": f"{s['command']} + stop", "reference": "stop", "task": "stop_during_motion",
                         "kind": "stop", "expected": None, "model_output": None, "success": ok,
                         "why": "" if ok else (f"stop latency {s['stop_latency_s']}, "
                                               f"stayed stopped {s['stayed_stopped']}"),
                         "outcome": s})
        collisions = loop.collisions
    return rows, firsts, stops, collisions


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.evaluate_closed_loop", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data/robot"))
    ap.add_argument("--split", default="test", choices=("train", "validation", "test"))
    ap.add_argument("--limit", type=int, default=40, help="test commands to run (seeded sample; 0: none)")
    ap.add_argument("--stops", type=int, default=5, help="stop-during-motion trials")
    ap.add_argument("--max-duration-s", type=float, default=12.0, help="skip longer motions (they run in real time)")
    ap.add_argument("--params-file", default="config/controller.yaml")
    ap.add_argument("--scripted", default=None,
                    help="test commands without the model: answers from a JSON map (for tests)")
    ap.add_argument("--world", choices=("open", "default"), default="open",
                    help="test commands: each from the start pose with no obstacles (open), or in the "
                         "simulator's default world with its obstacles (the guard may stop a motion short)")
    ap.add_argument("--place-trials", type=int, default=0, help="navigations to each place of the places file")
    ap.add_argument("--plan-trials", type=int, default=0, help="3-step plans (seeded)")
    ap.add_argument("--collisions", action="store_true",
                    help="guard scenarios and test commands with the collision guard on, then off")
    ap.add_argument("--collision-commands", type=int, default=40, help="test commands in --collisions")
    ap.add_argument("--guard-scenarios", type=Path, default=None, help="default: config/guard_scenarios.yaml")
    ap.add_argument("--tasks-model", choices=("scripted", "model"), default="scripted",
                    help="answers for places, plans and collisions: the references (scripted; these sets measure "
                         "execution) or the model")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("reports/closed_loop"))
    args = ap.parse_args(argv)

    cfg = ControllerConfig.from_yaml(args.params_file)
    examples = select(load_conversations(args.data / f"{args.split}.jsonl"), cfg, args.limit,
                      args.max_duration_s, args.seed) if args.limit > 0 else []
    t0 = time.monotonic()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, firsts, stops, collisions = (run_test_commands(args, examples) if examples or args.stops > 0
                                       else ([], [], [], 0))
    by_kind = defaultdict(list)
    for r in rows:
        by_kind[r["kind"]].append(r["success"])
    lat = [s["stop_latency_s"] for s in stops if s["stop_latency_s"] is not None]
    report = {"command": command_line("training.evaluate_closed_loop", argv),
              "model": "scripted" if args.scripted else "model", "tasks_model": args.tasks_model,
              "world": args.world,
              "split": args.split, "commands": len(examples), "stop_trials": len(stops), "total": len(rows),
              "successes": sum(r["success"] for r in rows),
              "success_rate": sum(r["success"] for r in rows) / len(rows) if rows else 0.0,
              "by_kind": {k: {"n": len(v), "success": sum(v) / len(v)} for k, v in sorted(by_kind.items())},
              "first_motion_s": {"p50": percentile(firsts, 0.5) if firsts else None,
                                 "p95": percentile(firsts, 0.95) if firsts else None},
              "stop_latency_s_max": max(lat) if lat else None, "collisions": collisions, "rows": rows}
    factory = tasks.LoopFactory(args.params_file, scripted=args.tasks_model == "scripted", log_dir=args.out)
    if args.place_trials > 0:
        report["places"] = tasks.run_places(factory, cfg, args.place_trials)
    if args.plan_trials > 0:
        report["plans"] = tasks.run_plans(factory, cfg, args.plan_trials, args.seed)
    if args.collisions:
        pool = select(load_conversations(args.data / f"{args.split}.jsonl"), cfg, args.collision_commands,
                      args.max_duration_s, args.seed + 1)
        commands = [(ex["messages"][-2]["content"], ex["messages"][-1]["content"]) for ex in pool]
        report["collisions_eval"] = tasks.run_collisions(factory, commands, args.guard_scenarios)
    report["wall_s"] = round(time.monotonic() - t0, 1)
    (args.out / f"closed_loop_{args.split}.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (args.out / f"closed_loop_{args.split}.md").write_text(markdown(report))
    if rows:
        print(f"\ntask success {report['success_rate']:.1%} ({report['successes']}/{report['total']}), "
              f"{collisions} collisions")
    for part, target in (("places", "95 %"), ("plans", "90 %")):
        if report.get(part):
            r = report[part]
            print(f"{part}: {_pct(r['success_rate'])} ({r['successes']}/{r['n']}; target >= {target})")
    if report.get("collisions_eval"):
        c = report["collisions_eval"]
        print(f"collisions, guard on / off: scenarios {c['guard_on']['scenario_collisions']} / "
              f"{c['guard_off']['scenario_collisions']}, test commands {c['guard_on']['test_command_collisions']} / "
              f"{c['guard_off']['test_command_collisions']}")
    print(f"wrote {args.out}/closed_loop_{args.split}.json and .md ({report['wall_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
