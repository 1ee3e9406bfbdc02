"""A diff worker's rows handed over in a SQLite file of their own (`diff --jobs N`).

A worker process writes one chunk's `diffs` and `diff_fields` rows, in order, to a new file
(`write_chunk_file`: tables of the same columns, no index, no journal); the process that owns
the store copies the chunks in, in chunk order, inside the one transaction that replaces the
run's results (`ChunkFilesMixin.replace_results_from_files`): `ATTACH` and
``INSERT ... SELECT`` ordered by rowid, so no row passes through Python there and the ids and
row order are those of a diff in one process. SQLite attaches at most `MAX_ATTACHED` files to
a connection and a file read in a transaction stays attached until it ends, so chunks beyond
that are copied row by row through a connection of their own (the same rows, in the same order).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from shadowdiff.errors import StoreError
from shadowdiff.store.base import StoreBase
from shadowdiff.store.results import DiffRow, FieldRow, RuleHitRow

__all__ = ["MAX_ATTACHED", "ChunkFilesMixin", "write_chunk_file"]

MAX_ATTACHED: Final = 9  # SQLite's default limit is 10 attached files per connection

_TABLES: Final = (("diff_fields", FieldRow._fields), ("diffs", DiffRow._fields))


def write_chunk_file(path: Path, diffs: Iterable[DiffRow], fields: Iterable[FieldRow]) -> None:
    """Write a chunk's rows to a new SQLite file at `path` (one that does not exist yet)."""
    if path.exists():
        raise StoreError(f"chunk file {path} exists already")
    try:
        conn = sqlite3.connect(path)
        try:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
            with conn:
                for (table, cols), rows in zip(_TABLES, (fields, diffs), strict=True):
                    conn.execute(f"CREATE TABLE {table} ({', '.join(cols)})")
                    marks = ", ".join("?" * len(cols))
                    conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        finally:
            conn.close()
    except sqlite3.Error as exc:  # a full disk, most likely: the folder is TMPDIR's
        raise StoreError(
            f"cannot write diff rows to {path.parent} ({exc}); set TMPDIR to a folder with "
            "room for a run's diff rows, or diff with --jobs 1"
        ) from exc


class ChunkFilesMixin(StoreBase):
    def replace_results_from_files(
        self, run_id: int, files: Iterable[Path], rule_hits: Iterable[RuleHitRow]
    ) -> None:
        """`replace_results` with the rows of chunk files (`write_chunk_file`), copied in
        the order `files` yields them (it may be a generator still waiting for workers), in
        one transaction; then `rule_hits` is consumed. The files are left in place."""
        conn = self.db.conn
        attached: list[str] = []
        try:
            with conn:
                for table in ("diffs", "diff_fields", "rule_hits"):
                    conn.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
                for path in files:
                    self._copy_file(path, attached)
                self.insert_rows("rule_hits", RuleHitRow._fields[:-1] + ("count",), rule_hits)
        finally:
            for name in attached:
                conn.execute(f"DETACH DATABASE {name}")

    def append_results_from_files(self, files: Iterable[Path]) -> None:
        """Append the rows of chunk files after a run's stored ones (a followed replay's
        rest, `analysis/tail.py`), in the order `files` yields them, a transaction each."""
        conn = self.db.conn
        for path in files:
            attached: list[str] = []
            try:
                with conn:
                    self._copy_file(path, attached)
            finally:
                for name in attached:
                    conn.execute(f"DETACH DATABASE {name}")

    def _copy_file(self, path: Path, attached: list[str]) -> None:
        """Copy one chunk file in: attached (named in `attached`) while SQLite allows it,
        else row by row."""
        if len(attached) < MAX_ATTACHED:
            attached.append(f"chunk{len(attached)}")
            self.db.conn.execute("ATTACH DATABASE ? AS " + attached[-1], [str(path)])
            self._copy_attached(attached[-1])
        else:
            self._copy_rows(path)

    def _copy_attached(self, name: str) -> None:
        for table, cols in _TABLES:
            names = ", ".join(cols)
            self.db.conn.execute(
                f"INSERT INTO main.{table} ({names}) SELECT {names} FROM {name}.{table} "
                "ORDER BY rowid"
            )

    def _copy_rows(self, path: Path) -> None:
        source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            for table, cols in _TABLES:
                names = ", ".join(cols)
                rows = source.execute(f"SELECT {names} FROM {table} ORDER BY rowid")
                self.insert_rows(table, cols, rows)
        finally:
            source.close()
