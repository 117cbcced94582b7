"""Text normalisation for matching, with a map from every normalised character back to the original.

Rules match the *normalised* text; evidence reports offsets in the *original* text (so a reviewer's
page can highlight them) without copying what was matched.

Two views are built from one message:

* ``plain``: NFKC, case-folded, accents removed, look-alike letters from other scripts (Cyrillic and
  Greek letters drawn like Latin ones) mapped to Latin, runs of whitespace collapsed. Digits stay
  digits: card numbers, ids and one-time codes are read here.
* ``letters``: ``plain`` with obfuscation undone inside words — digits and symbols standing for letters
  ("v1agr@", "c0ca1ne") and letters spelt out with separators ("v i a g r a", "s.e.x") — so keyword rules
  see the word the sender meant.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

# Look-alikes commonly used to dodge filters: Cyrillic and Greek letters that render as Latin ones.
_HOMOGLYPHS = str.maketrans(
    {
        "\u0430": "a", "\u0432": "b", "\u0435": "e", "\u0451": "e", "\u043a": "k", "\u043c": "m",
        "\u043d": "h", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0442": "t", "\u0443": "y",
        "\u0445": "x", "\u0456": "i", "\u0457": "i", "\u0458": "j", "\u0455": "s", "\u0501": "d",
        "\u051b": "q", "\u051d": "w", "\u03b1": "a", "\u03b2": "b", "\u03b5": "e", "\u03b7": "n",
        "\u03b9": "i", "\u03ba": "k", "\u03bd": "v", "\u03bf": "o", "\u03c1": "p", "\u03c4": "t",
        "\u03c5": "u", "\u03c7": "x", "\u03c9": "w", "\u0131": "i", "\u0142": "l", "\u00f8": "o",
        "\u0111": "d", "\u00df": "ss",
    }
)  # fmt: skip

# Characters that stand for letters inside a word ("fr33", "c@sino", "$ex").
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s", "!": "i"}
_ZERO_WIDTH_CHARS = frozenset("\u200b\u200c\u200d\u2060\ufeff\u00ad")
# ASCII text that needs more than lower-casing: leading or repeated whitespace, or other whitespace.
_NOT_SIMPLE_ASCII = re.compile(r"^ |  |[\t\n\r\f\v]")
_WITH_LEET = re.compile(r"[\w@$!]*[0134578@$!][\w@$!]*")  # words holding a character of _LEET
# Three or more single letters separated by one space, dot, dash, underscore or asterisk: "v i a g r a".
_SPELT_OUT = re.compile(r"(?<![\w])(?:[a-z][ .\-_*]){2,}[a-z](?![\w])")


@dataclass(frozen=True, slots=True)
class Normalised:
    plain: str
    plain_map: Sequence[int]  # plain[i] came from original[plain_map[i]]
    letters: str
    letters_map: Sequence[int]

    def span(self, view: str, start: int, end: int) -> tuple[int, int]:
        """The original text's offsets of a match in ``view`` ("plain" or "letters")."""
        mapping = self.plain_map if view == "plain" else self.letters_map
        if not mapping:
            return (0, 0)
        end = max(start + 1, end)
        return (mapping[min(start, len(mapping) - 1)], mapping[min(end, len(mapping)) - 1] + 1)


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    folded = unicodedata.normalize("NFKC", char).casefold().translate(_HOMOGLYPHS)
    decomposed = unicodedata.normalize("NFD", folded)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).translate(_HOMOGLYPHS)


def normalise(text: str) -> Normalised:
    if text.isascii() and not _NOT_SIMPLE_ASCII.search(text):
        # The common case: lower-casing plain ASCII keeps every offset.
        plain: str = text.lower()
        plain_map: Sequence[int] = range(len(text))
    else:
        plain, plain_map = _fold(text)
    letters, letters_map = _deobfuscate(plain, plain_map)
    return Normalised(plain, plain_map, letters, letters_map)


def _fold(text: str) -> tuple[str, list[int]]:
    out: list[str] = []
    mapping: list[int] = []
    last_space = True
    for index, char in enumerate(text):
        if char in _ZERO_WIDTH_CHARS:
            continue
        if char.isspace():
            if not last_space:
                out.append(" ")
                mapping.append(index)
            last_space = True
            continue
        last_space = False
        folded = char if char.isascii() and not char.isupper() else _fold_char(char)
        for piece in folded:
            out.append(piece)
            mapping.append(index)
    return "".join(out), mapping


def _deobfuscate(plain: str, mapping: Sequence[int]) -> tuple[str, Sequence[int]]:
    chars = list(plain)
    # Digits and symbols inside a word that also has letters stand for letters.
    for match in _WITH_LEET.finditer(plain):
        word = match.group().rstrip("!")  # "now!!!" is shouting, not a disguised letter
        if any(c.isalpha() for c in word) and any(c in _LEET for c in word) and not _looks_like_code(word):
            for offset, c in enumerate(word):
                if c in _LEET:
                    chars[match.start() + offset] = _LEET[c]
    text = "".join(chars)
    if not _SPELT_OUT.search(text):
        return text, mapping
    # Join letters spelt out with separators; keep the map of the letters that stay.
    out: list[str] = []
    out_map: list[int] = []
    position = 0
    for match in _SPELT_OUT.finditer(text):
        out.extend(text[position : match.start()])
        out_map.extend(mapping[position : match.start()])
        for offset in range(match.start(), match.end(), 2):
            out.append(text[offset])
            out_map.append(mapping[offset])
        position = match.end()
    out.extend(text[position:])
    out_map.extend(mapping[position:])
    return "".join(out), out_map


def _looks_like_code(word: str) -> bool:
    """Order numbers and codes ("A1B2C3", "ord12345") are not disguised words: mostly digits."""
    digits = sum(c.isdigit() for c in word)
    return digits * 2 > len(word) or word.endswith(("st", "nd", "rd", "th", "h", "am", "pm", "kg", "km"))
