"""Benchmark: ``imagen-bridge merge`` against ExifTool on the same 2,000 sidecars, in one run,
and the merge's peak memory at several sizes.

    .venv/bin/python bench/merge.py [--count 2000] [--per-file-sample 100] [--check-sample 100]
                                    [--memory-counts 500,2000,20000]
                                    [--job-memory-counts 500,2000,20000]

Generates a shoot of N raws with photographer sidecars (the real samples in shared/, varied
per file: rating, document id, crs values) and N Imagen-style incoming sidecars, makes three
identical copies, and times:

1. ``imagen-bridge merge SRC --into DIR`` as a subprocess (the real command, journal and
   backups included, every file fsynced), median of ``--repeat`` runs on fresh copies;
2. ExifTool in batch mode: ``exiftool -overwrite_original -xmp-crs:all= -tagsFromFile
   SRC/%f.xmp -xmp-crs:all -ext xmp DIR`` (one process for all files, no fsync);
3. ExifTool once per file, timed on a sample and extrapolated to N (stated in the output).

Memory: for each of ``--memory-counts`` a fresh shoot is merged by the real command and its
peak resident set size is read from the kernel (``wait4``: the largest of the process and its
worker processes); the target is a merge of the largest size needing at most 20% more than one
of the smallest. The same for whole ``edit`` jobs (``--job-memory-counts``) of small synthetic
raws against the emulator in a process of its own: upload, edit, download and sidecar merge.

Then checks, on a sample, with ``exiftool -j -G1 -a``, that every non-crs tag of our output is
identical to ExifTool's output and to the original, except the two dates we set on purpose
(``XMP-xmp:MetadataDate``/``ModifyDate``) and the toolkit name.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "data" / "xmp-samples"
# Photographer sidecars from real writers (Lightroom 6/8, early ACR, Camera Raw 11, Photoshop
# 2020, the Adobe SDK sample, an old-toolkit file with xap: prefixes).
TEMPLATES = (
    "exifr_IMG_5910_lightroom.xmp",
    "pyxmptk_test1_early-lightroom.xmp",
    "photoprism_canon_eos_6d.xmp",
    "photoprism_photoshop.xmp",
    "exiv2_BlueSquare.xmp",
    "exiftool_XMP.xmp",
)
IGNORED_TAGS = {
    "SourceFile",
    "XMP-x:XMPToolkit",  # each writer names itself
    "XMP-xmp:MetadataDate",  # we set both dates, as Adobe does on a develop save;
    "XMP-xmp:ModifyDate",  # ExifTool leaves them
}
BRIDGE = Path(sys.executable).with_name("imagen-bridge")


def _vary(template: str, n: int) -> str:
    """A distinct photographer file: its own rating, document id and, if any, crs values."""
    text = re.sub(r"(Rating[=>]\"?)-?\d", lambda m: f"{m.group(1)}{n % 6}", template, count=1)
    text = re.sub(
        r"(DocumentID[=>]\"?)([^\"<]+)",
        lambda m: f"{m.group(1)}xmp.did:bench-{n:06d}",
        text,
        count=1,
    )
    return re.sub(
        r"(Exposure2012[=>]\"?)([^\"<]+)", lambda m: f"{m.group(1)}{(n % 40 - 20) / 10:+.2f}", text
    )


def _incoming(name: str, n: int) -> str:
    """An Imagen-style sidecar: a full crs set (attributes + tone curves), nothing else."""
    values = {
        "Version": "16.5", "ProcessVersion": "15.4", "HasSettings": "True",
        "AlreadyApplied": "False", "RawFileName": name, "WhiteBalance": "Custom",
        "Temperature": str(4800 + n % 1500), "Tint": f"{n % 21 - 10:+d}",
        "Exposure2012": f"{(n % 31 - 15) / 20:+.2f}", "Contrast2012": f"{n % 41 - 20:+d}",
        "Highlights2012": f"{-(n % 70)}", "Shadows2012": f"+{n % 60}", "Whites2012": "+8",
        "Blacks2012": "-6", "Texture": "+4", "Clarity2012": "+9", "Dehaze": "+3",
        "Vibrance": "+12", "Saturation": "-2", "ParametricShadows": "0",
        "ParametricDarks": "0", "ParametricLights": "0", "ParametricHighlights": "0",
        "ParametricShadowSplit": "25", "ParametricMidtoneSplit": "50",
        "ParametricHighlightSplit": "75", "Sharpness": "40", "SharpenRadius": "+1.0",
        "SharpenDetail": "25", "SharpenEdgeMasking": "0", "LuminanceSmoothing": "10",
        "ColorNoiseReduction": "25", "HueAdjustmentRed": "0", "HueAdjustmentOrange": "-4",
        "SaturationAdjustmentOrange": "-6", "LuminanceAdjustmentOrange": "+5",
        "ColorGradeMidtoneHue": "0", "ColorGradeShadowLum": "0", "ColorGradeBlending": "50",
        "LensProfileEnable": "1", "AutoLateralCA": "1", "PostCropVignetteAmount": "0",
        "GrainAmount": "0", "ToneCurveName2012": "Linear", "CameraProfile": "Adobe Standard",
        "HasCrop": "False", "ConvertToGrayscale": "False", "OverrideLookVignette": "False",
    }  # fmt: skip
    attributes = "\n    ".join(f'crs:{key}="{value}"' for key, value in values.items())
    curve = "".join(f"<rdf:li>{x}, {min(255, x + n % 7)}</rdf:li>" for x in (0, 64, 128, 192, 255))
    return f"""<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Imagen AI">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
    {attributes}>
   <crs:ToneCurvePV2012><rdf:Seq>{curve}</rdf:Seq></crs:ToneCurvePV2012>
   <crs:ToneCurvePV2012Red><rdf:Seq>{curve}</rdf:Seq></crs:ToneCurvePV2012Red>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>
"""


def generate(work: Path, count: int) -> tuple[Path, Path]:
    shoot, incoming = work / "shoot", work / "incoming"
    shoot.mkdir()
    incoming.mkdir()
    templates = [(SAMPLES / name).read_text(encoding="utf-8") for name in TEMPLATES]
    for n in range(count):
        stem = f"IMG_{n:05d}"
        (shoot / f"{stem}.CR2").write_bytes(b"")
        (shoot / f"{stem}.xmp").write_text(_vary(templates[n % len(templates)], n), "utf-8")
        (incoming / f"{stem}.xmp").write_text(_incoming(f"{stem}.CR2", n), "utf-8")
    return shoot, incoming


def timed(argv: list[str], **kwargs: object) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, **kwargs)  # type: ignore[call-overload]
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1) or (done.returncode and b"Error" in done.stderr[:2000]):
        sys.exit(f"{argv[0]} failed ({done.returncode}): {done.stderr[:2000]!r}")
    return elapsed


def peak_rss(argv: list[str], env: dict[str, str]) -> int:
    """Peak RSS in bytes of a command (and its worker processes), as the kernel measured it."""
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert child.stderr is not None
    stderr = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode not in (0, 1):
        sys.exit(f"{argv[0]} failed ({child.returncode}): {stderr[:2000]!r}")
    return usage.ru_maxrss * 1024  # KiB on Linux


def memory_table(work: Path, counts: list[int]) -> None:
    """Peak RSS of ``merge`` at each size, and whether the biggest stays within 20%."""
    peaks = {}
    for count in counts:
        folder = work / f"memory-{count}"
        folder.mkdir()
        shoot, incoming = generate(folder, count)
        env = {**os.environ, "IMAGEN_BRIDGE_DATA_DIR": str(folder / "data")}
        peaks[count] = peak_rss([str(BRIDGE), "merge", str(incoming), "--into", str(shoot)], env)
        shutil.rmtree(folder)
    print_peaks("sidecars merged", peaks)


def job_memory_table(work: Path, counts: list[int]) -> None:
    """Peak RSS of a whole ``edit`` job (upload, edit, download, merge) at each size, against
    the emulator in a process of its own (its memory is not counted)."""
    sys.path.insert(0, str(ROOT))
    from tests.jobs.helpers import raw_bytes

    port = _free_port()
    emulator = subprocess.Popen(
        [str(BRIDGE), "emulator", "--port", str(port), "--processing-time", "0.5",
         "--storage-dir", str(work / "emulator")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    peaks = {}
    try:
        _wait_for_port(port)
        for count in counts:
            folder = work / f"job-{count}"
            shoot = folder / "shoot"
            shoot.mkdir(parents=True)
            for n in range(count):
                raw = shoot / f"IMG_{n:05d}.CR2"
                raw.write_bytes(raw_bytes(str(raw), 4096))
            env = {
                **os.environ,
                "IMAGEN_BRIDGE_DATA_DIR": str(folder / "data"),
                "IMAGEN_BRIDGE_BASE_URL": f"http://127.0.0.1:{port}/v1",
                "IMAGEN_API_KEY": "bench-key",
            }
            argv = [str(BRIDGE), "edit", str(shoot), "-p", "5700", "-o", str(folder / "out"),
                    "--quiet"]  # fmt: skip
            peaks[count] = peak_rss(argv, env)
            shutil.rmtree(folder)
    finally:
        emulator.terminate()
        emulator.wait()
    print_peaks("photos in one edit job", peaks)


def print_peaks(what: str, peaks: dict[int, int]) -> None:
    smallest, largest = min(peaks), max(peaks)
    print(f"\n| {what} | peak RSS | vs smallest |")
    print("|---|---|---|")
    for count, peak in peaks.items():
        print(f"| {count:,} | {peak / 2**20:.1f} MB | {peak / peaks[smallest]:.2f}x |")
    growth = peaks[largest] / peaks[smallest] - 1
    verdict = "met" if growth <= 0.20 else "MISSED"
    print(
        f"target ({largest:,} need at most 20% more than {smallest:,}): {verdict} "
        f"(+{growth:.0%}, {(peaks[largest] - peaks[smallest]) / (largest - smallest):.0f} "
        "bytes per extra one)"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit("the emulator did not start within a minute")


def http_merge_times(work: Path, incoming: Path, targets: list[Path]) -> list[float]:
    """``POST /v1/merge`` on a real ``imagen-bridge serve``, once per fresh copy in ``targets``."""
    import httpx

    config, data = work / "serve-config", work / "serve-data"
    env = {
        **os.environ,
        "IMAGEN_BRIDGE_CONFIG_DIR": str(config),
        "IMAGEN_BRIDGE_DATA_DIR": str(data),
    }
    server = subprocess.Popen(
        [str(BRIDGE), "serve", "--port", "0"], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        info = config / "server.json"
        deadline = time.monotonic() + 60
        while not info.exists():
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit("imagen-bridge serve did not start")
            time.sleep(0.05)
        url = json.loads(info.read_text())["url"]
        token = (config / "token").read_text().strip()
        times = []
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
            for target in targets:
                started = time.perf_counter()
                answer = http.post(
                    "/merge", json={"sources": [str(incoming)], "into": str(target)}, timeout=600
                )
                times.append(time.perf_counter() - started)
                if answer.status_code != 200 or not answer.json()["ok"]:
                    sys.exit(f"POST /v1/merge failed: {answer.status_code} {answer.text[:300]}")
        return times
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


def exiftool_tags(files: list[Path]) -> dict[str, dict[str, object]]:
    done = subprocess.run(
        ["exiftool", "-j", "-G1", "-a", *map(str, files)], capture_output=True, check=True
    )
    return {Path(entry["SourceFile"]).name: entry for entry in json.loads(done.stdout)}


def non_crs(tags: dict[str, object]) -> dict[str, object]:
    return {
        key: value
        for key, value in tags.items()
        if key not in IGNORED_TAGS
        and not key.startswith(("XMP-crs:", "System:", "File:", "ExifTool:"))
    }


def compare(
    ours: Path, theirs: Path, originals: Path, names: list[str]
) -> tuple[int, int, list[str], int]:
    """(same as ExifTool, same as the original, differences, files whose ExifTool warning
    ExifTool's own rewrite "fixed") over the sampled files."""
    mine = exiftool_tags([ours / n for n in names])
    other = exiftool_tags([theirs / n for n in names])
    before = exiftool_tags([originals / n for n in names])
    same_other = same_before = rewritten = 0
    problems: list[str] = []
    for name in names:
        rewritten += "ExifTool:Warning" in before[name] and "ExifTool:Warning" not in other[name]
        a, b, c = (non_crs(d[name]) for d in (mine, other, before))
        same_other += a == b
        same_before += a == c
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key) and len(problems) < 10:
                problems.append(f"{name} {key}: ours={a.get(key)!r} exiftool={b.get(key)!r}")
    return same_other, same_before, problems, rewritten


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--per-file-sample", type=int, default=100)
    parser.add_argument("--check-sample", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="imagen-bridge runs (median)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--memory-counts",
        default="500,2000,20000",
        help="sizes whose peak memory is measured (comma-separated; empty: skip)",
    )
    parser.add_argument(
        "--job-memory-counts",
        default="500,2000,20000",
        help="photos per edit job whose peak memory is measured (comma-separated; empty: skip)",
    )
    args = parser.parse_args()
    if not shutil.which("exiftool"):
        sys.exit("exiftool is not installed (apt-get install libimage-exiftool-perl)")
    if not BRIDGE.exists():
        sys.exit(f"{BRIDGE} not found: install the project into this venv first")

    work = Path(tempfile.mkdtemp(prefix="bench-merge-"))
    try:
        shoot, incoming = generate(work, args.count)
        runs = [f"bridge-{n}" for n in range(args.repeat)]
        http_runs = [f"http-{n}" for n in range(args.repeat)]
        copies = {
            name: work / name for name in (*runs, *http_runs, "exiftool-batch", "exiftool-each")
        }
        for target in copies.values():
            shutil.copytree(shoot, target)
        # Our run is short, so one burst of load from elsewhere skews it: take the median of
        # several, each on a fresh copy with a fresh journal.
        bridge_times = sorted(
            timed(
                [str(BRIDGE), "merge", str(incoming), "--into", str(copies[run]), "--json"],
                env={**os.environ, "IMAGEN_BRIDGE_DATA_DIR": str(work / f"data-{run}")},
            )
            for run in runs
        )
        t_bridge = bridge_times[len(bridge_times) // 2]
        copies["bridge"] = copies[runs[0]]
        http_times = sorted(http_merge_times(work, incoming, [copies[r] for r in http_runs]))
        t_http = http_times[len(http_times) // 2]
        t_batch = timed(
            ["exiftool", "-q", "-q", "-overwrite_original", "-xmp-crs:all=", "-tagsFromFile",
             f"{incoming}/%f.xmp", "-xmp-crs:all", "-ext", "xmp", str(copies["exiftool-batch"])]
        )  # fmt: skip
        sample = min(args.per_file_sample, args.count)
        t_sample = 0.0
        for n in range(sample):
            name = f"IMG_{n:05d}.xmp"
            t_sample += timed(
                ["exiftool", "-q", "-q", "-overwrite_original", "-xmp-crs:all=", "-tagsFromFile",
                 str(incoming / name), "-xmp-crs:all", str(copies["exiftool-each"] / name)]
            )  # fmt: skip
        t_each = t_sample / sample * args.count

        step = max(1, args.count // args.check_sample)
        names = [f"IMG_{n:05d}.xmp" for n in range(0, args.count, step)][: args.check_sample]
        same_et, same_orig, problems, rewritten = compare(
            copies["bridge"], copies["exiftool-batch"], shoot, names
        )
        backups = sum(1 for _ in (work / f"data-{runs[0]}" / "backups").rglob("*.xmp"))

        print(f"# merge benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
        print(
            f"machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, exiftool "
            + subprocess.run(["exiftool", "-ver"], capture_output=True, text=True).stdout.strip()
        )
        print(f"files: {args.count} photographer sidecars + {args.count} incoming sidecars\n")
        print("| method | wall time | per file | vs imagen-bridge |")
        print("|---|---|---|---|")
        spread = ", ".join(f"{t:.2f}" for t in bridge_times)
        http_spread = ", ".join(f"{t:.2f}" for t in http_times)
        rows = (
            (f"imagen-bridge merge (median of {args.repeat} runs: {spread} s)", t_bridge),
            (f"POST /v1/merge to serve (median of {args.repeat}: {http_spread} s)", t_http),
            ("exiftool batch mode (1 process)", t_batch),
            (f"exiftool per file (extrapolated from {sample} files)", t_each),
        )
        for label, seconds in rows:
            print(
                f"| {label} | {seconds:.2f} s | {seconds / args.count * 1000:.2f} ms | "
                f"{seconds / t_bridge:.1f}x |"
            )
        print(
            f"\nnon-crs tags (exiftool -j -G1 -a, {len(names)} sampled files, ignoring "
            f"{', '.join(sorted(IGNORED_TAGS - {'SourceFile'}))}): identical to exiftool's "
            f"output in {same_et}/{len(names)}, identical to the original in "
            f"{same_orig}/{len(names)}; backups kept: {backups}"
        )
        for line in problems:
            print("  differs:", line)
        if rewritten:
            print(
                f"exiftool silently rewrote the photographer's MicrosoftPhoto namespace URI in "
                f"{rewritten}/{len(names)} sampled files (imagen-bridge keeps it as written)"
            )
        speedup = t_batch / t_bridge
        verdict = "met" if speedup >= 10 else "MISSED"
        print(f"target (>= 10x faster than exiftool batch mode): {verdict} ({speedup:.1f}x)")
        over_http = t_http / t_bridge
        verdict = "met" if over_http <= 1.3 else "MISSED"
        print(f"target (merge over HTTP within 1.3x of the CLI): {verdict} ({over_http:.2f}x)")
        counts = [int(n) for n in args.memory_counts.split(",") if n.strip()]
        if counts:
            memory_table(work, counts)
        counts = [int(n) for n in args.job_memory_counts.split(",") if n.strip()]
        if counts:
            job_memory_table(work, counts)
    finally:
        if args.keep:
            print(f"work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
