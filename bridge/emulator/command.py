"""``imagen-bridge emulator``: serve the offline Imagen emulator on a loopback port."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from typing import Annotated, Literal

import typer

from bridge.commands.console import CommandFailed, ExitCode, UsageError
from bridge.commands.exits import Report, run_command
from bridge.emulator.app import (
    EmulatorConfig,
    RunningEmulator,
    check_loopback,
    running_emulator,
)
from bridge.emulator.faults import FaultConfig
from bridge.emulator.imagekit import ImagekitConfig
from bridge.emulator.imagekit.config import FREE_PLAN_MAX_BYTES
from bridge.emulator.imgwire import ImgwireConfig

DEFAULT_PORT = 8718


def fault_config(
    environ: dict[str, str], config_file: Path | None, flags: dict[str, object]
) -> FaultConfig:
    """Defaults < IMAGEN_EMULATOR_FAULT_* < --fault-config file < command-line flags.

    A file value counts only where it differs from the default (a file cannot tell "set to
    the default" from "not set").
    """
    values = dataclasses.asdict(FaultConfig.from_env(environ))
    if config_file is not None:
        from_file = FaultConfig.load(config_file)
        default = FaultConfig()
        for field in dataclasses.fields(FaultConfig):
            if getattr(from_file, field.name) != getattr(default, field.name):
                values[field.name] = getattr(from_file, field.name)
    values.update({name: value for name, value in flags.items() if value is not None})
    return FaultConfig.from_mapping(values)


def emulator_command(
    host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port (0 picks a free one).")
    ] = DEFAULT_PORT,
    api_key: Annotated[
        str | None,
        typer.Option(
            envvar="IMAGEN_EMULATOR_API_KEY",
            help="Accept only this x-api-key (default: any non-empty key).",
            show_default=False,
        ),
    ] = None,
    envelope: Annotated[
        str, typer.Option(help='Response shape: bare | data ({"data": ...}).')
    ] = "bare",
    status_case: Annotated[
        str, typer.Option(help="Status casing: title | upper | lower.")
    ] = "title",
    storage_dir: Annotated[
        Path | None,
        typer.Option(help="Keep uploaded and generated files here (default: a temp dir)."),
    ] = None,
    fault_config_file: Annotated[
        Path | None, typer.Option("--fault-config", help="A .toml or .json file of fault settings.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed for injected fault decisions.")] = None,
    latency_ms: Annotated[float | None, typer.Option(help="Latency added per request.")] = None,
    rate_429: Annotated[float | None, typer.Option(help="Fraction answered 429.")] = None,
    rate_500: Annotated[float | None, typer.Option(help="Fraction answered 500.")] = None,
    rate_503: Annotated[float | None, typer.Option(help="Fraction answered 503.")] = None,
    drop_upload_rate: Annotated[
        float | None, typer.Option(help="Fraction of uploads cut mid-body.")
    ] = None,
    drop_download_rate: Annotated[
        float | None, typer.Option(help="Fraction of downloads cut mid-body.")
    ] = None,
    drop_response_rate: Annotated[
        float | None,
        typer.Option(help="Fraction of Imgwire/ImageKit uploads whose answer is lost after."),
    ] = None,
    link_lifetime: Annotated[
        float | None, typer.Option(help="Presigned URL lifetime, seconds.")
    ] = None,
    processing_time: Annotated[
        float | None,
        typer.Option(help="Seconds an edit/export takes from Pending to Completed (default 2)."),
    ] = None,
    fail_file: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            help="A file name whose editing fails, or Imgwire quarantines (repeatable).",
        ),
    ] = None,
    access_log: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Append one line per request to FILE: method, path (signature parameters "
            "left out), status, bytes received.",
        ),
    ] = None,
    imgwire_key: Annotated[
        str | None,
        typer.Option(
            envvar="IMGWIRE_EMULATOR_API_KEY",
            help="Imgwire: accept only this bearer key (default: any non-empty key).",
            show_default=False,
        ),
    ] = None,
    imagekit_key: Annotated[
        str | None,
        typer.Option(
            envvar="IMAGEKIT_EMULATOR_PRIVATE_KEY",
            help="ImageKit: accept only this private key (default: any non-empty key).",
            show_default=False,
        ),
    ] = None,
    imagekit_max_file_size: Annotated[
        int | None,
        typer.Option(min=1, help="ImageKit: the plan's size limit per file, bytes (25 MiB)."),
    ] = None,
) -> None:
    """Serve the offline Imagen emulator: the API under /v1, presigned storage under /storage;
    Imgwire under /imgwire and ImageKit under /imagekit.

    Ctrl-C, SIGTERM or SIGHUP stop it cleanly (its temporary storage is removed; exit 0).
    """
    report = Report()
    flags: dict[str, object] = {
        "seed": seed,
        "latency_ms": latency_ms,
        "rate_429": rate_429,
        "rate_500": rate_500,
        "rate_503": rate_503,
        "drop_upload_rate": drop_upload_rate,
        "drop_download_rate": drop_download_rate,
        "drop_response_rate": drop_response_rate,
        "link_lifetime_s": link_lifetime,
        "processing_s": processing_time,
        "fail_files": frozenset(fail_file) if fail_file else None,
    }

    async def serve() -> ExitCode:
        try:
            check_loopback(host)
            if envelope not in ("bare", "data") or status_case not in ("title", "upper", "lower"):
                raise ValueError("--envelope must be bare|data and --status-case title|upper|lower")
            config = EmulatorConfig(
                api_key=api_key,
                envelope=_literal_envelope(envelope),
                status_case=_literal_case(status_case),
                faults=fault_config(dict(os.environ), fault_config_file, flags),
                storage_dir=storage_dir,
                access_log=_writable(access_log),
            )
            imgwire = ImgwireConfig(api_key=imgwire_key)
            imagekit = ImagekitConfig(
                private_key=imagekit_key,
                max_file_size=imagekit_max_file_size or FREE_PLAN_MAX_BYTES,
            )
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        try:
            async with running_emulator(
                config, host=host, port=port, imgwire_config=imgwire, imagekit_config=imagekit
            ) as emulator:
                _announce(config, emulator)
                await asyncio.Event().wait()
        except asyncio.CancelledError:  # a stop signal: the normal end of a server
            typer.echo("Emulator stopped.")
            return ExitCode.OK
        except OSError as exc:
            raise CommandFailed(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        raise AssertionError("the emulator serves until it is stopped")

    raise typer.Exit(run_command(serve(), report))


def _writable(path: Path | None) -> Path | None:
    """The access log's path, once it is known to open for appending (a usage error if not)."""
    if path is not None:
        try:
            with path.open("ab"):
                pass
        except OSError as exc:
            raise ValueError(
                f"--access-log {path} cannot be opened for appending: {exc.strerror or exc}"
            ) from None
    return path


def _literal_envelope(value: str) -> Literal["bare", "data"]:
    return "data" if value == "data" else "bare"


def _literal_case(value: str) -> Literal["title", "upper", "lower"]:
    return "upper" if value == "upper" else "lower" if value == "lower" else "title"


def _announce(config: EmulatorConfig, emulator: RunningEmulator) -> None:
    base_url = emulator.base_url
    key_rule = "the configured key" if config.api_key else "any non-empty key"
    typer.echo(f"Imagen emulator listening on {base_url}")
    typer.echo(f"  x-api-key: {key_rule}; storage: {config.storage_dir or 'temporary'}")
    if config.access_log is not None:
        typer.echo(f"  access log: {config.access_log}")
    typer.echo(f"  use it with: IMAGEN_BRIDGE_BASE_URL={base_url}")
    typer.echo(f"Imgwire emulator: {emulator.imgwire_url} (IMAGEN_BRIDGE_IMGWIRE_BASE_URL)")
    typer.echo(f"ImageKit emulator: {emulator.imagekit_url} (IMAGEN_BRIDGE_IMAGEKIT_BASE_URL)")
    typer.echo("Press Ctrl-C to stop.")
