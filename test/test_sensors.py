"""core/sensors.py: battery and obstacle answers from plain numbers."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ros2_llm_controller.core.sensors import (describe_battery, describe_obstacles, describe_state,
                                              find_obstacles)

INC = math.radians(1.0)


def scan(n=360, far=5.0, angle_min=-math.pi):
    return [far] * n, angle_min, INC


class TestBattery:
    def test_percentage_voltage_charging(self):
        text = describe_battery(0.76, 12.1, True, 0.4)
        assert text.startswith("Battery at 76% (12.10 V), charging")
        assert "0.4 s old" in text

    def test_nan_percentage_is_unknown(self):
        text = describe_battery(float("nan"), 11.9, False, 2.0)
        assert "charge unknown" in text and "11.90 V" in text and "not charging" in text

    def test_percentage_outside_0_1_is_not_reported_as_a_charge(self):
        text = describe_battery(76.0, None, None, 0.0)
        assert "76%" not in text and "invalid percentage 76" in text

    def test_nothing_known(self):
        text = describe_battery(None, None, None, 1.0)
        assert text == "Battery charge unknown (reading 1.0 s old)."

    def test_zero_and_full(self):
        assert describe_battery(0.0, None, None, 0).startswith("Battery at 0%")
        assert describe_battery(1.0, None, None, 0).startswith("Battery at 100%")

    def test_nonpositive_or_nan_voltage_is_left_out(self):
        assert " V)" not in describe_battery(0.5, 0.0, None, 0)
        assert " V)" not in describe_battery(0.5, float("nan"), None, 0)


class TestObstacles:
    def test_one_obstacle_ahead(self):
        ranges, amin, inc = scan()
        for i in range(178, 183):  # around 0 rad: index 180
            ranges[i] = 0.5
        ranges[180] = 0.4
        text = describe_obstacles(ranges, amin, inc, 0.1, 10.0, 1.0)
        assert text == "1 obstacle within 1 m; nearest 0.40 m at 0 deg (ahead)."

    def test_left_is_positive_and_clusters_are_counted(self):
        ranges, amin, inc = scan()
        ranges[180 + 90] = 0.8  # +90 deg: left
        ranges[180 - 45] = 0.3  # -45 deg: right
        ranges[180 - 44] = 0.35
        obstacles = find_obstacles(ranges, amin, inc, 0.1, 10.0, 1.0)
        assert len(obstacles) == 2
        assert obstacles[0].distance_m == pytest.approx(0.3)
        assert obstacles[0].bearing_deg == pytest.approx(-45.0)
        assert obstacles[1].bearing_deg == pytest.approx(90.0)
        text = describe_obstacles(ranges, amin, inc, 0.1, 10.0, 1.0)
        assert text.startswith("2 obstacles within 1 m; nearest 0.30 m at -45 deg (right)")

    def test_cluster_across_the_seam_of_a_full_scan_is_one_obstacle(self):
        ranges, amin, inc = scan()
        ranges[0] = ranges[1] = ranges[-1] = ranges[-2] = 0.6  # directly behind
        obstacles = find_obstacles(ranges, amin, inc, 0.1, 10.0, 1.0)
        assert len(obstacles) == 1 and obstacles[0].returns == 4
        assert abs(obstacles[0].bearing_deg) == pytest.approx(180.0, abs=2.0)

    def test_partial_scan_does_not_merge_ends(self):
        ranges = [0.5, 5.0, 5.0, 0.5]
        assert len(find_obstacles(ranges, -0.1, 0.05, 0.1, 10.0, 1.0)) == 2

    def test_invalid_returns_ignored_minus_inf_is_too_close(self):
        ranges, amin, inc = scan()
        ranges[10] = float("nan")
        ranges[20] = float("inf")
        ranges[30] = 0.05  # below range_min: invalid
        ranges[40] = 20.0  # above range_max: invalid
        assert find_obstacles(ranges, amin, inc, 0.1, 10.0, 1.0) == []
        ranges[180] = -math.inf  # REP 117: closer than range_min
        (o,) = find_obstacles(ranges, amin, inc, 0.1, 10.0, 1.0)
        assert o.distance_m == pytest.approx(0.1) and o.bearing_deg == pytest.approx(0.0)

    def test_no_obstacle_reports_nearest_return(self):
        ranges, amin, inc = scan()
        ranges[180 + 10] = 3.2
        text = describe_obstacles(ranges, amin, inc, 0.1, 10.0, 1.0)
        assert text == "No obstacles within 1 m; nearest return 3.20 m at +10 deg (left)."

    def test_empty_or_all_invalid(self):
        assert describe_obstacles([], 0.0, INC, 0.1, 10.0, 1.0) == "The laser scan is empty."
        text = describe_obstacles([float("nan")] * 5, 0.0, INC, 0.1, 10.0, 1.0)
        assert "no valid returns" in text

    def test_negative_increment_keeps_bearings(self):
        ranges = [5.0] * 10
        ranges[2] = 0.5  # angle = 0.5 - 2 * 0.25 = 0
        (o,) = find_obstacles(ranges, 0.5, -0.25, 0.1, 10.0, 1.0)
        assert o.bearing_deg == pytest.approx(0.0)

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.5)), max_size=400),
           st.floats(-4.0, 4.0), st.floats(-0.1, 0.1).filter(lambda x: x != 0))
    def test_never_raises_and_obstacles_are_real(self, ranges, amin, inc):
        obstacles = find_obstacles(ranges, amin, inc, 0.1, 10.0, 1.0)
        assert sum(o.returns for o in obstacles) <= len(ranges)
        for o in obstacles:
            assert 0.1 <= o.distance_m < 1.0 and -180.0 < o.bearing_deg <= 180.0
        assert isinstance(describe_obstacles(ranges, amin, inc, 0.1, 10.0, 1.0), str)


def test_describe_state():
    assert describe_state("idle") == "Controller idle."
    text = describe_state("moving", 0.5, 0.0, 1.25, "go forward")
    assert text == "Controller moving: linear.x=0.50 m/s, angular.z=0.00 rad/s, 1.2 s left (command 'go forward')."
    assert len(describe_state("moving", 0.5, 0.0, 1.0, "x" * 500)) < 180


def test_one_rule_for_valid_returns():
    """REP 117 as the query and the guard read it: -inf is at range_min, NaN/+inf/out of range are none."""
    import math

    from ros2_llm_controller.core.scan import valid_ranges

    got = valid_ranges([-math.inf, math.nan, math.inf, 0.05, 0.5, 40.0], range_min=0.1, range_max=30.0)
    assert got[0] == 0.1 and got[4] == 0.5
    assert all(math.isnan(v) for v in (got[1], got[2], got[3], got[5]))
