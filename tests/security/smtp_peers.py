"""An SMTP peer that misbehaves on purpose: it takes a whole message, then drops the
connection instead of answering (the case where a sender cannot know whether it was
accepted). Plain sockets, loopback only."""

from __future__ import annotations

import socket
import socketserver
import threading


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:  # noqa: C901 - one small SMTP dialogue
        peer: DroppingSmtp = self.server.peer  # type: ignore[attr-defined]
        self.wfile.write(b"220 test relay ready\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 test relay\r\n")
            elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                self.wfile.write(b"250 OK\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 go ahead\r\n")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk)
                peer.received.append(b"".join(data))
                with peer.lock:
                    drop = peer.drops > 0
                    peer.drops -= drop
                if drop:  # the whole message and its final dot arrived; no answer goes back
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(b"250 accepted\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"502 not implemented\r\n")


class DroppingSmtp:
    """Accepts everything; drops the connection after the first ``drops`` messages' data."""

    def __init__(self, drops: int = 1) -> None:
        self.drops = drops
        self.received: list[bytes] = []
        self.lock = threading.Lock()
        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.peer = self  # type: ignore[attr-defined]
        self.host, self.port = self.server.server_address[:2]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> DroppingSmtp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
