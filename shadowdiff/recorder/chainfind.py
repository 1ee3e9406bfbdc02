"""Chains found when a recording or an import ends (shadowdiff/chains): detected over the
whole session and stored. A failure here never touches the recorded exchanges: it is a
warning line, and replay detects the chains when it first needs them."""

from __future__ import annotations

from pathlib import Path

from shadowdiff.chains.stored import compute_chains
from shadowdiff.store import Store

__all__ = ["chain_recording", "chain_session"]


def chain_session(store: Store, session_id: int) -> tuple[int, str | None]:
    """(chains found, None) or (0, a warning line); never raises."""
    try:
        found = compute_chains(store, session_id)
    except Exception as exc:  # noqa: BLE001 - the recorded data is stored already
        first = (str(exc).splitlines() or [""])[0][:200]
        return 0, (
            f"chains not detected ({type(exc).__name__}: {first}); replay detects them "
            "when it needs them"
        )
    return len(found.chains), None


def chain_recording(db: Path, session: str | None) -> tuple[int, str | None]:
    """`chain_session` for a session of the database at `db` (by name)."""
    if session is None:
        return 0, None
    try:
        with Store.open(db) as store:
            return chain_session(store, store.session(session).id)
    except Exception as exc:  # noqa: BLE001 - as above
        return 0, f"chains not detected ({type(exc).__name__}); replay detects them when needed"
