"""Named places: the places file, and words from a model answer resolved to one place (ROS-free).

The model copies a place's words from the command (``go to charging dock``); code decides which
place they mean, by fuzzy matching against names and aliases with a threshold, so a typo still
finds its place and an unknown one ("the garage") gets a reply listing the known places.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

START = "start"
START_ALIASES = ("where you started", "where you were started", "starting point", "starting position",
                 "start position", "the start", "your start", "beginning")
MATCH_THRESHOLD = 85.0  # rapidfuzz token_sort_ratio, 0-100: "chargin station" 97, "garage" vs "charger" 62
_FILLER = re.compile(r"\b(?:the|a|an|my|your|our|please|now|back|again|over|then)\b")


class PlacesError(ValueError):
    """A places file that cannot be read, with the file and the entry that is wrong."""


@dataclass(frozen=True)
class Place:
    name: str
    x: float
    y: float
    yaw_rad: float = 0.0
    frame_id: str = "odom"
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict:
        return {"name": self.name, "x": self.x, "y": self.y, "yaw_rad": self.yaw_rad, "frame_id": self.frame_id}


_GENERIC_SUFFIX = re.compile(r"\s+(?:room|area|zone|space|spot)$")


def _clean(words: str) -> str:
    return " ".join(_FILLER.sub(" ", words.lower()).split())


@dataclass(frozen=True)
class Places:
    places: tuple[Place, ...] = ()

    @classmethod
    def from_yaml(cls, path: str | Path) -> "Places":
        """Read ``places: [{name, aliases, frame_id, x, y, yaw_rad}, ...]``; PlacesError says what is wrong."""
        import yaml

        p = Path(path)
        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PlacesError(f"cannot read places file {p}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise PlacesError(f"places file {p} is not valid YAML: {exc}") from exc
        entries = doc.get("places") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise PlacesError(f"places file {p}: expected a top-level 'places:' list")
        out = []
        for i, e in enumerate(entries):
            where = f"places file {p}, entry {i + 1}"
            if not isinstance(e, dict):
                raise PlacesError(f"{where}: expected a mapping with name, x, y")
            unknown = set(e) - {"name", "aliases", "frame_id", "x", "y", "yaw_rad"}
            if unknown:
                raise PlacesError(f"{where}: unknown keys {sorted(unknown)}")
            name = e.get("name")
            if not isinstance(name, str) or not name.strip():
                raise PlacesError(f"{where}: 'name' must be a non-empty string")
            aliases = e.get("aliases") or []
            if not isinstance(aliases, list) or not all(isinstance(a, str) and a.strip() for a in aliases):
                raise PlacesError(f"{where} ({name}): 'aliases' must be a list of strings")
            vals = {}
            for k in ("x", "y", "yaw_rad"):
                v = e.get(k, 0.0 if k == "yaw_rad" else None)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    raise PlacesError(f"{where} ({name}): '{k}' must be a finite number, got {v!r}")
                vals[k] = float(v)
            frame = e.get("frame_id", "odom")
            if not isinstance(frame, str) or not frame:
                raise PlacesError(f"{where} ({name}): 'frame_id' must be a string")
            out.append(Place(name.strip().lower(), vals["x"], vals["y"], vals["yaw_rad"], frame,
                             tuple(a.strip().lower() for a in aliases)))
        names = [n for pl in out for n in (pl.name, *pl.aliases)]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise PlacesError(f"places file {p}: names or aliases used twice: {dup}")
        if any(n == START or n in START_ALIASES for n in names):
            raise PlacesError(f"places file {p}: '{START}' is the node's start pose and cannot be redefined")
        return cls(tuple(out))

    def with_start(self, x: float, y: float, yaw_rad: float, frame_id: str = "odom") -> "Places":
        """These places plus "start": the pose where the node started."""
        rest = tuple(p for p in self.places if p.name != START)
        return Places(rest + (Place(START, x, y, yaw_rad, frame_id, START_ALIASES),))

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.places]

    def resolve(self, words: str) -> Place | None:
        """The place ``words`` name (exactly, or within the fuzzy threshold), else None."""
        from rapidfuzz import fuzz, process  # maintained C++ fuzzy matching

        query = _clean(words)
        if not query:
            return None
        choices = {}
        for p in self.places:
            for n in (p.name, *p.aliases):
                choices[_clean(n) or n] = p
        if query in choices:
            return choices[query]
        best = process.extractOne(query, list(choices), scorer=fuzz.token_sort_ratio, score_cutoff=MATCH_THRESHOLD)
        if best:
            return choices[best[0]]
        # "the study room", "the kitchen area": a known name with a generic noun after it.
        bare = _GENERIC_SUFFIX.sub("", query)
        return self.resolve(bare) if bare and bare != query else None

    def nearest(self, x: float, y: float) -> tuple[Place, float] | None:
        """The place closest to (x, y) and its distance; None when there are no places."""
        if not self.places:
            return None
        return min(((p, math.hypot(p.x - x, p.y - y)) for p in self.places), key=lambda pd: pd[1])

    def unknown_reply(self, words: str) -> str:
        known = ", ".join(self.names) or "none"
        return f"I don't know a place called '{words}'. Known places: {known}."
