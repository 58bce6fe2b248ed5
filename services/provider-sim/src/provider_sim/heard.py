"""What the scripted model can take from the caller's own words: a name and a phone number.

In `make dev` a person talks and pocketsphinx transcribes them. A script that booked a
fixed patient whatever they said would leave them looking for someone else's booking,
so a scenario may use `{{ heard name or DEFAULT }}` and `{{ heard phone or DEFAULT }}`
instead (see scenario.py). Pure, no I/O.

Recognition is imperfect: pocketsphinx's general English model often hears a spoken
digit as another word ("want to" for "one two", "by" for "five", "tier" for "zero").
So this is forgiving about how digits are heard and strict about the result: a phone
number is used only when ten digits of a plausible North American number were heard after
the word "number" (or "phone"), a name only after "my name is". Otherwise the scenario's
default stands, and the read-back tells the caller which it is.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Each digit's word, and the words pocketsphinx's general model was seen to hear for it
# when Piper's voice read phone numbers (see tests/test_sim_heard.py).
_DIGIT_WORDS = {
    **dict.fromkeys(("zero", "oh", "o", "tier"), "0"),
    **dict.fromkeys(("one", "won", "want"), "1"),
    **dict.fromkeys(("two", "to", "too"), "2"),
    "three": "3",
    **dict.fromkeys(("four", "for"), "4"),
    **dict.fromkeys(("five", "by", "buy", "fight"), "5"),
    "six": "6",
    "seven": "7",
    **dict.fromkeys(("eight", "ate"), "8"),
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
_PHONE_LEAD = re.compile(r"\b(?:numbers?|phone)\b(.*)")
_NANP = re.compile(r"^[2-9]\d\d[2-9]\d{6}$")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _spoken_digits(words: Sequence[str]) -> str:
    """The number said first in `words`: digits from its first digit on, across at most
    one other word at a time (a misheard digit, "is"), up to a whole phone number. What
    the caller says after it ("... nine nine, I want to come in") is not read."""
    digits = ""
    gap = 0
    for word in words:
        digit = word if word.isdigit() else _DIGIT_WORDS.get(word)
        if digit is None:
            gap += 1 if digits else 0
            if gap > 1:
                break
            continue
        gap = 0
        digits += digit
        if len(digits) >= (11 if digits.startswith("1") else 10):
            break
    return digits


def heard_phone(caller_texts: Sequence[str]) -> str | None:
    """The phone number in the latest caller text that holds one, as "(415) 555-0132".

    Digits are read from the words after "number" or "phone". A leading country code 1 is
    dropped.
    """
    for text in reversed(caller_texts):
        lead = _PHONE_LEAD.search(text.lower())
        if lead is None:
            continue
        digits = _spoken_digits(_words(lead.group(1)))
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
