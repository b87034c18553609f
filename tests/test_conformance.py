"""The manifest contract every runtime shares: the Python loader passes the conformance set
(tests/conformance/index.json: each valid manifest loads, each invalid one is refused with
its error category at its field path), and docs/bundle.schema.json agrees with both the
set and the Python specs (fields, required fields, ranges)."""

import copy
import json
from pathlib import Path

import jsonschema
import pytest

from edgeface import bundle as B
from edgeface.errors import ManifestError

ROOT = Path(__file__).resolve().parent.parent
CONFORMANCE = ROOT / "tests" / "conformance"
INDEX = json.loads((CONFORMANCE / "index.json").read_text())
SCHEMA = json.loads((ROOT / "docs" / "bundle.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
ERRORS = {"ManifestError": ManifestError}


def load(entry):
    return json.loads((CONFORMANCE / entry["manifest"]).read_text())


def case_id(entry):
    return entry["manifest"]


@pytest.mark.parametrize("entry", INDEX["valid"], ids=case_id)
def test_the_loader_accepts_every_valid_manifest_and_writes_it_back(entry):
    parsed = B.parse_manifest(load(entry))
    assert B.parse_manifest(json.loads(json.dumps(parsed.to_dict()))) == parsed


@pytest.mark.parametrize("entry", INDEX["invalid"], ids=case_id)
def test_the_loader_refuses_every_invalid_manifest_at_its_field(entry):
    with pytest.raises(ERRORS[entry["error"]]) as caught:
        B.parse_manifest(load(entry))
    assert f"manifest.{entry['field']}:" in str(caught.value)


def test_the_conformance_set_is_what_its_script_makes(tmp_path):
    """tests/conformance is generated (scripts/make_conformance.py): a hand edit would drift."""
    import shutil
    import subprocess
    import sys

    copy_root = tmp_path / "repo"
    for part in ("scripts/make_conformance.py", "tests/fixtures/bundles/blob_blazeface/manifest.json",
                 "tests/fixtures/bundles/blob_scrfd_onnx/manifest.json"):
        (copy_root / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / part, copy_root / part)
    subprocess.run([sys.executable, str(copy_root / "scripts/make_conformance.py")], check=True, timeout=60)
    made = copy_root / "tests" / "conformance"
    names = sorted(p.relative_to(made).as_posix() for p in made.rglob("*.json"))
    assert names == sorted(p.relative_to(CONFORMANCE).as_posix() for p in CONFORMANCE.rglob("*.json"))
    for name in names:
        assert (made / name).read_text() == (CONFORMANCE / name).read_text(), name


# ------------------------------------------------------------------ the JSON Schema

def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("entry", INDEX["valid"], ids=case_id)
def test_the_schema_accepts_every_valid_manifest(entry):
    VALIDATOR.validate(load(entry))


@pytest.mark.parametrize("entry", [e for e in INDEX["invalid"] if e.get("schema", True)], ids=case_id)
def test_the_schema_refuses_every_invalid_manifest_it_can_express(entry):
    assert not VALIDATOR.is_valid(load(entry))


@pytest.mark.parametrize("name", ["blob_blazeface", "blob_blazeface_int8", "blob_detector_only", "blob_scrfd_onnx"])
def test_the_schema_accepts_every_fixture_bundle(name):
    VALIDATOR.validate(json.loads((ROOT / "tests" / "fixtures" / "bundles" / name / "manifest.json").read_text()))


DEFS = SCHEMA["$defs"]
# (where in a manifest, the spec class, the schema's properties and required fields there)
PLACES = [
    ("", B.Manifest, SCHEMA),
    ("models.detector", B.DetectorSpec, (DEFS["model"], DEFS["detector"])),
    ("models.detector.input", B.InputSpec, DEFS["input"]),
    ("models.detector.targets.SM8650", B.TargetSpec, DEFS["target"]),
    ("models.embedder", B.EmbedderSpec, (DEFS["model"], DEFS["embedder"])),
    ("models.embedder.alignment", B.AlignmentSpec, DEFS["alignment"]),
]


def full_manifest() -> dict:
    """A valid manifest with every optional field set."""
    data = load({"manifest": "valid/preset_and_far.json"})
    data["models"]["detector"]["targets"] = load({"manifest": "valid/targets.json"})["models"]["detector"]["targets"]
    return data


def node(data: dict, where: str) -> dict:
    for key in filter(None, where.split(".")):
        data = data[key]
    return data


def schema_part(part, what: str) -> set:
    parts = part if isinstance(part, tuple) else (part,)
    if what == "properties":
        return {key for p in parts for key in p.get("properties", {})}
    return {key for p in parts for key in p.get("required", [])}


@pytest.mark.parametrize("where, spec, part", PLACES, ids=[p[1].__name__ for p in PLACES])
def test_the_schema_names_the_fields_each_spec_reads(where, spec, part):
    assert schema_part(part, "properties") == set(spec.KEYS)


@pytest.mark.parametrize("where, spec, part", PLACES, ids=[p[1].__name__ for p in PLACES])
def test_the_schema_requires_what_the_loader_requires(where, spec, part):
    """A key is required by the Python loader when the manifest without it is refused."""
    full = full_manifest()
    B.parse_manifest(full)
    required = set()
    for key in node(full, where):
        data = copy.deepcopy(full)
        del node(data, where)[key]
        try:
            B.parse_manifest(data)
        except ManifestError:
            required.add(key)
    assert schema_part(part, "required") == required


def test_the_schema_has_the_loaders_limits():
    inp, det, emb = DEFS["input"]["properties"], DEFS["detector"]["properties"], DEFS["embedder"]["properties"]
    assert inp["height"]["maximum"] == inp["width"]["maximum"] == B.MAX_INPUT_SIDE
    assert (inp["mean"]["items"]["minimum"], inp["mean"]["items"]["maximum"]) == B.MEAN_RANGE
    assert (inp["std"]["items"]["minimum"], inp["std"]["items"]["maximum"]) == B.STD_RANGE
    assert DEFS["alignment"]["properties"]["template"]["maxProperties"] == B.MAX_TEMPLATE_POINTS
    assert emb["embedding_size"]["maximum"] == B.MAX_EMBEDDING_SIZE
    assert det["max_faces"]["maximum"] == B.MAX_FACES
    assert tuple(DEFS["model"]["properties"]["format"]["enum"]) == B.MODEL_FORMATS
    assert tuple(DEFS["target"]["properties"]["accelerator"]["enum"]) == B.ACCELERATORS
    assert SCHEMA["properties"]["schema_version"]["const"] == B.SCHEMA_VERSION
