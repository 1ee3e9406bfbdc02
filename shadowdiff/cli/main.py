"""`python -m shadowdiff.cli.main`: the `shadowdiff` command (kept for scripts and tests)."""

from __future__ import annotations

from shadowdiff.cli import main

if __name__ == "__main__":
    main()
