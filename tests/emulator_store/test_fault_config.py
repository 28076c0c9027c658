"""FaultConfig: validation with errors that name the field, from a mapping, a file, the env."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.emulator.faults import FaultConfig, FaultConfigError, Faults


def test_defaults_inject_nothing() -> None:
    config = FaultConfig()
    assert (config.rate_429, config.rate_500, config.rate_503, config.latency_ms) == (0, 0, 0, 0)
    assert config.link_lifetime_s == 3600.0
    assert not Faults(config).should_drop("upload", "k")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"rate_503": 1.5}, "rate_503"),
        ({"rate_429": -0.1}, "rate_429"),
        ({"drop_upload_rate": float("nan")}, "drop_upload_rate"),
        ({"drop_download_rate": "0.5"}, "drop_download_rate"),
        ({"latency_ms": -1}, "latency_ms"),
        ({"processing_s": float("inf")}, "processing_s"),
        ({"retry_after_s": 1.5}, "retry_after_s"),
        ({"seed": True}, "seed"),
        ({"link_lifetime_s": 0}, "link_lifetime_s"),
        ({"link_lifetime_s": 700_000}, "link_lifetime_s"),
        ({"fail_files": "a.jpg"}, "fail_files"),
        ({"fail_files": ["a.jpg", 3]}, "fail_files"),
        ({"fail_files": [""]}, "fail_files"),
        ({"rate_429": 0.5, "rate_500": 0.3, "rate_503": 0.3}, "rate_429 + rate_500 + rate_503"),
        ({"rate_5O3": 0.1}, "rate_5O3"),
    ],
)
def test_bad_values_name_the_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(FaultConfigError, match=field.replace("+", r"\+")):
        FaultConfig.from_mapping(values)


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(FaultConfigError, match="rate_500"):
        FaultConfig(rate_500=2.0)


def test_from_mapping_accepts_lists_and_ints() -> None:
    config = FaultConfig.from_mapping(
        {"seed": 42, "rate_503": 0, "latency_ms": 5, "fail_files": ["a.jpg", "b ü.NEF"]}
    )
    assert config == FaultConfig(seed=42, latency_ms=5, fail_files=frozenset({"a.jpg", "b ü.NEF"}))


def test_from_env() -> None:
    environ = {
        "IMAGEN_EMULATOR_FAULT_RATE_503": "0.1",
        "IMAGEN_EMULATOR_FAULT_SEED": "9",
        "IMAGEN_EMULATOR_FAULT_FAIL_FILES": "a.jpg, b.jpg,,",
        "IMAGEN_EMULATOR_FAULT_LINK_LIFETIME_S": "30",
        "PATH": "/usr/bin",
    }
    config = FaultConfig.from_env(environ)
    assert config == FaultConfig(
        seed=9, rate_503=0.1, link_lifetime_s=30.0, fail_files=frozenset({"a.jpg", "b.jpg"})
    )
    assert FaultConfig.from_env({}) == FaultConfig()


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("IMAGEN_EMULATOR_FAULT_RATE_503", "ten percent", "IMAGEN_EMULATOR_FAULT_RATE_503"),
        ("IMAGEN_EMULATOR_FAULT_RATE_503", "2", "rate_503 must be between 0 and 1"),
        (
            "IMAGEN_EMULATOR_FAULT_SEED",
            "1.5",
            "IMAGEN_EMULATOR_FAULT_SEED: seed must be an integer",
        ),
        ("IMAGEN_EMULATOR_FAULT_BOGUS", "1", "IMAGEN_EMULATOR_FAULT_BOGUS is not a fault setting"),
    ],
)
def test_from_env_errors_name_the_variable(variable: str, value: str, expected: str) -> None:
    with pytest.raises(FaultConfigError, match=expected):
        FaultConfig.from_env({variable: value})


def test_load_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "faults.toml"
    toml.write_text('seed = 3\nrate_429 = 0.25\nfail_files = ["x.jpg"]\n', encoding="utf-8")
    as_json = tmp_path / "faults.json"
    as_json.write_text(json.dumps({"seed": 3, "rate_429": 0.25, "fail_files": ["x.jpg"]}))
    expected = FaultConfig(seed=3, rate_429=0.25, fail_files=frozenset({"x.jpg"}))
    assert FaultConfig.load(toml) == expected
    assert FaultConfig.load(as_json) == expected


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("faults.toml", "rate_503 = [", "not valid TOML"),
        ("faults.json", "[1, 2]", "must be a table/object"),
        ("faults.json", '{"rate_503": 3}', "faults.json: rate_503 must be between 0 and 1"),
        ("faults.yaml", "rate_503: 1", "must be a .toml or .json file"),
        ("faults.json", "\udcff", "not valid JSON"),
        ("faults.json", '{"seed": ' + "1" * 5000 + "}", "not valid JSON"),
        ("faults.toml", "seed = " + "1" * 5000, "not valid TOML"),
    ],
)
def test_load_errors_name_the_file(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(FaultConfigError, match=expected):
        FaultConfig.load(path)


def test_load_missing_and_huge_files(tmp_path: Path) -> None:
    with pytest.raises(FaultConfigError, match="cannot read"):
        FaultConfig.load(tmp_path / "absent.toml")
    huge = tmp_path / "huge.json"
    huge.write_bytes(b" " * (2 << 20))
    with pytest.raises(FaultConfigError, match="larger than"):
        FaultConfig.load(huge)


def test_drop_decisions_depend_on_seed_and_occurrence() -> None:
    def run(seed: int) -> list[bool]:
        faults = Faults(FaultConfig(seed=seed, drop_upload_rate=0.5))
        return [faults.should_drop("upload", f"key{n % 10}") for n in range(200)]

    assert run(1) == run(1)
    assert run(1) != run(2)
    assert 0.35 <= run(1).count(True) / 200 <= 0.65
    # Downloads are decided independently of uploads and stay off at rate 0.
    faults = Faults(FaultConfig(seed=1, drop_upload_rate=1.0))
    assert not any(faults.should_drop("download", "k") for _ in range(20))
    assert all(faults.should_drop("upload", "k") for _ in range(20))
