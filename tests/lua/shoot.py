"""A photographer's shoot on disk and the fake catalog that holds it (ten photos).

- two raws with real sidecars from shared/data/xmp-samples (keywords, rating, captions),
  one raw without a sidecar;
- two raws named IMG_1.CR2 in different folders (different content, so different settings);
- a DNG, a JPEG, a virtual copy of the first raw, an offline raw whose drive is gone;
- a raw in a folder and with a name of umlauts, CJK and an emoji.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.jobs.helpers import jpeg_bytes, raw_bytes

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "data" / "xmp-samples"


@dataclass(frozen=True)
class Shot:
    uuid: str
    rel: str | None  # path under the shoot folder; None for a virtual copy
    sidecar_sample: str | None = None
    virtual_of: str | None = None
    offline: bool = False


SHOTS = (
    Shot("0A1F-RAW-0001", "Hochzeit Müller/DSC_0001.NEF", "exifr_IMG_5910_lightroom.xmp"),
    Shot("0A1F-RAW-0002", "Hochzeit Müller/DSC_0002.NEF", "photoprism_photoshop.xmp"),
    Shot("0A1F-RAW-0003", "Hochzeit Müller/DSC_0003.NEF"),
    Shot("0A1F-DAY1-IMG1", "Tag 1/IMG_1.CR2"),
    Shot("0A1F-DAY2-IMG1", "Tag 2/IMG_1.CR2"),
    Shot("0A1F-DNG-0001", "Haus/Haus 01.dng"),
    Shot("0A1F-JPG-0001", "Export/Strand.jpg"),
    Shot("0A1F-VC-0001", None, virtual_of="0A1F-RAW-0001"),
    Shot("0A1F-OFFLINE-9", "Externe Platte/IMG_9.CR2", offline=True),
    Shot("0A1F-CJK-0006", "婚礼 Jörg/Strand 🌅 06.ARW"),
)
FORMATS = {".nef": "RAW", ".cr2": "RAW", ".arw": "RAW", ".dng": "DNG", ".jpg": "JPG"}
# The files the plugin sends (the virtual copy shares its master's file; JPEG and offline skipped).
SENT = ("0A1F-RAW-0001", "0A1F-RAW-0002", "0A1F-RAW-0003", "0A1F-DAY1-IMG1", "0A1F-DAY2-IMG1")
SENT += ("0A1F-DNG-0001", "0A1F-CJK-0006")


@dataclass
class Shoot:
    root: Path
    state: dict[str, Any]

    def path(self, uuid: str) -> Path:
        shot = next(s for s in SHOTS if s.uuid == uuid)
        assert shot.rel is not None
        return self.root / shot.rel

    def sidecar(self, uuid: str) -> Path:
        return self.path(uuid).with_suffix(".xmp")


def make_shoot(root: Path) -> Shoot:
    photos = []
    for shot in SHOTS:
        if shot.virtual_of:
            photos.append(
                {"uuid": shot.uuid, "isVirtualCopy": True, "masterUuid": shot.virtual_of,
                 "copyName": "Copy 1", "develop": {}}
            )  # fmt: skip
            continue
        assert shot.rel is not None
        path = root / shot.rel
        if not shot.offline:
            path.parent.mkdir(parents=True, exist_ok=True)
            is_jpeg = path.suffix.lower() == ".jpg"
            path.write_bytes(jpeg_bytes(shot.uuid) if is_jpeg else raw_bytes(shot.uuid))
            if shot.sidecar_sample:
                shutil.copyfile(SAMPLES / shot.sidecar_sample, path.with_suffix(".xmp"))
        photos.append(
            {"uuid": shot.uuid, "path": str(path), "fileFormat": FORMATS[path.suffix.lower()],
             "available": not shot.offline, "develop": {"ProcessVersion": "11.0"}}
        )  # fmt: skip
    state = {"photos": photos, "selection": [s.uuid for s in SHOTS], "prefs": {}}
    return Shoot(root, state)
