"""The per-command action grammar: the copy constraint, direction words, and that every string it
allows parses (property test with strings drawn from the grammar itself)."""

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ros2_llm_controller.core.grammar import check_answer, regex_for_command, slots_for
from ros2_llm_controller.core.normalise import normalise
from ros2_llm_controller.core.parser import AnswerKind, parse_answer


@pytest.mark.parametrize("command, answer", [
    ("Move the robot forward 2 meters", "move forward 2 m"),
    ("go forward two and a half metres", "move forward 2.5 m"),
    ("head straight on for 10 metres", "move straight 10 m"),
    ("go forward at 1 m/s for 10 s", "move forward for 10 s at 1 m/s"),
    ("turn around", "turn left 180 deg"),
    ("turn left 45", "turn left 45 deg"),
    ("go forward 1 m then turn left 90 degrees", "move forward 1 m; turn left 90 deg"),
    ("spin around twice", "turn left 360 deg x2"),
    ("do a 1 m square", "square 1 m"),
    ("Navigate to the charging station", "go to charging station"),
    ("go back to where you started", "go to where you started"),
    ("do that again twice", "again x2"),
    ("don't go forward", "reply negated"),
    ("what's your battery level?", "query battery"),
    ("wait 3 seconds then go forward", "wait 3 s; move forward"),
    ("do a half circle to the right with a radius of 0.5 m", "circle right 0.5 m 0.5 rev"),
    ("left 90. then forward 1 m", "turn left 90 deg; move forward 1 m"),  # a full stop after a bare number
])
def test_answers_that_copy_the_command_are_accepted(command, answer):
    assert check_answer(command, answer) is None


@pytest.mark.parametrize("command, answer, why", [
    ("go forward at 1 m/s for 10 s", "move forward 1 m", "quantity '1 m'"),  # a speed is not a distance
    ("go forward three hundred millimetres", "move forward 30 mm", "quantity '30 mm'"),  # no invented numbers
    ("go forward 30 cm", "move forward 30 m", "quantity '30 m'"),  # a number with a unit keeps it
    ("head straight on for 10 metres", "move back 10 m", "direction 'back'"),
    ("rotate 90 degrees clockwise", "turn left 90 deg", "direction 'left'"),
    ("go forward 2 m", "reply I cannot do that", "not in the action grammar"),  # free text replies are not offered
    ("go forward 2 m", "move forward 2 m x11", "not in the action grammar"),  # counts come from the command
])
def test_answers_that_invent_or_contradict_are_rejected(command, answer, why):
    reason = check_answer(command, answer)
    assert reason is not None and reason.startswith(why)


@pytest.mark.parametrize("command, arc_ok", [
    ("go forward 1 m, turn left 90", False),  # two steps: never folded into one arc
    ("go 1.5 m forward at 0.3 m/s, then turn left 90 degrees", False),
    ("drive forward 2 m while turning right 45 degrees", True),
    ("curve left 30 degrees over 2 m", True),
    ("move ahead 2 m and turn left 20 deg at the same time", True),
    ("go forward 2 m whle turnig left 20 degrees", True),  # the normaliser repairs a misspelt cue
    ("veer left 30 degrees as you drive 2 m", True),
    ("go forward 2 m as fast as you can, then turn left 30 degrees", False),
    ("would you be so kind as to go forward 2 m and turn left 90", False),
    ("turn left 90 degrees rotating at 20 deg/s, then go forward 2 m", False),  # a rate, not a second motion
])
def test_an_arc_needs_a_word_for_at_the_same_time(command, arc_ok):
    slots = slots_for(normalise(command))
    answer = f"arc {slots.linear_dirs[0]} {slots.lengths[0]} {slots.angular_dirs[0]} {slots.angles[0]}"
    reason = check_answer(command, answer)
    assert (reason is None) is arc_ok, reason
    assert arc_ok or reason.startswith("an arc needs")


def test_direction_words_of_both_senses_allow_both():
    slots = slots_for(normalise("turn left 30 degrees, sorry, I mean right"))
    assert {"left", "right"} <= set(slots.angular_dirs)
    assert check_answer("turn left 30 degrees, sorry, I mean right", "turn right 30 deg") is None


COMMANDS = ["go forward 2 m at 0.5 m/s then turn left 90 degrees and wait 3 seconds",
            "drive 300 mm back, rotate pi/2 radians clockwise 3 times, then go to the kitchen",
            "arc forward 1.5 m turning right 45 deg, then a 2 m square",
            "move 5 ft ahead at 20 cm/s for 4 s and spin at 30 deg/s"]


@pytest.mark.parametrize("command", COMMANDS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_string_of_the_grammar_parses(command, data):
    rx = regex_for_command(command)
    answer = data.draw(st.from_regex(re.compile(rx), fullmatch=True))
    parsed = parse_answer(answer)  # never raises: the grammar only writes what the parser reads
    assert parsed.kind in AnswerKind
    if parsed.kind is AnswerKind.PLAN:
        assert all(s.type in ("move", "wait", "goto") for s in parsed.steps)


def test_llguidance_compiles_the_grammar(tiny_model_dir):
    import llguidance
    import llguidance.hf
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    lt = llguidance.hf.from_tokenizer(tok)
    for command in COMMANDS:
        m = llguidance.LLMatcher(lt, llguidance.LLMatcher.grammar_from_regex(regex_for_command(command)))
        assert not m.is_error(), m.get_error()
        ids = tok.encode("move forward 2 m", add_special_tokens=False)
        slots = slots_for(normalise(command))
        assert m.consume_tokens(ids) is ("2 m" in slots.lengths and "forward" in slots.linear_dirs)
