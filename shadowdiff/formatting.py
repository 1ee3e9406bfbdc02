"""How shadowdiff writes for people: rates, milliseconds, ratios (one place, same everywhere:
the report's renderers and the gate's lines), and recorded values made safe for a terminal
(`visible`), for XML (`xml_text`) and for JSON shown on a terminal (`json_text`).

>>> pct(0.41), pct(0.0007), pct(0.0), ms(3.14159), ratio(1.5)
('41.0%', '<0.1%', '0.0%', '3.1', '×1.50')
>>> share(0.99949), share(1.0), figure(4.9e-11), figure(1.0)
('99.94%', '100%', '4.9e-11', '1')
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

T = TypeVar("T")

DASH: Final = "–"


#: How a field difference's absent side reads: the key is not there at all (kind missing on
#: the new side, extra on the old side). A JSON `null` that is there reads `null`.
ABSENT: Final = "(missing)"
_ABSENT_SIDE: Final = {("missing", "new"), ("extra", "old")}


def side_value(value: str | None, kind: str, side: str) -> str:
    """One side (`old`/`new`) of a stored field difference as it should read: the stored JSON
    text; `(missing)` where the key is absent; `null` for a JSON null (stored as SQL NULL,
    like an absent key: the kind tells them apart)."""
    if value is not None:
        return value
    return ABSENT if (kind, side) in _ABSENT_SIDE else "null"


def pct(rate: float | None) -> str:
    """0.41 -> '41.0%'; a tiny non-zero rate is '<0.1%', never a rounded '0.0%' or '0.1%'."""
    if rate is None:
        return DASH
    if 0 < rate < 0.001:
        return "<0.1%"
    return f"{rate:.1%}"


def ms(value: float | None) -> str:
    """Milliseconds: one decimal below 100, none from 100 up."""
    if value is None:
        return DASH
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def ratio(value: float | None) -> str:
    """A new-vs-old ratio: '×1.50'."""
    return DASH if value is None else f"×{value:.2f}"


def share(rate: float | None) -> str:
    """An agreement share, rounded down so that it never reads 100% unless it is:
    0.99949 -> '99.94%', 1.0 -> '100%'."""
    if rate is None:
        return DASH
    if rate >= 1:
        return "100%"
    return f"{math.floor(rate * 10000) / 100:.2f}%"


def figure(value: float | None) -> str:
    """An error figure in three significant digits: 5e-11, 0.0213, 1, inf."""
    if value is None:
        return DASH
    return f"{value:.3g}"


# ------------------------------------------------------------------ recorded values, shown
# Recorded values (paths, headers, bodies, names) can hold anything a client sent. Before they
# reach a terminal, control characters become visible escapes, so `ESC[2J` cannot clear the
# screen nor `ESC]0;...BEL` retitle the window; in XML, the characters XML 1.0 cannot hold.

# C0 controls but tab and newline, DEL, C1 controls, lone surrogates (unprintable in UTF-8).
_TERMINAL_UNSAFE: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
# Not a character of XML 1.0 (C0 but tab, newline, CR; surrogates; U+FFFE, U+FFFF), plus DEL
# and C1 (allowed yet discouraged by XML 1.0, and read by terminals that show the file).
_XML_UNSAFE: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# What `json.dumps(..., ensure_ascii=False)` leaves raw but a terminal reads: DEL, C1, and
# lone surrogates (which UTF-8 cannot encode).
_JSON_UNSAFE: Final = re.compile("[\x7f-\x9f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str) -> str:
    """`text` safe for a terminal: control characters (C0 but tab and newline, DEL, C1) and
    lone surrogates shown as visible escapes.

    >>> visible("/a\\x1b[2J/b\\x07\\n")
    '/a\\\\x1b[2J/b\\\\x07\\n'
    """
    return _TERMINAL_UNSAFE.sub(_escape, text)


def xml_text(text: str) -> str:
    """`text` as XML 1.0 can hold it: invalid characters (and DEL, C1) shown as escapes."""
    return _XML_UNSAFE.sub(_escape, text)


def json_text(text: str) -> str:
    """A JSON document with DEL, C1 and lone surrogates written as `\\u` escapes: the same
    data, safe for a terminal (json.dumps already escapes C0)."""
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def visible_all(value: T) -> T:
    """`value` with `visible` applied to every string inside: dataclasses (rebuilt with
    `dataclasses.replace`), lists, tuples and dict keys and values; anything else as it is."""
    return cast(T, _map_strings(value, visible))


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: _map_strings(getattr(value, f.name), fn)
            for f in dataclasses.fields(value)
            if f.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, list | tuple):
        items = [_map_strings(v, fn) for v in value]
        if isinstance(value, list):
            return items
        return type(value)(*items) if hasattr(value, "_fields") else type(value)(items)
    if isinstance(value, dict):
        return {_map_strings(k, fn): _map_strings(v, fn) for k, v in value.items()}
    return value
