"""Detectors of training.quality on planted problems with known indices, and on records that must
stay clean (robot action lines, translations, short labels, legitimate apologies)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.quality import DETECTORS, empty_output, is_non_english, run_detectors, truncated_output

LONG_PROSE = ("The committee met on Tuesday to review the budget and after a long discussion about the "
              "costs of the new building they agreed to postpone the decision until the")


def rec(instruction: str, output: str, input: str = "") -> dict:  # noqa: A002 - the dataset's field name
    return {"instruction": instruction, "input": input, "output": output}


# index -> the one detector it plants (None: must stay clean).
PLANTED = [
    (rec("Give three tips for staying healthy.", "1. Eat well. 2. Exercise. 3. Sleep eight hours."), None),  # 0
    (rec("Convert 20 inches to centimetres.", ""), "empty_output"),  # 1
    (rec("Estimate the sum of 4 and 9.", "   \n"), "empty_output"),  # 2
    (rec("Give the result of 25 x 8.", "."), "empty_output"),  # 3
    (rec("Design a company logo.", "<nooutput>"), "placeholder_output"),  # 4
    (rec("Name a famous scientist.", "Marie Curie was a physicist and chemist.", "<noinput>"),
     "placeholder_input"),  # 5
    (rec("Tell me a joke about cats.", "Cats never pay for anything; they put it on their tab.", "No input required."),
     "placeholder_input"),  # 6
    (rec("Rewrite the sentence in passive voice.", "The cat chased the mouse.", "The cat chased the mouse."),
     "output_copies_input"),  # 7
    (rec("Correct the grammar of the sentence.", "He go to school every day.", "He go to school every day.  "),
     "output_copies_input"),  # 8
    (rec("Write a haiku about rain.", "Write a haiku about rain."), "output_copies_instruction"),  # 9
    (rec("Describe the following photo.", "A sunset over a calm sea with two boats."), "unseen_media"),  # 10
    (rec("Summarize this article in two sentences.", "The article argues that cities should plant more trees.",
         "https://www.example.com/news/2020/trees"), "unseen_media"),  # 11
    (rec("Name the capital of France.",
         "Paris.\n\n2. Instruction: Name a primary color.\n2. Input:\n<noinput>\n2. Output:\nBlue"),
     "merged_instructions"),  # 12
    (rec("Draw a cat.", "As an AI language model, I cannot draw pictures."), "refusal"),  # 13
    (rec("Create a logo for a bakery.", "Sorry, the task requires a visual output which cannot be generated."),
     "refusal"),  # 14
    (rec("Describe the meeting.", LONG_PROSE), "truncated_output"),  # 15
    (rec("Escribe un poema sobre el mar y la luna para los niños.", "The sea is wide, the moon is bright."),
     "non_english"),  # 16
    (rec("Describe the weather today.", "Le temps est très beau et il fait chaud dans la ville ce matin."),
     "non_english"),  # 17
    (rec("Give three tips for staying healthy.", "Drink water, walk daily and sleep well."), "duplicate"),  # 18
    # --- must stay clean -------------------------------------------------------------------------
    (rec("Go forward two meters", "move forward 2 m"), None),  # 19
    (rec("Please halt", "stop"), None),  # 20
    (rec("Turn around slowly", "turn left 180 deg at 0.3 rad/s"), None),  # 21
    (rec('Translate "Où sont les toilettes ?" into English.', "Where are the toilets?"), None),  # 22
    (rec("Translate the sentence into French.", "Le chat est sur la table et il dort dans la cuisine.",
         "The cat is on the table and sleeps in the kitchen."), None),  # 23
    (rec("Capitalize each word in the sentence.", "The Sun Shone Brightly", "the sun shone brightly"), None),  # 24
    (rec("Remove the extra spaces.", "The dog is so cute.", "The dog  is so   cute."), None),  # 25
    (rec("Respond to the customer complaint.", "I'm sorry to hear that your order arrived late. We will refund you.",
         "My order came two weeks late!"), None),  # 26
    (rec("Describe the following painting.", "A swirling night sky over a quiet village.",
         "The Starry Night by Vincent van Gogh"), None),  # 27
    (rec("Convert the word to Morse code.", "... --- ...", "SOS"), None),  # 28
    (rec("Give an emoji that means happy.", "😊"), None),  # 29
    (rec("Classify the sentiment of the review.", "Positive", "I loved this film."), None),  # 30
    (rec("Write a Python function that adds two numbers.", "def add(a, b):\n    return a + b"), None),  # 31
    (rec("List four fruits.", "- apples\n- bananas\n- cherries\n- dates"), None),  # 32
    (rec("List restaurants in Montreal.", "1. Joe Beef\n2. Les 400 Coups\n3. Festival Saveurs et Saisons\n"
         "4. La Banquise\n5. Plats du Chef"), None),  # 33
    (rec("Generate a sentence to express surprise.", "Wow, I did not see that coming!"), None),  # 34
    (rec("Write a tweet about solar power.", "Solar power is cheaper than ever and it keeps getting better for "
         "everyone who wants clean energy #solar #green"), None),  # 35
    (rec("Rewrite the sentence to sound less negative.", "I am not able to do it yet.", "I can't do it."), None),  # 36
]
RECORDS = [r for r, _ in PLANTED]
EXPECTED = {name: [i for i, (_, d) in enumerate(PLANTED) if d == name] for name in DETECTORS}


def test_filter_names_used_by_the_dataset_builder_exist():
    for name in ("empty_output", "output_copies_instruction", "output_copies_input", "truncated_output",
                 "placeholder_input", "refusal", "non_english"):
        assert name in DETECTORS and DETECTORS[name].name == name and DETECTORS[name].description


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_each_detector_flags_exactly_the_planted_records(name):
    assert run_detectors(RECORDS, [name]) == {name: EXPECTED[name]}


def test_planted_counts():
    counts = {k: len(v) for k, v in run_detectors(RECORDS).items()}
    assert counts["empty_output"] == 3 and counts["placeholder_input"] == 2 and counts["output_copies_input"] == 2
    assert counts["unseen_media"] == 2 and counts["refusal"] == 2 and counts["non_english"] == 2
    assert sum(counts.values()) == sum(d is not None for _, d in PLANTED)


def test_names_filter_and_unknown_name():
    assert list(run_detectors(RECORDS, ["refusal", "empty_output"])) == ["refusal", "empty_output"]
    assert run_detectors(RECORDS, []) == {}
    with pytest.raises(KeyError, match="no_such_detector"):
        run_detectors(RECORDS, ["no_such_detector"])


def test_missing_fields_and_none_values_count_as_empty():
    records = [{"instruction": "Say hi.", "output": None}, {"instruction": "Say hi.", "output": "hi"}]
    assert run_detectors(records, ["empty_output", "placeholder_input", "duplicate"]) == {
        "empty_output": [0], "placeholder_input": [], "duplicate": [1]}


def test_detector_parameters():
    records = [rec("Answer yes or no.", "ok"), rec("Answer.", "yes"), rec("Stop.", "stop")]
    assert empty_output(min_chars=3)(records) == [0]
    assert empty_output()(records) == []
    short = rec("Describe it.", "It was a long day and we walked to the")  # 10 words
    assert truncated_output()([short]) == []
    assert truncated_output(min_words=8)([short]) == [0]


def test_non_english_heuristic():
    assert is_non_english("Der Hund ist nicht in dem Haus und die Katze auch nicht.")
    assert is_non_english("今天天气很好，我们去公园散步吧。")
    assert not is_non_english("Write a poem about the sea and the moon.")
    assert not is_non_english("Fa la la la la, la la la la")  # one distinct foreign word only


ACTIONS = st.one_of(
    st.builds("move {} {} m".format, st.sampled_from(["forward", "backward"]),
              st.floats(0.1, 10).map(lambda x: f"{x:.1f}")),
    st.builds("turn {} {} deg".format, st.sampled_from(["left", "right"]), st.integers(1, 360)),
    st.just("stop"), st.just("query battery"),
)


@settings(max_examples=60, deadline=None)
@given(actions=st.lists(ACTIONS, min_size=1, max_size=4))
def test_robot_action_lines_never_trip_the_filter_detectors(actions):
    names = ["empty_output", "output_copies_instruction", "output_copies_input", "truncated_output",
             "placeholder_input", "refusal", "non_english", "placeholder_output", "unseen_media"]
    records = [rec("Drive the robot as asked.", "\n".join(actions))]
    assert run_detectors(records, names) == {n: [] for n in names}


def test_evidence_points_at_the_problem():
    from training.quality import evidence

    assert evidence("merged_instructions", RECORDS[12]).startswith("2. Instruction: Name a primary color.")
    assert evidence("truncated_output", RECORDS[15]).endswith("decision until the")
    assert evidence("refusal", RECORDS[13]).startswith("As an AI language model")
    assert "https://www.example.com/news/2020/trees" == evidence("unseen_media", RECORDS[11])
    assert evidence("unseen_media", RECORDS[10]) == "Describe the following photo."
    assert evidence("empty_output", RECORDS[1]) == "''"
