"""Stop commands, recognised without the model so they act within one control period."""

from __future__ import annotations

import re
import unicodedata

STOP_PHRASES = (
    "stop", "halt", "freeze", "abort", "cancel", "emergency stop", "e-stop", "estop", "stand still",
    "don't move", "do not move", "hold still", "stay still", "whoa", "kill motion",
)
_PATTERN = re.compile(
    r"(?<![\w-])(?:"
    + "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in sorted(STOP_PHRASES, key=len, reverse=True))
    + r")(?:s|ped|ping)?(?![\w-])", re.I)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).replace("’", "'")
    return " ".join(text.split())


def is_stop_command(text: str) -> bool:
    """True when the command contains a stop word anywhere.

    Deliberately eager: "stop, then go forward" stops. A false stop costs a repeated command; a
    missed stop can cost a collision.
    """
    return bool(_PATTERN.search(normalise(text)))
