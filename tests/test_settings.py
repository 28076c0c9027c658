from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge import __version__
from bridge.cli import app
from bridge.settings import SettingsError, config_file, load_settings


def test_no_key_means_emulator() -> None:
    settings = load_settings()
    assert settings.uses_emulator
    assert settings.api_key_source == "no configured source"


def test_env_key_beats_config_file(monkeypatch: pytest.MonkeyPatch) -> None:
    path = config_file()
    path.parent.mkdir(parents=True)
    path.write_text('api_key = "from-file"\nport = 9001\n', encoding="utf-8")
    assert load_settings().api_key.get_secret_value() == "from-file"  # type: ignore[union-attr]
    assert load_settings().api_key_source == f"the config file {path}"
    monkeypatch.setenv("IMAGEN_API_KEY", "from-env")
    settings = load_settings()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == "from-env"
    assert settings.port == 9001
    assert not settings.uses_emulator
    assert settings.api_key_source == "the IMAGEN_API_KEY environment variable"


def test_key_never_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEN_API_KEY", "s3cret-value")
    settings = load_settings()
    assert "s3cret-value" not in repr(settings)
    assert "s3cret-value" not in str(settings.model_dump())


def test_broken_config_file_is_a_clear_error() -> None:
    path = config_file()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"api_key = \xff\xfe")
    with pytest.raises(SettingsError, match=str(path).replace("\\", "\\\\")):
        load_settings()


def test_invalid_port_names_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGEN_BRIDGE_PORT", "99999")
    with pytest.raises(SettingsError, match="port"):
        load_settings()


def test_data_dir_follows_env() -> None:
    assert load_settings().data_dir == Path(os.environ["IMAGEN_BRIDGE_DATA_DIR"])


def test_cli_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"imagen-bridge {__version__}"
