"""Fair matching of typed `short` answers: what a learner may write for a right answer.

Two rules, both applied to every short question:

- **Text**: an accepted text matches when both sides agree after `normalise`
  (case, accents, Unicode dashes and minus signs, surrounding quotes and
  backticks, a final full stop, runs of whitespace) and then `canonical`
  (call syntax and man-page sections `pipe()`, `pipe(2)`, `SIGSTOP (19)` dropped,
  module prefixes `socket.socketpair`, `os.WNOHANG` reduced to the last name,
  a path's leading and trailing slashes dropped: `dev/shm/` is `/dev/shm`).
- **Number** (only when the question declares `number:`): the typed text is
  parsed as a quantity and compared by value: `65536`, `65,536`, `65 536`,
  `2^16`, `2**16`, `1<<16`, `0x10000`, `64 KiB`, `64KB`, `65536 bytes` are one
  value. How "K"/"KB" read is declared per question (`kilo: 1024` when the
  question is about a power-of-two size that people say in KB, as PIPE_BUF's
  "4 KB"; `kilo: 1000` when the SI reading must hold; KiB is always 1024).

`Quantity` is the declaration, `parse_quantity` the parser; both are used by the
checker and by `kata questions check`, which proves every listed variant.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

# Units a quantity may be declared in, per dimension: factor to the base unit
# (bytes, seconds, a plain count). "k"-style prefixes of bytes are resolved by
# the question's `kilo`; these are the unambiguous ones.
TIME_UNITS = {
    "ns": 1e-9,
    "nanosecond": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "microsecond": 1e-6,
    "ms": 1e-3,
    "millisecond": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "min": 60.0,
    "minute": 60.0,
}
BYTE_SUFFIXES = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}
UNITS = ("bytes", "count", *sorted(u for u in TIME_UNITS if u.isascii() and len(u) <= 3))
KILO_CHOICES = (1000, 1024)

_DASHES = dict.fromkeys(map(ord, "\u2212\u2010\u2011\u2012\u2013\u2014\ufe63\uff0d"), "-")
_SUPERSCRIPT_DIGITS = "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
_SUPERSCRIPTS = str.maketrans(_SUPERSCRIPT_DIGITS, "0123456789")
_CALL = re.compile(r"^(?P<name>[\w.:/-]*\w)\s*\((?:\d+[a-z]*)?\)$")  # f(), f(2), SIGSTOP (19)
_DOTTED = re.compile(r"^[a-z_]\w*(?:\.[a-z_]\w*)+$")
_PATH = re.compile(r"^/?[\w.-]+(?:/[\w.-]+)*/?$")


def normalise(text: str) -> str:
    """Case, accents, dashes, quotes, a final full stop and whitespace do not matter."""
    text = unicodedata.normalize("NFKC", _superscripts_to_powers(text)).translate(_DASHES)
    text = text.casefold().strip().strip("`'\"").strip()
    text = text.rstrip(".").strip()
    return " ".join(text.split())


def canonical(text: str) -> str:
    """`normalise`, then call syntax, man sections, module prefixes and path slashes dropped."""
    text = normalise(text)
    call = _CALL.match(text)
    if call:
        text = call["name"]
    if _DOTTED.match(text):
        text = text.rsplit(".", 1)[1]
    if "/" in text and _PATH.match(text):
        text = text.strip("/")
    return text


def texts_match(given: str, accepted: str) -> bool:
    return canonical(given) == canonical(accepted) and canonical(given) != ""


@dataclass(frozen=True)
class Quantity:
    """A short question's numeric answer: `value` in `unit`; for bytes, what "K" means."""

    value: float
    unit: str = "count"  # bytes | count (a word may follow: "10 messages") | s | ms | us | ns | min
    kilo: int = 1024  # bytes only: the value of "K"/"KB" (KiB is always 1024)

    def matches(self, text: str) -> bool:
        parsed = parse_quantity(text, self)
        return parsed is not None and math.isclose(parsed, self.value, rel_tol=1e-9, abs_tol=1e-12)


_NUMBER = r"[-+]?(?:0x[0-9a-f]+|\d{1,3}(?:[,_ ]\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)"
_EXPRESSION = re.compile(
    rf"^(?P<base>{_NUMBER})\s*(?:(?P<op>\^|\*\*|<<)\s*(?P<exp>\d+))?\s*(?P<unit>[a-zµμ]*)$",
)


def parse_quantity(text: str, spec: Quantity) -> float | None:
    """The typed text as a number in `spec.unit`, or None when it is not one (or its unit
    does not fit the question's dimension)."""
    match = _EXPRESSION.match(normalise(text))
    if match is None:
        return None
    number = _number(match["base"])
    if match["op"]:
        exponent = int(match["exp"])
        if exponent > 64:
            return None
        number = number * 2**exponent if match["op"] == "<<" else number**exponent
    factor = _unit_factor(match["unit"], spec)
    if factor is None:
        return None
    return number * factor


def _number(text: str) -> float:
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text.startswith("0x"):
        return sign * int(text, 16)
    return sign * float(re.sub(r"[,_ ]", "", text))


def _unit_factor(unit: str, spec: Quantity) -> float | None:
    """How many `spec.unit` one typed `unit` is; None when it does not belong to the dimension."""
    if spec.unit == "count":  # "10" or "10 messages", but not "10 KB" or "10 ms"
        is_unit = _bytes_factor(unit, spec.kilo) is not None or _seconds(unit) is not None
        return 1.0 if unit == "" or not is_unit else None
    if spec.unit == "bytes":
        return _bytes_factor(unit, spec.kilo)
    if unit == "":
        return 1.0
    seconds = _seconds(unit)
    return None if seconds is None else seconds / TIME_UNITS[spec.unit]


def _seconds(unit: str) -> float | None:
    """Seconds in one `unit` ("ms", "secs", "milliseconds"); None when it is no time unit."""
    return TIME_UNITS.get(unit, TIME_UNITS.get(unit.removesuffix("s")) if len(unit) > 3 else None)


def _bytes_factor(unit: str, kilo: int) -> float | None:
    words = {"byte": "b", "kilobyte": "kb", "kibibyte": "kib", "megabyte": "mb", "mebibyte": "mib"}
    unit = words.get(unit.removesuffix("s"), unit)
    binary = unit.endswith("ib")
    prefix = unit.removesuffix("ib" if binary else "b") if unit not in ("", "b") else ""
    if prefix not in BYTE_SUFFIXES or (binary and prefix == ""):
        return None
    return float((1024 if binary else kilo) ** BYTE_SUFFIXES[prefix])


def _superscripts_to_powers(text: str) -> str:
    """2¹⁶ reads as 2^16 (NFKC would turn it into 216)."""
    return re.sub(f"[{_SUPERSCRIPT_DIGITS}]+", lambda m: "^" + m.group().translate(_SUPERSCRIPTS), text)
