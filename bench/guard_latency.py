"""Collision guard in closed loop: an obstacle appears in the scan -> zero on /cmd_vel, through the real node.

    .venv/bin/python -m bench.guard_latency [--trials 50] [--rate-hz 20] [--out reports/bench]

A probe in this process stands in for the robot's laser: it publishes a clear LaserScan (nothing within
range) at ``--scan-hz`` (10 Hz, as sim_robot). The controller (its own process, scripted answers: the
model is not what this measures) drives "move forward 10 m" at 0.5 m/s; after a random delay the probe
publishes a scan with an obstacle ``--obstacle-m`` ahead (0.27 m: inside what the first simulated
step at 0.5 m/s reaches past the 0.2 m footprint and 0.05 m margin, so the guard's answer is a stop).
Measured: that publish -> the first zero Twist received, p50/p95/p99, and the halt status's reason.
The guard runs at every control tick, so the bound is one control period plus transport: the target
is p99 <= 1 / rate_hz + 10 ms (60 ms at 20 Hz). Beside it, the same for "stop" on /command.
Prints one table and writes <out>/guard_latency.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from training.stats import percentile as pct

ROOT = Path(__file__).resolve().parents[1]
COMMAND, ANSWER = "drive ahead", "move forward 10 m"


class Probe:
    """Publishes /command and /scan, records /cmd_vel and the controller's status (monotonic times)."""

    def __init__(self):
        import rclpy
        from geometry_msgs.msg import Twist
        from rclpy.context import Context
        from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
        from sensor_msgs.msg import LaserScan
        from std_msgs.msg import String

        from ros2_llm_controller.spin import ExecutorThread

        self._ctx = Context()
        rclpy.init(context=self._ctx)
        self.node = rclpy.create_node("guard_latency_probe", context=self._ctx)
        reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.cmd_pub = self.node.create_publisher(String, "command", reliable)
        self.scan_pub = self.node.create_publisher(LaserScan, "scan", qos_profile_sensor_data)
        self.twists: list[tuple[float, float, float]] = []
        self.statuses: list[tuple[float, dict]] = []
        self.cond = threading.Condition()
        self.node.create_subscription(Twist, "cmd_vel", self._on_twist, reliable)
        self.node.create_subscription(String, "/llm_controller/status", self._on_status, reliable)
        self._String, self._LaserScan = String, LaserScan
        self._spin = ExecutorThread([self.node], context=self._ctx, name="guard_latency_probe")

    def _on_twist(self, msg) -> None:
        with self.cond:
            self.twists.append((time.monotonic(), msg.linear.x, msg.angular.z))
            self.cond.notify_all()

    def _on_status(self, msg) -> None:
        with self.cond:
            self.statuses.append((time.monotonic(), json.loads(msg.data)))
            self.cond.notify_all()

    def wait(self, predicate, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(min(left, 0.2))
        return True

    def scan(self, obstacle_m: float | None, beams: int = 360) -> None:
        """A full-turn scan: nothing within range, or an object ``obstacle_m`` ahead over +-10 degrees."""
        msg = self._LaserScan()
        msg.header.stamp = self.node.get_clock().now().to_msg()
        msg.header.frame_id = "base_link"
        inc = 2 * math.pi / beams
        msg.angle_min, msg.angle_increment = -math.pi, inc
        msg.angle_max = -math.pi + inc * (beams - 1)
        msg.range_min, msg.range_max = 0.05, 8.0
        ranges = [math.inf] * beams
        if obstacle_m is not None:
            for i in range(beams):
                if abs(-math.pi + i * inc) <= math.radians(10):
                    ranges[i] = obstacle_m
        msg.ranges = ranges
        self.scan_pub.publish(msg)

    def send(self, text: str) -> float:
        t = time.monotonic()
        self.cmd_pub.publish(self._String(data=text))
        return t

    def first_twist(self, after: float, moving: bool) -> float | None:
        for t, v, w in self.twists:
            if t > after and ((v != 0.0 or w != 0.0) == moving):
                return t
        return None

    def close(self) -> None:
        import rclpy

        self._spin.close()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self._ctx)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=50)
    ap.add_argument("--stops", type=int, default=20, help="'stop' on /command during the same motion, beside it")
    ap.add_argument("--rate-hz", type=float, default=20.0, help="the controller's control rate")
    ap.add_argument("--scan-hz", type=float, default=10.0)
    ap.add_argument("--obstacle-m", type=float, default=0.27)
    ap.add_argument("--params-file", default=str(ROOT / "config/controller.yaml"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=ROOT / "reports/bench")
    args = ap.parse_args(argv)

    from ros2_llm_controller.sim.closed_loop import isolate_ros_env

    isolate_ros_env()
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    script = Path(tempfile.mkdtemp(prefix="guard_latency_")) / "script.json"
    script.write_text(json.dumps({COMMAND: ANSWER}))
    probe = Probe()
    state = {"obstacle": None}
    scan_timer = probe.node.create_timer(1.0 / args.scan_hz, lambda: probe.scan(state["obstacle"]))
    log = open(args.out / "guard_latency_controller.log", "w", encoding="utf-8")
    cmd = [sys.executable, "-m", "ros2_llm_controller.node", "--scripted", str(script), "--ros-args",
           "--params-file", args.params_file, "-p", f"rate_hz:={args.rate_hz}"]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy(), cwd=ROOT)
    guard_s, stop_s, reasons, misses = [], [], {}, 0
    try:
        if not probe.wait(lambda: probe.cmd_pub.get_subscription_count() > 0, 60.0):
            raise RuntimeError("the controller never subscribed to /command")
        time.sleep(0.5)  # a clear scan or two reach it first
        for kind, trials in (("guard", args.trials), ("stop", args.stops)):
            for _ in range(trials):
                state["obstacle"] = None
                probe.scan(None)
                t0 = probe.send(COMMAND)
                if not probe.wait(lambda: probe.first_twist(t0, True) is not None, 20.0):
                    misses += 1
                    continue
                t_first = probe.first_twist(t0, True)
                # A plain sleep, not a wait on the probe's condition: that wakes on each Twist, and the event
                # would always land just after a control tick (the worst phase).
                time.sleep(max(0.0, t_first + rng.uniform(0.2, 1.0) - time.monotonic()))
                if kind == "guard":
                    state["obstacle"] = args.obstacle_m
                    t_event = time.monotonic()
                    probe.scan(args.obstacle_m)
                else:
                    t_event = probe.send("stop")
                if not probe.wait(lambda: probe.first_twist(t_event, False) is not None, 5.0):
                    misses += 1
                    probe.send("stop")
                    continue
                (guard_s if kind == "guard" else stop_s).append(probe.first_twist(t_event, False) - t_event)
                if kind == "guard":
                    probe.wait(lambda: any(t > t_event and s.get("event") == "halt" for t, s in probe.statuses), 2.0)
                    halt = next((s for t, s in probe.statuses if t > t_event and s.get("event") == "halt"), None)
                    why = ((halt or {}).get("guard") or {}).get("reason", "no halt status")
                    reasons[why] = reasons.get(why, 0) + 1
                time.sleep(0.2)
    finally:
        scan_timer.cancel()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        probe.close()

    target = 1.0 / args.rate_hz + 0.010
    rows = [(f"obstacle appears in the scan ({args.obstacle_m:g} m ahead) -> zero", guard_s),
            ("'stop' on /command during the same motion -> zero", stop_s)]
    print(f"\ncontroller at {args.rate_hz:g} Hz, scans at {args.scan_hz:g} Hz; target p99 <= {target * 1000:.0f} ms "
          f"(one control period + 10 ms)")
    print(f"{'measure':58} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, vals in rows:
        if vals:
            ms = [v * 1000 for v in vals]
            print(f"{name:58} {len(ms):>4} {pct(ms, .5):>8.1f} {pct(ms, .95):>8.1f} {pct(ms, .99):>8.1f} "
                  f"{max(ms):>8.1f}")
    print(f"halt reasons after the obstacle: {reasons}; trials without a measurement: {misses}")
    report = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform()},
              "rate_hz": args.rate_hz, "scan_hz": args.scan_hz, "obstacle_m": args.obstacle_m,
              "target_p99_s": target, "guard_zero_s": guard_s, "stop_zero_s": stop_s, "halt_reasons": reasons,
              "misses": misses,
              "summary": {name: {"n": len(v), "p50": pct(v, .5), "p95": pct(v, .95), "p99": pct(v, .99)}
                          for name, v in rows if v}}
    (args.out / "guard_latency.json").write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out / 'guard_latency.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
