"""`python -m shadowdiff`: the same as the `shadowdiff` command."""

from __future__ import annotations

from shadowdiff.cli import main

if __name__ == "__main__":
    main()
