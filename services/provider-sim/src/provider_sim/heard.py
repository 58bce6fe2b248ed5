"""What the scripted model can take from the caller's own words: a name and a phone number.

In `make dev` a person talks and pocketsphinx transcribes them. A script that booked a
fixed patient whatever they said would leave them looking for someone else's booking,
so a scenario may use `{{ heard name or DEFAULT }}` and `{{ heard phone or DEFAULT }}`
instead (see scenario.py). Pure, no I/O.

Recognition is imperfect, so this is deliberately forgiving about how digits are heard
("to" for two, "oh" for zero) and strict about the result: a phone number is used only
when ten digits of a plausible North American number were heard after the word "number"
(or "phone"), a name only after "my name is". Otherwise the scenario's
default stands, and the read-back tells the caller which it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_DIGIT_WORDS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "one": "1",
    "won": "1",
    "two": "2",
    "to": "2",
    "too": "2",
    "three": "3",
    "four": "4",
    "for": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "ate": "8",
    "nine": "9",
}
_WORD = re.compile(r"[a-z']+|\d+")
_NAME_LEAD = re.compile(r"\b(?:my name is|my name's)\s+(.*)")
# words that end a name: "my name is John Smith and my number is ..."
_NOT_A_NAME = frozenset(
    [
        "and",
        "my",
        "number",
        "phone",
        "is",
        "it",
        "at",
        "the",
        "please",
        "um",
        "uh",
        "in",
        "him",
        "so",
        "calling",
        "here",
    ]
)
_PHONE_LEAD = re.compile(r"\b(?:number|phone)\b(.*)")
_NANP = re.compile(r"^[2-9]\d\d[2-9]\d{6}$")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def heard_phone(caller_texts: Sequence[str]) -> str | None:
    """The phone number in the latest caller text that holds one, as "(415) 555-0132".

    Digits are read from the words after "number" or "phone"; other words between them
    ("is", a misheard filler) are skipped. A leading country code 1 is dropped.
    """
    for text in reversed(caller_texts):
        lead = _PHONE_LEAD.search(text.lower())
        if lead is None:
            continue
        digits = "".join(
            word if word.isdigit() else _DIGIT_WORDS.get(word, "") for word in _words(lead.group(1))
        )
        if len(digits) == 11 and digits.startswith("1"):
            digits = digits[1:]
        if _NANP.match(digits):
            return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"
    return None


def heard_name(caller_texts: Sequence[str]) -> str | None:
    """The name in the latest caller text that gives one, up to two words, capitalised."""
    for text in reversed(caller_texts):
        lead = _NAME_LEAD.search(text.lower())
        if lead is None:
            continue
        name: list[str] = []
        for word in _words(lead.group(1)):
            if word in _NOT_A_NAME or word.isdigit() or len(name) == 2:
                break
            name.append(word)
        if name:
            return " ".join(part.capitalize() for part in name)
    return None
