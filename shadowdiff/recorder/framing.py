"""Strict HTTP/1 chunked framing for the recorder's proxy: a backport of h11's CVE-2025-43859 fix.

h11 before 0.16 (which mitmproxy 11.0.2, the last release for Python 3.11, pins) skips the two
bytes after each chunk's data without checking that they are ``\\r\\n``. So
``5\\r\\nhelloXX0\\r\\n\\r\\n`` was accepted as a 5-byte body: a request-smuggling vector when
the proxy and the upstream disagree on framing. ``install()`` makes mitmproxy's HTTP/1 layer
use a reader that checks them; a malformed body is a protocol error, which mitmproxy answers
with 400 and never forwards. With h11 >= 0.16 (mitmproxy >= 12) it does nothing.
"""

from __future__ import annotations

from typing import Any

import h11
from h11._readers import ChunkedReader

__all__ = ["StrictChunkedReader", "install"]

_CRLF = b"\r\n"


class StrictChunkedReader(ChunkedReader):
    """h11's chunked reader, except that each chunk's data must end with exactly CRLF."""

    def __call__(self, buf: Any) -> Any:
        if self._bytes_to_discard > 0:
            expected = _CRLF[len(_CRLF) - self._bytes_to_discard :]
            data = buf.maybe_extract_at_most(self._bytes_to_discard)
            if data is None:
                return None
            if bytes(data) != expected[: len(data)]:
                raise h11.RemoteProtocolError(
                    f"malformed chunked body: chunk data followed by {bytes(data)!r}, not CRLF"
                )
            self._bytes_to_discard -= len(data)
            if self._bytes_to_discard > 0:
                return None
        return super().__call__(buf)


def _h11_fixed() -> bool:
    major, minor, *_ = (int(p) for p in h11.__version__.split(".")[:2])
    return (major, minor) >= (0, 16)


def install() -> bool:
    """Make mitmproxy's HTTP/1 layer read chunked bodies strictly; True when it was needed."""
    if _h11_fixed():
        return False
    from mitmproxy.proxy.layers.http import _http1  # noqa: PLC0415 - only inside mitmdump

    _http1.ChunkedReader = StrictChunkedReader  # type: ignore[misc]
    return True
