"""Accepted differences: signatures a team reviewed and let through, kept in a TOML file.

The file is meant to be reviewed in a pull request like code::

    # shadowdiff accepted differences — review like code

    [[accepted]]
    signature = "1a2b3c4d5e6f"
    text = "POST /predict/ | body.predictions[*]:value"
    count = 17
    reason = "rounding of the new model, agreed with the data team"
    owner = "alice"
    expires = 2026-12-31
    accepted_at = 2026-11-21

A run-wide finding (``shadowdiff.analysis.findings``) is accepted the same way: its id goes in
``signature`` and its text starts with ``run-wide |``.

Required: ``signature`` (12 hex digits), ``text`` and ``reason``. Optional: ``count``,
``owner``, ``expires`` (an acceptance is valid through that day) and ``accepted_at``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

from shadowdiff import tomlfile
from shadowdiff.analysis.accepted import AcceptedEntry, AcceptedSet
from shadowdiff.analysis.diffed import diffed_run
from shadowdiff.analysis.findings import RUN_WIDE
from shadowdiff.analysis.signature_pick import pick_signature
from shadowdiff.errors import AcceptedFileError, AcceptError
from shadowdiff.store import Store
from shadowdiff.tomlfile import (
    append_table,
    decode_problem,
    new_document,
    parse_document,
    replace_values,
    tables,
)

__all__ = [
    "HEADER",
    "AcceptError",
    "AcceptedEntry",
    "AcceptedFileError",
    "AcceptedSet",
    "accept",
    "dump_accepted",
    "load_accepted",
    "merge_accepted",
    "parse_accepted",
]

HEADER: Final = "# shadowdiff accepted differences — review like code"
_SIGNATURE = re.compile(r"[0-9a-f]{12}")
_REQUIRED: Final = ("signature", "text", "reason")
_KEYS: Final = frozenset({*_REQUIRED, "count", "owner", "expires", "accepted_at"})


# --------------------------------------------------------------------------- reading


def _entry_lines(text: str) -> list[int]:
    return [
        text.count("\n", 0, m.start()) + 1
        for m in re.finditer(r"^[ \t]*\[\[[ \t]*accepted[ \t]*\]\]", text, re.MULTILINE)
    ]


def _key_line(text: str, start: int | None, key: str) -> int | None:
    """The line of ``key = `` at or after line ``start`` (inside that table)."""
    if start is None:
        return None
    lines = text.splitlines()
    for number in range(start, len(lines) + 1):
        line = lines[number - 1]
        if number > start and re.match(r"^\s*\[", line):
            break
        if re.match(rf"^\s*{re.escape(key)}\s*=", line):
            return number
    return start


def _date(value: Any) -> date | None:
    if isinstance(value, datetime):
        return None  # a date-time is not a date
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _entry(raw: Any, source: str, text: str, line: int | None) -> AcceptedEntry:
    def fail(key: str | None, message: str) -> AcceptedFileError:
        return AcceptedFileError(source, _key_line(text, line, key) if key else line, message)

    if not isinstance(raw, dict):
        raise AcceptedFileError(source, line, "each [[accepted]] entry must be a table")
    for key in raw:
        if key not in _KEYS:
            raise fail(key, f"unknown key {key!r} (allowed: {', '.join(sorted(_KEYS))})")
    for key in _REQUIRED:
        if key not in raw:
            raise fail(None, f"[[accepted]] entry is missing {key!r}")
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise fail(key, f"{key!r} must be a non-empty string")
    signature = raw["signature"].strip()
    if not _SIGNATURE.fullmatch(signature):
        raise fail("signature", f"bad signature {signature!r} (expected 12 lower-case hex digits)")
    count = raw.get("count")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
        raise fail("count", "'count' must be a non-negative integer")
    owner = raw.get("owner")
    if owner is not None and (not isinstance(owner, str) or not owner.strip()):
        raise fail("owner", "'owner' must be a non-empty string")
    dates: dict[str, date | None] = {}
    for key in ("expires", "accepted_at"):
        if key in raw:
            dates[key] = _date(raw[key])
            if dates[key] is None:
                raise fail(key, f"bad date for {key!r}: {raw[key]!r} (expected YYYY-MM-DD)")
    return AcceptedEntry(
        signature=signature,
        text=raw["text"].strip(),
        reason=raw["reason"].strip(),
        count=count,
        owner=owner.strip() if owner else None,
        expires=dates.get("expires"),
        accepted_at=dates.get("accepted_at"),
    )


def parse_accepted(text: str, source: str = "<accepted>") -> AcceptedSet:
    """Parse accepted-file text; every problem is an AcceptedFileError at its line."""
    try:
        data = tomlfile.loads(text)
    except tomllib.TOMLDecodeError as err:
        problem = decode_problem(err)
        at = problem.line or max(1, len(text.splitlines()))  # "at end of document"
        raise AcceptedFileError(source, at, f"invalid TOML: {problem.message}") from None
    for key in data:
        if key != "accepted":
            raise AcceptedFileError(
                source, _key_line(text, 1, key), f"unknown top-level key {key!r}"
            )
    raw_entries = data.get("accepted", [])
    if not isinstance(raw_entries, list):
        raise AcceptedFileError(source, None, "'accepted' must be an array of tables")
    lines = _entry_lines(text)
    result = AcceptedSet(source=source)
    for index, raw in enumerate(raw_entries):
        line = lines[index] if index < len(lines) else None
        entry = _entry(raw, source, text, line)
        if entry.signature in result:
            raise AcceptedFileError(source, line, f"signature {entry.signature} listed twice")
        result.entries[entry.signature] = entry
    return result


def load_accepted(path: str | Path) -> AcceptedSet:
    """Read an accepted file; AcceptedFileError (one line) when it is unusable."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AcceptedFileError(str(p), None, "no such accepted file") from None
    except OSError as err:
        raise AcceptedFileError(str(p), None, f"cannot read: {err.strerror or err}") from None
    except UnicodeDecodeError:
        raise AcceptedFileError(str(p), None, "not UTF-8 text") from None
    return parse_accepted(text, str(p))


# --------------------------------------------------------------------------- writing


def _values(e: AcceptedEntry) -> dict[str, Any]:
    """The keys of one ``[[accepted]]`` table, in file order; None leaves a key out."""
    return {
        "signature": e.signature,
        "text": e.text,
        "count": e.count,
        "reason": e.reason,
        "owner": e.owner or None,
        "expires": e.expires,
        "accepted_at": e.accepted_at,
    }


def dump_accepted(accepted: AcceptedSet) -> str:
    """The file text: the header, then one ``[[accepted]]`` table per entry."""
    return merge_accepted("", accepted)


def merge_accepted(text: str, entries: Iterable[AcceptedEntry]) -> str:
    """``text`` (an accepted file that parses) with ``entries`` written into it: the table of a
    signature already there is updated in place, the others are appended in order. Everything
    else in the file (tables, comments, blank lines, formatting) stays as it is. (An inline
    array ``accepted = [...]`` is rewritten as tables.)"""
    doc = parse_document(text) if text.strip() else new_document(HEADER.removeprefix("# "))
    existing = tables(doc, "accepted")
    if existing is None and "accepted" in doc:
        merged = dict(parse_accepted(text).entries)
        merged.update((e.signature, e) for e in entries)
        entries, doc = merged.values(), new_document(HEADER.removeprefix("# "))
    places = {str(t.get("signature", "")).strip(): i for i, t in enumerate(existing or [])}
    for entry in entries:
        if existing is not None and entry.signature in places:
            replace_values(existing, places[entry.signature], _values(entry))
        else:
            append_table(doc, "accepted", _values(entry))
    return doc.as_string()


def accept_candidates(store: Store, run_id: int) -> list[tuple[str, str, int]]:
    """(id, text, requests) a run offers to accept: its run-wide findings, then its own
    signatures (a signature made of run-wide findings only is accepted through them)."""
    findings = {r.finding_id: (r.text, r.exchanges) for r in store.findings(run_id)}
    own = [
        (sig, text, n)
        for sig, text, n in store.signature_counts(run_id)
        if not text.startswith(f"{RUN_WIDE} | ")
    ]
    return [(ident, text, n) for ident, (text, n) in findings.items()] + own


def accept(
    store: Store,
    run_ref: str | int,
    out: Path,
    reason: str,
    owner: str | None,
    expires: date | None,
    *,
    today: date | None = None,
    signature: str | None = None,
) -> AcceptedSet:
    """Write the run's differing signatures (verdict different or error) and run-wide findings
    (`accept_candidates`) to ``out``; with
    ``signature``, only that one (an id or a unique prefix; AcceptError naming the nearest
    ids when the run has no such signature).

    An existing file is merged: its entries stay (in order); a signature accepted again is
    replaced by the new decision (text, count, reason, owner, expires, accepted_at) in its
    place; new ones are appended, most frequent first. A broken existing file is an error,
    never overwritten.
    """
    if not reason or not reason.strip():
        raise AcceptError("a reason is required: say why these differences are acceptable")
    today = today or date.today()
    if expires is not None and expires < today:
        raise AcceptError(f"expires {expires} is in the past", field="expires")
    run = diffed_run(store, run_ref)
    found = accept_candidates(store, run.id)
    counts = {sig: n for sig, _, n in found}
    texts = {sig: text for sig, text, _ in found}
    if not counts:
        raise AcceptError(f"run {run.name!r} has no differing requests; nothing to accept")
    if signature is not None:
        chosen = pick_signature(counts, signature, run.name, AcceptError)
        counts = {chosen: counts[chosen]}
    result = load_accepted(out) if out.exists() else AcceptedSet(source=str(out))
    before = out.read_text(encoding="utf-8") if out.exists() else ""
    decided: list[AcceptedEntry] = []
    for sig, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        entry = AcceptedEntry(
            signature=sig,
            text=texts[sig],
            reason=reason.strip(),
            count=n,
            owner=owner.strip() if owner else None,
            expires=expires,
            accepted_at=today,
        )
        result.entries[sig] = entry  # a re-accepted signature keeps its place in the file
        decided.append(entry)
    try:
        out.write_text(merge_accepted(before, decided), encoding="utf-8")
    except OSError as err:
        raise AcceptError(f"cannot write {out}: {err.strerror or err}") from None
    return result
