"""Closed loop for the demo, the task-success evaluation and the latency benchmark.

Starts ``sim_robot`` and an observer in this process and the real ``llm_controller`` as a child
process (the same entry point `ros2 launch` runs), on a private ROS domain limited to this host,
so a demo never drives a real robot listening on /cmd_vel. ``run(command)`` publishes one command
and waits on events (controller status, /cmd_vel, /odom), never on fixed sleeps, then reports what
the robot did according to odometry, step by step for a plan.

The simulator runs in this process, so the loop also reads it directly (``SimTap``): the exact pose
at every velocity command it receives (step boundaries of a plan) and collisions
(``sim.collisions.CollisionCounter``, the footprint checked every ``COLLISION_STEP_S`` of simulated
motion). ``reset_robot`` puts the robot at a pose, optionally in another world (scenarios, trials that
all start from the same pose), and waits until a scan of the new surroundings has gone out.
"""

from __future__ import annotations

import bisect
import json
import math
import os
import random
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..core.actions import Action
from ..core.planner import split_stop
from .collisions import CollisionCounter
from .physics import World, quaternion_to_yaw

STATUS_TOPIC = "llm_controller/status"  # relative: /llm_controller/status, or /<namespace>/llm_controller/status
COLLISION_STEP_S = 0.004  # collision checks along the simulated motion: 4 mm at 1 m/s
NAV_WAIT_S = 120.0  # what run() allows a goto step (the node's nav_timeout_s default)


def isolate_ros_env(domain_id: int | None = None) -> int:
    """Private domain, localhost discovery, logs in a temp dir; returns the domain id (set before rclpy.init)."""
    domain = domain_id if domain_id is not None else random.Random(os.getpid() ^ time.time_ns()).randint(100, 200)
    os.environ["ROS_DOMAIN_ID"] = str(domain)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ["ROS_LOCALHOST_ONLY"] = "1"  # jazzy; kilted reads the line above
    os.environ.setdefault("ROS_LOG_DIR", tempfile.mkdtemp(prefix="ros2_llm_controller-log-"))
    return domain


@dataclass
class Outcome:
    """One command through the loop: what the model said, the action, and what odometry saw."""

    command: str
    model_output: str | None = None
    action: dict | None = None
    reply: str | None = None
    error: str | None = None
    limited: bool = False
    event: str | None = None  # result | cancelled | timeout
    generation_s: float | None = None  # the controller's own latency_s
    first_motion_s: float | None = None  # command published -> first non-zero /cmd_vel received
    forward_m: float = 0.0  # displacement along the heading at the start
    lateral_m: float = 0.0  # displacement to the left of it
    rotation_deg: float = 0.0  # unwrapped yaw change
    path_m: float = 0.0  # length travelled
    motion_s: float = 0.0  # first non-zero -> first zero /cmd_vel
    start_pose: tuple[float, float, float] = (0.0, 0.0, 0.0)
    end_pose: tuple[float, float, float] = (0.0, 0.0, 0.0)
    actions: list[dict] = field(default_factory=list)  # every step of the plan (status "actions")
    refers_to: int | None = None  # again/undo/continue: the turn repeated
    halt: dict | None = None  # the "halt" status (guarded stop, navigation failure): error, guard, progress
    done: bool = False  # a "done" status came (the plan ran to its end)
    collisions: int = 0  # new contacts in the simulator during this command
    steps: list[dict] = field(default_factory=list)  # per plan step, from the simulator: see ClosedLoop.step_motions

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Odom:
    t: float
    x: float
    y: float
    yaw: float  # unwrapped
    v: float
    w: float


@dataclass(frozen=True)
class SimCommand:
    """A velocity command as the simulator applied it, with the exact pose at that moment."""

    t: float  # monotonic, the simulator's clock
    x: float
    y: float
    yaw: float  # unwrapped
    distance_m: float  # path length so far
    linear_x: float
    angular_z: float


@dataclass
class _Record:
    twists: list[tuple[float, float, float]] = field(default_factory=list)  # (t, linear.x, angular.z)
    statuses: list[tuple[float, dict]] = field(default_factory=list)
    odom: list[_Odom] = field(default_factory=list)
    sim_commands: list[SimCommand] = field(default_factory=list)


class SimTap:
    """Wraps a ``DiffDriveSim`` in place (the instance, not the class): every command is recorded with the
    pose it was applied at, every step is cut into ``COLLISION_STEP_S`` pieces for the collision counter,
    and scans are counted. The caller holds the simulator's lock around ``command``, ``step`` and ``scan``
    (``SimRobotNode`` does); ``world()`` gives the world the collisions are counted against."""

    def __init__(self, sim, world: Callable[[], World], footprint_radius_m: float,
                 on_command: Callable[[SimCommand], None]):
        self.sim = sim
        self.world = world
        self.counter = CollisionCounter(footprint_radius_m)
        self.scans = 0
        self._step, self._command, self._scan = sim.step, sim.command, sim.scan
        self._on_command = on_command
        sim.step, sim.command, sim.scan = self.step, self.command, self.scan

    def step(self, t_s: float):
        s = self.sim.state
        t0 = s.t_s
        moving = self.sim._cmd != (0.0, 0.0)
        n = max(1, math.ceil((t_s - t0) / COLLISION_STEP_S)) if moving and t_s > t0 else 1
        world = self.world()
        for k in range(1, n):
            st = self._step(t0 + (t_s - t0) * k / n)
            self.counter.update(world, st.x, st.y)
        st = self._step(t_s)
        self.counter.update(world, st.x, st.y)
        return st

    def command(self, linear_x: float, angular_z: float, t_s: float) -> None:
        self._command(linear_x, angular_z, t_s)
        if math.isfinite(linear_x) and math.isfinite(angular_z):
            s = self.sim.state
            self._on_command(SimCommand(t_s, s.x, s.y, s.yaw_unwrapped, s.distance_m, float(linear_x),
                                        float(angular_z)))

    def scan(self, *args: Any, **kwargs: Any):
        self.scans += 1
        return self._scan(*args, **kwargs)


class ClosedLoop:
    """``with ClosedLoop() as loop: loop.run("Move forward 1 meter")``."""

    def __init__(self, params_file: str | Path | None = None, overrides: dict[str, Any] | None = None,
                 scripted: str | Path | None = None, domain_id: int | None = None, log: Callable[[str], None] = print,
                 controller_log: str | Path | None = None, ready_timeout_s: float = 600.0,
                 footprint_radius_m: float = 0.2, namespace: str = ""):
        """``overrides``: controller parameters; ``footprint_radius_m``: the robot's size for the collision
        count (the controller's own footprint_radius_m default); ``namespace``: the robot's (simulator,
        observer and controller), e.g. "/robot1" for a fleet sharing one domain."""
        self.footprint_radius_m = footprint_radius_m
        self.namespace = "/" + namespace.strip("/") if namespace.strip("/") else ""
        self.params_file = Path(params_file) if params_file else None
        self.overrides = dict(overrides or {})
        self.scripted = scripted
        self.domain_id = domain_id
        self.log = log
        self.controller_log = Path(controller_log) if controller_log else None
        self.ready_timeout_s = ready_timeout_s
        self.rec = _Record()
        # Arrival times, for bisect: predicates run on every message and must not scan whole histories
        # (a long run holds tens of thousands of samples; scanning them starves the simulator's callbacks).
        self._twist_t: list[float] = []
        self._status_t: list[float] = []
        self._odom_t: list[float] = []
        self._simcmd_t: list[float] = []
        self._cond = threading.Condition()
        self._proc: subprocess.Popen | None = None
        self._log_fh = None

    # ---- lifecycle ----

    def __enter__(self) -> "ClosedLoop":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        self.domain_id = isolate_ros_env(self.domain_id)
        import rclpy
        from geometry_msgs.msg import Twist
        from nav_msgs.msg import Odometry
        from rclpy.context import Context
        from rclpy.qos import QoSProfile, ReliabilityPolicy
        from std_msgs.msg import String

        from ..spin import ExecutorThread
        from .node import SimRobotNode

        self._context = Context()
        rclpy.init(context=self._context)
        ns = {"namespace": self.namespace} if self.namespace else {}
        self.sim = SimRobotNode(context=self._context, **ns)
        self.tap = SimTap(self.sim.sim, lambda: self.sim.world, self.footprint_radius_m, self._on_sim_command)
        self._node = rclpy.create_node("closed_loop_observer", context=self._context, **ns)
        qos = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
        self._cmd_pub = self._node.create_publisher(String, "command", QoSProfile(depth=10,
                                                    reliability=ReliabilityPolicy.RELIABLE))
        self._node.create_subscription(Twist, "cmd_vel", self._on_twist, qos)
        self._node.create_subscription(String, STATUS_TOPIC, self._on_status, qos)
        self._node.create_subscription(Odometry, "odom", self._on_odom, qos)
        self._String = String
        # One thread: every callback here is short (see ExecutorThread).
        self._spinner = ExecutorThread([self.sim, self._node], context=self._context, name="closed_loop_spin")
        self._start_controller()

    def _start_controller(self) -> None:
        cmd = [sys.executable, "-m", "ros2_llm_controller.node"]
        if self.scripted:
            cmd += ["--scripted", str(self.scripted)]
        cmd += ["--ros-args"]
        if self.namespace:
            cmd += ["-r", f"__ns:={self.namespace}"]
        if self.params_file:
            cmd += ["--params-file", str(self.params_file)]
        for key, value in self.overrides.items():
            text = json.dumps(value) if not isinstance(value, str) else value
            cmd += ["-p", f"{key}:={text}"]
        if self.controller_log:
            self.controller_log.parent.mkdir(parents=True, exist_ok=True)
            self._log_fh = open(self.controller_log, "w", encoding="utf-8")
        out = self._log_fh or subprocess.DEVNULL
        self.log(f"starting the controller (ROS_DOMAIN_ID={self.domain_id}): {shlex.join(cmd)}")
        t0 = time.monotonic()
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy())
        if self.scripted:  # no model to load, so no "ready" event: ready once it subscribes
            ready = self.wait(lambda: self._cmd_pub.get_subscription_count() > 0 or self._proc.poll() is not None,
                               60.0, allow_dead=True)
        else:
            ready = self.wait(lambda: any(s.get("event") in ("ready", "load_failed") for _, s in self.rec.statuses)
                               or self._proc.poll() is not None, self.ready_timeout_s, allow_dead=True)
        failed = [s for _, s in self.rec.statuses if s.get("event") == "load_failed"]
        if failed or not ready or self._proc.poll() is not None:
            why = (failed[0].get("error") if failed else f"exit code {self._proc.poll()}"
                   if self._proc.poll() is not None else "no ready status")
            raise RuntimeError(f"the controller did not start ({why}); see {self.controller_log or 'its output'}")
        # The status publisher is up; make sure our command publisher is matched too.
        if not self.wait(lambda: self._cmd_pub.get_subscription_count() > 0, 30.0):
            raise RuntimeError("the controller never subscribed to /command")
        self.log(f"controller ready in {time.monotonic() - t0:.1f} s")

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._log_fh:
            self._log_fh.close()
        if getattr(self, "_spinner", None) is not None:
            self._spinner.close()
            self._node.destroy_node()
            self.sim.destroy_node()
            import rclpy

            rclpy.try_shutdown(context=self._context)
            self._spinner = None

    # ---- callbacks ----

    def _on_twist(self, msg: Any) -> None:
        with self._cond:
            t = time.monotonic()
            self.rec.twists.append((t, msg.linear.x, msg.angular.z))
            self._twist_t.append(t)
            self._cond.notify_all()

    def _on_status(self, msg: Any) -> None:
        try:
            data = json.loads(msg.data)
        except ValueError:
            return
        with self._cond:
            t = time.monotonic()
            self.rec.statuses.append((t, data))
            self._status_t.append(t)
            self._cond.notify_all()

    def _on_odom(self, msg: Any) -> None:
        q = msg.pose.pose.orientation
        yaw = quaternion_to_yaw(q.x, q.y, q.z, q.w)
        with self._cond:
            if self.rec.odom:  # unwrap: at 50 Hz a step is far below pi
                prev = self.rec.odom[-1].yaw
                yaw = prev + math.remainder(yaw - prev, 2 * math.pi)
            self.rec.odom.append(_Odom(time.monotonic(), msg.pose.pose.position.x, msg.pose.pose.position.y, yaw,
                                       msg.twist.twist.linear.x, msg.twist.twist.angular.z))
            self._odom_t.append(self.rec.odom[-1].t)
            self._cond.notify_all()

    def _on_sim_command(self, c: SimCommand) -> None:
        with self._cond:  # called under the simulator's lock; the observer never takes that lock under _cond
            self.rec.sim_commands.append(c)
            self._simcmd_t.append(c.t)

    # ---- the simulator, in process ----

    @property
    def collisions(self) -> int:
        """Contacts counted in the simulator since the start (footprint ``footprint_radius_m``)."""
        with self.sim._lock:
            return self.tap.counter.count

    def reset_robot(self, x: float = 0.0, y: float = 0.0, yaw: float = 0.0, world: World | None = None,
                    timeout_s: float = 10.0) -> None:
        """Put the robot at rest at (x, y, yaw), optionally in ``world``; return once odometry shows it and two
        scans of the new surroundings went out (the controller's guard then sees them)."""
        with self.sim._lock:
            s = self.sim.sim.state
            self.sim.sim.reset(time.monotonic(), x, y, yaw, battery=s.battery)
            if world is not None:
                self.sim.world = world
            self.tap.counter._touching = frozenset()
            scans = self.tap.scans
        t = time.monotonic()

        def ready() -> bool:
            o = self.rec.odom[-1] if self.rec.odom else None
            return (o is not None and o.t > t and abs(o.x - x) < 1e-6 and abs(o.y - y) < 1e-6
                    and self.tap.scans >= scans + 2)
        if not self.wait(ready, timeout_s):
            raise RuntimeError(f"the simulator did not show the reset pose ({x}, {y}, {yaw}) within {timeout_s} s")

    def sim_commands_between(self, t0: float, t1: float) -> list[SimCommand]:
        with self._cond:
            return self.rec.sim_commands[bisect.bisect_left(self._simcmd_t, t0):bisect.bisect_right(self._simcmd_t, t1)]

    def step_motions(self, command: str, t_sent: float, t_end: float) -> list[dict]:
        """What the robot did in each step of the plan for ``command``, from the simulator's exact poses.

        Step 0 starts at the first non-zero velocity the simulator applied after ``t_sent``; step k starts
        at the command nearest to the arrival of the node's "step" status k where the twist changed (the
        nearest command at all when it did not: two equal steps); the last step ends at the next zero.
        Each entry: forward_m, lateral_m (in the step's start frame), rotation_deg, path_m, and the start
        and end poses.
        """
        cmds = self.sim_commands_between(t_sent, t_end + 1.0)
        if not cmds:
            return []
        first = next((i for i, c in enumerate(cmds) if c.linear_x or c.angular_z), None)
        if first is None:
            return []
        starts = [first]
        with self._cond:
            steps = [(t, s["step"]["index"]) for t, s in self.rec.statuses[bisect.bisect_left(self._status_t, t_sent):]
                     if s.get("command") == command and s.get("event") == "step" and s.get("step")]
        for t_k, index in sorted(steps, key=lambda e: e[1]):
            if index == 0:
                continue
            window = [i for i in range(starts[-1] + 1, len(cmds)) if t_k - 0.15 <= cmds[i].t <= t_k + 0.05]
            changes = [i for i in window if (cmds[i].linear_x, cmds[i].angular_z)
                       != (cmds[i - 1].linear_x, cmds[i - 1].angular_z)]
            # The step's first twist and its status leave the node together (the twist first) but may be
            # handled here in either order: the nearest command, a change of twist if there is one (two equal
            # steps in a row show none).
            if changes or window:
                starts.append(min(changes or window, key=lambda i: abs(cmds[i].t - t_k)))
        end = next((i for i in range(starts[-1], len(cmds)) if not (cmds[i].linear_x or cmds[i].angular_z)),
                   len(cmds) - 1)
        out = []
        for a, b in zip(starts, starts[1:] + [end]):
            out.append(_motion(cmds[a], cmds[b]))
        return out

    def wait(self, predicate: Callable[[], bool], timeout_s: float, allow_dead: bool = False) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if not allow_dead and self._proc is not None and self._proc.poll() is not None:
                    raise RuntimeError(f"the controller exited with code {self._proc.returncode}")
                self._cond.wait(min(left, 0.5))
        return True

    # ---- commands ----

    def twists_after(self, t: float) -> list[tuple[float, float, float]]:
        """(time, linear.x, angular.z) of the /cmd_vel messages received after ``t``."""
        return self.rec.twists[bisect.bisect_right(self._twist_t, t):]

    def first_twist(self, after: float, moving: bool) -> float | None:
        """Arrival time of the first non-zero (``moving``) or zero /cmd_vel after ``after``."""
        for tw in self.twists_after(after):
            if (tw[1] != 0.0 or tw[2] != 0.0) == moving:
                return tw[0]
        return None

    def status_for(self, command: str, events: tuple[str, ...], after: float, skip: int = 0) -> dict | None:
        """The first (after ``skip`` others) controller status for ``command`` with one of ``events``, received
        after ``after``."""
        for _, s in self.rec.statuses[bisect.bisect_left(self._status_t, after):]:
            if s.get("command") == command and s.get("event") in events:
                if skip == 0:
                    return s
                skip -= 1
        return None

    def result_for(self, command: str, after: float) -> dict | None:
        """The result (or cancel) that decides what ``command`` does. "Back up 2 m and stop" has two: the zero a
        stop word gets at once (kind stop_word), then the planned rest; a bare stop has only the first."""
        status = self.status_for(command, ("result", "cancelled"), after)
        if status is not None and status.get("kind") == "stop_word" and not split_stop(command)[1]:
            return self.status_for(command, ("result", "cancelled"), after, skip=1)
        return status

    def _odom_at_rest(self, after: float) -> _Odom | None:
        """The first odometry sample after ``after`` whose velocity is zero."""
        for o in self.rec.odom[bisect.bisect_right(self._odom_t, after):]:
            if o.v == 0.0 and o.w == 0.0:
                return o
        return None

    def send(self, command: str) -> float:
        t = time.monotonic()
        self._cmd_pub.publish(self._String(data=command))
        return t

    def pose(self) -> _Odom:
        if not self.wait(lambda: bool(self.rec.odom), 10.0):
            raise RuntimeError("no odometry from the simulator")
        with self._cond:
            return self.rec.odom[-1]

    def run(self, command: str, result_timeout_s: float = 120.0) -> Outcome:
        """Send one command, wait for its result, its motion and the robot at rest; measure."""
        self.wait(lambda: self._odom_at_rest(time.monotonic() - 0.2) is not None, 10.0)
        start = self.pose()
        hits0 = self.collisions
        t_sent = self.send(command)
        got = self.wait(lambda: self.status_for(command, ("result", "cancelled"), t_sent) is not None,
                         result_timeout_s)
        out = Outcome(command, start_pose=(start.x, start.y, start.yaw))
        if not got:
            out.event = "timeout"
            return out
        if self.wait(lambda: self.result_for(command, t_sent) is not None, result_timeout_s):
            status = self.result_for(command, t_sent)
        else:
            status = self.status_for(command, ("result", "cancelled"), t_sent)
        out.event = status["event"]
        out.model_output, out.action = status.get("model_output"), status.get("action")
        out.reply, out.error, out.limited = status.get("reply"), status.get("error"), bool(status.get("limited"))
        out.generation_s = status.get("latency_s")
        out.actions, out.refers_to = list(status.get("actions") or []), status.get("refers_to")
        t_end = time.monotonic()
        steps = [Action.from_dict(a) for a in out.actions]
        if out.action and out.action.get("type") != "reject" and any(
                s.moves or s.type in ("goto", "wait") for s in steps):
            budget = sum(NAV_WAIT_S if s.type == "goto" else s.duration_s for s in steps) + 30.0
            self.wait(lambda: self.status_for(command, ("done", "halt", "cancelled"), t_sent) is not None, budget)
            t_end = time.monotonic()
            end_status = self.status_for(command, ("done", "halt", "cancelled"), t_sent)
            if end_status is not None:
                out.done = end_status.get("event") == "done"
                if end_status.get("event") == "halt":
                    out.halt = {k: end_status.get(k) for k in ("error", "guard", "progress", "step")}
        self.wait(lambda: self._odom_at_rest(t_end) is not None, 10.0)
        with self._cond:
            end = self._odom_at_rest(t_end) or self.rec.odom[-1]
            samples = self.rec.odom[bisect.bisect_left(self._odom_t, start.t):bisect.bisect_right(self._odom_t, end.t)]
            first = self.first_twist(t_sent, True)
            zero = self.first_twist(first, False) if first is not None else None
        if first is not None:
            out.first_motion_s = first - t_sent
            if zero is not None:
                out.motion_s = zero - first
        dx, dy = end.x - start.x, end.y - start.y
        out.forward_m = dx * math.cos(start.yaw) + dy * math.sin(start.yaw)
        out.lateral_m = -dx * math.sin(start.yaw) + dy * math.cos(start.yaw)
        out.rotation_deg = math.degrees(end.yaw - start.yaw)
        out.path_m = sum(math.hypot(b.x - a.x, b.y - a.y) for a, b in zip(samples, samples[1:]))
        out.end_pose = (end.x, end.y, end.yaw)
        out.collisions = self.collisions - hits0
        if first is not None:
            out.steps = self.step_motions(command, t_sent, end.t)
        return out

    def stop_during(self, command: str, stop_after_s: float = 1.0, stop_word: str = "stop") -> dict:
        """Start a motion, send ``stop`` while it runs; how fast the zero came and whether it held."""
        self.wait(lambda: self._odom_at_rest(time.monotonic() - 0.2) is not None, 10.0)
        start = self.pose()
        t_sent = self.send(command)
        if not self.wait(lambda: self.first_twist(t_sent, True) is not None, 120.0):
            return {"command": command, "moved": False, "stop_latency_s": None, "stayed_stopped": None}
        t_first = self.first_twist(t_sent, True)
        self.wait(lambda: time.monotonic() >= t_first + stop_after_s, stop_after_s + 1.0)
        t_stop = self.send(stop_word)
        self.wait(lambda: self.first_twist(t_stop, False) is not None, 10.0)
        t_zero = self.first_twist(t_stop, False)
        # Stayed stopped: no non-zero velocity for one second after the zero.
        settle_until = (t_zero or t_stop) + 1.0
        self.wait(lambda: time.monotonic() >= settle_until, 2.0)
        with self._cond:
            after = self.twists_after(t_zero) if t_zero is not None else []
            end = self.rec.odom[-1]
        return {"command": command, "moved": True,
                "stop_latency_s": None if t_zero is None else t_zero - t_stop,
                "stayed_stopped": t_zero is not None and not any(tw[1] or tw[2] for tw in after),
                "travelled_m": math.hypot(end.x - start.x, end.y - start.y)}


def _motion(a: SimCommand, b: SimCommand) -> dict:
    """Displacement from pose ``a`` to pose ``b`` in ``a``'s frame."""
    dx, dy = b.x - a.x, b.y - a.y
    c, s = math.cos(a.yaw), math.sin(a.yaw)
    return {"forward_m": c * dx + s * dy, "lateral_m": -s * dx + c * dy,
            "rotation_deg": math.degrees(b.yaw - a.yaw), "path_m": b.distance_m - a.distance_m,
            "duration_s": b.t - a.t, "start": (a.x, a.y, a.yaw), "end": (b.x, b.y, b.yaw),
            "twist": (a.linear_x, a.angular_z)}
