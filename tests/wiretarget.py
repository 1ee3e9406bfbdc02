"""A raw HTTP/1.1 target on 127.0.0.1 that records the exact bytes of every request.

Each request is read as bytes (head up to the blank line, then Content-Length bytes of
body) and kept with the index of the connection it came on. What the target does with
it is a policy: answer, close (FIN), reset (RST) or send half a status line and close,
decided per request from (connection index, request index on that connection, overall
request index). Connections are kept alive (HTTP/1.1, no `Connection: close`).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

Policy = Callable[[int, int, int], str]  # (conn, nth on conn, nth overall) -> action
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def always_answer(conn: int, nth: int, overall: int) -> str:
    return "answer"


@dataclass
class Seen:
    """One request as it arrived."""

    conn: int
    raw: bytes


@dataclass
class WireTarget:
    url: str
    seen: list[Seen] = field(default_factory=list)

    def requests(self) -> list[bytes]:
        return [s.raw for s in self.seen]


def _read_request(sock: socket.socket, buf: bytearray) -> bytes | None:
    """One request's bytes from the connection (None when the peer closed first)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    end = buf.index(b"\r\n\r\n") + 4
    length = 0
    for line in bytes(buf[:end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(buf) < end + length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        buf += chunk
    raw = bytes(buf[: end + length])
    del buf[: end + length]
    return raw


@contextmanager
def wire_target(policy: Policy = always_answer) -> Iterator[WireTarget]:
    """Serve on a free port in threads; every connection and thread is closed on exit."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    target = WireTarget(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()
    lock = threading.Lock()
    conns: list[socket.socket] = []
    threads: list[threading.Thread] = []

    def handle(sock: socket.socket, index: int) -> None:
        buf = bytearray()
        nth = 0
        with sock:
            try:
                while (raw := _read_request(sock, buf)) is not None:
                    with lock:
                        target.seen.append(Seen(index, raw))
                        overall = len(target.seen) - 1
                    action = policy(index, nth, overall)
                    nth += 1
                    if action == "answer":
                        sock.sendall(ANSWER)
                        continue
                    if action == "partial":
                        sock.sendall(b"HTTP/1.1 20")
                    elif action == "reset":
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    return
            except OSError:
                return

    def serve() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(10)
            with lock:
                conns.append(sock)
                thread = threading.Thread(target=handle, args=(sock, len(conns) - 1), daemon=True)
                threads.append(thread)
            thread.start()

    acceptor = threading.Thread(target=serve, daemon=True)
    acceptor.start()
    try:
        yield target
    finally:
        stop.set()
        acceptor.join(5)
        listener.close()
        with lock:
            for sock in conns:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(5)
