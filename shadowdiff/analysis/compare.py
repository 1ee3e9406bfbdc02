"""`shadowdiff compare A B`: two recorded sessions of one scripted scenario, one recorded in
front of each server, diffed with no replay.

Exchanges are aligned by client identity (`replayer.identity.identity_of`, the rules file's
`identity` choice too) and order within it: an identity's requests in A are paired with the
matching identity's in B by the longest common subsequence of their (method, endpoint), so a
request only one side made (a retry, a skipped step) is unaligned on its own and the rest stay
paired. An identity found in both sessions matches itself; the others (each server issued its
own tokens) are matched by order of first appearance. The result is a candidate run on session
A whose target is ``session:B`` and whose replays are B's aligned answers, so `diff`,
`report`, `gate` and `query` work on it as on any run; an A exchange without a partner is an
error outcome ``unaligned: ...`` naming B's requests in its place (error kind `unaligned`),
and B's requests that A lacks are counted.

Each server issued its own ids and tokens: B's answers are mapped to A's values the way replay
maps a target's answers to the recording's (`shadowdiff.chains.canonical_pairs`, chains
detected on A), and flagged `chained` where something was mapped. Alignment reads request
lines only; the mapping holds both sessions' exchanges in memory (a scripted scenario's size).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Final

from shadowdiff.chains import canonical_pairs
from shadowdiff.differ.truncation import TRUNCATED
from shadowdiff.errors import AnalysisError
from shadowdiff.records import Exchange, Replay, Run, Session
from shadowdiff.replayer.identity import identity_of
from shadowdiff.store import Store
from shadowdiff.vocabulary import ReplayFlag, RunKind, RunStatus

__all__ = ["COMPARE_PREFIX", "Alignment", "SessionComparison", "align", "compare_sessions"]

COMPARE_PREFIX: Final = "session:"  # a compare run's target: session:B
WRITE_BATCH: Final = 256
MAX_ALIGN_WORK: Final = 4_000_000  # one client's requests in A times in B, for the LCS


@dataclass(frozen=True)
class _Line:
    """What alignment needs of one exchange: no bodies."""

    id: int
    identity: str
    method: str
    endpoint: str


@dataclass
class Alignment:
    """A's exchange id -> B's exchange id, or -> why it has no partner."""

    pairs: dict[int, int] = field(default_factory=dict)
    unaligned: dict[int, str] = field(default_factory=dict)
    b_only: int = 0  # B's requests no A request was aligned with


@dataclass(frozen=True)
class SessionComparison:
    """The run a compare stored, and how the sessions aligned."""

    run: Run
    aligned: int
    unaligned: int
    b_only: int
    chained: int = 0  # B's answers whose issued values were mapped to A's


def _lines(store: Store, session: Session, identity: str | None) -> list[_Line]:
    return [
        _Line(ex.id or 0, identity_of(ex, identity), ex.method.upper(), ex.endpoint or ex.path)
        for ex in store.iter_exchanges(session.id)
    ]


def _by_identity(lines: list[_Line]) -> dict[str, list[_Line]]:
    """Each identity's requests in recorded order; identities by first appearance."""
    out: dict[str, list[_Line]] = defaultdict(list)
    for line in lines:
        out[line.identity].append(line)
    return out


def _match_identities(a: dict[str, list[_Line]], b: dict[str, list[_Line]]) -> dict[str, str]:
    """A identity -> B identity: the same key where both have it, the rest in order of first
    appearance."""
    matched = {key: key for key in a if key in b}
    rest_b = iter([key for key in b if key not in matched])
    for key in a:
        if key not in matched:
            other = next(rest_b, None)
            if other is None:
                break
            matched[key] = other
    return matched


def align(a_lines: list[_Line], b_lines: list[_Line]) -> Alignment:
    """Pair A's requests with B's by identity and order (see the module docstring)."""
    a, b = _by_identity(a_lines), _by_identity(b_lines)
    matched = _match_identities(a, b)
    out = Alignment()
    for key, mine in a.items():
        theirs = b.get(matched[key], []) if key in matched else []
        for n, partner, why in _pair_client(mine, theirs):
            if partner is not None:
                out.pairs[mine[n].id] = partner.id
            else:
                out.unaligned[mine[n].id] = why
    out.b_only = len(b_lines) - len(out.pairs)
    return out


def _pair_client(mine: list[_Line], theirs: list[_Line]) -> Iterator[tuple[int, _Line | None, str]]:
    """One client's requests in A against its requests in B: (index in A, B's partner or
    None, why none). The longest common subsequence of (method, endpoint) pairs them, so a
    request one side has and the other lacks (a retry, a skipped step) costs only itself;
    beyond MAX_ALIGN_WORK comparisons, position by position."""
    keys_a = [(x.method, x.endpoint) for x in mine]
    keys_b = [(x.method, x.endpoint) for x in theirs]
    blocks: Sequence[tuple[str, int, int, int, int]]
    if len(mine) * len(theirs) > MAX_ALIGN_WORK:
        blocks = [
            ("equal" if i < len(theirs) else "delete", i, i + 1, i, i + 1) for i in range(len(mine))
        ]
    else:
        blocks = SequenceMatcher(None, keys_a, keys_b, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in blocks:
        if tag == "equal" and keys_a[i1:i2] == keys_b[j1:j2]:
            for k in range(i2 - i1):
                yield i1 + k, theirs[j1 + k], ""
            continue
        nearest = ", ".join(sorted({x.endpoint for x in theirs[j1:j2]})[:3])
        there = (
            f"whose requests there are {nearest}"
            if nearest
            else f"which has {len(theirs)} requests of this client"
        )
        for i in range(i1, i2):
            where = f"request {i + 1} of this client ({mine[i].endpoint})"
            yield i, None, f"unaligned: {where} has no partner in session B, {there}"


def _answer(run_id: int, a_id: int, b: Exchange, chained: bool = False) -> Replay:
    """B's recorded answer (its issued values mapped to A's) as the run's replay of A's."""
    return Replay(
        run_id=run_id,
        exchange_id=a_id,
        status=b.status,
        reason=b.reason,
        headers=list(b.response_headers),
        body=b.response_body,
        started_at=b.started_at,
        duration_ms=b.duration_ms,
        error=f"recorded-b: {b.error or 'no response'}" if b.status is None else None,
        flags=[*([TRUNCATED] if b.response_truncated else []), *([ReplayFlag.CHAINED] * chained)],
    )


def _replays(
    store: Store, run: Run, a: Session, b: Session, alignment: Alignment
) -> Iterator[Replay]:
    for a_id, reason in alignment.unaligned.items():
        yield Replay(run_id=run.id, exchange_id=a_id, error=reason)
    theirs = {ex.id: ex for ex in store.iter_exchanges(b.id, ids=alignment.pairs.values())}
    mine = list(store.iter_exchanges(a.id))
    pairs = [(ex, theirs[alignment.pairs[ex.id]]) for ex in mine if ex.id in alignment.pairs]
    mapped = canonical_pairs(pairs, store.redaction_key(), mine)
    for (ex, raw), answer in zip(pairs, mapped, strict=True):
        yield _answer(run.id, ex.id or 0, answer, chained=answer is not raw)


def _origin(store: Store, b: Session) -> str:
    """The origin session B's server knew itself by (its Locations are relative to it): the
    Host its first request was sent, else its upstream."""
    first = next(store.iter_exchanges(b.id, limit=1), None)
    host = first.request_header("host") if first is not None else None
    if first is not None and host:
        return f"{first.scheme}://{host}"
    return b.upstream or ""


def compare_sessions(
    store: Store,
    session_a: str,
    session_b: str,
    *,
    name: str | None = None,
    identity: str | None = None,
) -> SessionComparison:
    """Align B with A and store B's answers as a candidate run on A (undiffed)."""
    a, b = store.session(session_a), store.session(session_b)
    if a.id == b.id:
        raise AnalysisError(f"compare needs two sessions; both are {a.name!r}")
    alignment = align(_lines(store, a, identity), _lines(store, b, identity))
    if not alignment.pairs and not alignment.unaligned:
        raise AnalysisError(f"session {a.name!r} has no exchanges to compare")
    config = {"compare": b.name, "origin": _origin(store, b), "identity": identity}
    run = store.create_run(
        a.id, kind=RunKind.CANDIDATE, target=f"{COMPARE_PREFIX}{b.name}", name=name, config=config
    )
    batch: list[Replay] = []
    chained = 0
    for rp in _replays(store, run, a, b, alignment):
        chained += ReplayFlag.CHAINED in rp.flags
        batch.append(rp)
        if len(batch) >= WRITE_BATCH:
            store.add_replays(batch)
            batch = []
    store.add_replays(batch)
    store.finish_run(run.id, RunStatus.COMPLETE)
    return SessionComparison(
        store.run(run.id),
        len(alignment.pairs),
        len(alignment.unaligned),
        alignment.b_only,
        chained,
    )
