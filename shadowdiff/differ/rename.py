"""``rename`` rules: one key spelled two ways, whose values are still compared.

A rule ``from = "body.message"``, ``to = "body.detail"`` applies to a pair when the old
object has ``message`` and not ``detail`` and the new one has ``detail`` and not ``message``:
the new side's value is then compared under the old key, so a changed value is a difference
on ``body.message`` while the spelling of the key alone is not. In every other case (both
sides use one key, or both keys, or neither) the rule does nothing, so nothing is ignored.
The rename itself is recorded as the two differences it absorbed (``missing`` at the old
key, ``extra`` at the new one), so the report shows what the rule did. Runs before the
pre-pass, so other rules on the old key's path see the renamed value. Inputs are never
modified (the new side is copied along the path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from shadowdiff.differ.fields import Absorbed
from shadowdiff.differ.paths import format_path
from shadowdiff.differ.ruleset import Rule
from shadowdiff.differ.trees import MISSING, get_at
from shadowdiff.vocabulary import DiffKind

__all__ = ["apply_renames"]

_EXTRA: Final = DiffKind.EXTRA
_MISSING: Final = DiffKind.MISSING


def _replaced(tree: Any, keys: Sequence[str], value: Any) -> Any:
    """A copy of ``tree`` whose node at ``keys`` is ``value`` (dicts copied along the path)."""
    if not keys:
        return value
    head = keys[0]
    out = dict(tree)
    out[head] = _replaced(tree[head], keys[1:], value)
    return out


def apply_renames(
    rules: Sequence[Rule], old: dict[str, Any], new: dict[str, Any], absorbed: list[Absorbed]
) -> dict[str, Any]:
    """The new tree with every applicable rename done; what each did goes to ``absorbed``."""
    for rule in rules:
        if rule.rename is None:
            continue
        parent, old_key, new_key = rule.rename
        po, pn = get_at(old, parent), get_at(new, parent)
        if type(po) is not dict or type(pn) is not dict:
            continue
        if old_key not in po or new_key in po or new_key not in pn or old_key in pn:
            continue
        value = pn[new_key]
        renamed = {(old_key if k == new_key else k): v for k, v in pn.items()}
        new = _replaced(new, parent, renamed)
        # what a comparison without the rule would have found: the old key missing on the
        # new side, the new key extra
        absorbed.append((format_path((*parent, old_key)), _MISSING, po[old_key], MISSING, rule))
        absorbed.append((format_path((*parent, new_key)), _EXTRA, MISSING, value, rule))
    return new
