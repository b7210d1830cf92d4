"""Load instruction/input/output records from a JSON, JSONL or Parquet file or a Hugging Face id.

Every loader returns the same thing, a list of ``{"instruction", "input", "output"}`` dicts of
strings, so the analysis never cares where the data came from.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

FIELDS = ("instruction", "input", "output")
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class DataSourceError(RuntimeError):
    """The source could not be read, or its records lack the instruction/output fields."""


def load_records(source: str | Path, limit: int | None = None, split: str = "train") -> list[dict[str, str]]:
    """Read ``source`` (a .json/.jsonl/.parquet path, or a hub id such as ``tatsu-lab/alpaca``)."""
    path = Path(source).expanduser()
    if path.exists():
        rows = _read_file(path)
    elif _HF_ID.match(str(source)):
        rows = _read_hub(str(source), split)
    else:
        raise DataSourceError(f"{source}: no such file, and not a Hugging Face dataset id (owner/name)")
    if limit is not None:
        rows = rows[:limit]
    return normalise(rows, str(source))


def normalise(rows: Iterable[Mapping], source: str = "records") -> list[dict[str, str]]:
    """Keep the three fields as strings; ``input`` may be absent (Dolly-style data), the others not."""
    out = []
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping) or "instruction" not in row or "output" not in row:
            keys = sorted(row) if isinstance(row, Mapping) else type(row).__name__
            raise DataSourceError(f"{source}: record {i} has no instruction/output fields (got {keys})")
        out.append({k: "" if row.get(k) is None else str(row.get(k)) for k in FIELDS})
    return out


def _read_file(path: Path) -> list[Mapping]:
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            import pandas as pd

            return pd.read_parquet(path).to_dict("records")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError, ImportError) as exc:
        raise DataSourceError(f"{path}: cannot read ({exc})") from exc
    stripped = text.lstrip()
    # A .json file may hold JSON Lines too; decide on content, not the name.
    if suffix != ".jsonl" and stripped[:1] in ("[", "{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None  # fall through to JSON Lines
        if isinstance(data, list):
            return data
        if isinstance(data, dict):
            for key in ("data", "train", "records", "examples"):
                if isinstance(data.get(key), list):
                    return data[key]
            return [data]
    try:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise DataSourceError(f"{path}: neither a JSON array nor JSON Lines ({exc})") from exc


def _read_hub(dataset_id: str, split: str) -> list[Mapping]:
    try:
        from datasets import load_dataset

        ds = load_dataset(dataset_id, split=split)
    except Exception as exc:  # datasets raises many types: offline, 404, auth, connection
        raise DataSourceError(
            f"could not load '{dataset_id}' from the Hugging Face hub ({type(exc).__name__}: {exc}). "
            "The hub may be unreachable or HF_HUB_OFFLINE set; download the data and pass its file path."
        ) from exc
    return list(ds)


def instructions_fingerprint(records: Sequence[Mapping], *extra: str) -> str:
    """sha256 over the instructions (and ``extra`` strings, e.g. parser versions): a cache key."""
    h = hashlib.sha256()
    for part in extra:
        h.update(part.encode())
        h.update(b"\x1f")
    for r in records:
        h.update(str(r["instruction"]).encode())
        h.update(b"\x00")
    return h.hexdigest()
