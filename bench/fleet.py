"""Fleet throughput and latency: one shared inference server vs one in-process model per robot.

    .venv/bin/python -m bench.fleet [--robots 1 4 16] [--commands 3] [--out reports/bench]

For each fleet size N and each way of serving the model, N real ``llm_controller`` processes run in
the namespaces /r0 ... /r{N-1} of one private ROS domain:

* shared: ``backend: openai``, all N talking to one ``transformers serve --continuous-batching``
  (embedded model + shipped adapter merged), started once for the whole run;
* in-process: ``backend: transformers``, N copies of the model (about 600 MB each); skipped, with
  the reason printed, where MemAvailable does not cover N copies plus 2 GB.

Every robot, at the same time, sends ``--commands`` motion commands one after the other: command ->
first non-zero /cmd_vel (first-motion latency), then "stop" -> zero. Commands/s = commands answered /
wall time of the phase. No simulator (nothing here needs odometry), so the robots' own cost is the
controllers'. Prints one table (figures, not asserts) and writes <out>/fleet.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

from ros2_llm_controller.sim.closed_loop import isolate_ros_env
from ros2_llm_controller.sim.inference_server import CONTINUOUS_BATCHING, TransformersServe
from training.stats import percentile as pct

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("Move the robot forward 2 meters", "Rotate 90 degrees clockwise", "Go back 50 cm",
            "Turn left 45 degrees", "Drive forward 1 meter", "Spin right for 2 seconds")
MODEL_MB = 700  # one in-process controller: model (517 MB fp32) + torch + rclpy


def mem_available_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


class Fleet:
    """N controller processes and one observer node (publishers, cmd_vel and status subscriptions)."""

    def __init__(self, n: int, overrides: dict, log_dir: Path, ready_timeout_s: float = 900.0):
        import rclpy
        from geometry_msgs.msg import Twist
        from rclpy.context import Context
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from std_msgs.msg import String

        from ros2_llm_controller.spin import ExecutorThread

        self.n, self.String = n, String
        self.cond = threading.Condition()
        self.twists: list[list[tuple[float, float, float]]] = [[] for _ in range(n)]
        self.statuses: list[list[tuple[float, dict]]] = [[] for _ in range(n)]
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("fleet_bench", context=self.context)
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self.pubs = []
        for i in range(n):
            self.pubs.append(self.node.create_publisher(String, f"/r{i}/command", 10))
            self.node.create_subscription(Twist, f"/r{i}/cmd_vel", lambda m, i=i: self._twist(i, m), qos)
            self.node.create_subscription(String, f"/r{i}/llm_controller/status", lambda m, i=i: self._status(i, m),
                                          qos)
        self.spinner = ExecutorThread([self.node], context=self.context, name="fleet_bench_spin")
        log_dir.mkdir(parents=True, exist_ok=True)
        self.procs, self.logs = [], []
        t0 = time.monotonic()
        for i in range(n):
            cmd = [sys.executable, "-m", "ros2_llm_controller.node", "--ros-args", "-r", f"__ns:=/r{i}"]
            for k, v in overrides.items():
                cmd += ["-p", f"{k}:={v if isinstance(v, str) else json.dumps(v)}"]
            fh = open(log_dir / f"r{i}.log", "w")
            self.logs.append(fh)
            self.procs.append(subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT))
        ok = self.wait(lambda: all(any(s.get("event") in ("ready", "load_failed") for _, s in st)
                                   for st in self.statuses) or any(p.poll() is not None for p in self.procs),
                       ready_timeout_s)
        failed = [i for i, st in enumerate(self.statuses) if any(s.get("event") == "load_failed" for _, s in st)]
        if not ok or failed or any(p.poll() is not None for p in self.procs):
            self.close()
            raise RuntimeError(f"controllers did not all start (failed: {failed}; logs in {log_dir})")
        self.wait(lambda: all(p.get_subscription_count() > 0 for p in self.pubs), 60.0)
        self.startup_s = time.monotonic() - t0

    def _twist(self, i, msg):
        with self.cond:
            self.twists[i].append((time.monotonic(), msg.linear.x, msg.angular.z))
            self.cond.notify_all()

    def _status(self, i, msg):
        with self.cond:
            self.statuses[i].append((time.monotonic(), json.loads(msg.data)))
            self.cond.notify_all()

    def wait(self, pred, timeout_s: float) -> bool:
        with self.cond:
            return self.cond.wait_for(pred, timeout_s)

    def first_twist(self, i: int, after: float, moving: bool) -> float | None:
        return next((t for t, lin, ang in self.twists[i] if t > after and bool(lin or ang) == moving), None)

    def result(self, i: int, command: str, after: float) -> dict | None:
        return next((s for t, s in self.statuses[i] if t > after and s.get("command") == command
                     and s.get("event") in ("result", "cancelled")), None)

    def drive(self, i: int, commands: list[str], out: list, timeout_s: float) -> None:
        for cmd in commands:
            t0 = time.monotonic()
            self.pubs[i].publish(self.String(data=cmd))
            self.wait(lambda: self.result(i, cmd, t0) is not None, timeout_s)
            self.wait(lambda: self.first_twist(i, t0, True) is not None, 1.0)  # may trail the result status
            first, res = self.first_twist(i, t0, True), self.result(i, cmd, t0)
            out.append({"robot": i, "command": cmd, "first_motion_s": None if first is None else first - t0,
                        "answered": res is not None and res.get("event") == "result",
                        "kind": res and res.get("kind"), "t_done": time.monotonic()})
            t_stop = time.monotonic()
            self.pubs[i].publish(self.String(data="stop"))
            self.wait(lambda: self.first_twist(i, t_stop, False) is not None, 10.0)

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for fh in self.logs:
            fh.close()
        import rclpy

        self.spinner.close()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


def run_case(n: int, overrides: dict, commands_per_robot: int, log_dir: Path, timeout_s: float) -> dict:
    fleet = Fleet(n, overrides, log_dir)
    try:
        rows: list[dict] = []
        plans = [[COMMANDS[(i + k) % len(COMMANDS)] for k in range(commands_per_robot)] for i in range(n)]
        threads = [threading.Thread(target=fleet.drive, args=(i, plans[i], rows, timeout_s)) for i in range(n)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
    finally:
        fleet.close()
    firsts = [r["first_motion_s"] for r in rows if r["first_motion_s"] is not None]
    answered = sum(r["answered"] for r in rows)
    return {"robots": n, "commands": len(rows), "answered": answered, "moved": len(firsts), "wall_s": wall,
            "commands_per_s": answered / wall if wall else 0.0, "startup_s": fleet.startup_s,
            "p50_s": pct(firsts, 0.5) if firsts else None, "p95_s": pct(firsts, 0.95) if firsts else None,
            "rows": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--robots", type=int, nargs="+", default=[1, 4, 16])
    ap.add_argument("--commands", type=int, default=3, help="commands per robot, one after the other")
    ap.add_argument("--timeout-s", type=float, default=300.0, help="request_timeout_s and the wait per command")
    ap.add_argument("--server-args", default=" ".join(CONTINUOUS_BATCHING),
                    help="extra `transformers serve` arguments (default: continuous batching with a bounded KV cache, "
                    "which took 4 robots from 0.15 to 0.53 commands/s here); write --server-args= for none")
    ap.add_argument("--skip-in-process", action="store_true")
    ap.add_argument("--max-in-process", type=int, default=16, help="largest fleet run with one model per robot "
                    "(each loads ~600 MB and a torch import: 16 take minutes to start on 2 cores)")
    ap.add_argument("--out", type=Path, default=ROOT / "reports/bench")
    args = ap.parse_args(argv)
    isolate_ros_env(random.Random(time.time_ns()).randint(100, 200))
    logs = args.out / "fleet_logs"
    results: dict[str, dict[int, dict | str]] = {"shared server": {}, "in-process each": {}}
    with TransformersServe(log_path=logs / "server.log", extra_args=tuple(args.server_args.split()),
                           log=print) as server:
        shared = {"backend": "openai", "base_url": server.base_url, "request_timeout_s": args.timeout_s}
        for n in args.robots:
            print(f"shared server, {n} robots ...", flush=True)
            results["shared server"][n] = run_case(n, shared, args.commands, logs / f"shared_{n}", args.timeout_s)
    for n in args.robots:
        avail = mem_available_mb()
        need = n * MODEL_MB + 2048
        if args.skip_in_process or n > args.max_in_process:
            results["in-process each"][n] = ("skipped (--skip-in-process)" if args.skip_in_process else
                                             f"skipped: more than --max-in-process {args.max_in_process}")
        elif avail is not None and avail < need:
            results["in-process each"][n] = (f"skipped: {n} models need about {need / 1024:.1f} GB, "
                                             f"{avail / 1024:.1f} GB available")
        else:
            print(f"in-process, {n} robots ...", flush=True)
            results["in-process each"][n] = run_case(n, {"backend": "transformers"}, args.commands,
                                                     logs / f"inproc_{n}", args.timeout_s)
    print(f"\n{'robots':>6} | {'serving':16} | {'commands/s':>10} | {'p50 first motion':>16} | {'p95':>8} | "
          f"{'answered':>8} | {'start-up':>8}")
    for n in args.robots:
        for kind in results:
            r = results[kind][n]
            if isinstance(r, str):
                print(f"{n:>6} | {kind:16} | {r}")
                continue
            p50 = f"{r['p50_s']:.2f} s" if r["p50_s"] is not None else "-"
            p95 = f"{r['p95_s']:.2f} s" if r["p95_s"] is not None else "-"
            print(f"{n:>6} | {kind:16} | {r['commands_per_s']:>10.2f} | {p50:>16} | {p95:>8} | "
                  f"{r['answered']:>3}/{r['commands']:<4} | {r['startup_s']:>6.1f} s")
    report = {"machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                          "load_avg_end": os.getloadavg()},
              "commands_per_robot": args.commands, "server_args": args.server_args, "results": results}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "fleet.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    print(f"wrote {args.out / 'fleet.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
