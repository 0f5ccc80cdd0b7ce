"""SMS length and segment counting (GSM 03.38 / 3GPP TS 23.038).

The same rules run in the browser (``static/review.js``); ``tests`` check both agree.

A message that fits the GSM-7 alphabet costs one septet per basic character and two per
extension character (``^{}\\[~]|€`` and form feed, sent as ESC + char). One SMS holds 160
septets; a concatenated message spends 7 septets per part on its header, leaving 153, and an
escape pair is never split across parts. One character outside GSM-7 switches the whole
message to UCS-2: 70 UTF-16 code units in one SMS, 67 per part, surrogate pairs kept whole.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}  # (single SMS, per part of a long one)


@dataclass(frozen=True)
class SmsCount:
    """How an SMS text is encoded and how many parts it costs.

    Attributes
    ----------
    encoding : {"GSM-7", "UCS-2"}
    characters : int, characters as a person counts them (code points)
    units : int, septets (GSM-7) or UTF-16 code units (UCS-2)
    segments : int, SMS parts billed (0 for an empty text)
    per_segment : int, the capacity of one part at this length (160/153 or 70/67)
    ucs2_trigger : str or None, the first character outside GSM-7
    """

    encoding: str
    characters: int
    units: int
    segments: int
    per_segment: int
    ucs2_trigger: str | None = None

    @property
    def trigger_note(self) -> str:
        """A sentence naming the character that forces UCS-2, or ``""``."""
        if self.ucs2_trigger is None:
            return ""
        return f"{self.ucs2_trigger} (U+{ord(self.ucs2_trigger):04X}) forces UCS-2"


def _unit_costs(text: str) -> tuple[str, list[int], str | None]:
    """The encoding, the cost of each character in units, and the first non-GSM character."""
    for char in text:
        if char not in GSM7_BASIC and char not in GSM7_EXTENSION:
            return "UCS-2", [2 if ord(c) > 0xFFFF else 1 for c in text], char
    return "GSM-7", [2 if c in GSM7_EXTENSION else 1 for c in text], None


def _pack(costs: list[int], capacity: int) -> int:
    """Parts needed when no character's units may straddle two parts."""
    parts, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            parts, used = parts + 1, 0
        used += cost
    return parts


def count(text: str) -> SmsCount:
    """Count characters, units and SMS segments of ``text``.

    Parameters
    ----------
    text : str, the message as it will be sent (placeholders already filled)

    Returns
    -------
    SmsCount
    """
    encoding, costs, trigger = _unit_costs(text)
    single, part = LIMITS[encoding]
    units = sum(costs)
    if units == 0:
        segments, per_segment = 0, single
    elif units <= single:
        segments, per_segment = 1, single
    else:
        segments, per_segment = _pack(costs, part), part
    return SmsCount(encoding, len(text), units, segments, per_segment, trigger)
