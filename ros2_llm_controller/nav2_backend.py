"""The ``nav2`` navigation backend: "go to" steps as ``nav2_msgs/action/NavigateToPose`` goals (rclpy).

A thin adapter that implements ``core.executor.NavBackend`` with an rclpy ``ActionClient``:

- ``send_goal(place, on_feedback, on_result)``: a PoseStamped in the place's ``frame_id`` (yaw as a
  quaternion, stamp zero: the latest transform), sent once the server is there. No server within
  ``server_timeout_s``: ``on_result(False, "... not available ...")`` (the node halts with a zero).
- feedback: ``on_feedback(distance_remaining, {navigation_time_s, estimated_time_remaining_s,
  number_of_recoveries})``, at most one per ``feedback_period_s``;
- result: ``on_result(True, None)`` when SUCCEEDED, ``on_result(False, reason)`` when ABORTED (with Nav2's
  error code and message), CANCELED, or rejected;
- ``cancel_goal()``: ``cancel_goal_async`` on the goal in flight. A goal whose acceptance is still on its
  way is cancelled when it arrives; callbacks of a cancelled or replaced goal are dropped.

nav2_msgs is not on PyPI: ``make setup`` builds NavigateToPose from the upstream 1.4.2 (kilted) file into
the venv, and a sourced ROS 2 with Nav2 provides the real package. It is imported here, when a
``Nav2Backend`` is made, so a node with ``navigation: odom`` never needs it; without it, ``Nav2Unavailable``
says what to do.

Callbacks come from the executor thread (goal response, feedback, result) or from a short-lived thread
that waits for the server; the node serialises them with its own lock.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable

from action_msgs.msg import GoalStatus
from rclpy.action import ActionClient
from rclpy.node import Node

from .core.places import Place

ERROR_NAMES = ("NONE", "UNKNOWN", "FAILED_TO_LOAD_BEHAVIOR_TREE", "TF_ERROR", "TIMEOUT")


class Nav2Unavailable(RuntimeError):
    """``navigation: nav2`` but ``nav2_msgs/action/NavigateToPose`` cannot be imported."""


def import_navigate_to_pose() -> Any:
    """The NavigateToPose action type, its C type support loaded; Nav2Unavailable with what to do if not."""
    try:
        from nav2_msgs.action import NavigateToPose

        NavigateToPose.__class__.__import_type_support__()
        for part in (NavigateToPose.Goal, NavigateToPose.Result, NavigateToPose.Feedback):
            part.__class__.__import_type_support__()
    except Exception as exc:  # noqa: BLE001 - ImportError, or a type support that does not load
        raise Nav2Unavailable(
            f"navigation=nav2 needs nav2_msgs/action/NavigateToPose, which cannot be imported ({exc}). "
            "Run `make setup` (it builds nav2_msgs into .venv: scripts/build_nav2_msgs.sh .venv), source a "
            "ROS 2 installation that has Nav2, or set navigation:=odom") from exc
    return NavigateToPose


def _seconds(duration) -> float:
    return duration.sec + duration.nanosec * 1e-9


class Nav2Backend:
    """NavigateToPose goals for the node's delegated goto steps (one goal at a time; a new one replaces it)."""

    def __init__(self, node: Node, action_name: str = "navigate_to_pose", *, server_timeout_s: float = 5.0,
                 feedback_period_s: float = 0.25):
        self.action_type = import_navigate_to_pose()
        self._node = node
        self.action_name = action_name
        self.server_timeout_s = float(server_timeout_s)
        self.feedback_period_s = float(feedback_period_s)
        self._client = ActionClient(node, self.action_type, action_name)
        result = self.action_type.Result
        self.error_names = {getattr(result, n): n for n in ERROR_NAMES if hasattr(result, n)}
        self._lock = threading.Lock()
        self._gen = 0  # the current goal's number: callbacks of an older (cancelled, replaced) goal are dropped
        self._handle = None  # the current goal's ClientGoalHandle, once accepted
        self._last_feedback = -math.inf

    @property
    def resolved_name(self) -> str:
        try:
            return self._node.resolve_topic_name(self.action_name)
        except Exception:  # noqa: BLE001 - only for messages
            return self.action_name

    def server_is_ready(self) -> bool:
        return self._client is not None and self._client.server_is_ready()

    # ---- NavBackend ----

    def send_goal(self, place: Place, on_feedback: Callable[..., None],
                  on_result: Callable[[bool, str | None], None]) -> None:
        goal = self.goal_for(place)
        with self._lock:
            self._cancel_locked()  # a goal still in flight is replaced
            self._gen += 1
            gen = self._gen
            self._last_feedback = -math.inf
        if self.server_is_ready():
            self._send(gen, goal, on_feedback, on_result)
        else:  # discovery can take a second or more: wait without blocking the caller
            threading.Thread(target=self._wait_then_send, args=(gen, goal, on_feedback, on_result),
                             name="nav2_wait_for_server", daemon=True).start()

    def cancel_goal(self) -> None:
        with self._lock:
            self._cancel_locked()

    def destroy(self) -> None:
        """Cancel the goal in flight and destroy the client (once)."""
        self.cancel_goal()
        client, self._client = self._client, None
        if client is not None:
            client.destroy()

    # ---- internals ----

    def goal_for(self, place: Place):
        goal = self.action_type.Goal()
        pose = goal.pose
        pose.header.frame_id = place.frame_id  # stamp zero: the latest transform into Nav2's global frame
        pose.pose.position.x, pose.pose.position.y = float(place.x), float(place.y)
        pose.pose.orientation.z = math.sin(place.yaw_rad / 2)
        pose.pose.orientation.w = math.cos(place.yaw_rad / 2)
        return goal

    def _current(self, gen: int) -> bool:
        with self._lock:
            return gen == self._gen

    def _cancel_locked(self) -> None:
        self._gen += 1
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel_goal_async()

    def _wait_then_send(self, gen: int, goal, on_feedback, on_result) -> None:
        deadline = time.monotonic() + self.server_timeout_s
        while self._current(gen) and self._node.context.ok():
            if self.server_is_ready():
                self._send(gen, goal, on_feedback, on_result)
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        if self._current(gen) and self._node.context.ok():
            on_result(False, f"no NavigateToPose action server '{self.resolved_name}' after "
                             f"{self.server_timeout_s:g} s (is Nav2 running? parameter nav2_action)")

    def _send(self, gen: int, goal, on_feedback, on_result) -> None:
        def feedback(msg) -> None:
            fb = msg.feedback
            now = time.monotonic()
            with self._lock:
                if gen != self._gen or now - self._last_feedback < self.feedback_period_s:
                    return
                self._last_feedback = now
            on_feedback(float(fb.distance_remaining), {
                "navigation_time_s": round(_seconds(fb.navigation_time), 3),
                "estimated_time_remaining_s": round(_seconds(fb.estimated_time_remaining), 3),
                "number_of_recoveries": int(fb.number_of_recoveries)})

        try:
            future = self._client.send_goal_async(goal, feedback_callback=feedback)
        except Exception as exc:  # noqa: BLE001 - e.g. the context went down
            on_result(False, f"could not send the NavigateToPose goal: {exc!r}")
            return
        future.add_done_callback(lambda f: self._on_goal_response(gen, f, on_result))

    def _on_goal_response(self, gen: int, future, on_result) -> None:
        exc = future.exception()
        if exc is not None:
            if self._current(gen):
                on_result(False, f"sending the NavigateToPose goal failed: {exc!r}")
            return
        handle = future.result()
        if not handle.accepted:
            if self._current(gen):
                on_result(False, f"the NavigateToPose server '{self.resolved_name}' rejected the goal")
            return
        with self._lock:
            current = gen == self._gen
            if current:
                self._handle = handle
        if not current:  # cancelled or replaced while the goal was on its way
            handle.cancel_goal_async()
            return
        handle.get_result_async().add_done_callback(lambda f: self._on_result(gen, f, on_result))

    def _on_result(self, gen: int, future, on_result) -> None:
        with self._lock:
            if gen != self._gen:
                return
            self._handle = None
        exc = future.exception()
        if exc is not None:
            on_result(False, f"no NavigateToPose result: {exc!r}")
            return
        response = future.result()
        status, result = response.status, response.result
        if status == GoalStatus.STATUS_SUCCEEDED:
            on_result(True, None)
            return
        code = int(result.error_code)
        detail = f"error_code {code} ({self.error_names.get(code, 'unknown code')})"
        if result.error_msg:
            detail += f": {result.error_msg}"
        if status == GoalStatus.STATUS_ABORTED:
            on_result(False, f"NavigateToPose aborted, {detail}")
        elif status == GoalStatus.STATUS_CANCELED:
            on_result(False, f"NavigateToPose goal canceled by the server, {detail}")
        else:
            on_result(False, f"NavigateToPose ended with status {status}, {detail}")
