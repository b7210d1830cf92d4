"""Assistant-only labels (course exercise E32.1) on ChatML, Llama 2, Llama 3 and the tokenizer's own template.

The label positions are checked against positions computed without offsets or spans: by encoding the
generation prompt and the conversation up to each answer, and by decoding token prefixes.
"""

import pytest
import torch
import torch.nn.functional as F
from tiny_llm import make_model, make_tokenizer

from ros2_llm_controller.core.chat_templates import end_of_turn_for, generation_prompt, render
from training.collator import (IGNORE_INDEX, AssistantOnlyCollator, NoAssistantTokensError, choose_pad_token,
                               encode_chat, ensure_pad_token, tokenize_conversation, tokenize_dataset)

TEMPLATES = ["chatml", "llama2", "llama3", "auto"]
SYSTEM = "You control a mobile robot. Answer with one action line: move, turn, arc, stop, query or reply."
CONVO = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "Move the robot forward 2 meters"},
    {"role": "assistant", "content": "move forward 2 m"},
    {"role": "user", "content": "What is the battery level?"},
    {"role": "assistant", "content": "query battery"},
]
SHORT = [{"role": "user", "content": "Stop"}, {"role": "assistant", "content": "stop"}]
# TinyLlama-1.1B-Chat's own (Zephyr) template: every turn, user turns too, ends with eos; no BOS in the text.
ZEPHYR_JINJA = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}"
    "\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)


@pytest.fixture(scope="module")
def tok():
    return make_tokenizer()


def bos_adding_tokenizer(chat_template):
    """Like TinyLlama's/Llama 2's tokenizer: ``tokenizer(text)`` prepends <s> by itself."""
    from tokenizers.processors import TemplateProcessing

    t = make_tokenizer(chat_template)
    t.backend_tokenizer.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", t.bos_token_id)])
    assert t("a")["input_ids"][0] == t.bos_token_id
    return t


def encode(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def expected_positions_by_prefix(messages, template, tokenizer):
    """Assistant token positions from generation prompts: the tokens the model must add to the prompt
    before answer k, up to and including the end-of-turn token."""
    full = encode(tokenizer, render(messages, template, tokenizer).text)
    eot_id = tokenizer.convert_tokens_to_ids(end_of_turn_for(template, tokenizer))
    positions = []
    for k, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        prompt = encode(tokenizer, generation_prompt(messages[:k], template, tokenizer))
        upto = encode(tokenizer, render(messages[:k + 1], template, tokenizer).text)
        assert full[:len(upto)] == upto  # the per-turn encoding is the full one's prefix: the check is meaningful
        common = next((i for i, (a, b) in enumerate(zip(prompt, upto)) if a != b), min(len(prompt), len(upto)))
        stop = max(i for i, t in enumerate(upto) if t == eot_id) + 1
        assert common < stop
        positions += range(common, stop)
    return positions


def expected_positions_by_decoding(messages, template, tokenizer):
    """Assistant token positions from decoded prefixes: tokens whose text ends inside an answer + end of turn."""
    rendered = render(messages, template, tokenizer)
    ids = encode(tokenizer, rendered.text)
    assert tokenizer.decode(ids, clean_up_tokenization_spaces=False) == rendered.text
    answers = [m["content"] + end_of_turn_for(template, tokenizer) for m in messages if m["role"] == "assistant"]
    spans, at = [], 0
    for answer in answers:  # located by search, not taken from render()'s spans
        at = rendered.text.index(answer, at)
        spans.append((at, at + len(answer)))
        at += len(answer)
    ends = [len(tokenizer.decode(ids[:i + 1], clean_up_tokenization_spaces=False)) for i in range(len(ids))]
    starts = [0] + ends[:-1]
    return [i for i, (s, e) in enumerate(zip(starts, ends)) if e > s and any(a < e <= b for a, b in spans)]


def label_positions(row):
    return [i for i, t in enumerate(row["labels"]) if t != IGNORE_INDEX]


@pytest.mark.parametrize("template", TEMPLATES)
def test_label_positions_equal_independently_computed_assistant_positions(tok, template):
    row = tokenize_conversation(CONVO, tok, template)
    got = label_positions(row)
    assert got == expected_positions_by_prefix(CONVO, template, tok)
    assert got == expected_positions_by_decoding(CONVO, template, tok)
    assert all(row["labels"][i] == row["input_ids"][i] for i in got)  # unshifted: the model shifts
    eot = tok.convert_tokens_to_ids(end_of_turn_for(template, tok))
    assert [row["input_ids"][i] for i in got].count(eot) == 2  # both answers end with their stop token


@pytest.mark.parametrize("template", TEMPLATES)
def test_supervised_text_is_exactly_the_answers_and_their_stop_tokens(tok, template):
    row = tokenize_conversation(CONVO, tok, template)
    supervised = tok.decode([row["input_ids"][i] for i in label_positions(row)], clean_up_tokenization_spaces=False)
    eot = end_of_turn_for(template, tok)
    # Llama 2's answer token carries the separating space of "[/INST] move".
    lead = " " if template == "llama2" else ""
    assert supervised == f"{lead}move forward 2 m{eot}{lead}query battery{eot}"


def test_own_template_with_eos_after_every_turn_labels_only_the_assistant_ones():
    t = bos_adding_tokenizer(ZEPHYR_JINJA)
    row = tokenize_conversation(CONVO, t, "auto")
    ids, labels = row["input_ids"], row["labels"]
    eos_positions = [i for i, x in enumerate(ids) if x == t.eos_token_id]
    assert len(eos_positions) == 5  # system, user, assistant, user, assistant
    assert [labels[i] != IGNORE_INDEX for i in eos_positions] == [False, False, True, False, True]
    # The independent positions are computed without the BOS that tokenize_conversation prepends.
    assert label_positions(row) == [i + 1 for i in expected_positions_by_prefix(CONVO, "auto", t)]
    assert label_positions(row) == [i + 1 for i in expected_positions_by_decoding(CONVO, "auto", t)]
    # Zephyr's text has no BOS: it is prepended once because this tokenizer normally adds it.
    assert ids[0] == t.bos_token_id and ids.count(t.bos_token_id) == 1


@pytest.mark.parametrize("template, expected_bos", [("llama2", 2), ("llama3", 1), ("chatml", 0)])
def test_no_double_bos_even_when_the_tokenizer_adds_one(template, expected_bos):
    t = bos_adding_tokenizer(make_tokenizer().chat_template)
    ids = tokenize_conversation(CONVO, t, template)["input_ids"]
    bos = t.convert_tokens_to_ids("<|begin_of_text|>" if template == "llama3" else "<s>")
    assert ids.count(bos) == expected_bos  # Llama 2: one <s> per [INST], as Meta's tokenisation does
    if expected_bos:
        assert ids[0] == bos and ids[1] != bos
    # The named templates are complete (ChatML has no BOS): the tokenizer's own BOS is never added on top.
    assert ids.count(t.bos_token_id) == (2 if template == "llama2" else 0)


@pytest.mark.parametrize("template", TEMPLATES)
def test_loss_from_labels_equals_cross_entropy_over_assistant_tokens_by_hand(tok, template):
    model = make_model(tok, seed=1)
    collate = AssistantOnlyCollator(tok, template)
    batch = collate([{"messages": CONVO}, {"messages": SHORT}])
    with torch.no_grad():
        out = model(**batch)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    terms = []
    for r, messages in enumerate([CONVO, SHORT]):
        ids = batch["input_ids"][r]
        for t in expected_positions_by_prefix(messages, template, tok):  # independent of the labels
            terms.append(-F.log_softmax(logits[r, t - 1].double(), dim=-1)[ids[t]])
    by_hand = torch.stack(terms).mean()
    assert len(terms) == int((batch["labels"] != IGNORE_INDEX).sum())
    assert torch.isfinite(out.loss)
    assert out.loss.double().item() == pytest.approx(by_hand.item(), rel=1e-5)


@pytest.mark.parametrize("template", TEMPLATES)
def test_non_assistant_positions_get_no_loss_and_no_gradient(tok, template):
    model = make_model(tok, seed=2)
    batch = AssistantOnlyCollator(tok, template)([{"messages": CONVO}, {"messages": SHORT}])
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.detach()
    logits.requires_grad_(True)
    shift_logits, shift_labels = logits[:, :-1], batch["labels"][:, 1:]
    per_token = F.cross_entropy(shift_logits.transpose(1, 2), shift_labels, ignore_index=IGNORE_INDEX,
                                reduction="none")
    supervised = shift_labels != IGNORE_INDEX
    assert torch.all(per_token[~supervised] == 0) and torch.all(per_token[supervised] > 0)
    loss = per_token.sum() / supervised.sum()
    loss.backward()
    grad_norm = logits.grad[:, :-1].abs().sum(-1)
    assert torch.all(grad_norm[~supervised] == 0)  # user, system, template and padding positions
    assert torch.all(grad_norm[supervised] > 0)
    # Arbitrary changes to the logits at those positions leave the loss exactly unchanged.
    noisy = shift_logits.detach().clone()
    noisy[~supervised] += 100 * torch.randn_like(noisy[~supervised])
    loss_noisy = F.cross_entropy(noisy.transpose(1, 2), shift_labels, ignore_index=IGNORE_INDEX, reduction="sum")
    assert loss_noisy.item() == pytest.approx(per_token.sum().item(), rel=1e-6)


@pytest.mark.parametrize("template", TEMPLATES)
def test_user_text_changes_only_inputs_never_targets(tok, template):
    a = tokenize_conversation(CONVO, tok, template)
    changed = [dict(m) for m in CONVO]
    changed[1]["content"] = "Rotate 90 degrees clockwise please, right now"
    b = tokenize_conversation(changed, tok, template)
    targets = lambda row: [t for t in row["labels"] if t != IGNORE_INDEX]  # noqa: E731
    assert a["input_ids"] != b["input_ids"]
    assert targets(a) == targets(b)


@pytest.mark.parametrize("template", TEMPLATES)
def test_no_assistant_token_raises(tok, template):
    with pytest.raises(NoAssistantTokensError):
        tokenize_conversation(CONVO[:2], tok, template)  # system + user: nothing to learn
    full = tokenize_conversation(CONVO, tok, template)
    first_answer = label_positions(full)[0]
    with pytest.raises(NoAssistantTokensError, match="max_length"):
        tokenize_conversation(CONVO, tok, template, max_length=first_answer)  # truncated before the answer
    kept = tokenize_conversation(CONVO, tok, template, max_length=first_answer + 1)
    assert label_positions(kept) == [first_answer]


def test_collator_raises_on_a_pretokenised_row_without_targets(tok):
    collate = AssistantOnlyCollator(tok, "chatml")
    row = tokenize_conversation(SHORT, tok, "chatml")
    with pytest.raises(NoAssistantTokensError):
        collate([row, {"input_ids": row["input_ids"], "labels": [IGNORE_INDEX] * len(row["labels"]), "id": "x"}])
    with pytest.raises(NoAssistantTokensError):
        AssistantOnlyCollator(tok, "chatml", max_length=3)([{"messages": SHORT}])


def test_tokenize_dataset_drops_and_counts_rows_without_targets(tok):
    long_user = [{"role": "user", "content": "Move the robot forward 2 meters " * 20},
                 {"role": "assistant", "content": "move forward 2 m"}]
    rows, dropped = tokenize_dataset([{"id": "a", "messages": SHORT}, {"id": "b", "messages": long_user},
                                      {"id": "c", "messages": CONVO}], tok, "chatml", max_length=48)
    assert dropped == ["b"]
    assert [r["length"] for r in rows] == [len(r["input_ids"]) for r in rows]
    assert len(rows) == 2 and all(r["length"] <= 48 for r in rows)


def test_padding_is_right_to_the_longest_row_and_masked(tok):
    collate = AssistantOnlyCollator(tok, "chatml")
    rows = [tokenize_conversation(m, tok, "chatml") for m in (CONVO, SHORT)]
    batch = collate(rows)
    n0, n1 = (len(r["input_ids"]) for r in rows)
    assert batch["input_ids"].shape == (2, max(n0, n1))
    assert batch["attention_mask"][1].tolist() == [1] * n1 + [0] * (n0 - n1)
    assert torch.all(batch["input_ids"][1, n1:] == tok.pad_token_id)
    assert torch.all(batch["labels"][1, n1:] == IGNORE_INDEX)
    assert batch["labels"][1, :n1].tolist() == rows[1]["labels"]
    fixed = AssistantOnlyCollator(tok, "chatml", max_length=96, padding="max_length")(rows)
    assert fixed["input_ids"].shape == (2, 96)
    assert AssistantOnlyCollator(tok, "chatml", pad_to_multiple_of=16)(rows)["input_ids"].shape[1] % 16 == 0


@pytest.mark.parametrize("template", ["chatml", "llama2"])
def test_pad_equal_to_end_of_turn_is_replaced_and_stop_tokens_stay_trained(template):
    t = make_tokenizer()
    eot = end_of_turn_for(template, t)
    t.pad_token = eot  # SmolLM2 ships pad == <|im_end|>; TinyLlama pad == </s>
    with pytest.raises(ValueError, match="pad token"):
        AssistantOnlyCollator(t, template)
    assert choose_pad_token(t, eot) == ("<unk>", False)
    assert ensure_pad_token(t, template) is False and t.pad_token == "<unk>"
    batch = AssistantOnlyCollator(t, template)([{"messages": CONVO}, {"messages": SHORT}])
    eot_id = t.convert_tokens_to_ids(eot)
    is_eot = batch["input_ids"] == eot_id
    assert is_eot.any() and torch.all(batch["attention_mask"][is_eot] == 1)
    assert (batch["labels"] == eot_id).sum() == 3  # two answers in CONVO, one in SHORT
    assert torch.all(batch["input_ids"][batch["attention_mask"] == 0] == t.unk_token_id)


def test_a_pad_token_is_added_when_pad_and_unk_are_both_stop_tokens():
    t = make_tokenizer()
    t.pad_token = t.unk_token = "<|im_end|>"
    assert choose_pad_token(t, "<|im_end|>") == ("<|pad|>", True)
    n = len(t)
    assert ensure_pad_token(t, "chatml") is True
    assert t.pad_token == "<|pad|>" and len(t) == n + 1


def test_encode_chat_keeps_offsets_aligned_with_the_prepended_bos():
    t = bos_adding_tokenizer(ZEPHYR_JINJA)
    text = render(SHORT, "auto", t).text
    ids, offsets = encode_chat(text, t, "auto")
    assert ids[0] == t.bos_token_id and offsets[0] == (0, 0) and len(ids) == len(offsets)
    assert ids[1:] == encode(t, text)
    assert encode_chat(text, t, "chatml")[0] == encode(t, text)  # a named template is never given a BOS
