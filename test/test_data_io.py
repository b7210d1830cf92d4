"""Dataset loading stops at the first bad line and names file and line."""

import hashlib
import json

import pytest

from training.data_io import DatasetError, load_conversations, sha256_file, with_system_prompt

GOOD = {"id": "a", "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "Stop"},
                                {"role": "assistant", "content": "stop"}], "target": [{"type": "stop"}], "meta": {}}


def write(tmp_path, lines, name="train.jsonl"):
    path = tmp_path / name
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def convo(*turns):
    return {"id": "x", "messages": [{"role": r, "content": c} for r, c in turns]}


def test_reads_every_conversation_and_keeps_extra_keys(tmp_path):
    path = write(tmp_path, [GOOD, "", convo(("user", "Go"), ("assistant", "move forward 1 m"),
                                            ("user", "Again"), ("assistant", "move forward 1 m"))])
    rows = load_conversations(path)
    assert len(rows) == 2
    assert rows[0]["target"] == [{"type": "stop"}] and rows[1]["messages"][-1]["content"] == "move forward 1 m"


@pytest.mark.parametrize("bad, reason", [
    ('{"id": "b", "messages": [', "invalid JSON"),
    (json.dumps({"id": "b", "messages": [{"content": "hi"}, {"role": "assistant", "content": "stop"}]}),
     "missing 'role'"),
    (json.dumps(convo(("user", "Stop"), ("assistant", "   "))), "empty assistant turn"),
    (json.dumps(convo(("system", "sys"), ("user", "Stop"))), "no assistant turn"),
    (json.dumps(convo(("user", "a"), ("assistant", "stop"), ("user", "b"))), "ends with a user turn"),
    (json.dumps(convo(("user", "a"), ("robot", "stop"))), "unknown role"),
    (json.dumps(convo(("user", "a"), ("user", "b"), ("assistant", "stop"))), "expected a assistant turn"),
    (json.dumps({"id": "b", "messages": [{"role": "user"}, {"role": "assistant", "content": "stop"}]}),
     "missing 'content'"),
    (json.dumps({"id": "b"}), "missing 'messages'"),
    (json.dumps([1, 2]), "JSON object"),
])
def test_bad_line_names_file_and_line(tmp_path, bad, reason):
    path = write(tmp_path, [GOOD, "", GOOD, bad, GOOD])  # the blank line still counts: the bad one is line 4
    with pytest.raises(DatasetError) as err:
        load_conversations(path)
    assert str(err.value).startswith(f"{path}:4: ")
    assert reason in str(err.value)


def test_missing_and_empty_files_are_errors(tmp_path):
    with pytest.raises(DatasetError, match="cannot read"):
        load_conversations(tmp_path / "absent.jsonl")
    with pytest.raises(DatasetError, match="no conversations"):
        load_conversations(write(tmp_path, ["", "  "]))


def test_system_prompt_is_inserted_or_replaced_without_touching_the_input():
    with_sys, without = GOOD, convo(("user", "Stop"), ("assistant", "stop"))
    out, changed = with_system_prompt([with_sys, without], "You control a mobile robot.")
    assert changed == 2
    assert [c["messages"][0] for c in out] == [{"role": "system", "content": "You control a mobile robot."}] * 2
    assert out[1]["messages"][1:] == without["messages"]
    assert GOOD["messages"][0]["content"] == "sys" and len(without["messages"]) == 2  # inputs untouched
    assert with_system_prompt([with_sys], "sys") == ([with_sys], 0)
    assert with_system_prompt([without], None) == ([without], 0)


def test_sha256_matches_hashlib(tmp_path):
    path = write(tmp_path, [GOOD] * 3)
    assert sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
