"""`make demo`: the simulated robot driven by plain language, end to end.

    python -m ros2_llm_controller.sim.demo [--params-file config/controller.yaml] [--out reports/demo]
    python -m ros2_llm_controller.sim.demo --scripted references   # no model: the reference answers

Starts the simulator and the real controller (embedded model + shipped adapter) on a private ROS
domain and sends the course's commands and a few more: a named place, a three-step plan, "do that
again", "where are you?", a return to the start, a guarded stop (the collision guard stops
"Move forward 3 meters" short of the obstacle 3 m ahead) and a motion interrupted by "stop". For
each it prints the model's text, the plan, what the robot did according to odometry (step by step
for a plan), and whether the answer is the one the command asks for: a command the adapter does not
understand stays in the demo, and the output says so. Writes ``<out>/demo.json`` and
``<out>/trajectory.png`` (the path, the places, the guarded stop). Exit 0 when every step ran.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import traceback
from pathlib import Path

from ..core.actions import Action
from ..core.config import ControllerConfig, load_places
from ..core.planner import resolve
from .closed_loop import ClosedLoop, Outcome

# (command, the answer that does what it asks). The references are only compared with, never used,
# unless --scripted references.
DEMO = (
    ("Move the robot forward 2 meters", "move forward 2 m"),
    ("What is your battery level?", "query battery"),
    ("Navigate to the charging station", "go to charging station"),
    ("Where are you?", "query position"),
    ("Go forward 1 meter, turn left 90 degrees, then go forward 1 meter",
     "move forward 1 m; turn left 90 deg; move forward 1 m"),
    ("Do that again", "again"),
    ("Rotate 90 degrees clockwise", "turn clockwise 90 deg"),
    ("Report any obstacles", "query obstacles"),
    ("Go back 50 cm", "move back 50 cm"),
    ("Turn left 45 degrees", "turn left 45 deg"),
    ("Drive forward 1 meter while turning left 90 degrees", "arc forward 1 m left 90 deg"),
    ("Tell me a joke", "reply offtask"),
    ("Return to where you started", "go to where you started"),
)
GUARD_DEMO = ("Move forward 3 meters", "move forward 3 m")  # from the start: the obstacle at (3, 0) is ahead
STOP_DEMO = ("Go backward 2 meters", "move backward 2 m")  # interrupted by "stop" after 1 s
START = (0.0, 0.0, 0.0)


def describe_action(action: dict | None) -> str:
    if not action:
        return "-"
    kind = action["type"]
    if kind == "goto":
        return f"go to {action.get('place')}"
    if kind != "move":
        return kind + (f" ({action['query']})" if action.get("query") else "")
    parts = []
    if action.get("linear_x"):
        parts.append(f"linear.x={action['linear_x']:+.2f} m/s")
    if action.get("angular_z"):
        parts.append(f"angular.z={action['angular_z']:+.2f} rad/s")
    return f"move {', '.join(parts)} for {action['duration_s']:.2f} s"


def describe_plan(actions: list[dict], action: dict | None) -> str:
    if len(actions) <= 1:
        return describe_action(action)
    return "; ".join(f"{i}) {describe_action(a)}" for i, a in enumerate(actions, start=1))


def describe_motion(o: Outcome) -> str:
    if o.path_m < 0.005 and abs(o.rotation_deg) < 0.5:
        return "did not move"
    return f"forward {o.forward_m:+.3f} m, left {o.lateral_m:+.3f} m, rotated {o.rotation_deg:+.1f} deg"


def expected_motion(action: dict | None) -> str:
    if not action or action["type"] not in ("move", "goto"):
        return "no motion"
    if action["type"] == "goto":
        return f"reach {action.get('place')}"
    parts = []
    if action.get("distance_m") is not None:
        parts.append(f"{action['distance_m']:+.3f} m")
    elif action.get("linear_x"):
        parts.append(f"{action['linear_x'] * action['duration_s']:+.3f} m")
    if action.get("angle_rad") is not None:
        parts.append(f"{math.degrees(action['angle_rad']):+.1f} deg")
    elif action.get("angular_z"):
        parts.append(f"{math.degrees(action['angular_z'] * action['duration_s']):+.1f} deg")
    return ", ".join(parts)


def _same_step(a: Action, b: Action) -> bool:
    if a.type != b.type:
        return False
    if a.type == "goto":
        return a.place == b.place
    if a.type == "reply":
        return a.query == b.query
    if a.type != "move":
        return True
    close = (lambda x, y: abs(x - y) <= 0.02 * max(abs(x), abs(y)) + 1e-9)
    return (close(a.linear_x * a.duration_s, b.linear_x * b.duration_s)
            and close(a.angular_z * a.duration_s, b.angular_z * b.duration_s))


def as_asked(o: Outcome, reference: str, cfg: ControllerConfig, places) -> bool:
    """The model's answer does what the reference does (steps of the same kind, quantities within 2 %)."""
    if o.model_output is None or o.event != "result":
        return False
    if reference in ("again", "undo", "continue"):
        return o.refers_to is not None and o.model_output.strip().startswith(reference)
    if reference.startswith("reply "):
        return (o.action or {}).get("type") == "reply" and not (o.action or {}).get("query")
    ref = resolve(reference, cfg, places=places)
    got = [Action.from_dict(a) for a in o.actions] or ([Action.from_dict(o.action)] if o.action else [])
    return len(got) == len(ref.steps) and all(_same_step(a, b) for a, b in zip(got, ref.steps))


def print_outcome(i: int, command: str, o: Outcome, ok: bool, reference: str, places) -> None:
    print(f"\n[{i}] {command}")
    print(f"    model   : {o.model_output!r}" + (f"  ({o.generation_s:.2f} s)" if o.generation_s else "")
          + ("" if ok else f"  <- not what the command asks (expected {reference!r})"))
    print(f"    action  : {describe_plan(o.actions, o.action)}" + ("  [limited]" if o.limited else "")
          + (f"  error: {o.error}" if o.error else ""))
    if o.refers_to is not None:
        print(f"    repeats : turn {o.refers_to}")
    if o.reply:
        print(f"    reply   : {o.reply}")
    goto = next((a for a in o.actions if a.get("type") == "goto"), None)
    if goto is not None:
        place = places.resolve(goto.get("place") or "")
        x, y, yaw = o.end_pose
        heading = math.degrees(math.remainder(yaw, 2 * math.pi))
        print(f"    asked   : reach the {goto.get('place')}"
              + (f" at ({place.x:+.2f}, {place.y:+.2f}), heading {math.degrees(place.yaw_rad):+.0f} deg"
                 if place else ""))
        off = (f": {math.hypot(x - place.x, y - place.y):.3f} m and "
               f"{abs(math.degrees(math.remainder(yaw - place.yaw_rad, 2 * math.pi))):.1f} deg from it"
               if place else "")
        print(f"    robot   : ended at ({x:+.2f}, {y:+.2f}), heading {heading:+.0f} deg{off}"
              + (f" after {o.motion_s:.1f} s" if o.motion_s else ""))
    elif len(o.actions) > 1:
        print("    asked   : " + "; ".join(expected_motion(a) for a in o.actions))
        for k, s in enumerate(o.steps, start=1):
            print(f"    step {k}  : forward {s['forward_m']:+.3f} m, left {s['lateral_m']:+.3f} m, "
                  f"rotated {s['rotation_deg']:+.1f} deg")
        if not o.steps:
            print(f"    robot   : {describe_motion(o)}")
    else:
        print(f"    asked   : {expected_motion(o.action)}")
        print(f"    robot   : {describe_motion(o)}"
              + (f"  (first motion {o.first_motion_s:.2f} s after the command)" if o.first_motion_s else ""))
    if o.halt:
        print(f"    halt    : {o.halt.get('error')}")
    if o.collisions:
        print(f"    COLLISION: {o.collisions} contact(s) in the simulator")


def guard_summary(o: Outcome) -> dict:
    """What the guarded stop showed: the guard's status and how far the robot got."""
    halt = o.halt or {}
    g = halt.get("guard") or {}
    progress = halt.get("progress") or {}
    asked = next((abs(a["distance_m"]) for a in o.actions if a.get("distance_m") is not None), None)
    return {"stopped_by_guard": g.get("reason") == "stopped", "error": halt.get("error"),
            "obstacle_distance_m": g.get("obstacle_distance_m"), "obstacle_bearing_deg": g.get("obstacle_bearing_deg"),
            "obstacle_clearance_m": g.get("obstacle_clearance_m"), "got_m": progress.get("distance_m"),
            "odom_got_m": progress.get("odom_distance_m"), "fraction": progress.get("fraction"), "asked_m": asked,
            "stop_pose": o.end_pose, "collisions": o.collisions}


def plot(loop: ClosedLoop, outcomes: list[Outcome], places, guard: dict | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 7.5))
    h = loop.sim.world.half_size_m
    ax.add_patch(plt.Rectangle((-h, -h), 2 * h, 2 * h, fill=False, color="0.4", lw=1.5))
    for k, c in enumerate(loop.sim.world.obstacles):
        ax.add_patch(plt.Circle((c.x, c.y), c.radius_m, color="0.6", label="obstacle" if k == 0 else None))
    # The odometry, split where the demo put the robot back (a jump, not a path).
    segs, cur, prev = [], [], None
    for o in loop.rec.odom:
        if prev is not None and math.hypot(o.x - prev.x, o.y - prev.y) > 0.3:
            segs.append(cur)
            cur = []
        cur.append((o.x, o.y))
        prev = o
    segs.append(cur)
    for k, seg in enumerate(s for s in segs if s):
        ax.plot([p[0] for p in seg], [p[1] for p in seg], color="tab:blue", lw=2, label="odometry" if k == 0 else None)
    for k, p in enumerate(places.places):
        ax.plot([p.x], [p.y], marker="s", ms=9, color="tab:green", ls="none", label="places" if k == 0 else None)
        ax.arrow(p.x, p.y, 0.3 * math.cos(p.yaw_rad), 0.3 * math.sin(p.yaw_rad), head_width=0.08, color="tab:green")
        ax.annotate(p.name, (p.x, p.y), textcoords="offset points", xytext=(7, -12), fontsize=9, color="darkgreen")
    for i, o in enumerate(outcomes, start=1):
        if o.path_m > 0.005 or abs(o.rotation_deg) > 0.5:
            x, y, yaw = o.end_pose
            ax.annotate(f"{i}", (x, y), textcoords="offset points", xytext=(6, 6), fontsize=9)
            ax.arrow(x, y, 0.25 * math.cos(yaw), 0.25 * math.sin(yaw), head_width=0.07, color="tab:red")
    if guard and guard.get("stopped_by_guard"):
        x, y, _ = guard["stop_pose"]
        ax.plot([x], [y], marker="X", ms=14, color="crimson", ls="none", label="guarded stop")
        ax.add_patch(plt.Circle((x, y), loop.footprint_radius_m, fill=False, color="crimson", ls="--"))
        ax.annotate(f"guarded stop: obstacle {guard['obstacle_distance_m']:.2f} m ahead,\n"
                    f"got {guard['got_m']:.2f} of {guard['asked_m']:.0f} m", (x, y), textcoords="offset points",
                    xytext=(-60, -34), fontsize=9, color="crimson")
    ax.set_aspect("equal")
    ax.set_xlim(-h - 0.3, h + 0.3)
    ax.set_ylim(-h - 0.3, h + 0.3)
    ax.set_xlabel("x [m] (odom)")
    ax.set_ylabel("y [m] (odom)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title("sim_robot driven by llm_controller (numbers: command index)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _scripted_references(out: Path) -> Path:
    path = out / "script_references.json"
    script = dict(DEMO + (GUARD_DEMO, STOP_DEMO))
    path.write_text(json.dumps(script, indent=1) + "\n", encoding="utf-8")
    return path


def _run(loop: ClosedLoop, command: str) -> Outcome:
    """One command; an exception in the harness is reported and the demo goes on."""
    try:
        return loop.run(command)
    except Exception as exc:  # noqa: BLE001 - the demo shows what happened and carries on
        traceback.print_exc()
        return Outcome(command, event="error", error=f"demo harness: {exc!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ros2_llm_controller.sim.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--params-file", default=None, help="controller parameters (default: the packaged config)")
    ap.add_argument("--scripted", default=None,
                    help="no model: answers from a JSON map (see the node's --scripted), or 'references' for the "
                         "answers that do what each command asks")
    ap.add_argument("--out", type=Path, default=Path("reports/demo"))
    ap.add_argument("-p", "--param", action="append", default=[], metavar="NAME:=VALUE",
                    help="controller parameter override, e.g. -p max_linear_mps:=0.8")
    args = ap.parse_args(argv)
    overrides = {}
    for item in args.param:
        name, sep, value = item.partition(":=")
        if not sep:
            ap.error(f"-p {item}: expected NAME:=VALUE")
        overrides[name] = value
    args.out.mkdir(parents=True, exist_ok=True)
    scripted = _scripted_references(args.out) if args.scripted == "references" else args.scripted
    cfg = ControllerConfig.from_yaml(args.params_file) if args.params_file else ControllerConfig()
    places = load_places(cfg, start=START)
    t0 = time.monotonic()
    outcomes: list[Outcome] = []
    entries: list[dict] = []
    notes: list[str] = []
    stop: dict = {}
    guard: dict | None = None
    with ClosedLoop(args.params_file, overrides, scripted=scripted,
                    controller_log=args.out / "controller.log") as loop:
        for i, (command, reference) in enumerate(DEMO, start=1):
            o = _run(loop, command)
            ok = as_asked(o, reference, cfg, places)
            outcomes.append(o)
            entries.append({**o.to_dict(), "reference": reference, "as_asked": ok})
            print_outcome(i, command, o, ok, reference, places)

        # Guarded stop: from the start, the obstacle at (3, 0) is 3 m ahead (its edge at 2.7 m).
        i = len(DEMO) + 1
        pose = loop.pose()
        if math.hypot(pose.x - START[0], pose.y - START[1]) > 0.15 or abs(math.remainder(pose.yaw, 2 * math.pi)) > 0.1:
            note = (f"the robot is not at the start ({pose.x:+.2f}, {pose.y:+.2f}): the demo puts it back there "
                    "(a simulator reset) for the guarded stop")
            print(f"\n    note    : {note}")
            notes.append(note)
            loop.reset_robot(*START)
        command, reference = GUARD_DEMO
        o = _run(loop, command)
        ok = as_asked(o, reference, cfg, places)
        outcomes.append(o)
        print_outcome(i, f"{command}  (toward the obstacle 3 m ahead; collision guard on)", o, ok, reference, places)
        guard = guard_summary(o)
        if guard["stopped_by_guard"]:
            bearing = int(round(guard["obstacle_bearing_deg"]))
            print(f"    guard   : stopped {guard['obstacle_distance_m']:.2f} m from the obstacle at "
                  f"{bearing:+d} deg (clearance {guard['obstacle_clearance_m']:.2f} m "
                  f"past the footprint); got {guard['got_m']:.2f} m of {guard['asked_m']:.2f} m "
                  f"({100 * (guard['fraction'] or 0):.0f} % of the step); collisions: {guard['collisions']}")
        else:
            print(f"    guard   : no guarded stop ({o.halt.get('error') if o.halt else 'the motion was not stopped'}); "
                  f"collisions: {guard['collisions']}")
        entries.append({**o.to_dict(), "reference": reference, "as_asked": ok, "guarded_stop": guard})

        # A motion interrupted by "stop".
        command, reference = STOP_DEMO
        print(f"\n[{i + 1}] {command!r}, then 'stop' after 1 s")
        try:
            stop = loop.stop_during(command, 1.0)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            stop = {"command": command, "stop_latency_s": None, "stayed_stopped": None, "error": repr(exc)}
        if stop.get("stop_latency_s") is not None:
            print(f"    zero velocity {stop['stop_latency_s'] * 1000:.1f} ms after 'stop'; travelled "
                  f"{stop['travelled_m']:.2f} m of 2 m; stayed stopped: {stop['stayed_stopped']}")
        else:
            print("    the motion did not start or no zero velocity was seen"
                  + (f" ({stop['error']})" if stop.get("error") else ""))
        try:
            plot(loop, outcomes, places, guard, args.out / "trajectory.png")
        except Exception:  # noqa: BLE001 - a plot failure must not lose the report
            traceback.print_exc()
            notes.append("the trajectory plot failed (see the output)")
        battery = loop.sim.sim.state.battery
        collisions = loop.collisions
    ran = all(e["event"] == "result" for e in entries) and stop.get("stayed_stopped") is not False
    not_asked = [e["command"] for e in entries if not e["as_asked"]]
    report = {"commands": entries, "guarded_stop": guard, "stop_during_motion": stop, "notes": notes,
              "not_as_asked": not_asked, "collisions": collisions, "battery_end": battery,
              "wall_s": round(time.monotonic() - t0, 1), "ok": ran}
    (args.out / "demo.json").write_text(json.dumps(report, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"\n{len(entries) - len(not_asked)} of {len(entries)} commands answered as asked"
          + (f"; not as asked: {', '.join(repr(c) for c in not_asked)}" if not_asked else "")
          + f". Collisions: {collisions}.")
    print(f"trajectory: {args.out / 'trajectory.png'}; details: {args.out / 'demo.json'}; "
          f"{report['wall_s']} s in all")
    return 0 if ran else 1


if __name__ == "__main__":
    sys.exit(main())
