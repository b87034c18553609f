"""``edgeface bench --on adb --sdk-binary``: the whole SDK on a phone, stage by stage.

A fake ``adb`` on PATH plays the phone: ``push`` copies into a folder standing for its
storage, ``shell`` runs the command on this host in that folder (``/data/local/tmp`` mapped
into it), so the host build of ``edgeface_bench`` (native/build/release) really runs on a
real bundle with what edgeface pushed; ``benchmark_model`` is replayed from
tests/fixtures/benchmark_model as in tests/test_bench_adb.py. Modes make the phone fail the
ways a real one does (the LiteRT library missing, a binary for another CPU, a damaged
bundle, unreadable output).
"""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgeface.bench.result import BenchResult
from edgeface.bench.sdk_adb import bench_sdk_adb, parse_bench_json, sdk_files
from edgeface.bench.sdk_report import sdk_overhead
from edgeface.bench.target import BenchError, open_target
from edgeface.cli.app import app
from tests.fake_adb import put_fake_adb_on_path

FIXTURES = Path(__file__).parent / "fixtures" / "benchmark_model"
REMOTE_ROOT = "/data/local/tmp"
runner = CliRunner()

# After the shared prelude: one phone whose storage is $FAKE_PHONE_ROOT; shell commands run there.
FAKE_ADB = r'''
root = Path(os.environ["FAKE_PHONE_ROOT"])
if args[:1] == ["-s"]:
    args = args[2:]

def local(remote):
    return root / remote.lstrip("/")

cmd = args[0]
if cmd == "get-state":
    print("device"); sys.exit(0)
if cmd == "push":
    source, target = Path(args[1]), local(args[2])
    if target.is_dir():
        target = target / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
    if mode == "damage_bundle" and target.name == "bundle":
        (target / "manifest.json").write_text("{{ not json")
    print(f"{{args[1]}}: 1 file pushed, 0 skipped."); sys.exit(0)
if cmd == "shell":
    command = " ".join(args[1:])
    answer_getprop(command)
    if "benchmark_model" in command and "--graph=" in command:
        sys.stdout.write((Path(os.environ["FAKE_ADB_FIXTURES"]) / "cpu.txt").read_text()); sys.exit(0)
    if "./edgeface_bench" in command:
        if mode == "no_litert":
            print('CANNOT LINK EXECUTABLE "./edgeface_bench": library "libLiteRt.so" not found: needed by main '
                  'executable'); sys.exit(1)
        if mode == "wrong_arch":
            print("/system/bin/sh: ./edgeface_bench: not executable: 64-bit ELF file"); sys.exit(126)
        if mode == "malformed":
            print('bench-json: {{"cases": {{}}, "stages": '); sys.exit(0)
    proc = subprocess.run(["sh", "-c", command.replace("{remote}", str(root) + "{remote}")],
                          capture_output=True, text=True)
    sys.stdout.write(proc.stdout); sys.stderr.write(proc.stderr); sys.exit(proc.returncode)
sys.stderr.write(f"fake adb: unexpected {{args}}\n"); sys.exit(2)
'''


@pytest.fixture
def phone(tmp_path, monkeypatch):
    """A fake adb first on PATH over a phone folder; returns a helper with its log and modes."""
    phone = put_fake_adb_on_path(tmp_path, monkeypatch, FAKE_ADB, remote=REMOTE_ROOT)
    root = tmp_path / "phone"
    root.mkdir()
    monkeypatch.setenv("FAKE_ADB_FIXTURES", str(FIXTURES))
    monkeypatch.setenv("FAKE_PHONE_ROOT", str(root))
    phone.folder = root / "data/local/tmp/edgeface/sdk"
    phone.sdk_runs = lambda: phone.shell_commands("./edgeface_bench")
    return phone


@pytest.fixture
def stand_ins(tmp_path):
    """Files that pass the local checks (a binary with libedgeface.so beside it, a
    libLiteRt.so, an image) for the runs the fake phone answers without running them."""
    folder = tmp_path / "android"
    folder.mkdir()
    for name in ("edgeface_bench", "libedgeface.so", "libLiteRt.so"):
        (folder / name).write_bytes(b"\x7fELF stand-in")
    from PIL import Image

    Image.fromarray(np.full((48, 64, 3), 90, np.uint8)).save(folder / "face.png")
    return {"binary": folder / "edgeface_bench", "litert": folder / "libLiteRt.so", "image": folder / "face.png"}


@pytest.fixture(scope="module")
def host_build():
    """The host build of edgeface_bench and libLiteRt.so it was linked against."""
    from tests.native_support import build_trees

    release = build_trees()["release"]
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
    import native_build

    return release / "tools" / "edgeface_bench", native_build.litert_library(sys.executable)


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory):
    from PIL import Image
    from skimage import data

    path = tmp_path_factory.mktemp("faces") / "astronaut.png"
    Image.fromarray(data.astronaut()).save(path)
    return path


# ----------------------------------------------------------------------------- a real run


def test_whole_sdk_on_the_phone_next_to_benchmark_model(phone, host_build, default_bundle, astronaut, tmp_path):
    binary, litert = host_build
    result = runner.invoke(app, [
        "bench", str(default_bundle), "--on", "adb", "--benchmark-binary", str(FIXTURES / "cpu.txt"),
        "--sdk-binary", str(binary), "--litert-lib", str(litert), "--images", str(astronaut),
        "--profile", "galaxy-s24", "--threads", "1,2", "--runs", "4", "--warmup", "1", "--gallery-size", "200",
        "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)

    sdk = [r for r in doc["results"] if r["extra"]["role"] == "sdk"]
    assert [r["threads"] for r in sdk] == [1, 2]
    for r in sdk:
        assert (r["backend"], r["device"], r["runtime"], r["profile"]) == (
            "adb", "samsung SM-S921B", "edgeface-native", "galaxy-s24")
        assert r["runs"] == 4 and r["peak_memory_mb"] > 10
        stages = r["extra"]["stages_ms"]
        assert list(stages) == ["preprocess", "detect", "align", "embed", "search"]
        assert all(v > 0 for v in stages.values())
        assert sum(stages.values()) <= r["inference_avg_ms"] * 1.05
        assert r["extra"]["faces"] == {"astronaut.png": 1}
        assert 0 < r["extra"]["invoke_ms"]["detector"] <= stages["detect"]
        assert 0 < r["extra"]["invoke_ms"]["embedder"] <= stages["embed"]
        assert r["extra"]["gallery_size"] == 200

    # the per-profile overhead, next to benchmark_model's model-only figures of the same run
    rows = doc["sdk_overhead"]
    assert [(row["profile"], row["threads"]) for row in rows] == [("galaxy-s24", 1), ("galaxy-s24", 2)]
    for row, r in zip(rows, sdk):
        model = r["extra"]["invoke_ms"]["detector"] + r["extra"]["invoke_ms"]["embedder"]
        assert row["model_ms"] == pytest.approx(model)
        assert row["overhead_ms"] == pytest.approx(r["inference_avg_ms"] - model)
        assert row["overhead_ratio"] == pytest.approx(row["overhead_ms"] / model)
        assert row["benchmark_model_ms"] == pytest.approx(2 * 0.48553)  # detector + 1 face x embedder (cpu.txt)
    models = [r for r in doc["results"] if r["extra"]["role"] in ("detector", "embedder")]
    assert {r["runtime"] for r in models} == {"tflite"}
    assert all(c["backend"] == "adb" for c in doc["budgets"])   # budgets still from the models

    # what went to the phone, and how it was run
    pushed = {Path(c[2]).name for c in phone.calls() if c[0] == "push"}
    assert {"edgeface_bench", "libedgeface.so", "libLiteRt.so", "bundle", "frames", "gallery.efg"} <= pushed
    assert (phone.folder / "frames" / "frame0.rgb").stat().st_size == 512 * 512 * 3
    assert json.loads((phone.folder / "frames" / "frames.json").read_text())[0]["file"] == "frames/frame0.rgb"
    runs = phone.sdk_runs()
    assert len(runs) == 2 and all("LD_LIBRARY_PATH=/data/local/tmp/edgeface/sdk" in c for c in runs)
    assert '"threads": 2' in runs[1] and "gallery.efg" in runs[1]

    text = runner.invoke(app, [
        "bench", str(default_bundle), "--on", "adb", "--sdk-binary", str(binary), "--litert-lib", str(litert),
        "--images", str(astronaut.parent), "--profile", "galaxy-s24", "--runs", "2", "--warmup", "0",
        "--gallery-size", "0", "--report", str(tmp_path / "report")], env={"COLUMNS": "250"})
    assert text.exit_code == 0, text.output
    assert "SDK overhead" in text.stdout and "overhead / model" in text.stdout and "galaxy-s24" in text.stdout
    markdown = (tmp_path / "report" / "bench.md").read_text()
    assert "## The whole SDK next to the models" in markdown and "overhead / model" in markdown
    report = json.loads((tmp_path / "report" / "bench.json").read_text())
    (row,) = report["sdk_overhead"]
    assert row["benchmark_model_ms"] is None and "search" not in row["stages_ms"]


def test_a_bundle_the_phone_cannot_read_is_a_clear_error(phone, host_build, fixture_bundle, stand_ins):
    binary, litert = host_build
    phone.mode("damage_bundle")
    with pytest.raises(BenchError, match=r"edgeface_bench failed on samsung SM-S921B \(edgeface_bench: .*manifest"):
        bench_sdk_adb(open_target(fixture_bundle("blob_blazeface")), binary, litert, [stand_ins["image"]],
                      runs=1, warmup=0, gallery_size=10)


# ----------------------------------------------------------------------------- errors


def test_without_sdk_binary_the_run_says_how_to_build_it(phone, fixture_bundle):
    result = runner.invoke(app, ["bench", str(fixture_bundle("blob_blazeface")), "--on", "adb",
                                 "--benchmark-binary", str(FIXTURES / "cpu.txt"), "--gallery-size", "10",
                                 "--runs", "2", "--json"])
    assert result.exit_code == 0, result.output
    assert "sdk_overhead" not in json.loads(result.stdout)
    assert "note: only the models were timed (benchmark_model)" in result.output
    for part in ("cmake -S native -B native/build/android-arm64",
                 "-DCMAKE_TOOLCHAIN_FILE=$ANDROID_NDK/build/cmake/android.toolchain.cmake",
                 "-DANDROID_ABI=arm64-v8a", "-DANDROID_PLATFORM=android-26", "-DEDGEFACE_LITERT_LIBRARY=",
                 "-DEDGEFACE_JSON_INCLUDE_DIR=", "--target edgeface_bench"):
        assert part in result.output


@pytest.mark.parametrize("args, message", [
    (["--images", "x.png"], "need --sdk-binary PATH: build edgeface_bench for Android arm64 with the NDK"),
    (["--sdk-binary", "missing"], "--sdk-binary missing: no such file: build edgeface_bench"),
    (["--sdk-binary", "{binary}"], "--sdk-binary needs --litert-lib PATH: libLiteRt.so built for Android arm64"),
    (["--sdk-binary", "{binary}", "--litert-lib", "nope.so"], "--litert-lib nope.so: no such file"),
    (["--sdk-binary", "{binary}", "--litert-lib", "{litert}"], "--sdk-binary needs --images FILE_OR_DIR"),
    (["--sdk-binary", "{binary}", "--litert-lib", "{litert}", "--images", "{image}", "--gallery", "g.efg"],
     "--gallery g.efg: no such file"),
])
def test_option_errors_before_anything_is_pushed(phone, fixture_bundle, stand_ins, args, message):
    args = [a.format(**stand_ins) for a in args]
    result = runner.invoke(app, ["bench", str(fixture_bundle("blob_blazeface")), "--on", "adb", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert phone.calls() == []


def test_libedgeface_must_come_with_the_binary(phone, stand_ins):
    (stand_ins["binary"].parent / "libedgeface.so").unlink()
    with pytest.raises(BenchError, match=r"no libedgeface.so beside it or in its build tree"):
        sdk_files(stand_ins["binary"], stand_ins["litert"], [stand_ins["image"]], None)


def test_sdk_options_belong_to_adb(fixture_bundle, stand_ins):
    result = runner.invoke(app, ["bench", str(fixture_bundle("blob_blazeface")), "--on", "host",
                                 "--sdk-binary", str(stand_ins["binary"])])
    assert result.exit_code == 2
    assert "--sdk-binary is for --on adb only" in result.output


def test_what_the_sdk_cannot_time(phone, fixture_bundle, stand_ins, tmp_path):
    files = (stand_ins["binary"], stand_ins["litert"], [stand_ins["image"]])
    with pytest.raises(BenchError, match="is a lone model: give a bundle"):
        bench_sdk_adb(open_target(fixture_bundle("blob_detector_only") / "detector.tflite"), *files)
    with pytest.raises(BenchError, match=r"the native core \(--sdk-binary\) runs .tflite models and this one is onnx"):
        bench_sdk_adb(open_target(fixture_bundle("blob_scrfd_onnx")), *files)
    (tmp_path / "some.efg").write_bytes(b"x")
    with pytest.raises(BenchError, match="--gallery: .* has no embedder, so nothing is searched"):
        bench_sdk_adb(open_target(fixture_bundle("blob_detector_only")), *files, gallery=tmp_path / "some.efg")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError, match="no images in this folder"):
        bench_sdk_adb(open_target(fixture_bundle("blob_blazeface")), *files[:2], [tmp_path / "empty"])
    assert phone.calls() == []


@pytest.mark.parametrize("mode, message", [
    ("no_litert", r"edgeface_bench cannot start on samsung SM-S921B \(CANNOT LINK.*libLiteRt.so.*\): check "
                  r"--litert-lib"),
    ("wrong_arch", r"edgeface_bench does not run on samsung SM-S921B .*--sdk-binary must be built for Android "
                   r"arm64; build edgeface_bench for Android arm64 with the NDK"),
    ("malformed", r"edgeface_bench's answer on samsung SM-S921B is not readable \(the 'bench-json:' line is not "
                  r"JSON"),
])
def test_phone_failures_are_one_line_with_the_fix(phone, fixture_bundle, stand_ins, mode, message):
    phone.mode(mode)
    result = runner.invoke(app, ["bench", str(fixture_bundle("blob_blazeface")), "--on", "adb",
                                 "--sdk-binary", str(stand_ins["binary"]), "--litert-lib", str(stand_ins["litert"]),
                                 "--images", str(stand_ins["image"]), "--gallery-size", "10"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    import re

    assert re.search(message, " ".join(result.output.split())), result.output


# ----------------------------------------------------------------------------- parsing and the overhead


def test_parse_bench_json_refuses_what_is_not_an_answer():
    good = {"cases": {}, "stages": {"a": {"faces": 1, "ms": {"total": [1.0], "detect": [0.5]}}}, "peak_rss_kb": 10}
    assert parse_bench_json("INFO: XNNPACK\nbench-json: " + json.dumps(good) + "\n") == good
    for text, why in [("nothing here", "no 'bench-json:' line"),
                      ("bench-json: [1, 2", "not JSON"),
                      ("bench-json: " + json.dumps({"cases": {}, "peak_rss_kb": 1}), "no per-frame 'stages'"),
                      ("bench-json: " + json.dumps({**good, "stages": {"a": {"ms": {"total": "x"}}}}),
                       "lacks per-call millisecond lists")]:
        with pytest.raises(ValueError, match=why):
            parse_bench_json(text)


def _sdk(threads, frame_ms, invoke, faces=1, profile="pixel-8"):
    return BenchResult(model="b#sdk", backend="adb", device="Pixel 8", runtime="edgeface-native", threads=threads,
                       profile=profile, inference_avg_ms=frame_ms, median_ms=frame_ms,
                       extra={"role": "sdk", "invoke_ms": invoke, "faces": {"f": faces},
                              "stages_ms": {"preprocess": 0.1}})


def _model(role, threads, ms):
    return BenchResult(model=f"b#{role}", backend="adb", device="Pixel 8", runtime="tflite", threads=threads,
                       profile="pixel-8", inference_avg_ms=ms, extra={"role": role})


def test_overhead_is_the_frame_minus_the_models_and_a_ratio_of_them():
    results = [_model("detector", 1, 1.0), _model("embedder", 1, 2.0), _model("detector", 4, 0.5),
               _sdk(1, 5.0, {"detector": 1.2, "embedder": 2.8}, faces=2), _sdk(4, 3.0, {"detector": 1.0})]
    one, four = sdk_overhead(results)
    assert (one["profile"], one["threads"], one["frame_ms"], one["model_ms"]) == ("pixel-8", 1, 5.0, 4.0)
    assert one["overhead_ms"] == pytest.approx(1.0) and one["overhead_ratio"] == pytest.approx(0.25)
    assert one["benchmark_model_ms"] == pytest.approx(1.0 + 2 * 2.0)
    assert four["overhead_ms"] == pytest.approx(2.0) and four["overhead_ratio"] == pytest.approx(2.0)
    assert four["benchmark_model_ms"] == pytest.approx(0.5)   # a detector-only frame
    assert sdk_overhead([_model("detector", 1, 1.0)]) == []
