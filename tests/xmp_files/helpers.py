"""Shared helpers for the sidecar-file tests: real folders, real files, a read-only folder."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def touch(folder: Path, *names: str, data: bytes = b"raw") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in names]
    for path in paths:
        path.write_bytes(data)
    return paths


def leftovers(folder: Path) -> list[str]:
    """Temp files publish might have left behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".imagen-bridge-"))


@contextmanager
def read_only_folder(folder: Path) -> Iterator[None]:
    """Make ``folder`` refuse new files for real: mode 0555, or ``chattr +i`` when we are root
    (root ignores permission bits)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a folder read-only")
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"chattr +i not supported here: {done.stderr.decode(errors='replace')}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def incoming_xmp(raw_name: str | None, *, exposure: str = "+0.50", extra: str = "") -> bytes:
    """An Imagen-style sidecar: crs settings only, attribute form, as a service would emit."""
    raw = f' crs:RawFileName="{raw_name}"' if raw_name else ""
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Imagen">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    crs:Version="16.5" crs:ProcessVersion="15.4" crs:HasSettings="True"
    crs:AlreadyApplied="False"{raw} crs:Exposure2012="{exposure}" crs:Contrast2012="+12"
    crs:Temperature="5400" crs:Tint="+4" xmp:Rating="1"{extra}/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>""".encode()


def photographer_sidecar(shared_dir: Path) -> bytes:
    """A real Lightroom sidecar: rating, keywords, face regions, history, padding."""
    return (shared_dir / "data" / "xmp-samples" / "exifr_IMG_5910_lightroom.xmp").read_bytes()
