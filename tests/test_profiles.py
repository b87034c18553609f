"""Device profiles: the shipped files follow the schema, agree with socs.yaml and the
published device list, the host profile is generated, the CLI shows them, and the
calibration script turns a small copy of the published files into calibration.json."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edgeface.bench.profiles import (DEFAULT_BUDGETS_MS, USE_CASES, ProfileError, UnknownProfileError,
                                     list_profiles, load_profile, parse_profile)

ROOT = Path(__file__).resolve().parents[1]
PROFILES = ROOT / "device_profiles"

# The devices issue 5 asks for, by profile id.
REQUIRED = {"galaxy-s22", "galaxy-s23", "galaxy-s24", "galaxy-s25", "snapdragon-8-elite-qrd",
            "snapdragon-7-gen-4-qrd", "vivo-v60", "pixel-8", "rb3-gen2", "x-elite-crd", "host"}


def _doc(**changes):
    doc = yaml.safe_load((PROFILES / "galaxy-s24.yaml").read_text())
    doc.update(changes)
    return doc


def test_required_devices_are_profiled():
    ids = {p.id for p in list_profiles()}
    assert REQUIRED <= ids


def test_every_profile_has_budgets_and_sources():
    for p in list_profiles():
        assert set(p.budgets) == set(USE_CASES), p.id
        assert all(ms > 0 for ms in p.budgets.values())
        assert p.cpu_cores >= 1 and p.big_cluster.ghz > 0
        for field in ("chipset", "cpu_clusters", "budgets_ms"):
            assert p.sources.get(field), f"{p.id}: no source for {field}"
        if p.ram_gb is not None:
            assert p.sources.get("ram_gb")


def test_soc_numbers_come_from_socs_yaml():
    s24 = load_profile("galaxy-s24")
    assert (s24.soc.part, s24.htp_arch, s24.soc_model, s24.hexagon) == ("SM8650", 75, 57, "v75")
    assert "hexagon:v75" in s24.hub_attributes and "soc-model:57" in s24.hub_attributes
    assert "chipset:qualcomm-snapdragon-8gen3" in s24.hub_attributes
    assert load_profile("galaxy-s22").hexagon == "v69"
    assert load_profile("galaxy-s25").hexagon == "v79"
    assert load_profile("rb3-gen2").hexagon == "v68"
    pixel = load_profile("pixel-8")
    assert pixel.soc is None and "npu" not in pixel.compute_units and pixel.htp_arch is None
    # the YAML files never repeat what socs.yaml holds
    for path in PROFILES.glob("*.yaml"):
        if path.name != "socs.yaml":
            text = path.read_text()
            assert "htp_arch" not in text and "soc_model:" not in text, path.name


def test_hub_devices_and_calibration_devices_are_published():
    published = json.loads((PROFILES / "calibration.json").read_text())
    devices = {d["name"]: d for d in published["devices"]}
    for p in list_profiles(include_host=False):
        if p.hub_device and p.id != "snapdragon-8-elite-qrd":   # retired from AI Hub's 0.65 list
            assert p.hub_device in devices, p.id
            assert devices[p.hub_device]["chipset"] == p.soc.chipset, p.id
        if p.calibration_device:
            device = devices[p.calibration_device]
            assert device["reference_chipset"] is None, f"{p.id}: calibrates on a copied device"
            assert device["htp_arch"] == p.htp_arch, p.id


def test_load_profile_by_id_name_hub_name_and_file(tmp_path):
    assert load_profile("galaxy-s24").id == "galaxy-s24"
    assert load_profile("Samsung Galaxy S24").id == "galaxy-s24"
    assert load_profile("Samsung Galaxy S22 5G").id == "galaxy-s22"
    assert load_profile("GALAXY_S25").id == "galaxy-s25"
    own = tmp_path / "my-phone.yaml"
    own.write_text(yaml.safe_dump(_doc(id="my-phone", name="My phone")))
    assert load_profile(str(own)).name == "My phone"
    with pytest.raises(UnknownProfileError, match="galaxy-s24"):
        load_profile("galaxy-s99")


def test_host_profile_is_generated():
    host = load_profile("host")
    assert host.kind == "host" and host.compute_units == ("cpu",)
    assert host.cpu_cores >= 1 and host.cpu_clusters[0].ghz > 0
    assert host.budgets == DEFAULT_BUDGETS_MS
    assert host.sources["cpu_clusters"]


@pytest.mark.parametrize("change, field", [
    ({"kind": "tablet"}, "kind"),
    ({"soc": "SM9999"}, "soc"),
    ({"cpu_clusters": [{"core": "X4", "count": 0, "ghz": 3}]}, "cpu_clusters[0].count"),
    ({"budgets_ms": {"face_unlock": 100, "ar_camera": 33.3}}, "budgets_ms"),
    ({"budgets_ms": {"face_unlock": -1, "ar_camera": 33.3, "gallery_identify": 1}}, "budgets_ms.face_unlock"),
    ({"compute_units": ["cpu", "tpu"]}, "compute_units"),
    ({"hub_attributes": ["hexagon:v75"]}, "hub_attributes"),
    ({"colour": "blue"}, "colour"),
    ({"id": "Galaxy S24"}, "id"),
    ({"ram_gb": "eight"}, "ram_gb"),
    ({"ram_gb": float("nan")}, "ram_gb"),
    ({"budgets_ms": {"face_unlock": float("inf"), "ar_camera": 33.3, "gallery_identify": 1}}, "budgets_ms.face_unlock"),
    ({"budgets_ms": {"face_unlock": float("nan"), "ar_camera": 33.3, "gallery_identify": 1}}, "budgets_ms.face_unlock"),
    ({"cpu_clusters": [{"core": "X4", "count": True, "ghz": 3}]}, "cpu_clusters[0].count"),
    ({"cpu_clusters": [{"core": "X4", "count": 10**12, "ghz": 3}]}, "cpu_clusters[0].count"),
])
def test_schema_errors_name_the_field(change, field):
    with pytest.raises(ProfileError, match=re.escape(f"x.yaml: field '{field}'")) as info:
        parse_profile(_doc(**change), "x.yaml")
    assert "docs/profiles.md" in str(info.value)


def test_odd_keys_and_huge_values_give_a_short_error():
    doc = {**_doc(), 7: "x", "k" * 10_000: "y"}  # keys of mixed types could not even be sorted
    with pytest.raises(ProfileError) as info:
        parse_profile(doc, "x.yaml")
    assert "is not part of the profile schema" in str(info.value) and len(str(info.value)) < 300
    with pytest.raises(ProfileError) as info:
        parse_profile(_doc(kind="k" * 100_000), "x.yaml")
    assert len(str(info.value)) < 300


def test_the_documented_schema_is_the_profile_document():
    """docs/profiles.md's schema block lists exactly the fields parse_profile reads, each of
    which carries its help (edgeface.configfields)."""
    import dataclasses

    from edgeface.bench.profiles import ProfileDocument

    text = (Path(__file__).resolve().parents[1] / "docs" / "profiles.md").read_text()
    block = text.split("## Schema (version 1)", 1)[1].split("```", 2)[1]
    documented = {m.group(1) for m in re.finditer(r"^([a-z_]+):", block, re.MULTILINE)}
    fields = dataclasses.fields(ProfileDocument)
    assert documented == {f.name for f in fields}
    assert all(f.metadata["doc"] for f in fields)


def test_every_figure_needs_a_source():
    doc = _doc()
    del doc["sources"]["ram_gb"]
    with pytest.raises(ProfileError, match="'ram_gb'"):
        parse_profile(doc, "x.yaml")


def test_npu_needs_a_qualcomm_soc():
    with pytest.raises(ProfileError, match="compute_units"):
        parse_profile(_doc(soc=None), "x.yaml")


def test_cli_list_and_show(tmp_path):
    from typer.testing import CliRunner

    from edgeface.cli.app import app

    runner = CliRunner()
    result = runner.invoke(app, ["profiles", "list", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert REQUIRED <= {r["id"] for r in rows}
    s24 = next(r for r in rows if r["id"] == "galaxy-s24")
    assert s24["hexagon"] == "v75" and s24["budgets_ms"]["ar_camera"] == 33.3
    result = runner.invoke(app, ["profiles", "show", "rb3-gen2", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["soc"] == "QCS6490"
    result = runner.invoke(app, ["profiles", "show", "galaxy-s24"])
    assert result.exit_code == 0 and "SM8650" in result.output
    result = runner.invoke(app, ["profiles", "show", "nope"])
    assert result.exit_code == 2 and "unknown device profile" in result.output


# ----------------------------------------------------------------------------- calibration script

CHIPSETS = {
    "chipsets": {
        "qualcomm-snapdragon-8gen3": {"aliases": ["qualcomm-snapdragon-8gen3", "sm8650"], "htp_version": 75,
                                      "marketing_name": "Snapdragon® 8 Gen 3 Mobile", "soc_model": 57,
                                      "supports_fp16": True},
        "qualcomm-qcs6490": {"aliases": ["qualcomm-qcs6490", "qcs6490"], "htp_version": 68,
                             "marketing_name": "Qualcomm® Dragonwing™ QCS6490", "soc_model": 93},
    },
    "devices": {
        "Samsung Galaxy S24": {"chipset": "qualcomm-snapdragon-8gen3", "form_factor": "Phone",
                               "os": {"ostype": "Android", "version": "14"}},
        "Dragonwing RB3 Gen 2 Vision Kit": {"chipset": "qualcomm-qcs6490", "form_factor": "IoT",
                                            "os": {"ostype": "Qualcomm Linux", "version": "1.6"}},
    },
}


def _metrics(ms, npu=10, cpu=0, status="Passed"):
    return {"estimated_peak_memory_range_mb": {"min": 1, "max": 5}, "inference_time_milliseconds": ms,
            "job_status": status, "layer_counts": {"npu": npu, "cpu": cpu, "total": npu + cpu},
            "primary_compute_unit": "NPU" if npu >= cpu else "CPU"}


def _published(folder: Path) -> None:
    base = folder / "qai_hub_models"
    (base / "models" / "face_a").mkdir(parents=True)
    (base / "models" / "face_b").mkdir(parents=True)
    (base / "devices_and_chipsets.yaml").write_text(yaml.safe_dump(CHIPSETS, allow_unicode=True))
    perf_a = {"precisions": {"float": {"components": {"Face-A": {"performance_metrics": {
        "Samsung Galaxy S24": {"tflite": _metrics(0.5), "qnn_dlc": _metrics(0.45),
                               "genie": _metrics(9.0)},                       # not a one-graph runtime
        "Dragonwing RB3 Gen 2 Vision Kit": {"tflite": _metrics(2.0, npu=0, cpu=10),
                                            "onnx": _metrics(None, status="Failed")}}}}}}}
    perf_b = {"precisions": {"w8a8": {"components": {"Detector": {"performance_metrics": {
        "Samsung Galaxy S24": {"tflite": _metrics(0.2)}}}}}}}
    (base / "models" / "face_a" / "perf.yaml").write_text(yaml.safe_dump(perf_a))
    (base / "models" / "face_b" / "perf.yaml").write_text(yaml.safe_dump(perf_b))


def test_calibration_script_on_a_fixture_copy(tmp_path):
    _published(tmp_path / "wheel")
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "import_qai_hub_models.py"),
                             "--from-dir", str(tmp_path / "wheel"), "--version", "9.9.9", "--out", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    socs = yaml.safe_load((out / "socs.yaml").read_text())
    assert socs["socs"]["SM8650"]["htp_arch"] == 75 and socs["source"]["version"] == "9.9.9"
    cal = json.loads((out / "calibration.json").read_text())
    assert cal["source"]["package"] == "qai-hub-models" and cal["source"]["version"] == "9.9.9"
    assert cal["models"] == ["face_a/Face-A", "face_b/Detector"]
    rows = [dict(zip(cal["columns"], r)) for r in cal["rows"]]
    assert len(rows) == 4            # genie and the failed onnx job are left out
    devices = [d["name"] for d in cal["devices"]]
    rb3 = next(r for r in rows if devices[r["device"]] == "Dragonwing RB3 Gen 2 Vision Kit")
    assert (rb3["ms"], rb3["cpu_layers"], rb3["primary"], rb3["mem_max_mb"]) == (2.0, 10, "cpu", 5)
    assert {d["name"]: d["htp_arch"] for d in cal["devices"]}["Samsung Galaxy S24"] == 75


def test_shipped_calibration_records_its_source():
    cal = json.loads((PROFILES / "calibration.json").read_text())
    assert cal["source"]["package"] == "qai-hub-models" and cal["source"]["version"] == "0.65.0"
    assert cal["source"]["measurements"] == len(cal["rows"]) > 10000
    socs = yaml.safe_load((PROFILES / "socs.yaml").read_text())
    assert socs["source"]["version"] == cal["source"]["version"]
