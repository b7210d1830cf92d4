import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ros2_llm_controller.core.actions import Action, ParseError
from ros2_llm_controller.core.limits import SafetyLimits, apply_limits
from ros2_llm_controller.core.parser import MotionDefaults, parse_action

# The course's five responses (Day 32, create_instruction_dataset), verbatim.
COURSE_MOVE = ("Executing linear motion: distance=2.0m, speed=0.5m/s. "
               "Publishing cmd_vel with linear.x=0.5 for 4.0 seconds.")
COURSE_BATTERY = "Current battery status: voltage=25.2V, charge=78%, estimated runtime=3.2 hours."
COURSE_NAV = ("Planning path to charging station at coordinates (12.5, 3.2). Distance: 15.3m. "
              "Estimated time: 45s. Initiating autonomous navigation.")
COURSE_ROTATE = ("Executing rotation: angle=-90°(clockwise), angular_speed=0.5rad/s. "
                 "Publishing cmd_vel with angular.z=-0.5 for π seconds.")
COURSE_OBSTACLES = ("LiDAR scan results: 3 obstacles detected. Obstacle 1: 2.1m at 15° (wall). "
                    "Obstacle 2: 0.8m at 340° (box). Obstacle 3: 5.2m at 90° (shelf). "
                    "Closest obstacle at 0.8m — within safety threshold.")


def test_course_linear_motion():
    a = parse_action(COURSE_MOVE)
    assert (a.type, a.linear_x, a.angular_z, a.duration_s) == ("move", 0.5, 0.0, 4.0)
    assert a.distance_m == pytest.approx(2.0)


def test_course_rotation_pi_seconds_clockwise():
    a = parse_action(COURSE_ROTATE)
    assert a.type == "move" and a.linear_x == 0.0
    assert a.angular_z == -0.5 and a.duration_s == pytest.approx(math.pi)
    assert a.angle_rad == pytest.approx(-math.pi / 2)


@pytest.mark.parametrize("text", [COURSE_BATTERY, COURSE_NAV, COURSE_OBSTACLES])
def test_course_no_motion_responses_are_replies(text):
    a = parse_action(text)
    assert a.type == "reply" and not a.moves and a.reply == text


def test_course_rotation_without_publish_sentence_is_computed():
    a = parse_action("Executing rotation: angle=-90°(clockwise), angular_speed=0.5rad/s.")
    assert a.angular_z == -0.5 and a.duration_s == pytest.approx(math.pi)


@pytest.mark.parametrize("text, lin, ang, dur", [
    ("move forward 2 m", 0.5, 0, 4.0),
    ("move backward 7 m", -0.5, 0, 14.0),
    ("move backward 50 cm at 0.2 m/s", -0.2, 0, 2.5),
    ("move forward 3 ft", 0.5, 0, 3 * 0.3048 / 0.5),
    ("move forward 10 in at 10 cm/s", 0.1, 0, 2.54),
    ("move forward for 3 s", 0.5, 0, 3.0),
    ("move forward", 0.5, 0, 2.0),
    ("Move Forward 2 M.", 0.5, 0, 4.0),
    ("move forward 1.5e0 m", 0.5, 0, 3.0),
    ("turn left 90 deg", 0, 0.5, math.pi),
    ("turn right 90°", 0, -0.5, math.pi),
    ("turn clockwise 180 deg", 0, -0.5, 2 * math.pi),
    ("turn anticlockwise π/2 rad", 0, 0.5, math.pi),
    ("turn right 1.5 rad at 0.3 rad/s", 0, -0.3, 5.0),
    ("turn left 90 deg at 45 deg/s", 0, math.pi / 4, 2.0),
    ("turn left for 2 s", 0, 0.5, 2.0),
    ("turn left 0.25 turn", 0, 0.5, math.pi),
])
def test_compact_format(text, lin, ang, dur):
    a = parse_action(text)
    assert a.type == "move"
    assert a.linear_x == pytest.approx(lin) and a.angular_z == pytest.approx(ang)
    assert a.duration_s == pytest.approx(dur)


def test_arc_drives_at_default_speed_and_turns_over_the_same_time():
    a = parse_action("arc forward 2 m left 90 deg")
    assert a.duration_s == pytest.approx(4.0)
    assert a.linear_x * a.duration_s == pytest.approx(2.0)
    assert a.angular_z * a.duration_s == pytest.approx(math.pi / 2)


def test_arc_slows_down_when_the_turn_needs_longer():
    a = parse_action("arc backward 0.5 m right 180 deg")
    assert a.duration_s == pytest.approx(2 * math.pi)  # pi rad at 0.5 rad/s
    assert a.linear_x * a.duration_s == pytest.approx(-0.5) and a.angular_z < 0


@pytest.mark.parametrize("text, dist, ang", [
    ("circle left", 2 * math.pi, 2 * math.pi),  # default radius 1 m, a full circle
    ("circle right 2 m", 4 * math.pi, -2 * math.pi),
    ("circle right 0.5 m 0.5 rev", 0.5 * math.pi, -math.pi),  # a half circle of radius 0.5 m
    ("circle left 2 m 90 deg", math.pi, math.pi / 2),
    ("circle left 180 deg", math.pi, math.pi),  # a sweep alone: the default radius
])
def test_circles_full_and_partial(text, dist, ang):
    a = parse_action(text)
    assert a.distance_m == pytest.approx(dist) and a.angle_rad == pytest.approx(ang)


@pytest.mark.parametrize("text", ["circle left 1 m 2 m", "circle left 90 deg 180 deg", "circle left 1 m 0 deg"])
def test_circle_with_two_radii_or_two_sweeps_or_no_sweep_is_an_error(text):
    with pytest.raises(ParseError):
        parse_action(text)


def test_defaults_drive_the_arithmetic():
    d = MotionDefaults(linear_mps=0.25, angular_rps=1.0)
    assert parse_action("move forward 1 m", d).duration_s == pytest.approx(4.0)
    assert parse_action("turn left 180 deg", d).duration_s == pytest.approx(math.pi)


@pytest.mark.parametrize("text, expected", [
    ("stop", Action("stop")),
    ("Stop.", Action("stop")),
    ("halt now", Action("stop")),
    ("query battery", Action("reply", query="battery")),
    ("query obstacles", Action("reply", query="obstacles")),
    ("reply I can only drive the robot.", Action("reply", reply="I can only drive the robot.")),
    ("reply: Sorry, I can't fly.", Action("reply", reply="Sorry, I can't fly.")),
    ("move forward 0 m", Action("stop")),
])
def test_no_motion_actions(text, expected):
    assert parse_action(text) == expected


def test_only_first_line_is_read_and_trailing_text_ignored():
    assert parse_action("move forward 2 m\nturn left 90 deg").duration_s == pytest.approx(4.0)


@pytest.mark.parametrize("text", [
    "", "   ", "move sideways 2 m", "move forward some meters", "turn up 90 deg", "move forward 2 parsecs",
    "arc forward 0 m left 90 deg", "move forward 2 m at 0 m/s", "turn left 90 deg at 0 rad/s", "query weather",
    "Moving forward now!", "I will drive backward a little.", "Publishing cmd_vel with linear.x=0.5",
    "Publishing cmd_vel with linear.x=0.5 for -3 seconds.", "move forward 1e999 m", "move forward 1/0 m",
    "move forward for 0 s", "x" * 5000,
])
def test_unreadable_text_is_a_typed_error(text):
    with pytest.raises(ParseError):
        parse_action(text)


def test_non_string_is_a_typed_error():
    with pytest.raises(ParseError):
        parse_action(None)  # type: ignore[arg-type]


LIMITS = SafetyLimits(max_linear_mps=1.0, max_angular_rps=1.5, max_duration_s=30.0)
_words = st.sampled_from(["move", "turn", "arc", "forward", "backward", "left", "right", "clockwise", "at", "for",
                          "m", "cm", "deg", "rad", "s", "m/s", "rad/s", "π", "stop", "query", "battery", "reply",
                          "linear.x=", "angular.z=", "Publishing cmd_vel with", "seconds", "-", "1e308", "nan", "inf"])
_numbers = st.floats(allow_nan=True, allow_infinity=True).map(lambda f: repr(f))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_words, _numbers, st.text(max_size=8)), max_size=12))
def test_fuzz_parser_only_raises_parse_error_and_limits_always_hold(tokens):
    text = " ".join(tokens)
    try:
        action = parse_action(text)
    except ParseError:
        return
    assert action.type in ("move", "stop", "reply")
    limited = apply_limits(action, LIMITS).action
    assert limited.is_finite()
    assert abs(limited.linear_x) <= LIMITS.max_linear_mps + 1e-12
    assert abs(limited.angular_z) <= LIMITS.max_angular_rps + 1e-12
    assert 0 <= limited.duration_s <= LIMITS.max_duration_s
    if limited.type != "move":
        assert not limited.moves


@settings(max_examples=200, deadline=None)
@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), st.sampled_from(["m", "cm", "ft"]),
       st.sampled_from(["forward", "backward"]))
def test_fuzz_compact_move_round_trip(value, unit, direction):
    a = parse_action(f"move {direction} {value!r} {unit}")  # signs and exponents are part of the grammar
    if a.type == "stop":  # zero, or so small that the distance underflows to zero metres
        assert abs(value) < 1e-300
        return
    factor = {"m": 1, "cm": 0.01, "ft": 0.3048}[unit] * (1 if direction == "forward" else -1)
    assert a.linear_x * a.duration_s == pytest.approx(value * factor, rel=1e-9, abs=1e-12)
