"""The pure math of run-wide findings (`shadowdiff.analysis.findings`) and of noise pooled
across endpoints (`shadowdiff.analysis.noise_pool`), plus findings on a store diffed for real."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from shadowdiff.analysis.findings import (
    FieldPresence,
    find_crosscutting,
    is_crosscutting,
    resign,
)
from shadowdiff.analysis.noise_pool import pool_noise
from shadowdiff.differ import signature_for
from shadowdiff.store import CountingRow, Store
from tests.stores import Answer, add_run, session


def _row(ex: int, endpoint: str, path: str, kind: str = "extra") -> CountingRow:
    part = "header" if path.startswith("headers") else "body"
    return CountingRow(ex, endpoint, part, path, kind, None, '"x"')


def _presence(fields: dict[str, list[str]]) -> FieldPresence:
    presence = FieldPresence()
    for endpoint, names in fields.items():
        presence.add(
            endpoint,
            {"headers": {n.removeprefix("headers."): "1" for n in names if "headers" in n}},
            {"body": {n.removeprefix("body."): 1 for n in names if n.startswith("body")}},
        )
    return presence


@pytest.mark.unit
@pytest.mark.parametrize(
    ("occurs", "exists", "expected"),
    [
        (2, 2, True),  # only two endpoints have the field: both
        (1, 2, False),
        (1, 1, False),  # one endpoint is never cross-cutting
        (3, 3, True),
        (3, 6, True),  # half, and at least three
        (3, 7, False),  # less than half
        (2, 4, False),  # half, but fewer than three
        (14, 15, True),
    ],
)
def test_crosscutting_threshold(occurs: int, exists: int, expected: bool) -> None:
    assert is_crosscutting(occurs, exists) is expected


@pytest.mark.unit
def test_presence_top_level_fields_and_paths() -> None:
    presence = FieldPresence()
    presence.add("A", {"headers": {"vary": "x"}, "body": {"items": [1]}}, {"body": [1]})
    presence.add("B", {"headers": {}, "body": "text"})
    other = FieldPresence()
    other.add("B", {"headers": {"vary": "y"}})
    presence.merge(other)
    assert presence.endpoints_with("headers.vary") == {"A", "B"}
    assert presence.endpoints_with("body.items[*].id") == {"A"}  # by its top-level key
    assert presence.endpoints_with("body") == {"A", "B"} == presence.endpoints_with("status")


@pytest.mark.unit
def test_findings_count_where_the_field_exists_and_group_one_cause() -> None:
    eps = [f"GET /e{i}" for i in range(6)]
    # vary exists on all six endpoints; body.extra exists on four only
    presence = _presence({ep: ["headers.vary", "body.extra"] if i < 4 else ["headers.vary"]
                          for i, ep in enumerate(eps)})  # fmt: skip
    rows = [
        row
        for i, ep in enumerate(eps[:4])
        for row in (
            _row(i, ep, "headers.vary"),
            _row(i, ep, "headers.access-control-allow-origin"),  # added with vary: one cause
            _row(i, ep, "headers.x-id", "header"),  # a value change on the same exchanges
            _row(i, ep, "body.extra"),  # 4 of the 4 endpoints with the field
        )
    ] + [_row(9, eps[0], "body.only")]  # one endpoint: never run-wide
    found = find_crosscutting(rows, presence)
    items = sorted(tuple(k.item for k in f.keys) for f in found)
    assert items == [
        ("body.extra:extra",),
        ("headers.access-control-allow-origin:extra", "headers.vary:extra"),
        ("headers.x-id:header",),
    ]
    cors = next(f for f in found if len(f.keys) == 2)
    assert (cors.endpoints, cors.endpoints_with_field, cors.exchanges) == (4, 6, 4)
    extra = next(f for f in found if f.keys[0].general_path == "body.extra")
    assert extra.endpoints_with_field == 4
    # the id depends on the keys only: stable across runs
    again = find_crosscutting(list(reversed(rows)), presence)
    assert sorted(f.finding_id for f in again) == sorted(f.finding_id for f in found)


@pytest.mark.unit
def test_resign_takes_findings_out_of_signatures() -> None:
    eps = [f"GET /e{i}" for i in range(3)]
    rows = [_row(i, ep, "headers.vary") for i, ep in enumerate(eps)]
    rows += [_row(0, eps[0], "body.total", "value")]
    rows += [_row(1, eps[1], "headers.x-id", "header")]
    rows += [_row(7, eps[2], "body.total", "value")]  # carries no finding: not re-signed
    presence = _presence({ep: ["headers.vary", "headers.x-id", "body.total"] for ep in eps})
    found = find_crosscutting(rows, presence)  # body.total: on 2 of 3 endpoints, not run-wide
    assert [f.text for f in found] == ["run-wide | headers.vary:extra"]
    by_ex = {r.exchange_id: r for r in resign(rows, found)}
    assert set(by_ex) == {0, 1, 2}
    assert (by_ex[0].signature, by_ex[0].text) == signature_for(eps[0], ["body.total:value"])
    assert by_ex[0].text == "GET /e0 | body.total:value"
    assert (by_ex[2].signature, by_ex[2].text) == (found[0].finding_id, found[0].text)
    assert by_ex[1].text == "GET /e1 | headers.x-id:header"


@dataclass(frozen=True)
class _P:
    endpoint: str
    path: str
    kind: str
    samples: int
    new_count: int
    baseline_samples: int
    old_count: int


@pytest.mark.unit
def test_pool_minimum_samples_apply_to_the_pool() -> None:
    # a request id differing on each of 6 endpoints, 2 requests each: too few alone
    paths = [_P(f"e{i}", "headers.rid", "header", 2, 2, 2, 2) for i in range(6)]
    pool = pool_noise(paths, 5, 0.5)[("headers.rid", "header")]
    assert pool.noise and (pool.samples, pool.new_count) == (12, 12)
    assert len(pool.endpoints) == 6 and pool.dissenting == ()
    assert not pool_noise(paths, 13, 0.5)[("headers.rid", "header")].noise


@pytest.mark.unit
def test_pool_keeps_a_clearly_dissenting_endpoint_apart() -> None:
    noisy = [_P(f"e{i}", "body.v", "value", 8, 4, 8, 3) for i in range(4)]
    real = _P("e9", "body.v", "value", 8, 8, 8, 0)  # old never differs, new always: a change
    chance = _P("e8", "body.v", "value", 8, 6, 8, 2)  # 6 of 8 vs 2 of 8: chance, stays pooled
    pool = pool_noise([*noisy, real, chance], 5, 0.5)[("body.v", "value")]
    assert pool.noise and pool.dissenting == ("e9",)
    assert "e8" in pool.endpoints and "e9" not in pool.endpoints


@pytest.mark.unit
def test_presence_is_noise_only_when_old_vs_old_shows_it() -> None:
    sometimes = [
        _P("e1", "body.hint", "missing", 10, 3, 10, 2),
        _P("e1", "body.hint", "extra", 10, 2, 10, 3),
    ]
    pools = pool_noise(sometimes, 5, 0.5)
    assert pools[("body.hint", "missing")] is pools[("body.hint", "extra")]
    presence = pools[("body.hint", "missing")]
    assert presence.noise and (presence.new_count, presence.old_count) == (5, 5)
    # the old service sends it now and then, the new one never: `missing` only, not noise
    dropped = [
        _P("e1", "body.hint", "missing", 10, 5, 10, 2),
        _P("e1", "body.hint", "extra", 10, 0, 10, 3),
    ]
    assert not pool_noise(dropped, 5, 0.5)[("body.hint", "missing")].noise
    never = [_P(f"e{i}", "headers.vary", "extra", 3, 3, 3, 0) for i in range(3)]
    assert not pool_noise(never, 5, 0.0)[("headers.vary", "extra")].noise
    typed = [_P("e1", "body.t", "type", 10, 5, 10, 5)]
    assert not pool_noise(typed, 1, 0.0)[("body.t", "type")].noise  # never noise


def _cors(_: int, body: dict[str, Any]) -> Answer:
    new = {**body, "cors": True}
    if body["ep"] == 0:
        new["n"] = -1
    return Answer(new)


@pytest.mark.unit
def test_diffed_run_stores_findings_and_resigns(tmp_path: Path) -> None:
    with Store.open(tmp_path / "f.db") as store:
        items = [(f"/e{ep}/{i}", {"ep": ep, "n": i}) for ep in range(4) for i in range(3)]
        add_run(store, session(store, items), "r", _cors)
        run = store.run("r").id
        findings = store.findings(run)
        counts = {text: n for _, text, n in store.signature_counts(run)}
        carried = store.exchange_findings(run)
    assert [(f.general_path, f.kind, f.endpoints, f.exchanges) for f in findings] == [
        ("body.cors", "extra", 4, 12)
    ]
    assert counts == {"run-wide | body.cors:extra": 9, "GET /e0/{id} | body.n:value/number": 3}
    assert len(carried) == 12 and all(ids == {findings[0].finding_id} for ids in carried.values())


@pytest.mark.unit
def test_schema_4_gets_the_findings_table(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    Store.open(path).close()  # a fresh file at schema 5
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP TABLE findings")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    conn.close()
    with Store.open(path) as store:
        assert store.meta("schema_version") == "5"
        assert store.findings(1) == []


def _two_findings(_: int, body: dict[str, Any]) -> Answer:
    new = {**body, "cors": True, "v": "new"}  # an added key and a changed value everywhere
    if body["ep"] == 0:
        new["n"] = -1  # and one real change on one endpoint
    return Answer(new)


@pytest.mark.unit
def test_gate_accepts_findings_like_signatures(tmp_path: Path) -> None:
    from datetime import date

    from shadowdiff.analysis.accept import accept, accept_candidates, load_accepted
    from shadowdiff.analysis.gate import GateLimits, evaluate

    today = date(2026, 11, 30)
    out = tmp_path / "accepted.toml"
    with Store.open(tmp_path / "g.db") as store:
        items = [
            (f"/e{ep}/{i}", {"ep": ep, "n": i, "v": "old"}) for ep in range(4) for i in range(3)
        ]
        add_run(store, session(store, items), "r", _two_findings)
        offered = {text: ident for ident, text, _ in accept_candidates(store, store.run("r").id)}
        # two findings and the one real signature; the combined run-wide signature is not offered
        assert set(offered) == {
            "run-wide | body.cors:extra",
            "run-wide | body.v:value/other",
            "GET /e0/{id} | body.n:value/number",
        }
        cors, value = (
            offered["run-wide | body.cors:extra"],
            offered["run-wide | body.v:value/other"],
        )

        def gate(*ids: str, expires: date | None = None) -> list[str]:
            out.unlink(missing_ok=True)
            for ident in ids:
                accept(store, "r", out, "ok", None, expires, today=today, signature=ident)
            limits = GateLimits(max_diff_rate=1.0, accepted=load_accepted(out))
            return evaluate(store, "r", limits, today=today).reasons

        only_cors = gate(cors)
        assert [r.split(" (")[0] for r in only_cors] == [
            f"new finding {value} run-wide | body.v:value/other",
            "new signature "
            + offered["GET /e0/{id} | body.n:value/number"]
            + " GET /e0/{id} | body.n:value/number",
        ]
        assert not any("structural" in r for r in only_cors)  # the accepted key never fails
        both = gate(cors, value)
        assert len(both) == 1 and "body.n:value" in both[0]
        assert gate(*offered.values()) == []
        expired = gate(*offered.values(), expires=today)
        assert expired == []  # valid through its day
        out.unlink()
        accept(store, "r", out, "ok", None, today, today=date(2026, 11, 1), signature=cors)
        limits = GateLimits(max_diff_rate=1.0, accepted=load_accepted(out))
        later = evaluate(store, "r", limits, today=date(2026, 12, 1)).reasons
    assert any(r.startswith(f"accepted finding {cors}") and "expired" in r for r in later)
    assert any(r.startswith("run-wide structural difference body.cors:extra") for r in later)
