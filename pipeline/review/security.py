"""Passwords, CSRF tokens and the sign-in rate limit. Every clock is injected."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults
# verified when a name is unknown, so a wrong name costs as much time as a wrong password
_DUMMY_HASH = _HASHER.hash("zipcast-no-such-editor")
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; ``None`` (no such editor) is False."""
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def new_csrf_token() -> str:
    """A fresh per-session CSRF token."""
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a session without a token matches nothing."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


def load_secret(path: Path) -> str:
    """The session-signing secret kept in ``path`` (created once, owner-only)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


class LoginLimiter:
    """Allow at most ``max_failures`` failed sign-ins per (name, address) per ``window_s``.

    In memory, so it is per process and forgets on restart; enough for one review server.

    Parameters
    ----------
    max_failures : failures allowed inside the window; the next attempt is refused
    window_s : the sliding window, seconds
    clock : monotonic seconds (injected for tests)
    """

    def __init__(self, max_failures: int = 5, window_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        stamps = self._failures[key]
        while stamps and stamps[0] <= self.clock() - self.window_s:
            stamps.popleft()
        return stamps

    def retry_after(self, name: str, address: str) -> float:
        """Seconds until another attempt is allowed; 0 when it is allowed now."""
        stamps = self._recent((name.casefold(), address))
        if len(stamps) < self.max_failures:
            return 0.0
        return max(stamps[0] + self.window_s - self.clock(), 0.0)

    def failed(self, name: str, address: str) -> None:
        """Record one failed attempt."""
        self._recent((name.casefold(), address)).append(self.clock())

    def succeeded(self, name: str, address: str) -> None:
        """Forget the failures of a name and address after a good sign-in."""
        self._failures.pop((name.casefold(), address), None)
