"""`llm_controller`: plain-language commands in, a safety-limited velocity stream out.

A thin adapter over the ROS-free core: it converts messages, hands commands to one generation
thread (latest command wins), applies the resulting actions and publishes.

    command        std_msgs/String         in   plain-language command
    cmd_vel        geometry_msgs/Twist     out  (TwistStamped when use_stamped), reliable, depth 10
    ~/status       std_msgs/String         out  JSON: command, model_output, action, limited, error, kind,
                                                latency_s, event, state, reply, seq
                                                event: ready accepted result done cancelled halt
                                                load_failed shutdown; state: loading idle generating
                                                moving stopped rejected error
    battery_state  sensor_msgs/BatteryState in  answers "query battery"
    scan           sensor_msgs/LaserScan   in   answers "query obstacles", feeds the collision guard and the
                                                odom navigation's obstacle stop (sensor-data QoS)
    odom           nav_msgs/Odometry       in   pose for "go to" (odom backend), "query position" and the
                                                "start" place (the first pose received)
    navigate_to_pose  nav2_msgs/action/NavigateToPose  action client for "go to" with navigation=nav2
                                                (nav2_backend.py; name: nav2_action)

Plans run step by step through ``core.executor.PlanExecutor`` at ``rate_hz``: a status "step" per step
of a plan of two or more (step: index, total), "nav_feedback" during a goto, "done" at the end, and
"halt" when navigation fails or the collision guard stops the robot (with the obstacle's distance and
bearing and how far the robot got). A stop or a newer command cancels the rest at once.

Safety: stop words act in the command callback, without the model; every motion ends with a zero
velocity, and so do rejections, unreadable model text, generation errors, callback exceptions,
SIGINT and SIGTERM. A newer command cancels the generation in progress at once; the current motion
goes on while the model thinks, and the new result replaces it (move: a zero, then the new
velocity), ends it (stop, reject, error) or leaves it running (reply, query).

    ros2 run ros2_llm_controller llm_controller --ros-args --params-file config/controller.yaml
    ros2 launch ros2_llm_controller controller.launch.py
    # Dry run / test mode: no model; answers from a JSON map {command: model text}, optional
    # "__delay_s__" (simulated latency) and "__fallback__" (text for unknown commands).
    python -m ros2_llm_controller.node --scripted script.json --ros-args -p rate_hz:=20.0
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from geometry_msgs.msg import Twist, TwistStamped
from nav_msgs.msg import Odometry
from rclpy.clock import Clock, ClockType
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import BatteryState, LaserScan
from std_msgs.msg import String

from . import ros_params
from .core.actions import STOP, Action
from .core.collision_guard import CollisionGuard, Footprint, GuardReason, ScanData
from .core.config import NODE_NAME, ControllerConfig, load_places
from .core.executor import EventKind, NavBackend, PlanExecutor, TickOutput, UnknownPlace, resolve_plan
from .core.generation import GenerationCancelled, Generator, ScriptedGenerator
from .core.memory import PlanMemory
from .core import spelling
from .core.planner import Planner, PlanResult, ResultKind, precheck, split_stop
from .core.sensors import describe_battery, describe_obstacles, describe_position, describe_state
from .spin import run_until_signal
from .worker import Job, LatestCommandWorker

GeneratorFactory = Callable[[ControllerConfig], Generator]
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_command(text: str) -> str:
    """Lone surrogates -> '?', control characters (tab and newline kept) -> space."""
    return _CONTROL_CHARS.sub(" ", text.encode("utf-8", "replace").decode("utf-8"))


def _short(text: str | None, limit: int = 80) -> str:
    text = text or ""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _yaw(q) -> float:
    """Rotation about z of a geometry_msgs/Quaternion."""
    return math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))


def hf_generator_factory(cfg: ControllerConfig) -> Generator:
    from .core.hf_generator import HFGenerator  # torch/transformers only when a real model is wanted

    return HFGenerator.from_config(cfg)


def default_generator_factory(cfg: ControllerConfig) -> Generator:
    """The generator ``backend`` names: the model in this process, or an OpenAI-compatible server."""
    from .core.generation import generator_from_config

    return generator_from_config(cfg) if cfg.backend != "transformers" else hf_generator_factory(cfg)


def _fail_safe(callback: Callable[..., None]) -> Callable[..., None]:
    """An exception in a callback stops the robot and is reported instead of killing the executor."""

    @functools.wraps(callback)
    def wrapper(self: "LlmControllerNode", *args: Any) -> None:
        try:
            callback(self, *args)
        except Exception as exc:  # noqa: BLE001
            self.get_logger().error(f"{callback.__name__} failed, stopping the robot: {exc!r}")
            self.halt("error", f"internal error in {callback.__name__}: {exc!r}")

    return wrapper


class LlmControllerNode(Node):
    def __init__(self, generator: Generator | None = None, generator_factory: GeneratorFactory | None = None,
                 on_fatal: Callable[[str], None] | None = None, **node_kwargs: Any):
        """``generator``: use it as is (tests, dry runs); otherwise ``generator_factory(config)``
        (default: the Hugging Face model) runs in the generation thread while state is "loading"."""
        super().__init__(NODE_NAME, **node_kwargs)
        self.config = ros_params.declare_all(self)
        cfg = self.config
        self._lock = threading.RLock()  # plan executor, state and status sequence
        # A missing or malformed places file stops the start-up with its reason (PlacesError).
        self._places = self._base_places = load_places(cfg, start=None)
        self._exec: PlanExecutor | None = None
        self._plan_command: str | None = None
        self._plan_turn: int | None = None  # the plan's turn in the planner's memory ("continue")
        self._interrupted: tuple[Action, ...] = ()  # what a stopped plan left undone ("continue")
        self._odom: tuple[tuple[float, float, float], float] | None = None  # (x, y, yaw), monotonic receipt
        self._start_pose: tuple[float, float, float] | None = None
        self._scan_data: tuple[ScanData, float] | None = None  # the latest scan, monotonic receipt
        self._guard = CollisionGuard(Footprint.circle(cfg.footprint_radius_m), cfg.guard_params)
        self.nav_backend: NavBackend | None = None  # the nav2 client, for navigation=nav2
        if cfg.navigation == "nav2":  # nav2_msgs only when asked for (not on PyPI): Nav2Unavailable if missing
            from .nav2_backend import Nav2Backend

            self.nav_backend = Nav2Backend(self, cfg.nav2_action, server_timeout_s=cfg.nav2_server_timeout_s)
        self._state = "idle" if generator is not None else "loading"
        self._rest_state = self._state  # state after the last result, for "query status"
        self._seq = 0
        self._closing = False
        self._battery: tuple[BatteryState, float] | None = None
        self._scan: tuple[LaserScan, float] | None = None
        self._generator = generator
        self._memory = PlanMemory()  # kept across planner rebuilds (parameter changes, model load)
        self._planner = self._make_planner(generator, cfg) if generator is not None else None
        self._factory = generator_factory or default_generator_factory
        self._load_error: str | None = None
        self._on_fatal = on_fatal

        qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
        self._twist_type = TwistStamped if cfg.use_stamped else Twist
        self._cmd_pub = self.create_publisher(self._twist_type, cfg.cmd_vel_topic, qos)
        self._status_pub = self.create_publisher(String, cfg.status_topic, qos)
        self.create_subscription(String, cfg.command_topic, self._on_command, qos)
        # Best effort matches reliable and best-effort sensor publishers alike.
        self.create_subscription(BatteryState, cfg.battery_topic, self._on_battery, qos_profile_sensor_data)
        self.create_subscription(LaserScan, cfg.scan_topic, self._on_scan, qos_profile_sensor_data)
        self.create_subscription(Odometry, cfg.odom_topic, self._on_odom, qos_profile_sensor_data)
        # Steady clock: a motion lasts its wall-clock duration even if /clock pauses or is absent.
        self._timer = self.create_timer(1.0 / cfg.rate_hz, self._on_tick, autostart=False,
                                        clock=Clock(clock_type=ClockType.STEADY_TIME))
        # The timer only runs during a motion; waking the executor makes it see a reset from the
        # generation thread at once.
        self._wake = self.create_guard_condition(lambda: None)
        self.add_on_set_parameters_callback(self._check_params)
        self.add_post_set_parameters_callback(self._apply_params)
        self.get_logger().info(
            f"listening on {self.resolve_topic_name(cfg.command_topic)}, publishing "
            f"{self._twist_type.__name__} on {self.resolve_topic_name(cfg.cmd_vel_topic)} at {cfg.rate_hz:g} Hz "
            f"(limits {cfg.max_linear_mps:g} m/s, {cfg.max_angular_rps:g} rad/s, {cfg.max_duration_s:g} s)")
        self._worker = LatestCommandWorker(self._run_job, self._on_worker_error,
                                           setup=None if generator is not None else self._load_model)

    # ---- state and publishing (callers hold self._lock where ordering matters) ----

    @property
    def state(self) -> str:
        return self._state

    def _publish_velocity(self, linear_x: float, angular_z: float) -> None:
        twist = Twist()
        twist.linear.x, twist.angular.z = float(linear_x), float(angular_z)
        if self._twist_type is TwistStamped:
            msg = TwistStamped(twist=twist)
            msg.header.stamp = self.get_clock().now().to_msg()
            msg.header.frame_id = self.config.frame_id
            self._cmd_pub.publish(msg)
        else:
            self._cmd_pub.publish(twist)

    def _publish_status(self, event: str, result: PlanResult | None = None, *, command: str | None = None,
                        reply: str | None = None, error: str | None = None, **extra: Any) -> None:
        with self._lock:
            self._seq += 1
            if result is not None:
                d = result.to_dict()
            else:
                d = {"command": command, "model_output": None, "action": None, "limited": False,
                     "error": None, "latency_s": 0.0, "kind": None}
            d["error"] = d["error"] or error
            d.update(event=event, state=self._state, reply=reply, seq=self._seq)
            d.update(extra)
            # ensure_ascii: any text (lone surrogates included) serialises; str() for anything odd.
            self._status_pub.publish(String(data=json.dumps(d, ensure_ascii=True, default=str)))

    def _make_planner(self, generator: Generator, cfg: ControllerConfig) -> Planner:
        return Planner(generator, cfg, places=self._places, memory=self._memory)

    def _pose(self, now: float) -> tuple[float, float, float] | None:
        """The latest odometry pose, None when there is none or it is older than odom_timeout_s."""
        odom = self._odom
        if odom is None or now - odom[1] > self.config.odom_timeout_s:
            return None
        return odom[0]

    def _scan_now(self, now: float) -> ScanData | None:
        """The latest scan with its age now; None before the first."""
        if self._scan_data is None:
            return None
        scan, t = self._scan_data
        return ScanData(scan.ranges, scan.angle_min, scan.angle_increment, scan.range_min, scan.range_max,
                        age_s=now - t)

    def _guard_hook(self, linear_x: float, angular_z: float, remaining_s: float | None):
        """The executor's guard: the collision guard on the latest scan. Without any scan ever received the
        robot may have no laser: the motion runs unguarded; once one came, a stale one follows the policy."""
        cfg = self.config
        if not cfg.collision_guard or self._scan_data is None:
            return linear_x, angular_z, False, None
        result = self._guard.check(linear_x, angular_z, self._scan_now(time.monotonic()), remaining_s)
        return result.linear_x, result.angular_z, result.scale == 0.0, result

    def _start_plan(self, steps: tuple, command: str, turn: int | None = None) -> None:
        """Run ``steps`` (moves, waits and resolved places) from now; a running plan is cancelled first."""
        if self._exec is not None:  # preempted: its zero marks the end, the new plan follows at once
            self._plan_turn = None  # replaced, not interrupted: "continue" does not go back to it
            self._cancel_plan("superseded by a newer command")
        cfg = self.config
        self._exec = PlanExecutor(steps, cfg.rate_hz, navigation=cfg.navigation, nav_params=cfg.nav_params,
                                  guard=self._guard_hook)
        self._plan_command, self._plan_turn = command, turn
        self._interrupted = ()
        now = time.monotonic()
        self._handle(self._exec.start(now, self._pose(now), self._scan_now(now)), now)
        self._wake.trigger()

    def _handle(self, out: TickOutput, now: float) -> None:
        """Publish what a tick decided, report its events, and arm the next tick (caller holds the lock)."""
        ex = self._exec
        if out.twist is not None:
            self._publish_velocity(*out.twist)
        for e in out.events:
            self._report(e, ex)
        if out.delegate is not None:
            self._delegate(out.delegate.place)
        if out.cancel_delegate and self.nav_backend is not None:
            self.nav_backend.cancel_goal()
        if out.done:
            self._timer.cancel()
            if ex is self._exec:
                self._exec = None
            return
        period_ns = int(out.next_tick_s * 1e9)
        if period_ns != self._timer.timer_period_ns or self._timer.is_canceled():
            self._arm_timer(out.next_tick_s)

    def _report(self, e, ex: PlanExecutor) -> None:
        """One executor event as status (caller holds the lock)."""
        command = self._plan_command
        step = {"index": e.step, "total": e.total}
        if e.kind is EventKind.STEP_STARTED and e.total > 1:
            action = ex.remaining_steps()[0] if ex.index == e.step else None
            step["action"] = action.to_dict() if action is not None else None
            self._publish_status("step", command=command, step=step)
        elif e.kind is EventKind.NAV_FEEDBACK:
            self._publish_status("nav_feedback", command=command, step=step,
                                 distance_remaining_m=round(e.distance_remaining_m, 3), **(e.info or {}))
        elif e.kind is EventKind.PLAN_DONE:
            self._rest_state = "idle"
            self._state = "generating" if self._worker.busy else "idle"
            self._publish_status("done", command=command)
        elif e.kind in (EventKind.NAV_FAILED, EventKind.GUARD_STOP):
            self._set_interrupted(ex.remaining_steps())
            self._state = self._rest_state = "stopped"
            progress = e.progress.to_dict() if e.progress is not None else None
            if e.kind is EventKind.NAV_FAILED:
                self._publish_status("halt", command=command, error=f"navigation failed: {e.reason}", step=step,
                                     progress=progress)
                return
            g = e.info
            if g.reason in (GuardReason.STALE_SCAN, GuardReason.NO_SCAN):
                why = f"collision guard: no fresh scan ({g.reason.value}, stale_scan_policy=refuse)"
            else:
                why = (f"collision guard: obstacle {g.obstacle_distance_m:.2f} m away at "
                       f"{int(round(g.obstacle_bearing_deg)):+d} deg")
            moved = f"; got {abs(e.progress.distance_m):.2f} m" if e.progress and e.progress.distance_m else ""
            self.get_logger().warning(f"{why}{moved} into step {e.step + 1} of {e.total}")
            self._publish_status("halt", command=command, error=why, step=step, progress=progress,
                                 guard=g.to_dict())
        elif e.kind is EventKind.CANCELLED:
            self._set_interrupted(ex.remaining_steps())

    def _set_interrupted(self, remaining: tuple[Action, ...]) -> None:
        """What a stopped plan left undone, for "continue" (the memory keeps it with the plan's turn)."""
        self._interrupted = remaining
        if self._plan_turn is not None:
            self._memory.interrupted(self._plan_turn, remaining)

    def _delegate(self, place) -> None:
        """Hand a goto step to the nav2 backend; its callbacks feed the executor."""
        ex = self._exec
        if self.nav_backend is None:
            ex.nav_result(False, "navigation=nav2 but no NavigateToPose client is available")
            return

        def on_feedback(distance_m: float, info: dict | None = None) -> None:
            with self._lock:
                if self._exec is ex:
                    ex.nav_feedback(distance_m, info)

        def on_result(ok: bool, reason: str | None = None) -> None:
            with self._lock:
                if self._exec is ex:
                    ex.nav_result(ok, reason)
            self._wake.trigger()

        self.nav_backend.send_goal(place, on_feedback, on_result)

    def _cancel_plan(self, reason: str) -> bool:
        """Cancel the running plan, if any: its zero at once (caller holds the lock)."""
        ex, self._exec = self._exec, None
        if ex is None:
            return False
        out = ex.cancel(time.monotonic(), reason)
        self._publish_velocity(*out.twist)
        for e in out.events:
            self._report(e, ex)
        if out.cancel_delegate and self.nav_backend is not None:
            self.nav_backend.cancel_goal()
        return True

    def _arm_timer(self, period_s: float) -> None:
        """Next tick ``period_s`` from now (a period changed from the timer's, or a (re)start)."""
        self._timer.timer_period_ns = int(period_s * 1e9)
        self._timer.reset()

    def _end_motion(self) -> None:
        """Cancel the current plan (if any) and publish zero."""
        self._timer.cancel()
        if not self._cancel_plan("stopped"):
            self._publish_velocity(0.0, 0.0)

    @property
    def remaining_steps(self) -> tuple[Action, ...]:
        """What the last interrupted plan left undone (the interrupted step from where it stopped)."""
        return self._interrupted

    def halt(self, state: str, reason: str, command: str | None = None) -> None:
        """Fail safe: cancel generation, end the motion with a zero velocity, report why."""
        self._worker.cancel_all()
        with self._lock:
            self._end_motion()
            self._state = self._rest_state = state
            self._publish_status("halt", command=command, error=reason)

    # ---- callbacks ----

    @_fail_safe
    def _on_command(self, msg: String) -> None:
        if self._closing:
            return
        command = clean_command(msg.data)
        early = precheck(command, self.config)  # a bare stop, empty, too long: no model
        has_stop, _ = split_stop(command[: self.config.max_command_chars * 4])
        if early is not None or has_stop:
            dropped = self._worker.cancel_all()
            if dropped is not None:
                self._publish_status("cancelled", command=dropped.command, error=f"superseded by {_short(command)}")
            # A stop word acts at once, without the model; what else the command asks ("back up 2 m and
            # stop", "stop, then reverse") is planned after the zero.
            self._apply(early if early is not None else PlanResult(command, None, STOP, kind=ResultKind.STOP_WORD))
            if early is not None:
                return
        self.get_logger().info(f"command: {_short(command)}")
        job, replaced = self._worker.submit(command)
        with self._lock:
            loading = self._planner is None and self._load_error is None
            self._state = "loading" if loading else "generating"
            if replaced is not None:
                self._publish_status("cancelled", command=replaced.command, error=f"superseded by {_short(command)}")
            self._publish_status("accepted", command=command)

    @_fail_safe
    def _on_tick(self) -> None:
        with self._lock:
            if self._exec is None:
                self._timer.cancel()
                return
            # Each step is timed from its own start and its last period is cut so that it ends on time
            # (50 ms at 0.5 m/s is 2.5 cm: a quarter of a 10 cm move).
            now = time.monotonic()
            self._handle(self._exec.tick(now, self._pose(now), self._scan_now(now)), now)

    def _on_odom(self, msg: Odometry) -> None:
        p = msg.pose.pose
        pose = (p.position.x, p.position.y, _yaw(p.orientation))
        if not all(math.isfinite(v) for v in pose):
            return
        self._odom = (pose, time.monotonic())
        if self._start_pose is None:  # "start" = where the node was when odometry first came
            self._start_pose = pose
            self._places = self._base_places.with_start(*pose, frame_id=msg.header.frame_id or "odom")
            with self._lock:
                if self._planner is not None:
                    self._planner.places = self._places

    def _on_battery(self, msg: BatteryState) -> None:
        self._battery = (msg, time.monotonic())

    def _on_scan(self, msg: LaserScan) -> None:
        self._scan = (msg, time.monotonic())
        ranges = np.asarray(msg.ranges, dtype=float)
        self._scan_data = (ScanData(ranges, msg.angle_min, msg.angle_increment, msg.range_min, msg.range_max),
                           self._scan[1])

    def _check_params(self, params: list) -> Any:
        cfg, reason = ros_params.validate_changes(self.config, params)
        return ros_params.set_result(cfg is not None, reason)

    def _apply_params(self, params: list) -> None:
        cfg, _ = ros_params.validate_changes(self.config, params)
        if cfg is None or cfg == self.config:
            return
        with self._lock:
            old, self.config = self.config, cfg
            if self._generator is not None:
                self._planner = self._make_planner(self._generator, cfg)
            if cfg.rate_hz != old.rate_hz:
                self._timer.timer_period_ns = int(1e9 / cfg.rate_hz)
            if cfg.footprint_radius_m != old.footprint_radius_m or cfg.guard_params != old.guard_params:
                self._guard = CollisionGuard(Footprint.circle(cfg.footprint_radius_m), cfg.guard_params)
            self._recheck_motion(cfg)
        changed = ", ".join(f"{p.name}={p.value!r}" for p in params)
        self.get_logger().info(f"parameters changed: {changed}")

    def _recheck_motion(self, cfg: ControllerConfig) -> None:
        """New limits apply to the running plan too (caller holds the lock).

        A step over a new speed limit stops the plan. A lower ``max_duration_s`` is measured from the
        current step's start: past it, the plan stops now; before it, the step ends at start + limit
        (and later steps are cut to it). A new rate applies from the next plan.
        """
        ex = self._exec
        if ex is None:
            return
        why = ex.recheck_limits(cfg.limits, time.monotonic())
        if why is not None:
            command = self._plan_command
            self._end_motion()
            self._state = self._rest_state = "stopped"
            self._publish_status("halt", command=command, error=f"motion stopped: {why}")
            return
        remaining = ex.step_remaining_s(time.monotonic())
        if remaining is not None and remaining < ex.period_s:
            self.get_logger().warning(f"motion shortened to the new max_duration_s={cfg.max_duration_s:g} s")
            self._arm_timer(max(remaining, 0.001))

    # ---- generation thread ----

    def _load_model(self) -> None:
        t0 = time.monotonic()
        self.get_logger().info(f"loading model {self.config.model!r} (adapter {self.config.adapter!r})...")
        generator = self._factory(self.config)
        if hasattr(generator, "warmup"):
            generator.warmup()
        spelling.load()
        info = generator.describe() if hasattr(generator, "describe") else {}
        self.get_logger().info(f"model ready in {time.monotonic() - t0:.1f} s: {json.dumps(info, default=str)}")
        with self._lock:
            self._generator, self._planner = generator, self._make_planner(generator, self.config)
            self._rest_state = "idle"
            self._state = "generating" if self._worker.busy else "idle"
            self._publish_status("ready")

    def _run_job(self, job: Job) -> None:
        planner = self._planner
        if planner is None:
            msg = f"model not available: {self._load_error or 'still loading'}"
            self._apply(PlanResult.failure(ResultKind.UNAVAILABLE, job.command, msg), job)
            return
        try:
            result = planner.plan(job.command, job.cancel)
        except GenerationCancelled:
            self._publish_status("cancelled", command=job.command, error="cancelled by a newer command or a stop")
            return
        self._apply(result, job)

    def _on_worker_error(self, job: Job | None, exc: BaseException) -> None:
        if job is None:  # model loading failed: nothing can run
            self._load_error = f"{type(exc).__name__}: {exc}"
            self.get_logger().error(f"could not load the model: {self._load_error}")
            with self._lock:
                self._state = self._rest_state = "error"
                self._publish_status("load_failed", error=self._load_error)
            if self._on_fatal is not None:
                self._on_fatal(self._load_error)
            return
        if job.cancel.is_set():
            return  # superseded: a newer command or a stop already decides the motion
        self.get_logger().error(f"generation for command #{job.seq} failed: {exc!r}")
        msg = f"internal error: {type(exc).__name__}: {exc}"
        self._apply(PlanResult.failure(ResultKind.INTERNAL_ERROR, job.command, msg), job)

    # ---- results ----

    def _answer(self, action: Action) -> str | None:
        if action.query == "battery":
            if self._battery is None:
                return "no battery data yet"
            msg, t = self._battery
            status = msg.power_supply_status
            charging = {BatteryState.POWER_SUPPLY_STATUS_CHARGING: True,
                        BatteryState.POWER_SUPPLY_STATUS_DISCHARGING: False,
                        BatteryState.POWER_SUPPLY_STATUS_NOT_CHARGING: False,
                        BatteryState.POWER_SUPPLY_STATUS_FULL: False}.get(status)
            return describe_battery(_finite_or_none(msg.percentage), _finite_or_none(msg.voltage), charging,
                                    time.monotonic() - t)
        if action.query == "obstacles":
            if self._scan is None:
                return "no scan data yet"
            msg, t = self._scan
            text = describe_obstacles(msg.ranges, msg.angle_min, msg.angle_increment, msg.range_min,
                                      msg.range_max, self.config.obstacle_range_m)
            return f"{text[:-1]} (scan {time.monotonic() - t:.1f} s old)."
        if action.query == "status":
            ex = self._exec
            if ex is None:
                return describe_state(self._rest_state)
            remaining_s = ex.step_remaining_s(time.monotonic())
            lin, ang = ex.last_twist
            text = describe_state("moving", lin, ang, remaining_s or 0.0, self._plan_command)
            return text if ex.total < 2 else f"{text[:-1]}; step {ex.index + 1} of {ex.total}."
        if action.query == "position":
            odom = self._odom
            if odom is None:
                return "no odometry yet"
            (x, y, yaw), t = odom
            near = self._places.nearest(x, y)
            return describe_position(x, y, yaw, (near[0].name, near[1]) if near else None, time.monotonic() - t)
        return action.reply

    def _plan_steps(self, result: PlanResult) -> tuple[tuple, str | None]:
        """The steps to run for a result (goto words resolved to places), or () and a reply saying why not."""
        actions = result.steps
        try:
            steps = resolve_plan(actions, self._places)
        except UnknownPlace as exc:
            return (), exc.reply
        if self.config.navigation == "odom":
            other = next((s for s in steps if getattr(s, "frame_id", "odom") != "odom"), None)
            if other is not None:
                return (), (f"The {other.name} is given in the '{other.frame_id}' frame; navigation=odom drives "
                            "in the odom frame only (use navigation=nav2, or odom coordinates in the places file).")
        moves = any(not isinstance(s, Action) or s.moves or s.type == "wait" for s in steps)
        return (steps if moves else ()), None

    def _apply(self, result: PlanResult, job: Job | None = None) -> None:
        """Act on a result. A job cancelled meanwhile (newer command, stop) changes nothing; the
        check and the action happen under the lock a stop takes after setting the cancel flag."""
        action, reply, steps = result.action, None, ()
        with self._lock:
            if self._closing:
                return
            if job is not None and job.cancel.is_set():
                self._publish_status("cancelled", command=job.command, error="superseded before it was applied")
                return
            if job is not None:
                job.delivered = True
            if action.type in ("move", "wait", "goto"):
                steps, reply = self._plan_steps(result)
            if steps:  # a plan: it replaces the current one
                state = "moving"
            elif action.type == "reply" or reply is not None:  # the current motion, if any, goes on
                reply = reply or self._answer(action)
                state = "moving" if self._exec is not None else "idle"
            else:  # stop, reject, empty motion: fail safe
                self._end_motion()
                state = ("stopped" if action.type != "reject"
                         else "error" if result.kind.is_error else "rejected")
            self._state = self._rest_state = state
            self._publish_status("result", result, reply=reply)
            if steps:
                self._start_plan(steps, result.command, result.turn)
        detail = f" ({result.error})" if result.error else " (limited)" if result.limited else ""
        line = f"{_short(result.command, 40)} -> {action.type} {_short(result.model_output, 60)}{detail}"
        if action.type == "reject":  # rclpy ties a severity to each call site: two calls
            self.get_logger().warning(line)
        else:
            self.get_logger().info(line)

    # ---- shutdown ----

    def shutdown_motion(self, repeats: int = 3, ack_timeout_s: float = 1.0) -> None:
        """Refuse further motion, cancel generation and publish zero ``repeats`` times (context allowing)."""
        self._closing = True
        self._worker.cancel_all()
        with self._lock:
            ex, self._exec = self._exec, None
            self._timer.cancel()
            if ex is not None and ex.cancel(time.monotonic(), "shutdown").cancel_delegate and self.nav_backend:
                try:
                    self.nav_backend.cancel_goal()
                except Exception as exc:  # noqa: BLE001 - the zeros below matter more
                    self.get_logger().error(f"could not cancel the navigation goal: {exc!r}")
            if not self.context.ok():
                return
            for _ in range(repeats):
                self._publish_velocity(0.0, 0.0)
            self._state = self._rest_state = "stopped"
            self._publish_status("shutdown")
        self.get_logger().info("shutting down: zero velocity published")
        # A reliable writer destroyed right after publishing may drop what is not yet acknowledged.
        self._cmd_pub.wait_for_all_acked(Duration(seconds=ack_timeout_s))

    def destroy_node(self) -> None:
        if not self._closing and self.context.ok():
            self.shutdown_motion(repeats=1, ack_timeout_s=0.5)
        self._closing = True
        self._worker.close(timeout_s=5.0)
        if hasattr(self.nav_backend, "destroy"):
            self.nav_backend.destroy()
        super().destroy_node()


# ---- entry point ----

def load_script(path: str | Path) -> ScriptedGenerator:
    """``{command: model text}`` plus optional "__delay_s__" and "__fallback__"."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object mapping commands to model text")
    delay_s = data.pop("__delay_s__", 0.0)
    fallback = data.pop("__fallback__", "reply I did not understand.")
    if isinstance(delay_s, bool) or not isinstance(delay_s, (int, float)) or not 0 <= delay_s < 3600:
        raise ValueError(f"{path}: __delay_s__ must be a number of seconds in [0, 3600)")
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad or not isinstance(fallback, str):
        raise ValueError(f"{path}: model texts must be strings (check {bad or ['__fallback__']})")
    return ScriptedGenerator(data, fallback=fallback, delay_s=float(delay_s))


def _parse_args(argv: Sequence[str]) -> tuple[argparse.Namespace, Generator | None]:
    p = argparse.ArgumentParser(prog="llm_controller", description=__doc__.split("\n\n")[0],
                                epilog="ROS arguments go after --ros-args, e.g. --ros-args --params-file FILE "
                                       "-p max_linear_mps:=0.5")
    p.add_argument("--scripted", metavar="FILE.json",
                   help="dry-run/test mode: no model; answer from a JSON map {command: model text} "
                        "(optional keys __delay_s__, __fallback__)")
    opts = p.parse_args(list(argv))
    try:
        return opts, (load_script(opts.scripted) if opts.scripted else None)
    except (OSError, ValueError) as exc:
        p.error(f"--scripted: {exc}")  # exits with status 2


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv if argv is None else argv)
    _, generator = _parse_args(remove_ros_args(args)[1:])

    def make_node(fatal: Callable[[str], None]) -> LlmControllerNode:
        node = LlmControllerNode(generator=generator, on_fatal=fatal)
        if generator is not None:
            node.get_logger().info(f"dry-run mode: scripted answers for {len(generator.script)} commands, "
                                   "no model")
        return node

    # shutdown_motion: the zeros go out while the context is up; destroy_node then closes the worker.
    return run_until_signal(NODE_NAME, make_node, args, before_stop=lambda node: node.shutdown_motion())


if __name__ == "__main__":
    sys.exit(main())
