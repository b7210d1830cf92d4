"""The collision guard (core.collision_guard): properties over random scans and twists, and the cases by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ros2_llm_controller.core.collision_guard import (CollisionGuard, Footprint, GuardParams, GuardReason,
                                                      ScanData, guard_twist)
from ros2_llm_controller.sim.physics import Circle, DiffDriveSim, World

INF, NAN = math.inf, math.nan
RECT = ((0.3, 0.2), (-0.3, 0.2), (-0.3, -0.2), (0.3, -0.2))  # 0.6 m long, 0.4 m wide


def scan_of(world: World, x=0.0, y=0.0, yaw=0.0, beams=360, range_min=0.05, range_max=8.0, age_s=0.0) -> ScanData:
    sim = DiffDriveSim()
    sim.reset(0.0, x, y, yaw)
    angle_min, inc, ranges = sim.scan(world, beams, range_max)
    return ScanData(ranges, angle_min, inc, range_min, range_max, age_s)


def one_return(bearing_deg: float, range_m: float, beams=360, range_min=0.05, range_max=8.0, age_s=0.0) -> ScanData:
    """A scan from -pi over a full turn with a single return (the rest +inf: nothing within range)."""
    ranges = [INF] * beams
    ranges[round((math.radians(bearing_deg) + math.pi) / (2 * math.pi / beams)) % beams] = range_m
    return ScanData(ranges, -math.pi, 2 * math.pi / beams, range_min, range_max, age_s)


# ---- an independent reference: poses along the exact arc, clearance to a circle or a convex polygon ----

def poses(v: float, w: float, t: np.ndarray):
    th = w * t
    if abs(w) < 1e-9:
        return v * t, np.zeros_like(t), th
    return v / w * np.sin(th), v / w * (1 - np.cos(th)), th


def clearance(footprint: Footprint, px: np.ndarray, py: np.ndarray, x, y, th) -> np.ndarray:
    """(points, times): distance of each world point from the footprint at each pose (negative inside)."""
    px, py = px[:, None], py[:, None]
    c, s = np.cos(th), np.sin(th)
    qx, qy = c * (px - x) + s * (py - y), -s * (px - x) + c * (py - y)
    if footprint.radius_m is not None:
        return np.hypot(qx, qy) - footprint.radius_m
    poly = np.asarray(footprint.polygon)
    if np.sum(poly[:, 0] * np.roll(poly[:, 1], -1) - np.roll(poly[:, 0], -1) * poly[:, 1]) < 0:
        poly = poly[::-1]  # counter-clockwise, so that "inside" is left of every edge
    dist = np.full(qx.shape, np.inf)
    inside = np.ones(qx.shape, dtype=bool)
    for a, b in zip(poly, np.roll(poly, -1, axis=0)):
        e = b - a
        u = np.clip(((qx - a[0]) * e[0] + (qy - a[1]) * e[1]) / (e @ e), 0, 1)
        dist = np.minimum(dist, np.hypot(qx - a[0] - u * e[0], qy - a[1] - u * e[1]))
        inside &= e[0] * (qy - a[1]) - e[1] * (qx - a[0]) >= 0
    return np.where(inside, -dist, dist)


def valid_points(scan: ScanData) -> tuple[np.ndarray, np.ndarray]:
    """REP 117 by hand: -inf at range_min; NaN, +inf and finite values outside the limits dropped."""
    xs, ys = [], []
    for i, r in enumerate(scan.ranges):
        r = scan.range_min if r == -INF else r
        if math.isfinite(r) and scan.range_min <= r <= scan.range_max:
            a = scan.angle_min + i * scan.angle_increment
            xs.append(r * math.cos(a))
            ys.append(r * math.sin(a))
    return np.array(xs), np.array(ys)


# ---- properties ----

footprints = st.one_of(
    st.floats(0.05, 0.5).map(Footprint.circle),
    st.tuples(st.floats(0.1, 0.5), st.floats(0.1, 0.4), st.floats(-0.2, 0.2)).map(
        lambda t: Footprint.from_polygon([(t[0] + t[2], t[1]), (-t[0] + t[2], t[1]),
                                          (-t[0] + t[2], -t[1]), (t[0] + t[2], -t[1])])),
    st.tuples(st.integers(3, 8), st.floats(0.1, 0.5)).map(
        lambda t: Footprint.from_polygon([(t[1] * math.cos(2 * math.pi * k / t[0]),
                                           t[1] * math.sin(2 * math.pi * k / t[0])) for k in range(t[0])])),
)
ranges_st = st.one_of(st.floats(0.0, 2.5), st.floats(0.0, 2.5), st.floats(0.0, 2.5),
                      st.sampled_from([INF, -INF, NAN, 0.0, 50.0]))


@st.composite
def scans(draw):
    n = draw(st.integers(1, 180))
    angle_min = draw(st.floats(-math.pi, 0.0))
    inc = draw(st.floats(0.005, 2 * math.pi / n))
    range_min = draw(st.floats(0.0, 0.3))
    range_max = draw(st.floats(1.0, 10.0))
    return ScanData(draw(st.lists(ranges_st, min_size=n, max_size=n)), angle_min, inc, range_min, range_max)


@st.composite
def params(draw):
    horizon = draw(st.floats(0.2, 2.0))
    return GuardParams(time_before_collision_s=horizon, simulation_step_s=draw(st.floats(0.01, min(0.2, horizon))),
                       stop_margin_m=draw(st.floats(0.0, 0.3)))


speeds = st.one_of(st.just(0.0), st.floats(-2.0, 2.0))
turns = st.one_of(st.just(0.0), st.floats(-3.0, 3.0))


def assert_safe(footprint: Footprint, scan: ScanData, p: GuardParams, v: float, w: float,
                remaining_s: float | None, res) -> None:
    """The guarded path, sampled finely, keeps every valid return out of the inflated footprint."""
    px, py = valid_points(scan)
    if res.scale == 0 or px.size == 0:
        return
    horizon = p.time_before_collision_s if remaining_s is None else min(p.time_before_collision_s,
                                                                         max(remaining_s, p.simulation_step_s))
    # At scale s the robot covers the first s * horizon seconds of the unscaled path; check it finely.
    t = np.linspace(0.0, res.scale * horizon, 600)
    d = clearance(footprint, px, py, *poses(v, w, t))
    d0 = d[:, :1]
    # How far a clearance may fall between the guard's own samples (its documented allowance).
    dt = min(p.simulation_step_s, 1 / abs(w)) if w else p.simulation_step_s
    if footprint.radius_m is not None:
        slip = abs(v) * dt / 2
    else:
        r_max = max(math.hypot(*xy) for xy in footprint.polygon)
        slip = (abs(v) + abs(w) * (r_max + p.stop_margin_m)) * dt / 2 / (1 - abs(w) * dt / 2)
    outside = d0[:, 0] > p.stop_margin_m + slip
    # Points clear of the margin stay clear of it, between samples too.
    assert np.all(d[outside] > p.stop_margin_m - 1e-9)
    # Points already too close come no closer than the between-sample allowance.
    assert np.all(d[~outside] >= d0[~outside] - slip - 1e-9)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(footprint=footprints, scan=scans(), p=params(), v=speeds, w=turns,
       remaining_s=st.one_of(st.none(), st.floats(0.0, 3.0)))
def test_guarded_twist_never_leads_into_the_footprint_and_never_exceeds_the_input(footprint, scan, p, v, w,
                                                                                 remaining_s):
    res = CollisionGuard(footprint, p).check(v, w, scan, remaining_s=remaining_s)
    # Never faster, never the other way, never moving from zero; one factor for both.
    assert 0.0 <= res.scale <= 1.0
    assert abs(res.linear_x) <= abs(v) and abs(res.angular_z) <= abs(w)
    assert res.linear_x * v >= 0 and res.angular_z * w >= 0
    assert res.linear_x == pytest.approx(v * res.scale, abs=1e-12)
    assert res.angular_z == pytest.approx(w * res.scale, abs=1e-12)
    if v == 0 and w == 0:
        assert (res.linear_x, res.angular_z) == (0.0, 0.0)
    assert_safe(footprint, scan, p, v, w, remaining_s, res)


@settings(max_examples=400, deadline=None)
@given(footprint=footprints, p=params(), v=speeds, w=turns, when=st.floats(0.0, 1.0), side=st.sampled_from([1, -1]),
       inset_m=st.floats(0.0, 0.02), vertex=st.integers(0, 7))
def test_returns_grazed_between_samples_are_caught(footprint, p, v, w, when, side, inset_m, vertex):
    """A return just inside the margin, beside a point of the footprint's edge at an arbitrary time
    (often between two of the guard's samples): the case a sample-only check misses. A circle is
    grazed on its side; a polygon at a vertex, across the vertex's own direction of motion."""
    assume(abs(v) > 0.05 or (abs(w) > 0.05 and footprint.polygon is not None))
    t_star = when * p.time_before_collision_s
    x, y, th = (float(a[0]) for a in poses(v, w, np.array([t_star])))
    c, s = math.cos(th), math.sin(th)
    if footprint.radius_m is not None:
        bx, by = 0.0, side * footprint.radius_m
        ux, uy = v, 0.0
    else:
        bx, by = footprint.polygon[vertex % len(footprint.polygon)]
        ux, uy = v - w * by, w * bx  # the vertex's velocity in base_link
    if math.hypot(ux, uy) < 1e-6:
        return
    nx, ny = -uy / math.hypot(ux, uy), ux / math.hypot(ux, uy)
    if nx * bx + ny * by < 0:  # across the motion, away from the footprint's inside
        nx, ny = -nx, -ny
    gap = p.stop_margin_m - inset_m
    qx, qy = bx + gap * nx, by + gap * ny
    gx, gy = x + c * qx - s * qy, y + s * qx + c * qy
    scan = ScanData([math.hypot(gx, gy)], math.atan2(gy, gx), 0.0, 0.0, 100.0)
    res = CollisionGuard(footprint, p).check(v, w, scan)
    assert_safe(footprint, scan, p, v, w, None, res)


@settings(max_examples=150, deadline=None)
@given(scan=scans(), radius=st.floats(0.05, 0.5), w=st.floats(-3.0, 3.0))
def test_a_circle_turning_in_place_is_never_limited(scan, radius, w):
    assume(w != 0)
    res = guard_twist(0.0, w, scan, Footprint.circle(radius))
    assert (res.reason, res.angular_z, res.scale) == (GuardReason.CLEAR, w, 1.0)


# ---- by hand ----

CIRCLE = Footprint.circle(0.2)
P = GuardParams(time_before_collision_s=1.0, simulation_step_s=0.05, stop_margin_m=0.05, scan_timeout_s=0.5)


def test_free_path_is_unchanged_and_a_zero_twist_stays_zero():
    scan = one_return(0, 5.0)
    res = guard_twist(0.5, 0.3, scan, CIRCLE, P)
    assert (res.reason, res.linear_x, res.angular_z, res.scale) == (GuardReason.CLEAR, 0.5, 0.3, 1.0)
    res = guard_twist(0.0, 0.0, one_return(0, 0.21), CIRCLE, P)
    assert (res.linear_x, res.angular_z) == (0.0, 0.0)


def test_obstacle_ahead_slows_then_stops_and_reports_distance_and_bearing():
    far = guard_twist(1.0, 0.0, one_return(0, 1.0), CIRCLE, P)
    assert far.reason is GuardReason.SLOWED and 0.5 < far.scale < 0.8  # contact at about 0.75 s at 1 m/s
    near = guard_twist(1.0, 0.0, one_return(0, 0.28), CIRCLE, P)
    assert near.reason is GuardReason.STOPPED and (near.linear_x, near.angular_z) == (0.0, 0.0)
    assert near.obstacle_distance_m == pytest.approx(0.28)
    assert near.obstacle_bearing_deg == pytest.approx(0.0, abs=0.6)
    assert near.obstacle_clearance_m == pytest.approx(0.08)
    side = guard_twist(0.5, 0.0, one_return(20, 0.5), CIRCLE, P)  # ahead-left, inside the swept band
    assert side.limited and side.obstacle_bearing_deg == pytest.approx(20, abs=0.6)


def test_obstacle_behind_does_not_limit_forward_but_limits_reverse():
    scan = one_return(180, 0.27)
    assert guard_twist(0.5, 0.0, scan, CIRCLE, P).reason is GuardReason.CLEAR
    back = guard_twist(-0.5, 0.0, scan, CIRCLE, P)
    assert back.reason is GuardReason.STOPPED
    assert abs(back.obstacle_bearing_deg) == pytest.approx(180, abs=0.6)


def test_beside_the_path_is_clear_and_the_band_edge_is_the_margin():
    # Circle of 0.2 m plus 0.05 m margin sweeps a band 0.25 m either side of the x axis.
    assert guard_twist(0.5, 0.0, one_return(90, 0.5), CIRCLE, P).reason is GuardReason.CLEAR
    scan = ScanData([0.27], math.atan2(0.27, 0.4), 0.0, 0.05, 8.0)  # point at y = 0.27 * sin(...)
    y = 0.27 * math.sin(math.atan2(0.27, 0.4))
    assert y < 0.25  # inside the band: it must limit
    assert guard_twist(0.5, 0.0, scan, CIRCLE, P).limited


def test_arc_that_clips_an_obstacle_is_limited_though_straight_on_is_clear():
    world = World((Circle(0.6, 0.55, 0.15),), half_size_m=20)
    scan = scan_of(world)
    assert guard_twist(0.5, 0.0, scan, CIRCLE, P).reason is GuardReason.CLEAR  # straight passes beside it
    arc = guard_twist(0.5, 0.8, scan, CIRCLE, P)  # radius 0.625 m to the left: runs into it
    assert arc.limited and arc.obstacle_bearing_deg > 0
    assert arc.angular_z / arc.linear_x == pytest.approx(0.8 / 0.5)  # the arc keeps its shape
    assert guard_twist(0.5, -0.8, scan, CIRCLE, P).reason is GuardReason.CLEAR  # arcing right misses it


def test_turning_in_place_circle_sweeps_nothing_polygon_corners_do():
    scan = one_return(45, 0.3)  # 0.3 m at 45 deg: inside the rectangle's corner circle (0.36 m)
    assert guard_twist(0.0, 1.0, scan, CIRCLE, P).reason is GuardReason.CLEAR
    rect = Footprint.from_polygon(RECT)
    res = guard_twist(0.0, 1.0, scan, rect, P)
    assert res.reason is GuardReason.STOPPED  # the front-left corner turns into it
    assert guard_twist(0.0, 1.0, one_return(45, 0.6), rect, P).reason is GuardReason.CLEAR  # beyond the corners


def test_polygon_is_not_a_circle():
    rect = Footprint.from_polygon(RECT)
    # 0.3 m to the left: clear of a 0.4 m-wide rectangle's side plus margin (0.25 m), in a 0.36 m circle.
    assert guard_twist(0.5, 0.0, one_return(90, 0.3), rect, P).reason is GuardReason.CLEAR
    assert guard_twist(0.5, 0.0, one_return(90, 0.3), Footprint.circle(0.36), P).reason is GuardReason.CLEAR
    # 0.4 m ahead: 0.1 m from the rectangle's front edge -> within one step of margin at 1 m/s
    assert guard_twist(1.0, 0.0, one_return(0, 0.4), rect, P).reason is GuardReason.STOPPED


def test_robot_already_too_close_may_back_away_or_turn_but_not_come_closer():
    scan = one_return(0, 0.22)  # 2 cm from the circle's edge, inside the 5 cm margin
    assert guard_twist(0.3, 0.0, scan, CIRCLE, P).reason is GuardReason.STOPPED
    assert guard_twist(-0.3, 0.0, scan, CIRCLE, P).reason is GuardReason.CLEAR
    assert guard_twist(0.0, 1.0, scan, CIRCLE, P).reason is GuardReason.CLEAR
    assert guard_twist(0.3, 1.0, scan, CIRCLE, P).reason is GuardReason.STOPPED  # forward arcs still close in


def test_stale_and_missing_scans_follow_the_policy():
    fresh = one_return(0, 5.0)
    old = one_return(0, 5.0, age_s=0.6)
    for scan, reason in ((None, GuardReason.NO_SCAN), (old, GuardReason.STALE_SCAN),
                         (ScanData([], -math.pi, 0.1, 0.05, 8.0), GuardReason.NO_SCAN),
                         (one_return(0, 5.0, age_s=NAN), GuardReason.STALE_SCAN)):
        refused = guard_twist(0.5, 0.2, scan, CIRCLE, P)
        assert (refused.reason, refused.linear_x, refused.angular_z, refused.scale) == (reason, 0.0, 0.0, 0.0)
        allowed = guard_twist(0.5, 0.2, scan, CIRCLE, GuardParams(stale_scan_policy="allow"))
        assert (allowed.reason, allowed.linear_x, allowed.angular_z) == (reason, 0.5, 0.2)
    assert guard_twist(0.5, 0.0, fresh, CIRCLE, P).reason is GuardReason.CLEAR
    assert guard_twist(0.5, 0.0, one_return(0, 5.0, age_s=0.5), CIRCLE, P).reason is GuardReason.CLEAR
    # A stopped robot stays stopped whatever the scan: zero in, zero out.
    assert (guard_twist(0.0, 0.0, None, CIRCLE, P).linear_x, guard_twist(0.0, 0.0, old, CIRCLE, P).scale) == (0.0, 1.0)


def test_rep117_nan_inf_and_out_of_range_returns():
    ahead = 0.27  # would stop a 0.5 m/s robot if it were a valid return
    for bad in (NAN, INF, 0.01, 9.0):  # NaN: none; +inf: nothing in range; below range_min; above range_max
        res = guard_twist(0.5, 0.0, one_return(0, bad, range_min=0.05, range_max=8.0), CIRCLE, P)
        assert res.reason is GuardReason.CLEAR, bad
    assert guard_twist(0.5, 0.0, one_return(0, ahead), CIRCLE, P).reason is GuardReason.STOPPED
    # -inf: something closer than range_min, taken at range_min on its beam.
    res = guard_twist(0.5, 0.0, one_return(0, -INF, range_min=0.25), CIRCLE, P)
    assert res.reason is GuardReason.STOPPED and res.obstacle_distance_m == pytest.approx(0.25)
    assert guard_twist(-0.5, 0.0, one_return(0, -INF, range_min=0.25), CIRCLE, P).reason is GuardReason.CLEAR
    # Exactly at the limits is valid.
    assert guard_twist(0.5, 0.0, one_return(0, 0.27, range_min=0.27), CIRCLE, P).reason is GuardReason.STOPPED
    assert guard_twist(0.5, 0.0, one_return(0, 0.27, range_max=0.27), CIRCLE, P).reason is GuardReason.STOPPED


def test_invalid_twist_is_zeroed():
    for v, w in ((NAN, 0.0), (0.5, INF), (-INF, 0.0)):
        res = guard_twist(v, w, one_return(0, 5.0), CIRCLE, P)
        assert (res.reason, res.linear_x, res.angular_z, res.scale) == (GuardReason.INVALID_TWIST, 0.0, 0.0, 0.0)


def test_remaining_time_cuts_the_horizon():
    scan = one_return(0, 0.9)  # 0.65 m to the margin
    assert guard_twist(0.5, 0.0, scan, CIRCLE, P).reason is GuardReason.CLEAR  # 1 s at 0.5 m/s: 0.5 m
    assert guard_twist(1.0, 0.0, scan, CIRCLE, P).limited
    assert guard_twist(1.0, 0.0, scan, CIRCLE, P, remaining_s=0.4).reason is GuardReason.CLEAR  # ends first


def test_motion_since_scan_and_laser_pose_move_the_points():
    scan = one_return(0, 0.6)
    assert guard_twist(0.5, 0.0, scan, CIRCLE, P).reason is GuardReason.SLOWED
    # The robot has since moved 0.33 m forward: the return is now 0.27 m ahead, within one step.
    g = CollisionGuard(CIRCLE, P)
    assert g.check(0.5, 0.0, scan, motion_since_scan=(0.33, 0.0, 0.0)).reason is GuardReason.STOPPED
    # ... or turned 90 deg left: the return is now on its right.
    res = g.check(0.5, 0.0, scan, motion_since_scan=(0.0, 0.0, math.pi / 2))
    assert res.reason is GuardReason.CLEAR
    # A laser mounted 0.3 m ahead of base_link looking backwards sees the same return behind it.
    back = CollisionGuard(CIRCLE, P, laser_pose=(0.3, 0.0, math.pi))
    res = back.check(-0.5, 0.0, one_return(0, 0.6))
    assert res.limited and abs(res.obstacle_bearing_deg) == pytest.approx(180, abs=0.6)
    assert res.obstacle_distance_m == pytest.approx(0.3)


def test_parameters_and_footprints_are_validated():
    for bad in (dict(time_before_collision_s=0), dict(simulation_step_s=-1), dict(stop_margin_m=-0.1),
                dict(scan_timeout_s=NAN), dict(stale_scan_policy="maybe"),
                dict(time_before_collision_s=0.1, simulation_step_s=0.2)):
        with pytest.raises(ValueError):
            GuardParams(**bad)
    for bad in (dict(), dict(radius_m=0.0), dict(radius_m=0.2, polygon=RECT), dict(polygon=((0, 0), (1, 1))),
                dict(polygon=((0, 0), (1, 1), (2, 2)))):
        with pytest.raises(ValueError):
            Footprint(**bad)


def test_result_serialises_for_status():
    d = guard_twist(1.0, 0.0, one_return(0, 0.28), CIRCLE, P).to_dict()
    assert d["reason"] == "stopped" and d["obstacle_distance_m"] == pytest.approx(0.28)
