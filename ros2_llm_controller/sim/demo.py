"""`make demo`: the simulated robot driven by plain language, end to end.

    python -m ros2_llm_controller.sim.demo [--params-file config/controller.yaml] [--out reports/demo]

Starts the simulator and the real controller (embedded model + shipped adapter) on a private ROS
domain, sends the course's commands and a few more, and prints for each the model's text, the
action and what the simulated robot did according to odometry; then interrupts a motion with
"stop". Writes ``<out>/demo.json`` and ``<out>/trajectory.png``. Exit 0 when every step ran.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from .closed_loop import ClosedLoop, Outcome

COMMANDS = (
    "Move the robot forward 2 meters",
    "What is your battery level?",
    "Navigate to the charging station",
    "Rotate 90 degrees clockwise",
    "Report any obstacles",
    "Go back 50 cm",
    "Turn left 45 degrees",
    "Drive forward 1 meter while turning left 90 degrees",
    "Tell me a joke",
    "stop",
)
STOP_DEMO = "Move forward 3 meters"


def describe_action(action: dict | None) -> str:
    if not action:
        return "-"
    kind = action["type"]
    if kind != "move":
        return kind + (f" ({action['query']})" if action.get("query") else "")
    parts = []
    if action.get("linear_x"):
        parts.append(f"linear.x={action['linear_x']:+.2f} m/s")
    if action.get("angular_z"):
        parts.append(f"angular.z={action['angular_z']:+.2f} rad/s")
    return f"move {', '.join(parts)} for {action['duration_s']:.2f} s"


def describe_motion(o: Outcome) -> str:
    if o.path_m < 0.005 and abs(o.rotation_deg) < 0.5:
        return "did not move"
    return f"forward {o.forward_m:+.3f} m, left {o.lateral_m:+.3f} m, rotated {o.rotation_deg:+.1f} deg"


def expected_motion(action: dict | None) -> str:
    if not action or action["type"] != "move":
        return "no motion"
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


def plot(loop: ClosedLoop, outcomes: list[Outcome], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [o.x for o in loop.rec.odom]
    ys = [o.y for o in loop.rec.odom]
    fig, ax = plt.subplots(figsize=(7, 7))
    for c in loop.sim.world.obstacles:
        ax.add_patch(plt.Circle((c.x, c.y), c.radius_m, color="0.7"))
    ax.plot(xs, ys, color="tab:blue", lw=2, label="odometry")
    for i, o in enumerate(outcomes, start=1):
        if o.path_m > 0.005 or abs(o.rotation_deg) > 0.5:
            x, y, yaw = o.end_pose
            ax.annotate(f"{i}", (x, y), textcoords="offset points", xytext=(6, 6), fontsize=9)
            ax.arrow(x, y, 0.25 * math.cos(yaw), 0.25 * math.sin(yaw), head_width=0.07, color="tab:red")
    ax.plot([0], [0], "ko", label="start")
    ax.set_aspect("equal")
    ax.set_xlabel("x [m] (odom)")
    ax.set_ylabel("y [m] (odom)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    ax.set_title("sim_robot driven by llm_controller (numbers: command index)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ros2_llm_controller.sim.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument("--params-file", default=None, help="controller parameters (default: the packaged config)")
    ap.add_argument("--scripted", default=None, help="no model: answers from a JSON map (see the node's --scripted)")
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
    t0 = time.monotonic()
    outcomes: list[Outcome] = []
    with ClosedLoop(args.params_file, overrides, scripted=args.scripted,
                    controller_log=args.out / "controller.log") as loop:
        for i, command in enumerate(COMMANDS, start=1):
            o = loop.run(command)
            outcomes.append(o)
            print(f"\n[{i}] {command}")
            print(f"    model   : {o.model_output!r}" + (f"  ({o.generation_s:.2f} s)" if o.generation_s else ""))
            print(f"    action  : {describe_action(o.action)}" + ("  [limited]" if o.limited else "")
                  + (f"  error: {o.error}" if o.error else ""))
            if o.reply:
                print(f"    reply   : {o.reply}")
            print(f"    asked   : {expected_motion(o.action)}")
            print(f"    robot   : {describe_motion(o)}"
                  + (f"  (first motion {o.first_motion_s:.2f} s after the command)" if o.first_motion_s else ""))
        print(f"\n[{len(COMMANDS) + 1}] {STOP_DEMO!r}, then 'stop' after 1 s")
        stop = loop.stop_during(STOP_DEMO, 1.0)
        if stop["stop_latency_s"] is not None:
            print(f"    zero velocity {stop['stop_latency_s'] * 1000:.1f} ms after 'stop'; travelled "
                  f"{stop['travelled_m']:.2f} m of 3 m; stayed stopped: {stop['stayed_stopped']}")
        else:
            print("    the motion did not start or no zero velocity was seen")
        plot(loop, outcomes, args.out / "trajectory.png")
        battery = loop.sim.sim.state.battery
    ok = all(o.event == "result" for o in outcomes) and bool(stop.get("stayed_stopped"))
    report = {"commands": [o.to_dict() for o in outcomes], "stop_during_motion": stop,
              "battery_end": battery, "wall_s": round(time.monotonic() - t0, 1), "ok": ok}
    (args.out / "demo.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"\ntrajectory: {args.out / 'trajectory.png'}; details: {args.out / 'demo.json'}; "
          f"{report['wall_s']} s in all")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
