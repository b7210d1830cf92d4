"""The one normaliser: what the model reads, for training, evaluation, the CLI and the node."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ros2_llm_controller.core.normalise import format_number, has_non_finite, normalise, quantities


@pytest.mark.parametrize("text, expected", [
    ("Move the robot forward 2 meters", "move the robot forward 2 m"),
    ("mOvE fOrWaRd 1 MeTeR", "move forward 1 m"),
    ("MOVE FORWARD 1 METER", "move forward 1 m"),
    ("go forward two and a half metres", "go forward 2.5 m"),
    ("three hundred millimetres forward", "300 mm forward"),
    ("move a quarter of a metre", "move 0.25 m"),
    ("back up half a meter", "back up 0.5 m"),
    ("drive ½ m", "drive 0.5 m"),
    ("drive 1½ m", "drive 1.5 m"),
    ("go forward a couple of meters", "go forward 2 m"),
    ("go forward a meter", "go forward 1 m"),
    ("move forward one point five meters", "move forward 1.5 m"),
    ("move forward 1,500 mm", "move forward 1500 mm"),
    ("go 2,5 m forward", "go 2.5 m forward"),
    ("move forward 1 ft 6 in", "move forward 18 in"),
    ("go 1 foot 6 inches forward", "go 18 in forward"),
    ("0 m 1 ft 6 in", "18 in"),  # a pair's sum pairs with what follows (idempotent in one pass)
    ("2.5 m  1 ft 6 in", "116.4252 in"),  # two spaces between the parts
    ("go forward 1 m and 20 cm", "go forward 120 cm"),
    ("drive 2 yards", "drive 2 yd"),
    ("Rotate 90° clockwise", "rotate 90 deg clockwise"),
    ("turn 90-degree right", "turn 90 deg right"),
    ("turn π/2 rad", "turn 1.570796 rad"),
    ("rotate pi/2 radians to the left", "rotate 1.570796 rad to the left"),
    ("turn three quarters of a full rotation", "turn 0.75 rev"),
    ("turn anti-clockwise 45 degrees", "turn counterclockwise 45 deg"),
    ("go forwards", "go forward"),
    ("go fowrard 2 metrs", "go forward 2 m"),
    ("go back 0.25 m moving at 25 cm per seconnd", "go back 0.25 m moving at 25 cm/s"),
    ("go forward 2m at 0.5m/s", "go forward 2 m at 0.5 m/s"),
    ("drive forward at 30 centimeters per second for 5 seconds", "drive forward at 30 cm/s for 5 s"),
    ("rotate at 20 degrees per second for 3 seconds", "rotate at 20 deg/s for 3 s"),
    ("go 1.8 km per hour for 10 s", "go 1.8 km/h for 10 s"),
    ("go forward 1.5 miles per hour", "go forward 1.5 mph"),
    ("spin around twice", "spin around 2 times"),
    ("drive 1e9 meters", "drive 1000000000 m"),
    ("Hey robot!!! 🚀 go forward 3 m please 🙏", "hey robot! go forward 3 m please"),
    ("wait a second", "wait 1 s"),
    ("the second step first", "the second step first"),  # ordinals are no quantities
    ("no one moves", "no one moves"),
    ("go there now", "go there now"),  # "there" is not repaired into "three"
    ("zero point one meters per second", "0.1 m/s"),
    ("at point seven meters per second", "at 0.7 m/s"),
    ("at this point one more", "at this point one more"),
    ("3 rotations per minute", "3 rpm"),
    ("turn 3pi/2 rad", "turn 4.712389 rad"),
    ("a foot and a half", "1.5 ft"),
    ("one full rotation", "1 rev"),
    ("three-quarter turn right", "0.75 rev right"),
    ("turnleft30degrees", "turn left 30 deg"),
    ("mvoe bakcwards 1 m", "move backward 1 m"),
    ("quarter circle right, radius 3 ft", "0.25 rev right, radius 3 ft"),
    ("semicircle left", "0.5 rev left"),
    ("plz trun rite 90", "plz turn right 90"),
    ("turn on the light", "turn on the light"),  # no substitution on short words: "light" stays
    ("burn the toast", "burn the toast"),
])
def test_normalise(text, expected):
    assert normalise(text) == expected


def test_quantities_keep_kind_and_order():
    qs = quantities(normalise("go forward 2 m at 0.5 m/s, then turn 90 deg for 3 s and wait 4"))
    assert [(q.text, q.kind) for q in qs] == [("2 m", "length"), ("0.5 m/s", "linear_speed"), ("90 deg", "angle"),
                                               ("3 s", "time"), ("4", "number")]


@pytest.mark.parametrize("text, non_finite", [("rotate nan degrees", True), ("drive infinity meters", True),
                                              ("go ∞ m", True), ("go 1e999 m", True), ("go 2 m", False),
                                              ("the infantry", False)])
def test_non_finite_numbers_are_flagged(text, non_finite):
    assert has_non_finite(normalise(text)) is non_finite


def test_format_number_is_minimal():
    assert [format_number(v) for v in (2.0, 2.5, 0.25, 1 / 3, 1e9, -0.0)] == ["2", "2.5", "0.25", "0.3333",
                                                                            "1000000000", "0"]


_fragments = st.sampled_from([
    "Move", "the robot", "forward", "two and a half", "metres", "1,500", "mm", "½", "90°", "pi/2", "rad", "per second",
    "cm", "anti-clockwise", "TURN", "fowrard", "metrs", "a quarter of a", "meter", "twice", "3.5", "km/h", "1 ft 6 in",
    "🙂", "!!", "then", "go to the kitchen", "1e9", "nan", "seconds", "at", "for", "deg", "°", "  ", "\t", "One",
    "Hundred",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_fragments, st.text(max_size=6)), max_size=10))
def test_normalise_is_idempotent(parts):
    once = normalise(" ".join(parts))
    assert normalise(once) == once


@pytest.mark.parametrize("text, expected", [
    ("pivlt left 90 degrees", "pivot left 90 deg"),  # a slip in a word no rule covers
    ("i think you shpukd rortae right 45 degrees", "i think you should rotate right 45 deg"),  # two edits
    ("heyyy robot turn left", "hey robot turn left"),  # repeated letters
    ("do a one-eighty", "do a 180"),  # an angle said as its digits
    ("one eighty five degrees", "1 85 deg"),  # ... but not the start of a longer number
    ("nveer turn left", "never turn left"),  # a slip in a negation keeps the negation
    ("do nthing", "do nothing"),
    ("wiat 5 seconds", "wait 5 s"),  # two letters swapped: the commonest slip
    ("i hant you to go", "i want you to go"),  # the most frequent word, not a negation with another letter
    ("ritte", "right"),  # a repair that is itself a known misspelling is repaired again (idempotent)
    ("goto the kitchen", "go to the kitchen"),
    ("go to the ensuite", "go to the ensuite"),  # two edits only into the robot's own words
    ("turn on the light", "turn on the light"),  # a dictionary word is never "repaired" into a command
    ("change the channel", "change the channel"),
    ("rotate nan degrees", "rotate nan degrees"),  # non-finite words stay for the limits to refuse
    ("go to the zorblax", "go to the zorblax"),  # an unknown name with no near word stays
])
def test_typing_slips_are_repaired_against_a_dictionary(text, expected):
    assert normalise(text) == expected
