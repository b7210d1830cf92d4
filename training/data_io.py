"""Read chat datasets (JSONL, one conversation a line) and stop on the first bad line with ``file:line``.

Line format, as written by ``training/make_dataset.py``::

    {"id": "...", "messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...], ...}

Other keys (``target``, ``meta``) are kept untouched.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

from ros2_llm_controller.core.chat_templates import ChatFormatError, validate_messages


class DatasetError(ValueError):
    """A dataset line that cannot be trained on; the message starts with ``path:line:``."""


def _check_conversation(row: Any) -> None:
    if not isinstance(row, dict):
        raise ChatFormatError(f"expected a JSON object, got {type(row).__name__}")
    messages = row.get("messages")
    if not isinstance(messages, list):
        raise ChatFormatError("missing 'messages' list")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or "role" not in m:
            raise ChatFormatError(f"message {i}: missing 'role'")
        if "content" not in m:
            raise ChatFormatError(f"message {i} ({m['role']}): missing 'content'")
    validate_messages(messages)
    if not any(m["role"] == "assistant" for m in messages):
        raise ChatFormatError("conversation has no assistant turn (nothing to learn)")
    if messages[-1]["role"] != "assistant":
        raise ChatFormatError("conversation ends with a user turn that has no answer")


def load_conversations(path: str | Path) -> list[dict]:
    """All conversations of a JSONL file; blank lines are skipped.

    Raises ``DatasetError("path:LINE: reason")`` for invalid JSON, a message without role or
    content, an unknown role, an empty assistant turn, turns out of order, or a conversation with
    no assistant turn (or whose last turn is an unanswered user turn).
    """
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{p}: cannot read: {exc}") from exc
    rows = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{p}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
        try:
            _check_conversation(row)
        except ChatFormatError as exc:
            raise DatasetError(f"{p}:{lineno}: {exc}") from exc
        rows.append(row)
    if not rows:
        raise DatasetError(f"{p}: no conversations")
    return rows


def with_system_prompt(conversations: list[dict], system_prompt: str | None) -> tuple[list[dict], int]:
    """Copies whose system turn is ``system_prompt`` (inserted or replaced); None keeps the data's own.

    The model is trained on exactly the system message the controller sends at inference.
    Returns the conversations and how many were changed.
    """
    if system_prompt is None:
        return conversations, 0
    out, changed = [], 0
    for conv in conversations:
        msgs = list(conv["messages"])
        if msgs and msgs[0]["role"] == "system":
            if msgs[0]["content"] != system_prompt:
                changed += 1
            msgs[0] = {**msgs[0], "content": system_prompt}
        else:
            changed += 1
            msgs.insert(0, {"role": "system", "content": system_prompt})
        out.append({**conv, "messages": msgs})
    return out, changed


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file (recorded with the adapter, to know which data trained it)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def command_line(module: str, argv: Sequence[str] | None = None) -> str:
    """``python -m module args...`` as a shell would need it typed (for reports)."""
    return shlex.join(["python", "-m", module, *(sys.argv[1:] if argv is None else argv)])
