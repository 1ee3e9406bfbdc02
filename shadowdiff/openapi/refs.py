"""Bounded checks of a spec document before anything resolves a ``$ref`` in it.

Every ``$ref`` must be local (``#/...``) and point at something; a chain of references to
references may be at most ``MAX_REF_CHAIN`` long, and the document at most ``MAX_DEPTH``
levels deep and ``MAX_NODES`` nodes big. A cycle through properties (a tree of nodes) is
fine: validation follows the instance, which is bounded by the body's size.
"""

from __future__ import annotations

from typing import Any, Final

from shadowdiff.errors import SpecError

MAX_REF_CHAIN: Final = 32
MAX_DEPTH: Final = 128
MAX_NODES: Final = 500_000


def pointer(document: Any, ref: str, source: str) -> Any:
    """The node a local ``#/a/b~1c`` reference points at."""
    if not ref.startswith("#"):
        raise SpecError(f"{source}: $ref {ref!r} is not local (only '#/...' references load)")
    node = document
    for raw in [p for p in ref[1:].split("/") if p] if ref != "#" else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise SpecError(f"{source}: $ref {ref!r} points at nothing")
    return node


def check_refs(document: Any, source: str) -> None:
    """Raise SpecError unless the document is small, shallow and its references resolve."""
    nodes = 0
    stack: list[tuple[Any, int]] = [(document, 0)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise SpecError(f"{source}: the spec has more than {MAX_NODES} nodes")
        if depth > MAX_DEPTH:
            raise SpecError(f"{source}: the spec nests deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                _follow(document, ref, source)
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)


def _follow(document: Any, ref: str, source: str) -> None:
    seen = [ref]
    target = pointer(document, ref, source)
    while isinstance(target, dict) and isinstance(target.get("$ref"), str):
        ref = target["$ref"]
        if ref in seen or len(seen) >= MAX_REF_CHAIN:
            raise SpecError(
                f"{source}: $ref chain {' -> '.join(seen[:4])}... is circular or longer than "
                f"{MAX_REF_CHAIN}"
            )
        seen.append(ref)
        target = pointer(document, ref, source)


def resolve(document: Any, node: Any, source: str) -> Any:
    """``node`` with its own reference chain followed (already checked to be bounded)."""
    for _ in range(MAX_REF_CHAIN + 1):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return node
        node = pointer(document, node["$ref"], source)
    raise SpecError(f"{source}: $ref chain longer than {MAX_REF_CHAIN}")
