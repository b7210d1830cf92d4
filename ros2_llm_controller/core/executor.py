"""A plan executor: the state machine the node drives at its control rate (ROS-free).

A plan is a tuple of steps: ``Action("move")`` (linear_x, angular_z for duration_s), ``Action("wait")``
(duration_s) and goto steps, given as the resolved ``places.Place`` (``resolve_plan`` turns
``Action("goto")`` words into places). The caller ticks it with its monotonic clock, the latest
odometry pose and scan; each tick says what to publish and what happened::

    ex = PlanExecutor(steps, rate_hz=20.0, guard=my_guard)
    out = ex.start(time.monotonic())          # then, every out.next_tick_s seconds:
    out = ex.tick(time.monotonic(), pose, scan)
    publish(out.twist)                        # None: publish nothing (the nav2 backend drives)
    for e in out.events: ...                  # STEP_STARTED, STEP_DONE, PLAN_DONE, NAV_FEEDBACK, ...
    ex.cancel(time.monotonic())               # a stop or a newer command: zero at once

Timing, as for single motions (``motion.MotionPlan``): each timed step is measured from its own
start on the caller's clock, and ``next_tick_s`` shortens the last period of a timed step (and
the first, for a step shorter than one period) so it ends exactly at its duration; the next step
starts on that tick, with no zero between steps. The last output of a plan, however it ends
(done, cancel, navigation failure, guarded stop), is zero.

Goto steps run on the ``odom`` backend (``navigation.GoToPose``, on the poses given to ``tick``)
or are delegated to the ``nav2`` backend: the tick that reaches the step publishes one zero and
returns ``delegate`` (the goal to send); later ticks publish nothing until the caller reports
``nav_feedback`` / ``nav_result``; a cancel returns ``cancel_delegate``.

The optional ``guard(linear_x, angular_z, remaining_s) -> (linear_x, angular_z, stopped, info)``
sees every non-zero twist before it is returned (``remaining_s``: time left in a timed step, None
for a goto). A scaled twist is published as scaled; ``stopped`` ends the plan with zero and a
GUARD_STOP event carrying ``info`` and how far the robot got in that step.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import numpy as np

from .actions import Action
from .collision_guard import ScanData
from .limits import SafetyLimits
from .motion import ZERO, MotionPlan
from .navigation import GoToPose, NavParams, NavStatus
from .places import Place, Places

BACKENDS = ("odom", "nav2")
Step = Action | Place
Guard = Callable[[float, float, float | None], tuple[float, float, bool, Any]]
Pose = tuple[float, float, float]


class UnknownPlace(ValueError):
    """A goto step names no known place; ``reply`` lists the known ones."""

    def __init__(self, words: str, reply: str):
        super().__init__(reply)
        self.words, self.reply = words, reply


def resolve_plan(actions: Sequence[Action], places: Places) -> tuple[Step, ...]:
    """The plan with each ``Action("goto")`` replaced by its place; UnknownPlace for the first unknown one."""
    out: list[Step] = []
    for a in actions:
        if a.type == "goto":
            place = places.resolve(a.place or "")
            if place is None:
                raise UnknownPlace(a.place or "", places.unknown_reply(a.place or ""))
            out.append(place)
        else:
            out.append(a)
    return tuple(out)


class NavBackend(Protocol):
    """What the node needs from a nav2 client for delegated goto steps (callbacks may come from any thread)."""

    def send_goal(self, place: Place, on_feedback: Callable[..., None],
                  on_result: Callable[[bool, str | None], None]) -> None:
        """``on_feedback(distance_remaining_m, info=None)``: ``info`` an optional dict of more feedback
        fields (navigation_time_s, number_of_recoveries, ...) that goes on status as is."""

    def cancel_goal(self) -> None: ...


class EventKind(str, enum.Enum):
    STEP_STARTED = "step_started"
    STEP_DONE = "step_done"
    PLAN_DONE = "plan_done"
    NAV_FEEDBACK = "nav_feedback"  # distance_remaining_m
    NAV_FAILED = "nav_failed"  # reason; the plan ends
    GUARD_STOP = "guard_stop"  # info, progress; the plan ends
    CANCELLED = "cancelled"  # progress; the plan ends


@dataclass(frozen=True)
class Progress:
    """How far the robot got in one step."""

    elapsed_s: float
    fraction: float | None  # of a timed step, in effect (time at a guard-scaled speed counts less)
    distance_m: float  # commanded (integral of the published linear.x), signed
    angle_rad: float  # commanded, signed
    odom_distance_m: float | None = None  # straight line from the step's start pose, when poses came

    def to_dict(self) -> dict:
        return {k: (None if v is None else round(v, 4)) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Event:
    kind: EventKind
    step: int | None  # index in the plan
    total: int
    distance_remaining_m: float | None = None
    reason: str | None = None
    info: Any = None
    progress: Progress | None = None

    def to_dict(self) -> dict:
        d = {"kind": self.kind.value, "step": self.step, "total": self.total}
        if self.distance_remaining_m is not None:
            d["distance_remaining_m"] = round(self.distance_remaining_m, 3)
        if self.reason is not None:
            d["reason"] = self.reason
        if self.info is not None:
            d["info"] = self.info.to_dict() if hasattr(self.info, "to_dict") else self.info
        if self.progress is not None:
            d["progress"] = self.progress.to_dict()
        return d


@dataclass(frozen=True)
class Delegate:
    """Send this goal to the nav2 backend (step ``step`` of the plan)."""

    place: Place
    step: int


@dataclass(frozen=True)
class TickOutput:
    twist: tuple[float, float] | None  # (linear.x, angular.z) to publish now; None: nothing (nav2 drives)
    events: tuple[Event, ...]
    step: int | None  # the current step's index; None once the plan is over
    total: int
    done: bool  # the plan is over (completed, cancelled, failed or stopped by the guard)
    next_tick_s: float | None  # tick again after this long (None once done)
    delegate: Delegate | None = None
    cancel_delegate: bool = False  # cancel the nav2 goal in flight
    guard_info: Any = None  # the guard's info when it changed this tick's twist


class PlanExecutor:
    """Runs one plan. Not thread-safe: the caller serialises start, tick, cancel and the nav2 callbacks."""

    def __init__(self, steps: Sequence[Step], rate_hz: float = 20.0, *, navigation: str = "odom",
                 nav_params: NavParams | None = None, guard: Guard | None = None, feedback_period_s: float = 0.5):
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"rate_hz must be positive, got {rate_hz!r}")
        if navigation not in BACKENDS:
            raise ValueError(f"navigation must be one of {BACKENDS}, got {navigation!r}")
        for i, s in enumerate(steps):
            if isinstance(s, Place):
                continue
            if not isinstance(s, Action) or s.type not in ("move", "wait"):
                what = s.type if isinstance(s, Action) else type(s).__name__
                raise ValueError(f"step {i}: expected a move, wait or a resolved place, got {what!r}")
            if not s.is_finite() or s.duration_s < 0:
                raise ValueError(f"step {i}: non-finite or negative values")
        self.steps = tuple(steps)
        self.rate_hz = float(rate_hz)
        self.navigation = navigation
        self.nav_params = nav_params or NavParams()
        self.guard = guard
        self.feedback_period_s = feedback_period_s
        self._i = 0
        self._started = self._finished = False
        self._pending: list[Event] = []
        # The current step.
        self._t_step = 0.0
        self._motion: MotionPlan | None = None
        self._nav: GoToPose | None = None
        self._delegated = False
        self._nav_result: tuple[bool, str | None] | None = None
        self._last_feedback_t: float | None = None
        # Progress in the current step: integrals of what was published.
        self._last_t = 0.0
        self._last_twist: tuple[float, float] = ZERO
        self._effective_s = self._dist = self._angle = 0.0
        self._start_pose: Pose | None = None
        self._pose: Pose | None = None

    # ---- state ----

    @property
    def total(self) -> int:
        return len(self.steps)

    @property
    def index(self) -> int | None:
        """The current step's index; None before the start and once the plan is over."""
        return self._i if self._started and not self._finished else None

    @property
    def done(self) -> bool:
        return self._finished

    @property
    def period_s(self) -> float:
        return 1.0 / self.rate_hz

    @property
    def delegated(self) -> bool:
        """A nav2 goal is in flight for the current step."""
        return self._delegated and self._nav_result is None and not self._finished

    # ---- driving ----

    def start(self, now_s: float, pose: Pose | None = None, scan: np.ndarray | ScanData | None = None) -> TickOutput:
        """Start step 0 and return its first output (the same as the first ``tick``)."""
        if self._started:
            raise RuntimeError("plan already started")
        return self.tick(now_s, pose, scan)

    def tick(self, now_s: float, pose: Pose | None = None, scan: np.ndarray | ScanData | None = None) -> TickOutput:
        """One control tick: ``pose`` is the latest odometry (None: none, or too old), ``scan`` the latest
        points in base_link (an (N, 2) array or ScanData) for the odom backend's obstacle stop."""
        if self._finished:
            return self._output(ZERO, [], None)
        events, self._pending = self._pending, []
        if pose is not None:
            self._pose = tuple(float(v) for v in pose)
        if not self._started:
            self._started = True
            self._begin(0, now_s, events)
        else:
            self._integrate(now_s)
        delegate = None
        remaining: float | None = None
        while True:
            if self._i >= self.total:
                events.append(Event(EventKind.PLAN_DONE, None, self.total))
                return self._finish(now_s, events)
            step = self.steps[self._i]
            if self._motion is not None:  # move or wait
                elapsed = now_s - self._t_step
                if self._motion.done(elapsed):
                    events.append(Event(EventKind.STEP_DONE, self._i, self.total, progress=self._progress(now_s)))
                    self._begin(self._i + 1, now_s, events)
                    continue
                twist = self._motion.velocity_at(elapsed)
                remaining = self._motion.duration_s - elapsed
                next_tick = self._motion.next_period_s(elapsed)
                break
            if self.navigation == "odom":
                cmd = self._nav.update(now_s, pose, scan)
                if cmd.distance_remaining_m is not None and cmd.status is NavStatus.RUNNING and (
                        self._last_feedback_t is None or now_s - self._last_feedback_t >= self.feedback_period_s):
                    self._last_feedback_t = now_s
                    events.append(Event(EventKind.NAV_FEEDBACK, self._i, self.total, cmd.distance_remaining_m))
                if cmd.status is NavStatus.SUCCEEDED:
                    events.append(Event(EventKind.STEP_DONE, self._i, self.total, cmd.distance_remaining_m,
                                        progress=self._progress(now_s)))
                    self._begin(self._i + 1, now_s, events)
                    continue
                if cmd.status is NavStatus.FAILED:
                    events.append(Event(EventKind.NAV_FAILED, self._i, self.total, cmd.distance_remaining_m,
                                        reason=cmd.reason, progress=self._progress(now_s)))
                    return self._finish(now_s, events)
                twist, next_tick = cmd.twist, self.period_s
                break
            # nav2: hand the goal over once, then wait for its result.
            if not self._delegated:
                self._delegated = True
                delegate = Delegate(step, self._i)
                twist, next_tick = ZERO, self.period_s
                break
            if self._nav_result is None:
                twist, next_tick = None, self.period_s
                break
            ok, reason = self._nav_result
            if ok:
                events.append(Event(EventKind.STEP_DONE, self._i, self.total, progress=self._progress(now_s)))
                self._begin(self._i + 1, now_s, events)
                continue
            events.append(Event(EventKind.NAV_FAILED, self._i, self.total, reason=reason or "navigation failed",
                                progress=self._progress(now_s)))
            return self._finish(now_s, events)
        guard_info = None
        if twist is not None and twist != ZERO and self.guard is not None:
            lin, ang, stopped, info = self.guard(twist[0], twist[1], remaining)
            if stopped:
                events.append(Event(EventKind.GUARD_STOP, self._i, self.total, info=info,
                                    progress=self._progress(now_s)))
                return self._finish(now_s, events)
            if (lin, ang) != twist:
                guard_info = info
            twist = (float(lin), float(ang))
        if twist is not None:
            self._last_twist = twist
        return self._output(twist, events, next_tick, delegate, guard_info=guard_info)

    def cancel(self, now_s: float | None = None, reason: str = "cancelled") -> TickOutput:
        """End the plan now: zero, a CANCELLED event (and ``cancel_delegate`` for a nav2 goal in flight)."""
        if self._finished or not self._started:
            self._finished = True
            return self._output(ZERO, [], None)
        t = self._last_t if now_s is None else now_s
        self._integrate(t)
        cancel_delegate = self.delegated
        if self._nav is not None:
            self._nav.cancel()
        events = self._pending + [Event(EventKind.CANCELLED, self._i, self.total, reason=reason,
                                        progress=self._progress(t))]
        self._pending = []
        out = self._finish(t, events)
        return TickOutput(out.twist, out.events, None, self.total, True, None, cancel_delegate=cancel_delegate)

    def nav_feedback(self, distance_remaining_m: float, info: dict | None = None) -> None:
        """nav2 feedback for the delegated goal (``info``: more fields for status); reported on the next tick."""
        if self.delegated:
            self._pending.append(Event(EventKind.NAV_FEEDBACK, self._i, self.total, float(distance_remaining_m),
                                       info=info or None))

    def nav_result(self, succeeded: bool, reason: str | None = None) -> None:
        """nav2's result for the delegated goal; the plan goes on (or fails) on the next tick."""
        if self.delegated:
            self._nav_result = (bool(succeeded), reason)

    @property
    def last_twist(self) -> tuple[float, float]:
        """The twist last returned (zero once over)."""
        return self._last_twist

    def step_remaining_s(self, now_s: float) -> float | None:
        """Time left in the current timed step; None for a goto or once over."""
        if self._finished or not self._started or self._motion is None:
            return None
        return max(0.0, self._motion.duration_s - (now_s - self._t_step))

    def recheck_limits(self, limits: SafetyLimits, now_s: float) -> str | None:
        """New limits for a running plan. A move step over a speed limit ends it: the reason is returned
        (the caller cancels). A move step longer than ``max_duration_s`` is cut to it, the current one
        measured from its own start (already past it: the reason). The odom navigation slows to the limits."""
        over = [i for i, s in enumerate(self.steps[self._i:], self._i) if isinstance(s, Action) and s.type == "move"
                and (abs(s.linear_x) > limits.max_linear_mps or abs(s.angular_z) > limits.max_angular_rps)]
        if over:
            return f"step {over[0] + 1} of {self.total} exceeds the new safety limits"
        if self._motion is not None and self.steps[self._i].type == "move":
            elapsed = now_s - self._t_step
            if self._motion.duration_s > limits.max_duration_s:
                if elapsed >= limits.max_duration_s:
                    return f"it has run {elapsed:.2f} s, over the new max_duration_s={limits.max_duration_s:g} s"
                self._motion = self._motion.with_duration(limits.max_duration_s)
        steps = list(self.steps)
        for i in range(self._i, self.total):
            s = steps[i]
            if isinstance(s, Action) and s.type == "move" and s.duration_s > limits.max_duration_s:
                k = limits.max_duration_s / s.duration_s
                steps[i] = s.with_(duration_s=limits.max_duration_s,
                                   distance_m=None if s.distance_m is None else s.distance_m * k,
                                   angle_rad=None if s.angle_rad is None else s.angle_rad * k)
        self.steps = tuple(steps)
        if self._nav is not None:
            p = self._nav.params
            lin, ang = min(p.max_linear_mps, limits.max_linear_mps), min(p.max_angular_rps, limits.max_angular_rps)
            self._nav.params = dataclasses.replace(p, max_linear_mps=lin, max_angular_rps=ang,
                                                   min_linear_mps=min(p.min_linear_mps, lin),
                                                   min_angular_rps=min(p.min_angular_rps, ang))
        return None

    def remaining_steps(self) -> tuple[Action, ...]:
        """What is left to do, as actions ("continue" after an interruption): the unfinished part of the
        current step (a timed step's remaining time and distance; a goto whole) and the steps after it."""
        if not self._started:
            return tuple(_as_action(s) for s in self.steps)
        if self._i >= self.total:
            return ()
        rest = tuple(_as_action(s) for s in self.steps[self._i + 1:])
        step = self.steps[self._i]
        if isinstance(step, Place):
            return (_as_action(step),) + rest
        left = 1.0 - (self._effective_s / step.duration_s if step.duration_s > 0 else 1.0)
        if left <= 1e-6:
            return rest
        scale = (lambda v: None if v is None else v * left)
        return (step.with_(duration_s=step.duration_s * left, distance_m=scale(step.distance_m),
                           angle_rad=scale(step.angle_rad)),) + rest

    # ---- internals ----

    def _begin(self, i: int, now_s: float, events: list[Event]) -> None:
        self._i = i
        self._t_step = self._last_t = now_s
        self._effective_s = self._dist = self._angle = 0.0
        self._start_pose = self._pose
        self._motion = self._nav = None
        self._delegated, self._nav_result, self._last_feedback_t = False, None, None
        if i >= self.total:
            return
        step = self.steps[i]
        if isinstance(step, Place):
            if self.navigation == "odom":
                self._nav = GoToPose.to_place(step, self.nav_params)
        elif step.type == "wait":
            self._motion = MotionPlan(0.0, 0.0, step.duration_s, self.rate_hz)
        else:
            self._motion = MotionPlan(step.linear_x, step.angular_z, step.duration_s, self.rate_hz)
        events.append(Event(EventKind.STEP_STARTED, i, self.total))

    def _integrate(self, now_s: float) -> None:
        dt = max(0.0, now_s - self._last_t)
        lin, ang = self._last_twist
        self._dist += lin * dt
        self._angle += ang * dt
        m = self._motion
        if m is not None:
            if m.linear_x == 0 and m.angular_z == 0:  # wait
                self._effective_s += dt
            else:
                self._effective_s += dt * (lin / m.linear_x if m.linear_x else ang / m.angular_z)
        self._last_t = now_s

    def _progress(self, now_s: float) -> Progress:
        m = self._motion
        fraction = None
        if m is not None:
            fraction = min(1.0, self._effective_s / m.duration_s) if m.duration_s > 0 else 1.0
        odom = None
        if self._start_pose is not None and self._pose is not None:
            odom = math.hypot(self._pose[0] - self._start_pose[0], self._pose[1] - self._start_pose[1])
        return Progress(now_s - self._t_step, fraction, self._dist, self._angle, odom)

    def _finish(self, now_s: float, events: list[Event]) -> TickOutput:
        self._finished = True
        self._last_twist = ZERO
        self._last_t = now_s
        return self._output(ZERO, events, None)

    def _output(self, twist, events, next_tick, delegate=None, guard_info=None) -> TickOutput:
        return TickOutput(twist, tuple(events), self.index, self.total, self._finished, next_tick, delegate,
                          guard_info=guard_info)


def _as_action(step: Step) -> Action:
    return Action("goto", place=step.name) if isinstance(step, Place) else step
