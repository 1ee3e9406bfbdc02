"""A set of exchange ids as a bitmap: a bit per id up to the largest, whatever their count
(a million ids of a session cost 125 KB, not the tens of MB of a set of ints)."""

from __future__ import annotations

__all__ = ["IdSet"]


class IdSet:
    """Non-negative ints, one bit each."""

    def __init__(self) -> None:
        self.bits = bytearray()
        self.count = 0

    def add(self, value: int) -> None:
        byte, bit = divmod(value, 8)
        if byte >= len(self.bits):
            self.bits.extend(bytes(byte + 1 - len(self.bits) + len(self.bits) // 2))
        if not self.bits[byte] >> bit & 1:
            self.bits[byte] |= 1 << bit
            self.count += 1

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int) or value < 0:
            return False
        byte, bit = divmod(value, 8)
        return byte < len(self.bits) and bool(self.bits[byte] >> bit & 1)

    def __len__(self) -> int:
        return self.count
