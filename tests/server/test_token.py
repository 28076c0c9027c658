"""The token file: created once with mode 0600, kept, and agreed on by concurrent starts."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.server.token import load_or_create_token, token_path
from bridge.settings import config_dir


def test_created_once_in_the_config_dir_with_mode_0600() -> None:
    token = load_or_create_token()
    path = token_path()
    assert path.parent == config_dir()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == token
    assert len(token) >= 43
    assert load_or_create_token() == token
    assert [p.name for p in path.parent.iterdir()] == ["token"]  # no temp files left


def test_tokens_differ_between_installs(tmp_path: Path) -> None:
    assert load_or_create_token(tmp_path / "a") != load_or_create_token(tmp_path / "b")


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_a_token_readable_by_others_is_replaced(tmp_path: Path) -> None:
    first = load_or_create_token(tmp_path)
    token_path(tmp_path).chmod(0o644)
    second = load_or_create_token(tmp_path)
    assert second != first
    assert stat.S_IMODE(token_path(tmp_path).stat().st_mode) == 0o600


def test_a_truncated_token_is_replaced(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    token_path(tmp_path).write_text("short")
    token_path(tmp_path).chmod(0o600)
    assert len(load_or_create_token(tmp_path)) >= 43


def test_concurrent_first_starts_agree_on_one_token(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from bridge.server.token import "
        "load_or_create_token as l; print(l(Path(sys.argv[1])))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE)
        for _ in range(6)
    ]
    tokens = {p.communicate()[0].decode().strip() for p in procs}
    assert len(tokens) == 1
    assert tokens == {token_path(tmp_path).read_text().strip()}
