"""``normalize`` rules: both sides compared by what a kind of value means, not how it is written.

They run on a pair only when the fast path found it unequal after the pre-pass (so a pair
that is equal costs nothing), in the order of the rules. Where the normalised sides are equal
the difference is recorded as absorbed by the rule and the new side takes the old value;
where they still differ, the difference counts as usual. Every input is bounded: values
longer than the caps below are compared as they are.

``traceback``             any string in the body (a text body too), or list of strings (the
                          lines of ``traceback.format_exception()`` or ``splitlines()``),
                          holding a Python traceback
                          (``Traceback (most recent call last):``) is compared by its text
                          outside the frames: the header line, the exception lines (type and
                          message) and any text around them; the indented frame lines (file
                          paths, line numbers, source, carets) are left out. Strings that still
                          differ are compared, and shown, in that form.
``markup-whitespace``     HTML and XML bodies (``text/html``, ``text/xml``, ``application/xml``,
                          ``*+xml`` on both sides) are compared as text with whitespace
                          between tags removed and other runs of ASCII whitespace made one
                          space; a changed word still differs. No XML parser runs (so no entity
                          expansion); ``<pre>`` content is normalised too.
``content-type-defaults`` a ``charset`` parameter equal to its media type's default is left
                          out, parameter names and spacing normalised: ``application/json``
                          (and ``*+json``) default to UTF-8 (RFC 8259 8.1: JSON exchanged
                          between systems is UTF-8, and the type defines no charset), and
                          ``text/html`` to UTF-8 (the WHATWG HTML standard: a document's
                          encoding must be UTF-8). ``text/plain`` has no UTF-8 default (RFC
                          2046: US-ASCII), nor has any other type: their charset is compared.
``framework-error-pages`` see ``framework_pages.py``.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable, Sequence
from typing import Any, Final

from shadowdiff.differ.bodies import media_type
from shadowdiff.differ.fields import Absorbed
from shadowdiff.differ.framework_pages import same_framework_page
from shadowdiff.differ.ruleset import Rule
from shadowdiff.differ.trees import join_path
from shadowdiff.vocabulary import DiffKind, Normalizer

__all__ = [
    "MAX_MARKUP",
    "MAX_TRACEBACK",
    "apply_normalizers",
    "content_type_key",
    "markup_text",
    "traceback_text",
]

MAX_TRACEBACK: Final = 1 << 20  # characters of a string searched for a traceback
MAX_MARKUP: Final = 8 << 20  # characters of an HTML/XML body normalised
MAX_CONTENT_TYPE: Final = 1024
TRACEBACK_HEADER: Final = "Traceback (most recent call last):"
_TRACEBACK_BYTES: Final = TRACEBACK_HEADER.encode()
_VALUE: Final = DiffKind.VALUE
_HEADER: Final = DiffKind.HEADER
_BETWEEN_TAGS: Final = re.compile(r">[ \t\n\r\f]+<")
_SPACES: Final = re.compile(r"[ \t\n\r\f]+")
_UTF8_DEFAULT: Final = frozenset({"application/json", "text/json", "text/html"})

# A step on one pair of values at a path: their (possibly new) old and new values.
_Step = Callable[[Any, Any, str], tuple[Any, Any]]


def traceback_text(text: str) -> str:
    """``text`` without the frame lines of the Python tracebacks in it: what remains is the
    text around them, each ``Traceback (most recent call last):`` line and the exception
    lines (``ValueError: bad input``) that follow the frames."""
    out: list[str] = []
    in_frames = False
    for line in text.splitlines():
        if TRACEBACK_HEADER in line:
            out.append(line.strip())
            in_frames = True
        elif in_frames and (not line.strip() or line[0] in " \t"):
            continue  # '  File "...", line N, in f', source, carets, blank lines
        else:
            in_frames = False
            out.append(line.rstrip())
    return "\n".join(out)


def markup_text(text: str) -> str:
    """HTML/XML text with the whitespace between tags removed and other runs of ASCII
    whitespace made one space (leading and trailing whitespace dropped)."""
    return _SPACES.sub(" ", _BETWEEN_TAGS.sub("><", text)).strip()


def _charset_name(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name.lower()


def content_type_key(value: str) -> str:
    """A Content-Type written one way: media type and parameter names lower-cased, one
    ``"; "`` between sorted parameters, the charset by its codec name, and left out where it
    is the media type's default (see the module docstring)."""
    media, params = media_type(value)
    kept = dict(params)
    charset = kept.pop("charset", None)
    if charset is not None:
        name = _charset_name(charset)
        default = media in _UTF8_DEFAULT or media.endswith("+json")
        if not (default and name == "utf-8"):
            kept["charset"] = name
    return "; ".join([media, *(f"{k}={v}" for k, v in sorted(kept.items()))])


def _is_markup(tree: dict[str, Any]) -> bool:
    headers = tree.get("headers")
    value = headers.get("content-type") if type(headers) is dict else None
    if type(value) is not str:
        return False
    media = media_type(value)[0]
    return media in ("text/html", "text/xml", "application/xml") or media.endswith("+xml")


def _all_str(items: list[Any]) -> bool:
    return all(type(item) is str for item in items)


def _walk(o: Any, n: Any, step: _Step, path: str) -> tuple[Any, Any]:
    """``step`` on every pair of unequal strings, and of unequal lists of strings, at one path
    of two trees (copy-on-write); where a list step changes nothing, its strings are walked."""
    if o is n:
        return o, n
    to = type(o)
    if to is not type(n):
        return o, n
    if to is str:
        return (o, n) if o == n else step(o, n, path)
    if to is list and o != n and _all_str(o) and _all_str(n):
        ro, rn = step(o, n, path)
        if ro is not o or rn is not n:
            return ro, rn
    if to is dict:
        new_o, new_n = o, n
        for k, co in o.items():
            cn = n.get(k)
            if cn is None or cn is co:
                continue
            ro, rn = _walk(co, cn, step, join_path(path, k))
            if ro is not co:
                new_o = dict(new_o) if new_o is o else new_o
                new_o[k] = ro
            if rn is not cn:
                new_n = dict(new_n) if new_n is n else new_n
                new_n[k] = rn
        return new_o, new_n
    if to is list:
        pairs = [
            _walk(co, cn, step, f"{path}[{i}]")
            for i, (co, cn) in enumerate(zip(o, n, strict=False))
        ]
        if all(ro is co and rn is cn for (ro, rn), co, cn in zip(pairs, o, n, strict=False)):
            return o, n
        cut = len(pairs)
        return [p[0] for p in pairs] + o[cut:], [p[1] for p in pairs] + n[cut:]
    return o, n


class _Normalizing:
    """The normalize rules of one pair, applied in order."""

    def __init__(
        self, absorbed: list[Absorbed], texts: tuple[Any, Any, bytes, bytes] | None = None
    ) -> None:
        self.absorbed = absorbed
        self.texts = texts

    def without_traceback(self, old: dict[str, Any], new: dict[str, Any]) -> bool:
        """Whether canonical JSON bytes of these very trees (`texts`: old, new, their bytes)
        show that a side holds no traceback header: then no string of it does (JSON writes
        the header's characters as they are), and the walk would change nothing."""
        texts = self.texts
        if texts is None or texts[0] is not old or texts[1] is not new:
            return False
        return _TRACEBACK_BYTES not in texts[2] or _TRACEBACK_BYTES not in texts[3]

    def tracebacks(self, rule: Rule, old: dict[str, Any], new: dict[str, Any]) -> Any:
        if self.without_traceback(old, new):
            return old, new

        def step(o: Any, n: Any, path: str) -> tuple[Any, Any]:
            # a list of strings is one text: traceback.format_exception() or splitlines()
            lines = type(o) is list
            to = "\n".join(s.rstrip("\n") for s in o) if lines else o
            tn = "\n".join(s.rstrip("\n") for s in n) if lines else n
            if len(to) > MAX_TRACEBACK or len(tn) > MAX_TRACEBACK:
                return o, n
            if TRACEBACK_HEADER not in to or TRACEBACK_HEADER not in tn:
                return o, n
            ko, kn = traceback_text(to), traceback_text(tn)
            if ko == kn:
                self.absorbed.append((path, _VALUE, o, n, rule))
                return o, o
            return (ko.split("\n"), kn.split("\n")) if lines else (ko, kn)

        bo, bn = _walk(old.get("body"), new.get("body"), step, "body")
        return _with(old, "body", bo), _with(new, "body", bn)

    def markup(self, rule: Rule, old: dict[str, Any], new: dict[str, Any]) -> Any:
        bo, bn = old.get("body"), new.get("body")
        if type(bo) is not str or type(bn) is not str or bo == bn:
            return old, new
        if len(bo) > MAX_MARKUP or len(bn) > MAX_MARKUP:
            return old, new
        if not (_is_markup(old) and _is_markup(new)):
            return old, new
        ko, kn = markup_text(bo), markup_text(bn)
        if ko == kn:
            self.absorbed.append(("body", _VALUE, bo, bn, rule))
            return old, _with(new, "body", bo)
        return _with(old, "body", ko), _with(new, "body", kn)

    def content_type(self, rule: Rule, old: dict[str, Any], new: dict[str, Any]) -> Any:
        ho, hn = old.get("headers"), new.get("headers")
        if type(ho) is not dict or type(hn) is not dict:
            return old, new
        vo, vn = ho.get("content-type"), hn.get("content-type")
        if type(vo) is not str or type(vn) is not str or vo == vn:
            return old, new
        if max(len(vo), len(vn)) > MAX_CONTENT_TYPE:
            return old, new
        if content_type_key(vo) != content_type_key(vn):
            return old, new
        self.absorbed.append(("headers.content-type", _HEADER, vo, vn, rule))
        return old, _with(new, "headers", {**hn, "content-type": vo})

    def apply(self, rule: Rule, old: dict[str, Any], new: dict[str, Any]) -> Any:
        which = rule.normalizer
        if which == Normalizer.TRACEBACK:
            return self.tracebacks(rule, old, new)
        if which == Normalizer.MARKUP_WHITESPACE:
            return self.markup(rule, old, new)
        if which == Normalizer.CONTENT_TYPE_DEFAULTS:
            return self.content_type(rule, old, new)
        if which == Normalizer.FRAMEWORK_ERROR_PAGES:
            return same_framework_page(rule, old, new, self.absorbed)
        return old, new


def _with(tree: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """``tree`` with ``key`` set to ``value`` (a copy, unless the value is already there)."""
    if tree.get(key) is value:
        return tree
    return {**tree, key: value}


def apply_normalizers(
    rules: Sequence[Rule],
    old: dict[str, Any],
    new: dict[str, Any],
    absorbed: list[Absorbed],
    texts: tuple[bytes, bytes] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The pair with each normalize rule applied in order; absorbed differences appended.
    `texts`: the pair's canonical JSON bytes when the caller has them (a traceback is then
    looked for only where they hold one)."""
    normalizing = _Normalizing(absorbed, (old, new, *texts) if texts is not None else None)
    for rule in rules:
        old, new = normalizing.apply(rule, old, new)
    return old, new
