"""The odom go-to-pose controller (core.navigation) against the simulator's exact kinematics."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ros2_llm_controller.core.collision_guard import ScanData
from ros2_llm_controller.core.navigation import (GoToPose, NavParams, NavPhase, NavStatus, points_ahead,
                                                 wrap_angle)
from ros2_llm_controller.core.places import Place, Places

try:  # the restructure moves the simulator out of core/
    from ros2_llm_controller.sim.physics import Circle, DiffDriveSim, World
except ImportError:  # pragma: no cover - before the restructure
    from ros2_llm_controller.core.sim import Circle, DiffDriveSim, World

PLACES_FILE = Path(__file__).resolve().parents[1] / "config" / "places.yaml"


def scan_data(sim: DiffDriveSim, world: World) -> ScanData:
    angle_min, inc, ranges = sim.scan(world, beams=180)
    return ScanData(ranges, angle_min, inc, 0.05, 8.0)


def run(nav: GoToPose, sim: DiffDriveSim, world: World | None = None, rate_hz: float = 20.0,
        max_s: float = 120.0, pose_every: int = 1):
    """Close the loop at ``rate_hz``: pose -> controller -> command; returns (final command, ticks, max speed)."""
    dt, t, ticks, fastest = 1.0 / rate_hz, 0.0, 0, 0.0
    while t < max_s:
        s = sim.step(t)
        pose = (s.x, s.y, s.yaw) if ticks % pose_every == 0 else None
        cmd = nav.update(t, pose, scan_data(sim, world) if world is not None else None)
        sim.command(*cmd.twist, t)
        fastest = max(fastest, abs(cmd.linear_x))
        if cmd.status is not NavStatus.RUNNING:
            return cmd, ticks, fastest
        ticks += 1
        t = round(t + dt, 9)
    raise AssertionError("controller never finished")


def end_error(sim: DiffDriveSim, goal: tuple[float, float, float]) -> tuple[float, float]:
    s = sim.state
    return math.hypot(goal[0] - s.x, goal[1] - s.y), abs(wrap_angle(goal[2] - s.yaw))


@pytest.mark.parametrize("name", [p.name for p in Places.from_yaml(PLACES_FILE).places])
def test_reaches_every_place_from_the_origin(name):
    place = Places.from_yaml(PLACES_FILE).resolve(name)
    params = NavParams()
    sim = DiffDriveSim()
    sim.reset(0.0)
    cmd, ticks, fastest = run(GoToPose.to_place(place, params), sim, World())  # walls in the scan
    assert cmd.status is NavStatus.SUCCEEDED, cmd.reason
    dist, yaw = end_error(sim, (place.x, place.y, place.yaw_rad))
    assert dist <= params.xy_tolerance_m and yaw <= params.yaw_tolerance_rad
    assert dist <= 0.6 * params.xy_tolerance_m and yaw <= 0.6 * params.yaw_tolerance_rad  # aims at half
    assert fastest <= params.max_linear_mps
    assert cmd.twist == (0.0, 0.0)


@pytest.mark.parametrize("rate_hz", [5.0, 50.0])
@pytest.mark.parametrize("start", [(0.0, 0.0, 0.0), (1.0, -2.0, 2.5), (-3.0, 1.0, -3.1)])
def test_reaches_goals_from_other_poses_and_rates(start, rate_hz):
    goal = (2.0, 1.5, -1.0)
    sim = DiffDriveSim()
    sim.reset(0.0, *start)
    cmd, _, _ = run(GoToPose(goal), sim, rate_hz=rate_hz)
    assert cmd.status is NavStatus.SUCCEEDED
    dist, yaw = end_error(sim, goal)
    assert dist <= 0.1 and yaw <= 0.1


def test_goal_at_the_current_position_only_turns():
    sim = DiffDriveSim()
    sim.reset(0.0)
    nav = GoToPose((0.0, 0.0, math.pi / 2))
    cmd, _, fastest = run(nav, sim)
    assert cmd.status is NavStatus.SUCCEEDED and fastest == 0.0
    assert abs(sim.state.yaw - math.pi / 2) <= 0.1


def test_turns_in_place_first_then_drives():
    nav = GoToPose((0.0, 2.0, 0.0))
    cmd = nav.update(0.0, (0.0, 0.0, 0.0))
    assert nav.phase is NavPhase.TURN and cmd.linear_x == 0.0 and cmd.angular_z > 0
    cmd = nav.update(0.05, (0.0, 0.0, math.pi / 2))
    assert nav.phase is NavPhase.DRIVE and cmd.linear_x > 0
    assert cmd.distance_remaining_m == pytest.approx(2.0)


def test_obstacle_on_the_path_stops_short():
    world = World((Circle(2.0, 0.0, 0.2),))
    sim = DiffDriveSim()
    sim.reset(0.0)
    params = NavParams(stop_distance_m=0.5)
    cmd, _, _ = run(GoToPose((4.0, 0.0, 0.0), params), sim, world)
    assert cmd.status is NavStatus.FAILED and cmd.reason.startswith("obstacle on the path at ")
    at = float(cmd.reason.split(" at ")[1].split()[0])
    assert 0.3 <= at <= 0.5
    assert cmd.twist == (0.0, 0.0)
    assert sim.state.x + 0.2 < 2.0 - 0.2  # robot (0.2 m radius) stopped before the obstacle's edge


def test_obstacle_beside_the_corridor_or_beyond_the_goal_does_not_stop():
    sim = DiffDriveSim()
    sim.reset(0.0)
    world = World((Circle(1.5, 0.6, 0.1), Circle(2.5, 0.0, 0.1)))  # off to the side; 0.5 m past the goal
    cmd, _, _ = run(GoToPose((2.0, 0.0, 0.0), NavParams(stop_distance_m=0.8)), sim, world)
    assert cmd.status is NavStatus.SUCCEEDED, cmd.reason


def test_points_array_and_corridor():
    pts = np.array([[0.3, 0.0], [0.3, 0.25], [-0.1, 0.0], [0.6, 0.0], [np.nan, 0.0]])
    assert points_ahead(pts[:4], 0.5, 0.4).tolist() == [[0.3, 0.0]]
    nav = GoToPose((3.0, 0.0, 0.0))
    cmd = nav.update(0.0, (0.0, 0.0, 0.0), pts)
    assert cmd.status is NavStatus.FAILED and cmd.reason == "obstacle on the path at 0.30 m"
    with pytest.raises(ValueError):
        GoToPose((3.0, 0.0, 0.0)).update(0.0, (0.0, 0.0, 0.0), np.zeros((3, 3)))


def test_turning_in_place_ignores_obstacles_ahead():
    nav = GoToPose((0.0, -3.0, 0.0))  # goal to the right, obstacle straight ahead
    cmd = nav.update(0.0, (0.0, 0.0, 0.0), np.array([[0.2, 0.0]]))
    assert cmd.status is NavStatus.RUNNING and nav.phase is NavPhase.TURN and cmd.angular_z < 0


def test_timeout_no_odometry_and_cancel():
    nav = GoToPose((5.0, 0.0, 0.0), NavParams(timeout_s=1.0))
    assert nav.update(0.0, (0.0, 0.0, 0.0)).status is NavStatus.RUNNING
    cmd = nav.update(1.5, (0.1, 0.0, 0.0))
    assert cmd.status is NavStatus.FAILED and cmd.reason == "timed out after 1 s, 4.90 m from the goal"
    assert nav.update(2.0, (0.1, 0.0, 0.0)) is cmd  # finished stays finished

    nav = GoToPose((5.0, 0.0, 0.0), NavParams(odom_timeout_s=0.5))
    assert nav.update(0.0, None).twist == (0.0, 0.0)
    assert nav.update(0.4, None).status is NavStatus.RUNNING
    cmd = nav.update(0.6, None)
    assert cmd.status is NavStatus.FAILED and cmd.reason == "no odometry for 0.6 s"

    nav = GoToPose((5.0, 0.0, 0.0))
    nav.update(0.0, (0.0, 0.0, 0.0))
    assert nav.cancel().reason == "cancelled" and nav.finished


def test_intermittent_odometry_still_arrives():
    sim = DiffDriveSim()
    sim.reset(0.0)
    cmd, _, _ = run(GoToPose((1.0, 1.0, 0.0)), sim, pose_every=3)  # a pose every third tick
    assert cmd.status is NavStatus.SUCCEEDED


def test_scan_data_is_read_with_rep117():
    nav = GoToPose((3.0, 0.0, 0.0))
    # Beam 0 straight ahead: NaN, then +inf, then an out-of-range value: no obstacle.
    for r in (math.nan, math.inf, 0.01):
        n = GoToPose((3.0, 0.0, 0.0))
        cmd = n.update(0.0, (0.0, 0.0, 0.0), ScanData([r], 0.0, 0.1, 0.05, 8.0))
        assert cmd.status is NavStatus.RUNNING
    cmd = nav.update(0.0, (0.0, 0.0, 0.0), ScanData([-math.inf], 0.0, 0.1, 0.05, 8.0))  # closer than range_min
    assert cmd.status is NavStatus.FAILED and cmd.reason == "obstacle on the path at 0.05 m"


@pytest.mark.parametrize("bad", [dict(xy_tolerance_m=0), dict(max_linear_mps=-1), dict(timeout_s=math.nan),
                                 dict(min_linear_mps=2.0), dict(turn_in_place_rad=0.05),
                                 dict(stop_distance_m=-0.1), dict(heading_gain=True)])
def test_params_are_validated(bad):
    with pytest.raises(ValueError):
        NavParams(**bad)


def test_goal_must_be_finite_and_place_frame_kept():
    with pytest.raises(ValueError):
        GoToPose((math.inf, 0.0, 0.0))
    nav = GoToPose.to_place(Place("x", 1.0, 2.0, 7.0, "map"))
    assert nav.frame_id == "map" and nav.goal[2] == pytest.approx(wrap_angle(7.0))
