"""A local stand-in for Twilio's Messaging REST API, good enough for the official SDK.

It answers on 127.0.0.1 (a free port) the way ``api.twilio.com`` does:

- ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form: To, Body,
  MessagingServiceSid or From, StatusCallback) → 201 and the Message resource, status
  ``accepted`` (``queued`` with a From number);
- ``GET  /2010-04-01/Accounts/{AccountSid}/Messages.json?To=&From=&PageSize=&Page=`` → the
  list envelope (``messages``, ``next_page_uri``, ``page``, ``page_size``, ...), newest first;
- ``GET  /2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json`` → one message.

Every request needs HTTP basic auth with the account SID and auth token (else 401, code
20003). Error bodies have Twilio's legacy shape ``{"code", "message", "more_info", "status"}``,
which the SDK turns into ``TwilioRestException``. Failures are scripted with
:meth:`FakeTwilio.fail_next` and :meth:`FakeTwilio.unsubscribe`; :meth:`FakeTwilio.send_status`
posts a signed status callback like Twilio's.

Use it as a context manager, or ``start()`` / ``stop()``::

    with FakeTwilio() as twilio:
        settings = DispatchSettings(twilio_api_base=twilio.url, ...)
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

ACCOUNT_SID = "AC" + hashlib.md5(b"zipcast-test-account").hexdigest()
AUTH_TOKEN = "zipcast-test-auth-token"
MESSAGING_SERVICE_SID = "MG" + hashlib.md5(b"zipcast-test-service").hexdigest()
FROM_NUMBER = "+15005550006"  # the sender a messaging service "picks" (a Twilio test number)
API_VERSION = "2010-04-01"

# Twilio error codes the fake knows: code -> (HTTP status, message)
ERRORS: dict[int, tuple[int, str]] = {
    20003: (401, "Authenticate"),
    20404: (404, "The requested resource {uri} was not found"),
    20429: (429, "Too Many Requests"),
    20500: (500, "Internal Server Error"),
    20503: (503, "Service Unavailable"),
    21211: (400, "Invalid 'To' Phone Number: {to}"),
    21602: (400, "Message body is required."),
    21604: (400, "A 'To' phone number is required."),
    21610: (400, "Attempt to send to unsubscribed recipient"),
}
_DEFAULT_CODE = {401: 20003, 404: 20404, 429: 20429, 500: 20500, 503: 20503}
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")
_GSM = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOP"
           "QRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€")


def error_body(status: int, code: int, message: str) -> dict[str, Any]:
    """An error as Twilio's REST API returns it."""
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature of a form POST: base64 HMAC-SHA1 over the URL and sorted params."""
    signed = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _segments(body: str) -> int:
    single, multi = (160, 153) if set(body) <= _GSM else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


@dataclass
class Forced:
    """A scripted answer to a matching request."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordedRequest:
    """One request the fake received (all of them, accepted or not)."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: httpx.Headers


class FakeTwilio:
    """The fake Twilio server; see the module docstring.

    Parameters
    ----------
    account_sid, auth_token : str
        The credentials basic auth must carry.
    messaging_service_sid : str
        Only recorded; any ``MG...`` SID is accepted.
    from_number : str
        The sender status callbacks report for messages sent through a service.
    clock : callable returning an aware datetime, optional
        For ``date_created`` and friends; default: now (UTC).

    Attributes
    ----------
    url : str
        ``http://127.0.0.1:<port>``, for ``DispatchSettings.twilio_api_base``.
    messages : list of dict
        Accepted messages as Twilio's Message resource (``sid``, ``to``, ``body``, ``status``,
        ``messaging_service_sid``, ...), oldest first.
    status_callbacks : dict of str to str
        Message SID -> the StatusCallback URL it was created with.
    requests : list of RecordedRequest
        Every request received.
    callbacks : list of httpx.Response
        Responses to the status callbacks :meth:`send_status` posted.
    """

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN,
                 messaging_service_sid: str = MESSAGING_SERVICE_SID, *,
                 from_number: str = FROM_NUMBER,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.account_sid = account_sid
        self.from_number = from_number
        self.auth_token = auth_token
        self.messaging_service_sid = messaging_service_sid
        self._clock = clock or (lambda: datetime.now(UTC))
        self.messages: list[dict[str, Any]] = []
        self.status_callbacks: dict[str, str] = {}
        self.requests: list[RecordedRequest] = []
        self.callbacks: list[httpx.Response] = []
        self.unsubscribed: set[str] = set()
        self._forced: dict[str, deque[Forced]] = {"create": deque(), "list": deque()}
        self._forced_to: dict[str, deque[Forced]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        """Listen on a free loopback port, serving from a daemon thread."""
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.01}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeTwilio:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # scripting ---------------------------------------------------------------------------

    def fail_next(self, status: int, code: int | None = None, *, to: str | None = None,
                  times: int = 1, retry_after: float | str | None = None,
                  message: str | None = None, on: str = "create") -> None:
        """Answer the next ``times`` matching requests with an error instead.

        Parameters
        ----------
        status : int
            HTTP status, e.g. 429, 500, 400.
        code : int, optional
            Twilio error code (21610, 21211, ...); default 20429 for 429, 20500 for 500, ...
        to : str, optional
            Only for messages to this number (creates only); default: the next requests.
        times : int, default 1
            How many requests get this answer.
        retry_after : float or str, optional
            A ``Retry-After`` header.
        message : str, optional
            The error message; default: Twilio's text for the code.
        on : {"create", "list"}, default "create"
            Which requests: message creates, or list/fetch reads.
        """
        code = code if code is not None else _DEFAULT_CODE.get(status, status)
        text = message or ERRORS.get(code, (status, f"HTTP {status}"))[1]
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        forced = Forced(status, error_body(status, code, text.format(to=to, uri="")), headers)
        with self._lock:
            queue = (self._forced_to.setdefault(to, deque()) if to is not None
                     else self._forced[on])
            queue.extend(forced for _ in range(times))

    def unsubscribe(self, number: str) -> None:
        """From now on, creates to ``number`` fail with 21610 (it texted STOP)."""
        with self._lock:
            self.unsubscribed.add(number)

    def reset(self) -> None:
        """Forget messages, requests, callbacks and scripted failures."""
        with self._lock:
            self.messages.clear()
            self.status_callbacks.clear()
            self.requests.clear()
            self.callbacks.clear()
            self.unsubscribed.clear()
            for queue in (*self._forced.values(), *self._forced_to.values()):
                queue.clear()

    def sent_to(self, number: str) -> list[dict[str, Any]]:
        """Accepted messages to ``number``, oldest first."""
        with self._lock:
            return [m for m in self.messages if m["to"] == number]

    # status callbacks --------------------------------------------------------------------

    def send_status(self, sid: str, status: str, *, error_code: int | None = None,
                    url: str | None = None, client: httpx.Client | None = None) -> httpx.Response:
        """POST a status callback for message ``sid``, as Twilio does, and record the answer.

        Parameters
        ----------
        sid : str
            A message this fake accepted.
        status : str
            ``sent``, ``delivered``, ``undelivered``, ``failed``, ...
        error_code : int, optional
            ErrorCode for undelivered/failed (e.g. 30003 unreachable, 21610).
        url : str, optional
            Where to post; default: the message's StatusCallback.
        client : httpx.Client, optional
            e.g. a FastAPI ``TestClient`` (it routes any URL to its app); default: a real
            HTTP request.

        Returns
        -------
        httpx.Response
            The receiver's answer (also appended to :attr:`callbacks`).
        """
        with self._lock:
            record = next((m for m in self.messages if m["sid"] == sid), None)
            if record is None:
                raise KeyError(f"no message {sid}")
            url = url or self.status_callbacks.get(sid)
            if not url:
                raise ValueError(f"message {sid} was created without a StatusCallback")
            now = format_datetime(self._clock())
            record["status"] = status
            record["date_updated"] = now
            if status in ("sent", "delivered") and record["date_sent"] is None:
                record["date_sent"] = now
            if error_code is not None:
                record["error_code"] = error_code
            params = {
                "AccountSid": self.account_sid, "ApiVersion": API_VERSION,
                # a messaging service picks the sender number at send time
                "From": record["from"] or self.from_number, "MessageSid": sid,
                "MessageStatus": status, "SmsSid": sid, "SmsStatus": status, "To": record["to"],
            }
            if record["messaging_service_sid"]:
                params["MessagingServiceSid"] = record["messaging_service_sid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        token = hashlib.sha1(f"{sid}:{status}".encode()).hexdigest()
        headers = {"X-Twilio-Signature": twilio_signature(self.auth_token, url, params),
                   "User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": token}
        if client is not None:
            response = client.post(url, data=params, headers=headers)
        else:
            response = httpx.post(url, data=params, headers=headers, timeout=5.0)
        with self._lock:
            self.callbacks.append(response)
        return response

    # request handling (called from the server's threads) ----------------------------------

    def _messages_uri(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Messages"

    def _authorised(self, header: str | None) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header is not None and hmac.compare_digest(header, f"Basic {expected}")

    def _pop_forced(self, kind: str, to: str | None) -> Forced | None:
        with self._lock:
            if to is not None and self._forced_to.get(to):
                return self._forced_to[to].popleft()
            if self._forced[kind]:
                return self._forced[kind].popleft()
        return None

    def _error(self, code: int, **fmt: str) -> Forced:
        status, text = ERRORS[code]
        return Forced(status, error_body(status, code, text.format(**fmt)))

    def handle(self, method: str, path: str, query: dict[str, str], form: dict[str, str],
               headers: httpx.Headers) -> Forced:
        """The answer to one request (status, JSON body, headers)."""
        with self._lock:
            self.requests.append(RecordedRequest(method, path, query, form, headers))
        if not self._authorised(headers.get("Authorization")):
            return Forced(401, error_body(401, 20003, "Authenticate"),
                          {"WWW-Authenticate": 'Basic realm="Twilio API"'})
        base = self._messages_uri()
        if path == base + ".json" and method == "POST":
            return self._pop_forced("create", form.get("To")) or self._create(form)
        if path == base + ".json" and method == "GET":
            return self._pop_forced("list", None) or self._list(query)
        match = re.fullmatch(re.escape(base) + r"/(SM[0-9a-f]{32})\.json", path)
        if match and method == "GET":
            return self._pop_forced("list", None) or self._fetch(match.group(1), path)
        return self._error(20404, uri=path)

    def _create(self, form: dict[str, str]) -> Forced:
        to, body = form.get("To", ""), form.get("Body", "")
        if not to:
            return self._error(21604)
        if not body:
            return self._error(21602)
        if not _E164.match(to):
            return self._error(21211, to=to)
        with self._lock:
            if to in self.unsubscribed:
                return self._error(21610)
            sid = "SM" + hashlib.sha256(f"{self.account_sid}:{len(self.messages)}".encode()
                                        ).hexdigest()[:32]
            now = format_datetime(self._clock())
            uri = f"{self._messages_uri()}/{sid}"
            record = {
                "account_sid": self.account_sid, "api_version": API_VERSION, "body": body,
                "date_created": now, "date_sent": None, "date_updated": now,
                "direction": "outbound-api", "error_code": None, "error_message": None,
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "num_media": "0", "num_segments": str(_segments(body)), "price": None,
                "price_unit": "USD", "sid": sid,
                "status": "accepted" if form.get("MessagingServiceSid") else "queued",
                "subresource_uris": {"media": f"{uri}/Media.json"},
                "to": to, "uri": f"{uri}.json",
            }
            self.messages.append(record)
            if form.get("StatusCallback"):
                self.status_callbacks[sid] = form["StatusCallback"]
        return Forced(201, dict(record))

    def _list(self, query: dict[str, str]) -> Forced:
        page_size = max(1, min(int(query.get("PageSize", 50)), 1000))
        page = max(0, int(query.get("Page", 0)))
        with self._lock:
            found = [dict(m) for m in reversed(self.messages)
                     if m["to"] == query.get("To", m["to"])
                     and m["from"] == query.get("From", m["from"])]
        start = page * page_size
        chunk = found[start:start + page_size]
        filters = {k: query[k] for k in ("To", "From") if k in query}

        def page_uri(number: int) -> str:
            return (f"{self._messages_uri()}.json?"
                    + urlencode({**filters, "PageSize": page_size, "Page": number}))

        more = start + page_size < len(found)
        return Forced(200, {
            "end": start + max(len(chunk) - 1, 0), "first_page_uri": page_uri(0),
            "messages": chunk, "next_page_uri": page_uri(page + 1) if more else None,
            "page": page, "page_size": page_size,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
            "start": start, "uri": page_uri(page),
        })

    def _fetch(self, sid: str, path: str) -> Forced:
        with self._lock:
            record = next((dict(m) for m in self.messages if m["sid"] == sid), None)
        return Forced(200, record) if record else self._error(20404, uri=path)


class _Handler(BaseHTTPRequestHandler):
    """Translates HTTP to :meth:`FakeTwilio.handle`; ``fake`` is set on a subclass."""

    fake: FakeTwilio
    protocol_version = "HTTP/1.1"
    # buffer the reply so headers and body leave in one segment: written apart, Nagle and
    # delayed ACKs cost ~40 ms a request on loopback
    wbufsize = 64 * 1024

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8") if length else ""
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        answer = self.fake.handle(method, parts.path, query, form,
                                  httpx.Headers(list(self.headers.items())))
        payload = json.dumps(answer.body).encode("utf-8")
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Twilio-Request-Id",
                         "RQ" + hashlib.md5(payload + self.path.encode()).hexdigest())
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass
