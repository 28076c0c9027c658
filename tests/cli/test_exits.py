"""The shared ending of every command (``bridge.commands.exits``), in real processes.

Each case runs a small command built on ``Report`` + ``run_command`` in its own Python
process, stops it with a real signal once it is working, and checks the exit code, that its
cleanup ran, and that ``--json`` still printed one document with what was delivered so far.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# A command whose work announces itself on stderr, then waits to be stopped; its cleanup
# writes a marker file. ``partial`` is what it had delivered when it was stopped.
_COMMAND = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from bridge.commands.console import ExitCode
    from bridge.commands.exits import Report, run_command

    mode, marker = sys.argv[1], Path(sys.argv[2])
    report = Report(as_json=True)
    report.partial(lambda: {"delivered": ["a.xmp", "b.xmp"]})

    async def async_work() -> ExitCode:
        try:
            print("working", file=sys.stderr, flush=True)
            await asyncio.Event().wait()
        finally:
            await asyncio.sleep(0.01)  # cleanup that itself awaits still runs
            marker.write_text("cleaned")
        return ExitCode.OK

    def sync_work() -> ExitCode:
        try:
            print("working", file=sys.stderr, flush=True)
            while True:
                time.sleep(0.05)
        finally:
            marker.write_text("cleaned")

    main = async_work() if mode == "async" else sync_work
    sys.exit(run_command(main, report))
    """
)


def _stopped(tmp_path: Path, mode: str, sig: signal.Signals) -> tuple[int, dict, str, Path]:  # type: ignore[type-arg]
    marker = tmp_path / "cleaned"
    process = subprocess.Popen(
        [sys.executable, "-c", _COMMAND, mode, str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stderr is not None
        assert process.stderr.readline().strip() == "working"
        process.send_signal(sig)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, json.loads(out), err, marker


@pytest.mark.parametrize("mode", ["async", "sync"])
@pytest.mark.parametrize(
    ("sig", "code", "name"),
    [
        (signal.SIGINT, 130, "Ctrl-C"),
        (signal.SIGTERM, 143, "SIGTERM"),
        (signal.SIGHUP, 129, "SIGHUP"),
    ],
)
def test_every_stop_signal_cleans_up_and_reports(
    tmp_path: Path, mode: str, sig: signal.Signals, code: int, name: str
) -> None:
    returncode, document, err, marker = _stopped(tmp_path, mode, sig)
    assert returncode == code, err
    assert marker.read_text() == "cleaned"
    assert document == {
        "ok": False,
        "delivered": ["a.xmp", "b.xmp"],
        "error": {"code": "interrupted", "message": f"Cancelled ({name}); stopped cleanly."},
    }
    assert f"Cancelled ({name})" in err
    assert "Traceback" not in err


def test_a_second_signal_ends_a_hanging_cleanup(tmp_path: Path) -> None:
    """Cleanup that never ends is cut short by the next signal (the shell's default action)."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        from bridge.commands.exits import Report, run_command

        async def work():
            try:
                print("working", file=sys.stderr, flush=True)
                await asyncio.Event().wait()
            finally:
                print("cleaning", file=sys.stderr, flush=True)
                await asyncio.shield(asyncio.Event().wait())

        sys.exit(run_command(work(), Report()))
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert process.stderr is not None
        assert process.stderr.readline().strip() == "working"
        process.send_signal(signal.SIGTERM)
        assert process.stderr.readline().strip() == "cleaning"
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGTERM


def test_ok_is_true_only_with_exit_0(tmp_path: Path) -> None:
    from bridge.commands.console import ExitCode
    from bridge.commands.exits import Report

    out = tmp_path / "out.json"
    with out.open("w") as handle:
        from rich.console import Console

        report = Report(as_json=True, out=Console(file=handle), err=Console(file=handle))
        assert report.result(ExitCode.FAILED, {"ok": True, "items": []}) is ExitCode.FAILED
        report.result(ExitCode.OK, {"again": True})  # one document per run
    assert json.loads(out.read_text()) == {"ok": False, "items": []}


def test_an_unknown_error_keeps_its_traceback_and_still_prints_json(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys
        from bridge.commands.exits import Report, run_command

        def work():
            raise LookupError("a bug")

        sys.exit(run_command(work, Report(as_json=True)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        env={**os.environ},
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr and "LookupError: a bug" in done.stderr
    document = json.loads(done.stdout)
    assert document["ok"] is False and document["error"]["code"] == "failed"
    assert "a bug" in document["error"]["message"]
