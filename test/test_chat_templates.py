import pytest

from ros2_llm_controller.core import chat_templates as ct

COURSE = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "2+2 equals 4."},
]

# Printed in the course (Day 32, section 32.3), byte for byte.
COURSE_CHATML = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                 "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
                 "<|im_start|>assistant\n2+2 equals 4.<|im_end|>")
COURSE_LLAMA2 = "[INST] <<SYS>>\nYou are a helpful assistant.\n<</SYS>>\nWhat is 2+2? [/INST] 2+2 equals 4."
COURSE_LLAMA3 = ("<|begin_of_text|><|start_header_id|>system<|end_header_id|>\nYou are a helpful assistant.<|eot_id|>\n"
                 "<|start_header_id|>user<|end_header_id|>\nWhat is 2+2?<|eot_id|>\n"
                 "<|start_header_id|>assistant<|end_header_id|>\n2+2 equals 4.<|eot_id|>")


def test_chatml_matches_course_exactly():
    assert ct.render(COURSE, "chatml").text == COURSE_CHATML + "\n"


def test_llama3_matches_course_exactly():
    assert ct.render(COURSE, "llama3").text == COURSE_LLAMA3 + "\n"


def test_llama2_is_course_text_plus_bos_and_eos():
    text = ct.render(COURSE, "llama2").text
    assert text == "<s>" + COURSE_LLAMA2 + "</s>"


@pytest.mark.parametrize("name", ["chatml", "llama2", "llama3"])
def test_assistant_spans_cover_content_and_end_of_turn(name):
    convo = COURSE + [{"role": "user", "content": "And 3+3?"}, {"role": "assistant", "content": "6."}]
    r = ct.render(convo, name)
    eot = ct.end_of_turn_for(name)
    assert [r.text[s:e] for s, e in r.assistant_spans] == ["2+2 equals 4." + eot, "6." + eot]


@pytest.mark.parametrize("name", ["chatml", "llama2", "llama3"])
def test_generation_prompt_is_prefix_of_full_render(name):
    prompt = ct.generation_prompt(COURSE[:2], name)
    full = ct.render(COURSE, name).text
    assert full.startswith(prompt)
    assert full[len(prompt):].startswith("2+2 equals 4.")


def test_llama2_multi_turn_has_one_bos_per_instruction():
    convo = COURSE + [{"role": "user", "content": "And 3+3?"}]
    text = ct.generation_prompt(convo, "llama2")
    assert text.count("<s>") == 2 and text.count("</s>") == 1 and text.endswith("[INST] And 3+3? [/INST] ")


def test_system_is_optional():
    assert ct.generation_prompt([{"role": "user", "content": "hi"}], "chatml") == \
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


@pytest.mark.parametrize("bad, match", [
    ([], "empty"),
    ([{"role": "robot", "content": "x"}], "unknown role"),
    ([{"role": "user", "content": "x"}, {"role": "assistant", "content": "  "}], "empty assistant"),
    ([{"role": "user", "content": "x"}, {"role": "user", "content": "y"}], "expected a assistant"),
    ([{"role": "user", "content": "x"}, {"role": "system", "content": "y"}], "only come first"),
    ([{"role": "user", "content": 3}], "must be a string"),
])
def test_bad_conversations_raise(bad, match):
    with pytest.raises(ct.ChatFormatError, match=match):
        ct.render(bad, "chatml")


def test_generation_prompt_after_assistant_turn_raises():
    with pytest.raises(ct.ChatFormatError):
        ct.generation_prompt(COURSE, "chatml")


def test_unknown_template_name():
    with pytest.raises(ct.ChatFormatError, match="unknown chat template"):
        ct.render(COURSE, "vicuna")
    assert ct.canonical_name("Llama-3") == "llama3" and ct.canonical_name("tokenizer") == "auto"


def test_auto_uses_the_tokenizers_own_template_and_finds_spans():
    from tiny_llm import make_tokenizer

    tok = make_tokenizer()  # its own template is ChatML
    convo = COURSE + [{"role": "user", "content": "And 3+3?"}, {"role": "assistant", "content": "6."}]
    auto = ct.render(convo, "auto", tok)
    named = ct.render(convo, "chatml")
    assert auto.text == named.text
    assert auto.assistant_spans == named.assistant_spans
    assert ct.end_of_turn_for("auto", tok) == "<|im_end|>"
    assert ct.detect_template(tok) == "chatml"


def test_auto_without_template_raises():
    from tiny_llm import make_tokenizer

    with pytest.raises(ct.ChatFormatError, match="chat_template"):
        ct.render(COURSE, "auto", make_tokenizer(chat_template=None))
