"""Passwords, sessions, CSRF tokens, the signing key and the sign-in rate limit.

Every clock is injected.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import subprocess
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import update
from sqlalchemy.orm import Session

from pipeline.editorial.models import Editor

log = logging.getLogger(__name__)

_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) defaults
# verified when a name is unknown, so a wrong name costs as much time as a wrong password
_DUMMY_HASH = _HASHER.hash("zipcast-no-such-editor")
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
# argon2 verifications allowed at once. Each takes 64 MiB and up to 4 threads (the library's
# defaults), so more than the 2 cores of a review server buys no throughput, only memory
VERIFY_SLOTS = 2


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


def session_is_current(session: Mapping[str, object], editor: Editor | None) -> bool:
    """True when ``session`` was issued to ``editor`` under its current session version.

    A session ends server-side when the editor's ``session_version`` moves on (logout, a new
    password, being disabled): the signed cookie still verifies but no longer matches.
    """
    return (editor is not None and not editor.disabled
            and session.get("editor_id") == editor.id
            and session.get("session_version") == editor.session_version)


def end_sessions(db: Session, editor_id: int) -> None:
    """End every session of one editor by bumping its ``session_version`` (caller commits)."""
    # one UPDATE, so two simultaneous logouts cannot both write the same next version
    db.execute(update(Editor).where(Editor.id == editor_id)
               .values(session_version=Editor.session_version + 1))


class SecretKeyTracked(RuntimeError):
    """The session-signing key file is tracked by git, so anyone with the repository has it."""


def secret_is_tracked(path: Path, *, git: str = "git", timeout_s: float = 5.0) -> bool:
    """True when git tracks ``path`` in the repository around its folder.

    False when git is missing, the folder is in no repository, or git does not answer within
    ``timeout_s`` (logged): the check guards against a mistake, not an attacker, so a broken
    git must not keep the sheet down.
    """
    # ask about the key's own folder, whatever repository the environment points at
    env = {k: v for k, v in os.environ.items()
           if k not in {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"}}
    try:
        done = subprocess.run([git, "-C", str(path.parent), "ls-files", "--error-unmatch",
                               "--", path.name], capture_output=True, env=env,
                              stdin=subprocess.DEVNULL, timeout=timeout_s, check=False)
    except FileNotFoundError:
        return False
    except subprocess.TimeoutExpired:
        log.warning("git did not answer in %.0f s; not checking whether %s is tracked",
                    timeout_s, path)
        return False
    return done.returncode == 0  # 1: not tracked; 128: no repository


def refuse_tracked_secret(path: Path, is_tracked: Callable[[Path], bool]) -> None:
    """Raise :class:`SecretKeyTracked` when ``is_tracked(path)``, saying how to recover."""
    if is_tracked(path):
        raise SecretKeyTracked(
            f"the session-signing key {path} is tracked by git, so anyone with the repository "
            f"can sign in as any editor. Untrack it with `git -C {path.parent} rm --cached "
            f"{path.name}` and commit, then rotate it: delete {path} (a new key is made on the "
            "next start and everyone signs in again). Or set ZIPCAST_REVIEW__SECRET_KEY.")


def load_secret(path: Path) -> str:
    """The session-signing secret kept in ``path`` (created once, owner-only)."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    return secret


class TooManySignIns(Exception):
    """Sign-in refused by the rate limit, for ``wait_s`` more seconds.

    ``name`` is the sign-in name whose failures from this address hit the per-name limit, or
    None when the address hit its limit across all names.
    """

    def __init__(self, wait_s: float, name: str | None) -> None:
        super().__init__(f"retry in {wait_s:.0f} s")
        self.wait_s, self.name = wait_s, name


class LoginLimiter:
    """At most ``max_failures`` failed sign-ins per (name, address) and
    ``max_failures_per_address`` per address (any names) per ``window_s``.

    An attempt counts as a failure from the moment it starts until it succeeds, so guesses
    sent at once cannot all pass the check before the first failure is recorded. In memory,
    so it is per process and forgets on restart; enough for one review server.

    Parameters
    ----------
    max_failures : failures of one name from one address allowed inside the window
    window_s : the sliding window, seconds
    clock : monotonic seconds (injected for tests)
    max_failures_per_address : failures from one address, whatever the names, in the window
    """

    def __init__(self, max_failures: int = 5, window_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, *,
                 max_failures_per_address: int = 30) -> None:
        self.max_failures = max_failures
        self.max_failures_per_address = max_failures_per_address
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._by_address: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, stamps: deque[float], now: float) -> deque[float]:
        while stamps and stamps[0] <= now - self.window_s:
            stamps.popleft()
        return stamps

    def _wait(self, stamps: deque[float], limit: int, now: float) -> float:
        if len(stamps) < limit:
            return 0.0
        return max(stamps[-limit] + self.window_s - now, 0.0)

    def attempt(self, name: str, address: str) -> None:
        """Start a sign-in: count it as failed until :meth:`succeeded`.

        Raises
        ------
        TooManySignIns
            when the address, or this name from this address, used up its failures
        """
        with self._lock:
            now = self.clock()
            per_name = self._recent(self._failures[(name.casefold(), address)], now)
            per_address = self._recent(self._by_address[address], now)
            wait = self._wait(per_address, self.max_failures_per_address, now)
            if wait > 0:
                raise TooManySignIns(wait, None)
            wait = self._wait(per_name, self.max_failures, now)
            if wait > 0:
                raise TooManySignIns(wait, name)
            per_name.append(now)
            per_address.append(now)

    def succeeded(self, name: str, address: str) -> None:
        """A good sign-in: forget the name's failures and withdraw this attempt's count.

        The address keeps its earlier failures, so a guesser who knows one password cannot
        clear the address's count by signing in between guesses.
        """
        with self._lock:
            self._failures.pop((name.casefold(), address), None)
            stamps = self._by_address.get(address)
            if stamps:
                stamps.pop()  # this attempt's, or one as recent: only the count matters
