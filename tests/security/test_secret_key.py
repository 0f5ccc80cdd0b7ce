"""Issue 16, row 2 (medium): the session-signing key file could be committed.

Anyone holding a committed ``review-secret.key`` can sign a lead's session cookie. The sheet
now refuses to start with a key file that git tracks, and says how to untrack and rotate it;
without git, or outside a repository, it starts as before.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from pipeline.review import security
from pipeline.review.app import create_app
from pipeline.settings import ReviewSettings, Settings

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")


def _git(folder, *args: str) -> None:
    # a private HOME/config so the developer's git settings cannot change the outcome
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    env = {k: v for k, v in env.items() if k not in {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"}}
    subprocess.run(["git", "-C", str(folder), *args], check=True, env=env,
                   capture_output=True, timeout=30)


def test_the_sheet_refuses_a_key_file_tracked_by_git(tmp_path):
    """``create_app`` raises ``security.SecretKeyTracked`` naming the file and the way out."""
    settings = Settings(data_dir=tmp_path)
    key = tmp_path / "review-secret.key"
    with pytest.raises(security.SecretKeyTracked) as refused:
        create_app(settings, ReviewSettings(), key_tracked=lambda path: path == key)
    message = str(refused.value)
    assert str(key) in message and "git -C" in message and "rm --cached" in message
    assert "delete" in message


def test_an_untracked_key_file_starts_normally(tmp_path):
    """With a key file git does not track, the sheet starts and keeps the key owner-only."""
    checked = []
    create_app(Settings(data_dir=tmp_path), ReviewSettings(),
               key_tracked=lambda path: checked.append(path) or False)
    key = tmp_path / "review-secret.key"
    assert checked == [key] and key.stat().st_mode & 0o777 == 0o600


def test_a_configured_secret_key_needs_no_file_check(tmp_path):
    """A secret from the environment (``ZIPCAST_REVIEW__SECRET_KEY``) is not a file: no check."""
    checked = []
    create_app(Settings(data_dir=tmp_path), ReviewSettings(secret_key="from-env"),
               key_tracked=lambda path: checked.append(path) or False)
    assert checked == [] and not (tmp_path / "review-secret.key").exists()


@needs_git
def test_a_real_repository_tells_tracked_from_untracked(tmp_path):
    """In a real git repository the check is False until the key is added to the index."""
    key = tmp_path / "data" / "review-secret.key"
    key.parent.mkdir()
    key.write_text("secret")
    _git(tmp_path, "init", "-q")
    assert security.secret_is_tracked(key) is False
    _git(tmp_path, "add", "-f", "data/review-secret.key")
    assert security.secret_is_tracked(key) is True


def test_no_repository_or_no_git_is_not_tracked(tmp_path):
    """Outside a repository, or without a git command, the key counts as untracked."""
    key = tmp_path / "review-secret.key"
    key.write_text("secret")
    if shutil.which("git"):
        assert security.secret_is_tracked(key) is False
    assert security.secret_is_tracked(key, git=str(tmp_path / "no-such-git")) is False


def test_a_git_that_hangs_is_given_up_on(tmp_path):
    """A git that never answers is stopped after the timeout and the sheet may start."""
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    hanging = tmp_path / "git"
    hanging.write_text(f'#!/bin/sh\nexec cat "{fifo}"\n')  # blocks opening a FIFO: no sleep
    hanging.chmod(0o755)
    key = tmp_path / "review-secret.key"
    key.write_text("secret")
    assert security.secret_is_tracked(key, git=str(hanging), timeout_s=0.5) is False
