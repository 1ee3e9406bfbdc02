"""Undo a response's Content-Encoding without ever producing more than a cap of bytes.

gzip (and x-gzip, including concatenated members), deflate (zlib-wrapped as the RFC says, or
raw as many servers send) and br (when the ``brotli`` module is importable). Stacked codings
(``Content-Encoding: deflate, gzip``) are undone in reverse order; ``identity`` is a no-op.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Final

try:  # pragma: no cover - depends on the environment
    import brotli as _brotli
except ImportError:  # pragma: no cover
    _brotli = None

__all__ = ["CapExceeded", "Undecodable", "decompress"]


class CapExceeded(Exception):
    """Decompressed output would pass the cap."""


class Undecodable(Exception):
    """The body cannot be decoded as its headers claim."""


#: Content-Encoding layers undone at most (``gzip, gzip`` is two).
MAX_CODINGS: Final = 4


def _inflate(data: bytes, wbits: int, cap: int) -> bytes:
    """zlib/gzip/raw-deflate decompression that stops as soon as the output passes ``cap``."""
    out = bytearray()
    member: bytes = data
    while member:  # a loop, not recursion: gzip allows any number of concatenated members
        d = zlib.decompressobj(wbits)
        pending = member
        while not d.eof:
            chunk = d.decompress(pending, cap + 1 - len(out))
            out += chunk
            if len(out) > cap:
                raise CapExceeded
            pending = d.unconsumed_tail
            if not pending and not chunk:
                break
        if not d.eof:
            raise Undecodable  # truncated stream
        member = d.unused_data if wbits & 16 else b""
    return bytes(out)


def _gunzip(data: bytes, cap: int) -> bytes:
    try:
        return _inflate(data, 16 + zlib.MAX_WBITS, cap)
    except zlib.error:
        raise Undecodable from None


def _undeflate(data: bytes, cap: int) -> bytes:
    try:
        return _inflate(data, zlib.MAX_WBITS, cap)  # zlib-wrapped, as the RFC says
    except zlib.error:
        pass
    try:
        return _inflate(data, -zlib.MAX_WBITS, cap)  # raw deflate, as many servers send
    except zlib.error:
        raise Undecodable from None


def _unbrotli(data: bytes, cap: int) -> bytes:
    if _brotli is None:
        raise Undecodable
    decompressor = _brotli.Decompressor()
    out = bytearray()
    # brotli 1.1 has no output limit: feed small slices and check the cap after each, so the
    # overshoot is bounded by what one slice can expand to.
    step = 64
    try:
        for i in range(0, len(data), step):
            out += decompressor.process(data[i : i + step])
            if len(out) > cap:
                raise CapExceeded
        if not decompressor.is_finished():
            raise Undecodable
    except _brotli.error:
        raise Undecodable from None
    return bytes(out)


_DECODERS: Final[dict[str, Callable[[bytes, int], bytes]]] = {
    "gzip": _gunzip,
    "x-gzip": _gunzip,
    "deflate": _undeflate,
    "br": _unbrotli,
}


def decompress(body: bytes, encoding: str, cap: int) -> bytes:
    """Undo ``encoding`` (a Content-Encoding value); raise CapExceeded past ``cap`` output bytes
    and Undecodable for an unknown coding or a broken stream."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    if len(codings) > MAX_CODINGS:
        raise Undecodable  # nobody stacks this many; refuse rather than loop on it
    for coding in reversed(codings):  # applied in order, so undone in reverse
        if coding == "identity":
            continue
        decoder = _DECODERS.get(coding)
        if decoder is None:
            raise Undecodable
        body = decoder(body, cap)
    return body
