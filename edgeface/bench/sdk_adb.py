"""``edgeface bench --on adb --sdk-binary``: the whole SDK on the phone, stage by stage.

``benchmark_model`` (edgeface/bench/adb.py) times a model's ``Invoke`` alone; an app pays
more per frame: the camera frame into the detector's input, decoding and NMS, each face's
chip warped, the embedder, the 1:N search. This runs ``edgeface_bench``
(native/tools/edgeface_bench.cc, built for Android arm64) on the phone over the bundle and
the user's images, which are decoded here with the SDK's own reader
(:func:`edgeface.image.read_image`) and pushed as the raw RGB frames a camera app would
hand the native core. It pushes, into ``/data/local/tmp/edgeface/sdk``:

- the binary and ``libedgeface.so`` (beside it, or in its CMake build tree's src/core);
- ``libLiteRt.so`` for Android arm64 (``--litert-lib``, from LiteRT's Android package);
- the bundle directory (a .zip bundle is unpacked first: the native core reads folders);
- the frames and their ``frames.json``, and a gallery (``--gallery``, else one of
  ``--gallery-size`` random identities, since search time depends on its size only).

Then, per thread count, one ``adb shell`` runs a fresh ``edgeface_bench`` process (so its
peak resident memory is that run's own) with ``LD_LIBRARY_PATH`` on that folder, and its
``bench-json:`` answer becomes one :class:`BenchResult` with role ``sdk``: the frame's
time through the analyzer plus the search (latency fields), each stage's mean
(``extra["stages_ms"]``), the models' run time inside those calls
(``extra["invoke_ms"]``) and the process's peak memory. edgeface/bench/sdk_report.py
sets it next to the model-only figures.
"""

from __future__ import annotations

import json
import shlex
import tempfile
import zipfile
from pathlib import Path
from statistics import fmean
from typing import Any, Optional, Sequence

from edgeface.bench.adb import REMOTE_DIR, Adb, first_error, phone_info, require_tflite
from edgeface.bench.result import BenchResult
from edgeface.bench.sdk_report import SDK_ROLE, STAGES
from edgeface.bench.target import BenchError, Target

REMOTE_SDK_DIR = f"{REMOTE_DIR}/sdk"
BINARY_NAME = "edgeface_bench"
CORE_LIBRARY = "libedgeface.so"
LITERT_LIBRARY = "libLiteRt.so"
REPLY = "bench-json: "
REMOTE_GALLERY = "gallery.efg"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
ANDROID_BUILD_DIR = "native/build/android-arm64"

LITERT_HINT = ("libLiteRt.so built for Android arm64: the jni/arm64-v8a/libLiteRt.so of LiteRT's Android "
               "package (the AAR of com.google.ai.edge.litert:litert on Google's Maven, unzipped), the same "
               "library the Android build of edgeface_bench was linked against")


def android_build_hint() -> str:
    """How to build edgeface_bench for Android arm64 with the NDK (docs/bench.md says the same)."""
    return (f"build edgeface_bench for Android arm64 with the NDK: "
            f"mkdir -p native/build/android-json && cp -r /usr/include/nlohmann native/build/android-json/ && "
            f"cmake -S native -B {ANDROID_BUILD_DIR} -G Ninja "
            f"-DCMAKE_TOOLCHAIN_FILE=$ANDROID_NDK/build/cmake/android.toolchain.cmake -DANDROID_ABI=arm64-v8a "
            f"-DANDROID_PLATFORM=android-26 -DCMAKE_BUILD_TYPE=Release -DEDGEFACE_BUILD_TESTS=OFF "
            f"-DEDGEFACE_JSON_INCLUDE_DIR=$PWD/native/build/android-json "
            f"-DEDGEFACE_LITERT_LIBRARY=/path/to/android/arm64-v8a/libLiteRt.so && "
            f"cmake --build {ANDROID_BUILD_DIR} --target edgeface_bench, then pass "
            f"--sdk-binary {ANDROID_BUILD_DIR}/tools/edgeface_bench --litert-lib "
            f"/path/to/android/arm64-v8a/libLiteRt.so --images FACES_DIR (docs/bench.md, 'Whole-SDK runs')")


def sdk_not_run_note() -> str:
    """What a benchmark_model-only adb run says about the SDK's own time."""
    return f"only the models were timed (benchmark_model); for the whole SDK per stage, {android_build_hint()}"


# --------------------------------------------------------------------------- the files


def sdk_files(binary: Optional[Path], litert_lib: Optional[Path], images: Sequence[Path],
              gallery: Optional[Path]) -> tuple[Path, Path, Path, list[Path], Optional[Path]]:
    """The checked local files of a whole-SDK run: (binary, libedgeface.so, libLiteRt.so,
    images, gallery); ``BenchError`` naming the option and its fix."""
    if binary is None:
        raise BenchError(f"--litert-lib, --images and --gallery are for whole-SDK runs, which need "
                         f"--sdk-binary PATH: {android_build_hint()}")
    binary = Path(binary)
    if not binary.is_file():
        raise BenchError(f"--sdk-binary {binary}: no such file: {android_build_hint()}")
    core = next((p for p in (binary.parent / CORE_LIBRARY, binary.parent.parent / "src" / "core" / CORE_LIBRARY)
                 if p.is_file()), None)
    if core is None:
        raise BenchError(f"--sdk-binary {binary}: no {CORE_LIBRARY} beside it or in its build tree "
                         f"({binary.parent.parent / 'src' / 'core'}): edgeface_bench loads it; build the "
                         f"whole tree (cmake --build {ANDROID_BUILD_DIR}) or copy {CORE_LIBRARY} next to the binary")
    if litert_lib is None:
        raise BenchError(f"--sdk-binary needs --litert-lib PATH: {LITERT_HINT}")
    litert_lib = Path(litert_lib)
    if not litert_lib.is_file():
        raise BenchError(f"--litert-lib {litert_lib}: no such file: give {LITERT_HINT}")
    if gallery is not None and not Path(gallery).is_file():
        raise BenchError(f"--gallery {gallery}: no such file: give a gallery saved by edgeface "
                         f"(Gallery.save, edgeface enroll), or leave it out to search --gallery-size random "
                         f"identities")
    return binary, core, litert_lib, image_files(images), None if gallery is None else Path(gallery)


def image_files(paths: Sequence[Path]) -> list[Path]:
    """The image files named, folders expanded to the images directly inside them (sorted)."""
    if not paths:
        raise BenchError("--sdk-binary needs --images FILE_OR_DIR: photos with faces in them (repeatable, or a "
                         "folder), the frames the SDK is timed on")
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not inside:
                raise BenchError(f"--images {path}: no images in this folder ({', '.join(IMAGE_SUFFIXES)})")
            found += inside
        elif path.is_file():
            found.append(path)
        else:
            raise BenchError(f"--images {path}: no such file or folder")
    return found


def write_frames(images: Sequence[Path], folder: Path) -> list[dict[str, Any]]:
    """Each image decoded by the SDK's reader into a raw RGB frame under ``folder``, and
    the ``frames.json`` that edgeface_bench reads (file paths relative to ``folder``'s parent,
    the working directory on the phone)."""
    from edgeface.errors import ImageError
    from edgeface.image import read_image

    folder.mkdir(parents=True, exist_ok=True)
    frames, names = [], set()
    for i, path in enumerate(images):
        try:
            rgb = read_image(path)
        except ImageError as exc:
            raise BenchError(f"--images {path}: cannot read it ({exc})") from None
        name = path.name if path.name not in names else f"{path.name} ({i})"
        names.add(name)
        file = f"frame{i}.rgb"
        (folder / file).write_bytes(rgb.tobytes())
        frames.append({"name": name, "file": f"{folder.name}/{file}", "format": "rgb",
                       "width": int(rgb.shape[1]), "height": int(rgb.shape[0])})
    (folder / "frames.json").write_text(json.dumps(frames, indent=1))
    return frames


def bundle_folder(target: Target, scratch: Path) -> Path:
    """The bundle as a folder (the native core reads directories): itself, or unpacked."""
    if target.path.is_dir():
        return target.path
    out = scratch / "bundle"
    with zipfile.ZipFile(target.path) as archive:   # load_bundle has checked its members
        archive.extractall(out)
    manifests = list(out.rglob("manifest.json"))
    return manifests[0].parent if manifests else out


def _check_target(target: Target) -> None:
    if not target.is_bundle:
        raise BenchError(f"--sdk-binary times a bundle's whole pipeline, and {target.path} is a lone model: give "
                         f"a bundle (edgeface models fetch default prints one)")
    manifest = target.bundle.manifest
    if manifest.detector is None:
        raise BenchError(f"--sdk-binary: {target.path} has no detector, which the SDK's per-frame pipeline "
                         f"starts with: give a bundle with models.detector")
    require_tflite(target, "the native core (--sdk-binary) runs")


# --------------------------------------------------------------------------- the answer


def parse_bench_json(output: str) -> dict[str, Any]:
    """The ``bench-json:`` answer in edgeface_bench's output; ``ValueError`` saying what is
    wrong when there is none or it is not the expected document."""
    lines = [line for line in output.replace("\r", "").splitlines() if REPLY in line]
    if not lines:
        raise ValueError("no 'bench-json:' line")
    text = lines[-1].split(REPLY, 1)[1]
    try:
        answer = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the 'bench-json:' line is not JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("stages"), dict) or not answer["stages"] \
            or not isinstance(answer.get("peak_rss_kb"), (int, float)):
        raise ValueError("the 'bench-json:' answer has no per-frame 'stages' or no 'peak_rss_kb' (an "
                         "edgeface_bench older than this edgeface: rebuild it)")
    for name, frame in answer["stages"].items():
        ms = frame.get("ms") if isinstance(frame, dict) else None
        if not isinstance(ms, dict) or not ms.get("total") or not all(
                isinstance(v, list) and all(isinstance(x, (int, float)) for x in v) for v in ms.values()):
            raise ValueError(f"frame {name!r}: 'stages' lacks per-call millisecond lists")
    return answer


def sdk_result(answer: dict[str, Any], *, model: str, device: str, threads: int, precision: str,
               profile: Optional[str], extra: dict[str, Any]) -> BenchResult:
    """One thread count's answer as a BenchResult: latency over every timed call of every
    frame, stage means, the models' run time inside those calls, peak memory."""
    from edgeface.bench.host import timing_summary

    frames = answer["stages"]

    def pooled(stage: str) -> list[float]:
        return [x for frame in frames.values() for x in frame["ms"].get(stage, [])]

    stages = {s: fmean(pooled(s)) for s in STAGES if pooled(s)}
    invoke = {role: fmean(pooled(key)) for role, key in (("detector", "detect_invoke"), ("embedder", "embed_invoke"))
              if pooled(key)}
    cases = answer.get("cases") or {}
    bare = {role: _median(cases.get(f"{role}_run", {}).get("ms")) for role in ("detector", "embedder")}
    info = {**extra, "role": SDK_ROLE, "stages_ms": stages, "invoke_ms": invoke,
            "bare_run_ms": {k: v for k, v in bare.items() if v is not None},
            "faces": {name: int(frame.get("faces", 0)) for name, frame in frames.items()},
            "peak_rss_kb": answer["peak_rss_kb"]}
    return BenchResult(
        model=model, backend="adb", device=device, runtime="edgeface-native", compute_unit="cpu",
        precision=precision, profile=profile, threads=threads, **timing_summary(pooled("total")),
        peak_memory_mb=answer["peak_rss_kb"] / 1024.0,
        source=f"edgeface_bench (the native SDK: analyze + 1:N search per frame, stage by stage) on {device} "
               f"over adb, {threads} thread(s)",
        extra=info)


def _median(values: Any) -> Optional[float]:
    from statistics import median

    if not isinstance(values, list) or not values:
        return None
    return float(median(values))


# --------------------------------------------------------------------------- the run


def bench_sdk_adb(target: Target, binary: Optional[Path], litert_lib: Optional[Path], images: Sequence[Path],
                  gallery: Optional[Path] = None, threads: Sequence[int] = (1,), runs: int = 50, warmup: int = 5,
                  gallery_size: int = 10_000, serial: Optional[str] = None, profile: Optional[str] = None,
                  adb: Optional[Adb] = None, remote_dir: str = REMOTE_SDK_DIR) -> list[BenchResult]:
    """edgeface_bench on the connected phone, one fresh process per thread count; one
    BenchResult (role "sdk") each."""
    binary, core, litert_lib, images, gallery = sdk_files(binary, litert_lib, images, gallery)
    _check_target(target)
    if gallery is not None and target.bundle.manifest.embedder is None:
        raise BenchError(f"--gallery: {target.path} has no embedder, so nothing is searched: leave --gallery out")
    if any(n < 1 for n in threads) or runs < 1 or warmup < 0:
        raise BenchError("--threads must be >= 1, --runs >= 1 and --warmup >= 0")
    adb = adb or Adb(serial)
    device, info = phone_info(adb, serial)
    frames, searched = _push_files(adb, remote_dir, target, (binary, core, litert_lib), images, gallery, gallery_size)
    info.update(frames=[f["name"] for f in frames], gallery=None if gallery is None else str(gallery),
                gallery_size=gallery_size if searched and gallery is None else None)
    precision = "+".join(dict.fromkeys(entry.precision for entry in target.models))
    q = shlex.quote
    results = []
    for n in threads:
        request = json.dumps({"runs": runs, "warmup": warmup, "threads": n})
        argv = [f"./{BINARY_NAME}", "bundle", "frames/frames.json", *([REMOTE_GALLERY] if searched else [])]
        command = (f"cd {q(remote_dir)} && echo {q(request)} | LD_LIBRARY_PATH={q(remote_dir)} "
                   + " ".join(q(a) for a in argv))
        proc = adb.shell(command)
        output = proc.stdout + proc.stderr
        _raise_for_sdk_run(output, proc.returncode, device, command)
        try:
            answer = parse_bench_json(output)
        except ValueError as exc:
            raise BenchError(f"edgeface_bench's answer on {device} is not readable ({exc}): rerun by hand with "
                             f"adb shell {command!r}, and check --sdk-binary was built from this checkout") from None
        results.append(sdk_result(answer, model=f"{target.label}#{SDK_ROLE}", device=device, threads=n,
                                  precision=precision, profile=profile, extra={**info, "command": command}))
    return results


def _push_files(adb: Adb, remote_dir: str, target: Target, programs: tuple[Path, Path, Path], images: Sequence[Path],
                gallery: Optional[Path], gallery_size: int) -> tuple[list[dict[str, Any]], bool]:
    """A clean ``remote_dir`` holding the binary and its two libraries, the bundle, the
    frames and (for a bundle with an embedder) the gallery; returns the frames and whether
    a gallery is searched."""
    q = shlex.quote
    binary, core, litert_lib = programs
    embedder = target.bundle.manifest.embedder
    searched = embedder is not None and (gallery is not None or gallery_size > 0)
    with tempfile.TemporaryDirectory(prefix="edgeface-sdk-bench-") as tmp:
        scratch = Path(tmp)
        frames = write_frames(images, scratch / "frames")
        if searched and gallery is None:
            from edgeface.bench.host import random_gallery

            gallery = scratch / REMOTE_GALLERY
            random_gallery(embedder.embedding_size, gallery_size, gallery)
        adb.run("shell", f"rm -rf {q(remote_dir)} && mkdir -p {q(remote_dir)}")
        adb.push(binary, f"{remote_dir}/{BINARY_NAME}")
        adb.run("shell", f"chmod 755 {q(f'{remote_dir}/{BINARY_NAME}')}")
        adb.push(core, f"{remote_dir}/{CORE_LIBRARY}")
        adb.push(litert_lib, f"{remote_dir}/{LITERT_LIBRARY}")
        adb.push(bundle_folder(target, scratch), f"{remote_dir}/bundle")
        adb.push(scratch / "frames", f"{remote_dir}/frames")
        if searched:
            adb.push(gallery, f"{remote_dir}/{REMOTE_GALLERY}")
    return frames, searched


def _raise_for_sdk_run(output: str, returncode: int, device: str, command: str) -> None:
    """A failed edgeface_bench run as a BenchError that says what to fix."""
    low = output.lower()
    if returncode == 0 and REPLY in output:
        return
    error = first_error(output)
    said = next((line.strip() for line in output.splitlines() if line.strip().startswith(f"{BINARY_NAME}: ")), None)
    if said is not None:   # it ran, and refused something (the bundle, a frame, the gallery) in its own words
        raise BenchError(f"edgeface_bench failed on {device} ({said[:300]}): fix what it names, or rerun by hand "
                         f"with adb shell {command!r}")
    if "cannot link executable" in low or ("library" in low and "not found" in low):
        if LITERT_LIBRARY.lower() in low:
            fix = f"check --litert-lib: it must be {LITERT_HINT}"
        elif CORE_LIBRARY in low:
            fix = f"{CORE_LIBRARY} was not pushed beside the binary: rerun"
        else:
            fix = ("edgeface_bench needs a library the phone lacks: build it with the NDK's default static C++ "
                   "runtime (ANDROID_STL=c++_static) against the same libLiteRt.so as --litert-lib")
        raise BenchError(f"edgeface_bench cannot start on {device} ({error}): {fix}")
    if "exec format error" in low or "not executable" in low or "e_machine" in low or "syntax error" in low:
        raise BenchError(f"edgeface_bench does not run on {device} ({error}): --sdk-binary must be built for "
                         f"Android arm64; {android_build_hint()}")
    if "inaccessible or not found" in low or ("no such file" in low and BINARY_NAME in low):
        raise BenchError(f"edgeface_bench is not on {device} ({error}): the push failed or the folder was "
                         f"cleared; rerun")
    if "permission denied" in low:
        raise BenchError(f"edgeface_bench may not run on {device} ({error}): the phone refuses to execute "
                         f"files there; check that {REMOTE_SDK_DIR} is on /data/local/tmp")
    if returncode != 0:
        raise BenchError(f"edgeface_bench failed on {device} ({error}): rerun by hand with adb shell {command!r}")
