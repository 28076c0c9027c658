from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge import __version__
from bridge.cli import app
from bridge.settings import Settings, SettingsError, config_file, load_settings


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


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("notaurl", "not an absolute http(s) URL"),
        ("api.imagen-ai.com/v1", "not an absolute http(s) URL"),
        ("ftp://api.imagen-ai.com/v1", "not an absolute http(s) URL"),
        ("http://api.imagen-ai.com/v1", "use https"),
        ("http://192.168.1.20:8718/v1", "use https"),
        ("https://user:pw@api.imagen-ai.com/v1", "user name or password"),
        ("https://api.imagen-ai.com:99999/v1", "not a valid URL"),
        ("https://api.imagen-ai.com/v1?x=1", "query or fragment"),
    ],
)
def test_a_bad_base_url_fails_at_load_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, url: str, why: str
) -> None:
    monkeypatch.setenv("IMAGEN_BRIDGE_BASE_URL", url)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "IMAGEN_BRIDGE_BASE_URL" in str(caught.value) and why in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.imagen-ai.com/v1",
        "http://127.0.0.1:8718/v1",
        "http://localhost:8718/v1",
        "http://[::1]:8718/v1",
        " https://api.imagen-ai.com/v1 ",
    ],
)
def test_good_base_urls_load(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("IMAGEN_BRIDGE_BASE_URL", url)
    assert load_settings().base_url == url.strip()


def test_a_bad_base_url_in_the_config_file_names_the_file() -> None:
    path = config_file()
    path.parent.mkdir(parents=True)
    path.write_text('base_url = "http://imagen.example/v1"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="use https") as caught:
        load_settings()
    assert f"config file {path}: base_url" in str(caught.value)


def test_a_bad_base_url_is_a_configuration_error_before_any_network_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMAGEN_API_KEY", "some-key")  # the real-service path
    result = CliRunner().invoke(app, ["profiles"], env={"IMAGEN_BRIDGE_BASE_URL": "notaurl"})
    assert result.exit_code == 2
    assert "IMAGEN_BRIDGE_BASE_URL" in result.stderr and "some-key" not in result.output


def test_a_misspelt_key_is_refused_with_the_file_and_the_nearest_name() -> None:
    path = config_file()
    path.parent.mkdir(parents=True)
    path.write_text('apikey = "s3cret"\n', encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert str(path) in message and "'apikey'" in message and "did you mean api_key?" in message
    assert "s3cret" not in message


def _typos(name: str) -> list[str]:
    """Misspellings a person makes: a letter dropped, underscores lost, two letters swapped."""
    swapped = name[:1] + name[2:3] + name[1:2] + name[3:] if len(name) > 3 else name + "s"
    return [name[:-1], name.replace("_", ""), swapped, name.upper()]


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_settings_field_is_suggested_for_its_typos(field: str) -> None:
    """The valid names come from the model itself: a field someone adds is suggested too."""
    path = config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    for typo in _typos(field):
        if typo == field:
            continue
        path.write_text(f'{typo} = "x"\n', encoding="utf-8")
        with pytest.raises(SettingsError) as caught:
            load_settings()
        assert f"unknown key {typo!r} (did you mean {field}?)" in str(caught.value)


def test_an_unknown_key_with_nothing_near_lists_the_valid_keys() -> None:
    path = config_file()
    path.parent.mkdir(parents=True)
    path.write_text("colour = 3\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "valid keys: " + ", ".join(Settings.model_fields) in str(caught.value)
