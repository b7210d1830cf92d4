"""Per-call time of the collision guard (core.collision_guard), 360- and 1000-beam scans, side by side.

    .venv/bin/python bench/guard.py [--calls 2000] [--out reports/bench]

Cases, each a full-turn scan from sim.physics (one call = what the node does every control tick):
  open room   : walls 6 m away, nothing near the path (most ticks);
  obstacle    : a 0.3 m obstacle 1.2 m ahead (the guard slows the robot);
  cluttered   : 12 obstacles 0.9 m around the robot and walls 1.5 m away, on an arc (hundreds of
                points in reach: the costly case);
  polygon     : the cluttered case with a 0.6 x 0.4 m rectangle footprint on a slower arc.
The scan's conversion to points (cached beam directions) is included in every call.
Prints p50/p99/max in microseconds and writes <out>/guard.json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

from ros2_llm_controller.core.collision_guard import CollisionGuard, Footprint, GuardParams, ScanData
from ros2_llm_controller.sim.physics import Circle, DiffDriveSim, World
from training.stats import percentile as pct

RECT = ((0.3, 0.2), (-0.3, 0.2), (-0.3, -0.2), (0.3, -0.2))


def scan_of(world: World, beams: int) -> ScanData:
    sim = DiffDriveSim()
    sim.reset(0.0)
    angle_min, inc, ranges = sim.scan(world, beams, 8.0)
    return ScanData(ranges, angle_min, inc, 0.05, 8.0, 0.05)


def cases():
    clutter = World(tuple(Circle(0.9 * math.cos(a), 0.9 * math.sin(a), 0.12)
                          for a in (i * 2 * math.pi / 12 + 0.2 for i in range(12))), half_size_m=1.5)
    return [("open room", World((), 6.0), Footprint.circle(0.2), (0.5, 0.0)),
            ("obstacle", World((Circle(1.2, 0.0, 0.3),), 6.0), Footprint.circle(0.2), (1.0, 0.0)),
            ("cluttered", clutter, Footprint.circle(0.2), (1.0, 0.8)),
            ("polygon", clutter, Footprint.from_polygon(RECT), (0.6, 1.0))]


def time_calls(guard: CollisionGuard, scan: ScanData, v: float, w: float, calls: int) -> list[float]:
    for _ in range(50):
        guard.check(v, w, scan)
    out = []
    for _ in range(calls):
        t0 = time.perf_counter()
        guard.check(v, w, scan)
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "reports/bench")
    args = ap.parse_args(argv)
    params = GuardParams()
    print(f"guard per call, {args.calls} calls per case; horizon {params.time_before_collision_s:g} s, "
          f"step {params.simulation_step_s:g} s, margin {params.stop_margin_m:g} m")
    print(f"\n{'case':12} {'twist':>12} {'result':>8} | {'360 beams: p50 us':>17} {'p99 us':>7} {'max us':>7} "
          f"| {'1000 beams: p50 us':>18} {'p99 us':>7} {'max us':>7}")
    report = {"machine": {"cpu_count": __import__("os").cpu_count(), "platform": platform.platform()},
              "params": params.__dict__, "cases": {}}
    for name, world, footprint, (v, w) in cases():
        row, entry = [], {}
        for beams in (360, 1000):
            guard = CollisionGuard(footprint, params)
            scan = scan_of(world, beams)
            result = guard.check(v, w, scan).reason.value
            t = [x * 1e6 for x in time_calls(guard, scan, v, w, args.calls)]
            row.append(f"{pct(t, .5):>17.0f} {pct(t, .99):>7.0f} {max(t):>7.0f}" if beams == 360 else
                       f"{pct(t, .5):>18.0f} {pct(t, .99):>7.0f} {max(t):>7.0f}")
            entry[beams] = {"result": result, "p50_us": pct(t, .5), "p99_us": pct(t, .99), "max_us": max(t)}
        report["cases"][name] = entry
        print(f"{name:12} {f'({v:g}, {w:g})':>12} {entry[360]['result']:>8} | {row[0]} | {row[1]}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "guard.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out / 'guard.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
