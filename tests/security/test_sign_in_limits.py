"""Issue 16, row 3 (low): one address could try any number of names, and sign-in bursts.

Five failures per (name, address) locked that name, but forty names from one address all got
401 and no limit. Now an address is also limited across names
(``login_max_failures_per_ip``), concurrent guesses cannot slip past either limit, and argon2
verifications run on a few worker threads of their own, so a burst of sign-ins cannot stall
other requests.
"""

from __future__ import annotations

import queue
import threading
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from pipeline.review.app import create_app
from pipeline.review.security import verify_password
from tests.pipeline.review.conftest import (  # noqa: F401 -- fixtures
    PASSWORD,
    clock,
    csrf_of,
    review_settings,
    sign_in,
)

WAIT_S = 20.0  # generous upper bound for a busy 2-core machine; only reached on failure


def _app(review_settings, clock, per_ip: int = 4, **kwargs):  # noqa: F811
    from pipeline.settings import ReviewSettings

    return create_app(review_settings, ReviewSettings(secret_key="k", login_max_failures=5,
                                                      login_max_failures_per_ip=per_ip),
                      clock=clock, now=lambda: datetime(2026, 1, 15, 10, tzinfo=UTC), **kwargs)


class HeldVerifier:
    """The real verifier, held at a gate until the test opens it; counts who is waiting."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered: queue.Queue[None] = queue.Queue()

    def __call__(self, password_hash: str | None, password: str) -> bool:
        self.entered.put(None)
        assert self.gate.wait(WAIT_S), "the test never opened the gate"
        return verify_password(password_hash, password)


def _post_login(client, token: str, name: str, password: str = "wrong password"):
    return client.post("/login", data={"name": name, "password": password,
                                       "csrf_token": token, "next": "/runs"})


def test_many_names_from_one_address_are_limited(review_settings, clock):  # noqa: F811
    """After N failures from one address with N different names, every name gets 429."""
    app = _app(review_settings, clock, per_ip=4)
    with TestClient(app) as client:
        for i in range(4):
            assert sign_in(client, f"guess{i}", "wrong password").status_code == 401
        refused = sign_in(client, "guess-new", "wrong password")
        assert refused.status_code == 429
        assert "from your address" in refused.text and "Try again in 5 minutes" in refused.text
        assert int(refused.headers["Retry-After"]) == 300
        assert sign_in(client).status_code == 429  # even the right password of a real editor
        clock.t += 301
        assert sign_in(client).status_code == 200


def test_other_addresses_are_not_limited(review_settings, clock):  # noqa: F811
    """The per-address limit counts only the address that failed."""
    app = _app(review_settings, clock, per_ip=2)
    with TestClient(app, client=("203.0.113.7", 5000)) as attacker:
        for i in range(2):
            sign_in(attacker, f"guess{i}", "wrong password")
        assert sign_in(attacker).status_code == 429
    with TestClient(app, client=("198.51.100.2", 5000)) as editor:
        assert sign_in(editor).status_code == 200


def test_a_good_sign_in_does_not_reset_the_address_count(review_settings, clock):  # noqa: F811
    """Signing in with a known password between guesses does not wipe the address's failures."""
    app = _app(review_settings, clock, per_ip=3)
    with TestClient(app) as client:
        for i in range(2):
            assert sign_in(client, f"guess{i}", "wrong password").status_code == 401
        assert sign_in(client).status_code == 200
        assert sign_in(client, "guess2", "wrong password").status_code == 401
        assert sign_in(client, "guess3", "wrong password").status_code == 429


def test_concurrent_guesses_cannot_pass_the_name_limit(review_settings, clock):  # noqa: F811
    """Eight guesses for one name sent at once: five are checked, three get 429 at once."""
    held = HeldVerifier()
    app = _app(review_settings, clock, per_ip=100, verify=held)
    with TestClient(app) as client:
        token = csrf_of(client.get("/login").text)
        answers: queue.Queue[int] = queue.Queue()
        threads = [threading.Thread(target=lambda: answers.put(
            _post_login(client, token, "eli").status_code)) for _ in range(8)]
        try:
            for thread in threads:
                thread.start()
            early = [answers.get(timeout=WAIT_S) for _ in range(3)]  # while five are held
        finally:
            held.gate.set()
            for thread in threads:
                thread.join(WAIT_S)
        late = [answers.get_nowait() for _ in range(5)]
    assert early == [429] * 3 and late == [401] * 5


def test_a_burst_of_sign_ins_does_not_stall_other_requests(review_settings, clock):  # noqa: F811
    """With 45 sign-ins held inside password verification, the login page is still served."""
    held = HeldVerifier()
    # many names and a high address limit stand in for a burst from many addresses
    app = _app(review_settings, clock, per_ip=1000, verify=held)
    arrived = threading.Semaphore(0)

    async def counting(scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "POST":
            arrived.release()
        await app(scope, receive, send)

    with TestClient(counting) as client:
        token = csrf_of(client.get("/login").text)
        burst = [threading.Thread(target=_post_login, args=(client, token, f"name{i}"))
                 for i in range(45)]
        served: queue.Queue[int] = queue.Queue()
        try:
            for thread in burst:
                thread.start()
            for _ in burst:  # every sign-in has reached the app ...
                assert arrived.acquire(timeout=WAIT_S)
            held.entered.get(timeout=WAIT_S)  # ... and verification is under way
            page = threading.Thread(target=lambda: served.put(client.get("/login").status_code))
            page.start()
            status = served.get(timeout=WAIT_S)
            assert held.entered.qsize() < 45  # verifications wait their turn, not all at once
        finally:
            held.gate.set()
            for thread in burst:
                thread.join(WAIT_S)
    assert status == 200


@pytest.mark.parametrize("name", ["eli", "nobody-by-this-name"])
def test_the_real_verifier_still_decides(review_settings, clock, name):  # noqa: F811
    """Without an injected verifier the right password signs in and a wrong one does not."""
    app = _app(review_settings, clock)
    with TestClient(app) as client:
        assert sign_in(client, name, "wrong password").status_code == 401
        assert sign_in(client, name).status_code == (200 if name == "eli" else 401)
