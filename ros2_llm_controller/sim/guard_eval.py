"""Closed-loop evaluation of the collision guard on sim.physics kinematics (ROS-free).

    .venv/bin/python -m ros2_llm_controller.sim.guard_eval [--scenarios config/guard_scenarios.yaml] [--out DIR]

Each scenario's command (model text) goes through the same parser and safety limits as the node,
becomes a MotionPlan, and is played at ``rate_hz`` (20 Hz) into the simulator, twice: with the
guard applied at every tick (guard on) and without it (guard off). As in the node, the guard sees
the latest scan (at ``scan_rate_hz``, 10 Hz like sim_robot), moved into the current base_link frame
by the motion since (odometry), and a guarded stop ends the motion with zero. Collisions are counted
by ``core.collisions`` at 10 sub-steps per tick. The ROS closed loop (node + sim_robot) is separate.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml

from ..core.collision_guard import CollisionGuard, Footprint, GuardParams, GuardReason, ScanData
from .collisions import CollisionCounter, clearance_m
from ..core.limits import SafetyLimits, apply_limits
from ..core.motion import MotionPlan
from ..core.parser import MotionDefaults, parse_action
from .physics import Circle, DiffDriveSim, World



def default_scenarios_path() -> Path:
    """config/guard_scenarios.yaml from the source tree, or from the installed share/ folder."""
    name = Path("config") / "guard_scenarios.yaml"
    candidates = [Path(__file__).resolve().parents[2] / name,
                  Path(sys.prefix) / "share" / "ros2_llm_controller" / name]
    return next((c for c in candidates if c.is_file()), candidates[0])


@dataclass(frozen=True)
class Scenario:
    name: str
    command: str  # model text in the compact format
    world: World
    start: tuple[float, float, float]  # x m, y m, yaw rad
    footprint_radius_m: float = 0.2
    guard_off_collides: bool | None = None  # what the scenario is for (see the YAML)


@dataclass
class RunResult:
    scenario: str
    guard: bool
    collisions: int
    distance_m: float  # path length driven
    planned_distance_m: float  # path length the plan would drive unguarded
    rotated_deg: float
    min_clearance_m: float  # closest the footprint came to an obstacle or wall
    guard_stopped: bool = False
    stop_obstacle_distance_m: float | None = None
    stop_obstacle_bearing_deg: float | None = None
    ticks_limited: int = 0  # ticks where the guard scaled the twist down
    reasons: dict = field(default_factory=dict)


def load_scenarios(path: str | Path | None = None) -> list[Scenario]:
    doc = yaml.safe_load(Path(path or default_scenarios_path()).read_text())
    d = doc.get("defaults", {})
    out = []
    for s in doc["scenarios"]:
        get = lambda k: s.get(k, d.get(k))  # noqa: E731
        x, y, yaw_deg = get("start") or (0.0, 0.0, 0.0)
        world = World(tuple(Circle(*map(float, c)) for c in s.get("obstacles", [])), float(get("world_half_size_m")))
        out.append(Scenario(s["name"], s["command"], world, (float(x), float(y), math.radians(yaw_deg)),
                            float(get("footprint_radius_m")), s.get("guard_off_collides")))
    return out


def run_scenario(sc: Scenario, guard: bool, params: GuardParams | None = None, rate_hz: float = 20.0,
                 scan_rate_hz: float = 10.0, scan_beams: int = 360, range_min_m: float = 0.05,
                 range_max_m: float = 8.0, substeps: int = 10) -> RunResult:
    action = apply_limits(parse_action(sc.command, MotionDefaults()), SafetyLimits()).action
    plan = MotionPlan.from_action(action, rate_hz)
    g = CollisionGuard(Footprint.circle(sc.footprint_radius_m), params) if guard else None
    sim = DiffDriveSim()
    sim.reset(0.0, *sc.start)
    counter = CollisionCounter(sc.footprint_radius_m)
    min_clear = clearance_m(sc.world, sim.state.x, sim.state.y, sc.footprint_radius_m)
    res = RunResult(sc.name, guard, 0, 0.0, abs(plan.linear_x) * plan.duration_s, 0.0, min_clear)
    scan, scan_pose, next_scan_t = None, (0.0, 0.0, 0.0), 0.0
    period = plan.period_s
    n_ticks = math.ceil(plan.duration_s * rate_hz - 1e-9)
    for i in range(n_ticks + 1):
        t = i * period
        v, w = plan.velocity_at(t)
        s = sim.state
        if g is not None and (v or w):
            if t >= next_scan_t - 1e-9:
                angle_min, inc, ranges = sim.scan(sc.world, scan_beams, range_max_m)
                scan_pose, next_scan_t = (s.x, s.y, s.yaw_unwrapped), next_scan_t + 1.0 / scan_rate_hz
                scan = (ranges, angle_min, inc)
            age_s = t - (next_scan_t - 1.0 / scan_rate_hz)
            out = g.check(v, w, ScanData(scan[0], scan[1], scan[2], range_min_m, range_max_m, age_s),
                          remaining_s=plan.duration_s - t, motion_since_scan=_odom_delta(scan_pose, s))
            res.reasons[out.reason.value] = res.reasons.get(out.reason.value, 0) + 1
            res.ticks_limited += out.limited
            v, w = out.linear_x, out.angular_z
            if out.reason is GuardReason.STOPPED:  # as the node will: a guarded stop ends the motion
                res.guard_stopped = True
                res.stop_obstacle_distance_m = out.obstacle_distance_m
                res.stop_obstacle_bearing_deg = out.obstacle_bearing_deg
                sim.command(0.0, 0.0, t)
                break
        sim.command(v, w, t)
        end = min(t + period, plan.duration_s) if i < n_ticks else t
        for k in range(1, substeps + 1):  # fine enough not to step over a graze
            st = sim.step(t + (end - t) * k / substeps)
            counter.update(sc.world, st.x, st.y)
            res.min_clearance_m = min(res.min_clearance_m,
                                      clearance_m(sc.world, st.x, st.y, sc.footprint_radius_m))
    res.collisions = counter.count
    res.distance_m = sim.state.distance_m
    res.rotated_deg = math.degrees(sim.state.yaw_unwrapped - sc.start[2])
    return res


def _odom_delta(scan_pose: tuple[float, float, float], s) -> tuple[float, float, float]:
    """Pose of base_link now in the base_link frame at the scan's time."""
    x0, y0, yaw0 = scan_pose
    c, sn = math.cos(yaw0), math.sin(yaw0)
    dx, dy = s.x - x0, s.y - y0
    return c * dx + sn * dy, -sn * dx + c * dy, s.yaw_unwrapped - yaw0


def evaluate(scenarios: list[Scenario], params: GuardParams | None = None) -> list[tuple[RunResult, RunResult]]:
    """(guard off, guard on) per scenario."""
    return [(run_scenario(sc, False, params), run_scenario(sc, True, params)) for sc in scenarios]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenarios", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None, help="write guard_eval.json here")
    args = ap.parse_args(argv)
    scenarios = load_scenarios(args.scenarios)
    pairs = evaluate(scenarios)
    print(f"{'scenario':24} {'command':32} {'off: hits':>9} {'dist m':>7} {'on: hits':>9} {'dist m':>7} "
          f"{'min clr m':>9}  guard")
    for sc, (off, on) in zip(scenarios, pairs):
        stop = (f"stopped, obstacle {on.stop_obstacle_distance_m:.2f} m at {on.stop_obstacle_bearing_deg:+.0f} deg"
                if on.guard_stopped else f"{on.ticks_limited} ticks slowed" if on.ticks_limited else "clear")
        print(f"{sc.name:24} {sc.command:32} {off.collisions:>9} {off.distance_m:>7.2f} {on.collisions:>9} "
              f"{on.distance_m:>7.2f} {on.min_clearance_m:>9.3f}  {stop}")
    off_total, on_total = sum(p[0].collisions for p in pairs), sum(p[1].collisions for p in pairs)
    print(f"\ncollisions over {len(pairs)} scenarios: guard off {off_total}, guard on {on_total}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        report = {"guard_off_collisions": off_total, "guard_on_collisions": on_total,
                  "runs": [asdict(r) for p in pairs for r in p]}
        (args.out / "guard_eval.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
