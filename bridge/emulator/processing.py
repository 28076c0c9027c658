"""What an edit, an export and a Smart Editing run produce, written into the object store.

These functions are synchronous (hashing and encoding are CPU and disk work) and run in a
worker thread. Output names follow Imagen: RAW -> ``STEM.xmp``, DNG -> ``STEM.dng`` with
embedded XMP, JPEG -> the same name with embedded XMP; HDR merge -> one ``FIRST_HDR.dng`` per
bracket; export -> ``STEM.jpg``.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Collection, Sequence
from pathlib import PurePosixPath
from typing import BinaryIO

from bridge.emulator.catalog import image_type_of
from bridge.emulator.objectstore import ObjectStore as Store
from bridge.emulator.options import EditOptions, EditRequest, I2IRequest
from bridge.emulator.outputs.develop import DevelopInput, develop_settings
from bridge.emulator.outputs.dng import write_dng
from bridge.emulator.outputs.jpeg_encoder import encode_jpeg
from bridge.emulator.outputs.jpeg_xmp import NotAJpegError, embed_xmp
from bridge.emulator.outputs.preview import PREVIEW_HEIGHT, PREVIEW_WIDTH, render_preview
from bridge.emulator.outputs.xmp_sidecar import render_xmp
from bridge.emulator.projects import Outcome, OutputFile, upload_key

_FAILED_BY_CONFIG = "editing failed"
_NOT_A_JPEG = "not a valid JPEG"


def stem(file_name: str) -> str:
    return PurePosixPath(file_name).stem


def brackets(names: Sequence[str], size: int) -> list[list[str]]:
    """HDR groups: the files sorted by name, cut into runs of ``size`` (the last may be short)."""
    ordered = sorted(names)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def planned_output_names(names: Collection[str], options: EditOptions, bracket: int) -> list[str]:
    """The names an edit will write, so name clashes are refused before it starts."""
    if options.hdr_merge:
        return [
            f"{stem(group[0])}_HDR.dng" if len(group) > 1 else _single_output_name(group[0])
            for group in brackets(list(names), bracket)
        ]
    return [_single_output_name(name) for name in names]


def _single_output_name(name: str) -> str:
    suffix = PurePosixPath(name).suffix.lower()
    if image_type_of(name) == "JPG":
        return name
    return f"{stem(name)}.dng" if suffix == ".dng" else f"{stem(name)}.xmp"


def _exposure(settings_value: str | None) -> float:
    try:
        return float(settings_value or 0)
    except ValueError:
        return 0.0


class _Writer:
    """Collects outputs and failures of one job."""

    def __init__(self, store: Store, uuid: str) -> None:
        self.store = store
        self.uuid = uuid
        self.outputs: list[OutputFile] = []
        self.failures: list[tuple[str, str]] = []

    def write(
        self,
        folder: str,
        name: str,
        data: bytes | Callable[[BinaryIO], object],
        sources: Sequence[str],
        exposure: float,
    ) -> None:
        """Store one output; ``data`` is bytes, or a producer that streams into the sink."""
        key = f"projects/{self.uuid}/{folder}/{name}"
        if isinstance(data, bytes):
            self.store.write_object(key, data)
        else:
            self.store.write_stream(key, data)
        self.outputs.append(OutputFile(name, key, tuple(sources), exposure))

    def outcome(self, total: int) -> Outcome:
        return Outcome(tuple(self.outputs), tuple(self.failures), total)


def _embedding(store: Store, key: str, xmp: bytes) -> Callable[[BinaryIO], None]:
    """A producer that streams the uploaded JPEG at ``key`` with ``xmp`` spliced in."""

    def produce(sink: BinaryIO) -> None:
        with store.open_read(key) as source:
            embed_xmp(source, sink, xmp)

    return produce


def run_edit(
    store: Store,
    uuid: str,
    names: Sequence[str],
    request: EditRequest,
    fail_files: Collection[str],
    bracket_size: int,
) -> Outcome:
    writer = _Writer(store, uuid)
    options = request.options
    groups = brackets(names, bracket_size) if options.hdr_merge else [[n] for n in sorted(names)]
    for group in groups:
        failed = [name for name in group if name in fail_files]
        if failed:
            writer.failures.extend((name, _FAILED_BY_CONFIG) for name in group)
            continue
        digests = [store.sha256(upload_key(uuid, name)) for name in group]
        if len(group) > 1:
            digest = hashlib.sha256("|".join(digests).encode()).hexdigest()
            name = f"{stem(group[0])}_HDR.dng"
            is_raw = True
        else:
            digest, name = digests[0], group[0]
            is_raw = image_type_of(name) == "RAW"
        output_name = name if len(group) > 1 else _single_output_name(name)
        source = DevelopInput(
            digest=digest,
            raw_file_name=name,
            is_raw=is_raw,
            profile=request.profile,
            photography_type=request.photography_type,
            options=options,
        )
        settings = develop_settings(source)
        exposure = _exposure(settings.simple.get("Exposure2012"))
        if output_name.endswith(".xmp"):
            sidecar = render_xmp(settings, sidecar_for=PurePosixPath(name).suffix[1:].upper())
            writer.write("outputs", output_name, sidecar, group, exposure)
        elif output_name.endswith(".dng"):
            pixels = render_preview(digest, exposure=exposure)
            dng = write_dng(
                PREVIEW_WIDTH,
                PREVIEW_HEIGHT,
                pixels,
                render_xmp(settings),
                model="HDR Merge" if len(group) > 1 else "Edited DNG",
                sixteen_bit=options.hdr_output_compression == "LOSSLESS",
            )
            writer.write("outputs", output_name, dng, group, exposure)
        else:
            try:
                writer.write(
                    "outputs",
                    output_name,
                    _embedding(store, upload_key(uuid, name), render_xmp(settings)),
                    group,
                    exposure,
                )
            except NotAJpegError:
                writer.failures.append((name, _NOT_A_JPEG))
    return writer.outcome(len(names))


def export_name(output: OutputFile) -> str:
    if len(output.sources) == 1 and image_type_of(output.sources[0]) == "JPG":
        return output.sources[0]
    return f"{stem(output.name)}.jpg"


def run_export(store: Store, uuid: str, edited: Outcome) -> Outcome:
    writer = _Writer(store, uuid)
    for output in edited.outputs:
        digest = store.sha256(output.key)
        jpeg = encode_jpeg(
            PREVIEW_WIDTH, PREVIEW_HEIGHT, render_preview(digest, exposure=output.exposure)
        )
        writer.write("export", export_name(output), jpeg, output.sources, output.exposure)
    return writer.outcome(len(edited.outputs))


def run_i2i(
    store: Store, uuid: str, names: Sequence[str], request: I2IRequest, fail_files: Collection[str]
) -> Outcome:
    writer = _Writer(store, uuid)
    for name in sorted(names):
        if name in fail_files:
            writer.failures.append((name, _FAILED_BY_CONFIG))
            continue
        digest = store.sha256(upload_key(uuid, name))
        settings = develop_settings(
            DevelopInput(
                digest=digest,
                raw_file_name=name,
                is_raw=False,
                profile=None,
                photography_type=None,
                options=request.options,
                already_applied=True,
            )
        )
        exposure = _exposure(settings.simple.get("Exposure2012"))
        rendered = encode_jpeg(
            PREVIEW_WIDTH, PREVIEW_HEIGHT, render_preview(digest, exposure=exposure)
        )
        out = io.BytesIO()
        embed_xmp(io.BytesIO(rendered), out, render_xmp(settings))
        writer.write("outputs", name, out.getvalue(), [name], exposure)
    return writer.outcome(len(names))
