"""A real HTTP server on 127.0.0.1 that replays provider-shaped answers and failures.

Routes map a path to a queue of :class:`Reply` (the last one repeats) or to a function of the
request. Every request is recorded (path, query, headers) so tests can count calls.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Reply:
    """One HTTP answer: status, body (dict/list → JSON, str → as is), headers, delay (s)."""

    status: int = 200
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    """A recorded request."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]


class FakeServer:
    """Start with :meth:`start`; ``url`` is ``http://127.0.0.1:<port>``."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply | Callable[[Seen], Reply]]] = {}
        self.requests: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                parts = urlsplit(self.path)
                seen = Seen(parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()},
                            dict(self.headers.items()))
                server.requests.append(seen)
                reply = server._reply(seen)
                time.sleep(reply.delay)
                body = reply.body
                if isinstance(body, (dict, list)):
                    body = json.dumps(body)
                data = (body or "").encode()
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": "application/json", **reply.headers}
                    for key, value in headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def route(self, path: str, *replies: Reply | Callable[[Seen], Reply]) -> None:
        """Answer ``path`` with ``replies`` in turn (the last repeats); a function is called."""
        self.routes[path] = list(replies)

    def calls(self, prefix: str) -> list[Seen]:
        """Recorded requests whose path starts with ``prefix``."""
        return [r for r in self.requests if r.path.startswith(prefix)]

    def _reply(self, seen: Seen) -> Reply:
        target = self.routes.get(seen.path)
        if target is None:
            return Reply(404, {"title": "Not Found", "detail": f"no route {seen.path}"})
        reply = target.pop(0) if len(target) > 1 else target[0]
        return reply(seen) if callable(reply) else reply

    def start(self) -> FakeServer:
        threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
