"""shadowdiff: prove that a rewritten HTTP service answers exactly like the one it replaces.

Subpackages follow the data: ``recorder`` (mitmdump addon, launcher, importers) writes
exchanges to the ``store``; the ``replayer`` sends them to targets; ``differ`` compares pairs;
``analysis`` judges stored runs (diff, noise, gate, accept); ``report`` renders them; ``cli`` is
the thin click layer; ``demo`` is the bundled pair.
"""

from __future__ import annotations

__version__ = "0.1.0"
