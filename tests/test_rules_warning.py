"""The old `equivalent_status` spelling warns on a real process's stderr, once, with file:line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def test_equivalent_status_old_spelling_warns_on_stderr_with_file_and_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "shadowdiff.toml"
    path.write_text(
        '\n[[rules]]\nkind = "equivalent_status"\nstatuses = [[400, 422]]\nreason = "r"\n',
        encoding="utf-8",
    )
    code = (
        "import sys; from shadowdiff.differ import load_rules; "
        "load_rules(sys.argv[1]); load_rules(sys.argv[1])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    first = done.stderr.splitlines()[0]
    assert first.startswith(f"{path}:2: RulesWarning: rule 'equivalent_status': old spelling")
    assert "groups = [[400, 422]]" in first
    assert done.stderr.count("RulesWarning") == 1  # once per process, however often it loads
