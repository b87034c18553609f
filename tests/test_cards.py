"""The model cards: every card complete and consistent with the model it builds, and the
manifests built from the cards' presets identical to what main wrote before the cards
(tests/fixtures/presets_2b2f7a2.json, computed from commit 2b2f7a2's presets)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from edgeface.bundle import InputSpec
from edgeface.cards import (KINDS, CombinedCard, ModelCard, all_cards, get_card, get_pretrained_card,
                            pretrained_cards, register_card)
from edgeface.cards.presets import ARCFACE_TEMPLATE, PRESETS, detector_entry
from edgeface.decoders import OutputInfo, parse_decoder
from edgeface.errors import EdgefaceError
from edgeface.schema import Fields

FIXTURE = Path(__file__).parent / "fixtures" / "presets_2b2f7a2.json"
CARDS = sorted(all_cards())


@pytest.mark.parametrize("name", CARDS)
def test_every_card_is_complete(name):
    card = get_card(name)
    assert card.name == name and card.kind in KINDS
    assert card.description and card.calibration and card.evaluation
    assert card.builder.count(":") == 1 and card.builder.startswith("edgeface.models.")
    assert card.keypoint_names and len(set(card.keypoint_names)) == len(card.keypoint_names)
    # the input fields are a valid manifest input at the card's size
    InputSpec.parse(Fields({**card.input_fields(), "layout": "NHWC", "dtype": "float32", "channel_order": "RGB"},
                           f"cards.{name}.input"))
    if card.kind == "detector":
        assert card.preset in PRESETS and not card.alignment_template
        assert PRESETS[card.preset]["input"] == card.input_fields()
    else:
        assert card.preset is None
        assert set(card.alignment_template) == set(card.keypoint_names)


@pytest.mark.parametrize("name", [n for n in CARDS if get_card(n).kind == "detector"])
def test_detector_preset_parses_and_matches_the_embedders_template(name):
    card = get_card(name)
    preset = PRESETS[card.preset]
    coords = 4 + 2 * preset["decoder"]["num_keypoints"]
    fields = {**preset["decoder"], "outputs": {"boxes": 0, "scores": 1}}
    decoder = parse_decoder(Fields(fields, f"cards.{name}.decoder"), card.input_size, card.input_size)
    decoder.bind([OutputInfo("boxes", (1, 896, coords)), OutputInfo("scores", (1, 896, 1))])
    assert decoder.num_keypoints == len(card.keypoint_names) == len(preset["keypoint_names"])
    assert list(card.keypoint_names) == preset["keypoint_names"]
    # a detector edgeface trains finds every point the embedders' alignment template needs
    for embedder in (n for n in CARDS if get_card(n).kind == "embedder"):
        assert set(get_card(embedder).alignment_template) <= set(card.keypoint_names)


@pytest.mark.slow
@pytest.mark.parametrize("name", CARDS)
def test_builder_output_matches_the_card(name):
    pytest.importorskip("tensorflow")
    from edgeface.models import create_model

    card = get_card(name)
    kwargs = {"num_keypoints": len(card.keypoint_names)} if card.kind == "detector" else {}
    model = create_model(name, **kwargs)
    assert tuple(model.inputs[0].shape[1:]) == (card.input_size, card.input_size, 3)
    shapes = [tuple(o.shape[1:]) for o in model.outputs]
    if card.kind == "detector":
        assert sorted(s[-1] for s in shapes) == [1, 4 + 2 * len(card.keypoint_names)]
        entry = detector_entry(card.preset, list(zip(model.output_names, [(1, *s) for s in shapes])),
                               card.input_size, card.input_size)
        assert entry["decoder"]["preset"] == card.preset
    else:
        assert len(shapes) == 1 and len(shapes[0]) == 1


def test_cards_import_without_tensorflow():
    code = ("import edgeface.cards, edgeface.models, sys\n"
            "edgeface.models.list_models()\n"
            "print([m for m in ('tensorflow', 'keras', 'edgeface.models.blazeface') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_unknown_card_and_double_registration_are_clear_errors():
    with pytest.raises(EdgefaceError, match="unknown architecture 'resnet'.*blazeface"):
        get_card("resnet")
    with pytest.raises(ValueError, match="registered twice"):
        register_card(get_card("blazeface"))


def test_arcface_template_is_the_one_alignment_template():
    embedders = [get_card(n) for n in CARDS if get_card(n).kind == "embedder"]
    assert embedders and all(card.alignment_template is ARCFACE_TEMPLATE for card in embedders)
    from edgeface.align import ARCFACE_TEMPLATE as aligned
    from edgeface.data.synthetic import ARCFACE_112
    from edgeface.data.types import KEYPOINT_NAMES

    assert aligned is ARCFACE_TEMPLATE
    assert ARCFACE_112.tolist() == [list(ARCFACE_TEMPLATE[k]) for k in KEYPOINT_NAMES]


def test_presets_are_those_of_main():
    expected = json.loads(FIXTURE.read_text())
    assert json.loads(json.dumps(PRESETS)) == expected["presets"]


@pytest.mark.parametrize("family,size,coords", [("edgeface-ssd-128", 128, 14), ("edgeface-ssd-256", 256, 14),
                                                ("blazeface-short", 128, 16)])
def test_detector_manifest_entries_are_those_of_main(family, size, coords):
    expected = json.loads(FIXTURE.read_text())["detector_entry"][family]
    outputs = [("regressors", (1, 896, coords)), ("classificators", (1, 896, 1))]
    assert json.loads(json.dumps(detector_entry(family, outputs, size, size))) == expected


def test_card_is_frozen():
    card = get_card("blazeface")
    assert isinstance(card, ModelCard)
    with pytest.raises(AttributeError):
        card.kind = "embedder"


def test_export_normalises_embedder_inputs_as_the_card_says(monkeypatch):
    import dataclasses

    import numpy as np

    import edgeface.cards as cards
    from edgeface.train.export import embedder_inputs

    chips = np.random.default_rng(0).integers(0, 256, (3, 112, 112, 3), dtype=np.uint8)
    x = embedder_inputs("mobilefacenet", chips, 112)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, (chips.astype(np.float32) - 127.5) / 127.5)
    card = cards.get_card("mobilefacenet")
    other = dataclasses.replace(card, input={**card.input, "mean": [0.0, 10.0, 20.0], "std": [1.0, 2.0, 4.0]})
    monkeypatch.setitem(cards._CARDS, "mobilefacenet", other)
    x = embedder_inputs("mobilefacenet", chips, 112)
    np.testing.assert_allclose(x, (chips.astype(np.float32) - [0.0, 10.0, 20.0]) / [1.0, 2.0, 4.0], rtol=1e-6)
    assert embedder_inputs("mobilefacenet", chips, 64).shape == (3, 64, 64, 3)  # resized to the input


# -- pretrained models ---------------------------------------------------------------------------

PRETRAINED = list(pretrained_cards())
SHA256 = re.compile(r"[0-9a-f]{64}")


@pytest.mark.parametrize("name", [n for n in PRETRAINED if isinstance(get_pretrained_card(n), ModelCard)])
def test_every_pretrained_card_is_complete(name):
    card = get_pretrained_card(name)
    assert card.name == name and card.kind in KINDS and card.builder is None
    assert card.description and card.calibration and card.evaluation and card.bundle
    assert SHA256.fullmatch(card.source.distribution_sha256) and SHA256.fullmatch(card.source.member_sha256)
    assert card.source.distribution.endswith((".whl", ".tar.gz")) and card.precision in ("fp32", "fp16", "int8")
    assert card.source.provenance()["url"] == f"https://pypi.org/project/{card.package}/{card.version}/"
    InputSpec.parse(Fields({**card.input_fields(), "layout": "NHWC", "dtype": "float32", "channel_order": "RGB"},
                           f"pretrained.{name}.input"))
    if card.kind == "detector":
        assert PRESETS[card.preset]["input"] == card.input_fields()
        assert list(card.keypoint_names) == PRESETS[card.preset]["keypoint_names"]
    elif card.kind == "landmarks":  # its manifest fields parse, and its groups index its points
        from edgeface.cards.pretrained import FACE_MESH_ENTRY

        assert FACE_MESH_ENTRY["input"] == card.input_fields()
        groups = FACE_MESH_ENTRY["point_groups"].values()
        assert all(0 <= i < FACE_MESH_ENTRY["points"] for group in groups for i in group)
    else:
        assert set(card.alignment_template) == set(card.keypoint_names)
        assert all(0 <= v <= card.input_size for point in card.alignment_template.values() for v in point)
        assert -1 < card.verify_threshold < 1


@pytest.mark.parametrize("name", PRETRAINED)
def test_every_pretrained_card_names_a_fetcher_that_exists(name):
    import importlib

    card = get_pretrained_card(name)
    module, function = card.fetcher.split(":")
    assert module.startswith("edgeface.pretrained.")
    assert callable(getattr(importlib.import_module(module), function))


def test_the_default_card_combines_a_detector_and_an_embedder_and_their_int8_variants():
    default = get_pretrained_card("default")
    assert isinstance(default, CombinedCard)
    for role, (float_name, int8_name) in (("detector", default.detector), ("embedder", default.embedder)):
        plain, int8 = get_pretrained_card(float_name), get_pretrained_card(int8_name)
        assert plain.kind == int8.kind == role and plain.source == int8.source
        assert (plain.precision, int8.precision) == ("fp32", "int8")
    assert default.package == "mediapipe + face-recognition-models" and default.licence == "Apache-2.0 + MIT"
    # the embedder aligns by points the detector finds
    assert set(get_pretrained_card(default.embedder[0]).keypoint_names) <= \
        set(get_pretrained_card(default.detector[0]).keypoint_names)


def test_pretrained_and_architecture_cards_are_separate_registries():
    assert get_card("blazeface").builder == "edgeface.models.blazeface:blazeface"
    assert get_pretrained_card("blazeface").source.package == "mediapipe"
    assert not set(PRETRAINED) - {"blazeface"} & set(CARDS)
    with pytest.raises(EdgefaceError, match="unknown pretrained model 'resnet'.*dlib-resnet"):
        get_pretrained_card("resnet")


def test_models_list_shows_the_cards_without_importing_a_fetcher():
    code = ("import json, sys\n"
            "from typer.testing import CliRunner\n"
            "from edgeface.cli.app import app\n"
            "out = CliRunner().invoke(app, ['models', 'list', '--json']).stdout\n"
            "print(json.dumps({'rows': json.loads(out)['models'], 'loaded': [m for m in sys.modules if m in "
            "('tensorflow', 'edgeface.pretrained.blazeface', 'edgeface.pretrained.dlib_model')]}))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert shown["loaded"] == []
    assert [row["name"] for row in shown["rows"]] == PRETRAINED
    for row in shown["rows"]:
        card = get_pretrained_card(row["name"])
        assert (row["package"], row["version"], row["licence"], row["description"]) == \
            (card.package, card.version, card.licence, card.description)


def test_dlib_input_layer_that_differs_from_the_card_is_refused(tmp_path):
    from edgeface.pretrained.dlib_model import _checked_input

    card = get_pretrained_card("dlib-resnet")
    said = {**card.input_fields(), "layout": "NHWC", "dtype": "float32", "channel_order": "RGB"}
    assert _checked_input(said, card, tmp_path / "x.dat") == said
    with pytest.raises(EdgefaceError, match=r"x\.dat: its input layer says .* the dlib-resnet card"):
        _checked_input({**said, "mean": [0.0, 0.0, 0.0]}, card, tmp_path / "x.dat")


@pytest.mark.parametrize("task_name,arch,pipeline", [("DetectorTask", "blazeface", "detection_pipeline"),
                                                     ("RecognizerTask", "mobilefacenet", "recognition_pipeline")])
def test_training_normalises_inputs_as_the_card_says(monkeypatch, task_name, arch, pipeline):
    import dataclasses

    import edgeface.cards as cards
    import edgeface.data
    from edgeface.train import config as train_config
    from edgeface.train import trainer

    card = cards.get_card(arch)
    other = dataclasses.replace(card, input={**card.input, "mean": [0.0, 10.0, 20.0], "std": [1.0, 2.0, 4.0]})
    monkeypatch.setitem(cards._CARDS, arch, other)
    seen = {}
    monkeypatch.setattr(edgeface.data, pipeline, lambda *args, **kwargs: seen.update(kwargs), raising=False)
    config_class = train_config.DetectorConfig if task_name == "DetectorTask" else train_config.RecognizerConfig
    task = getattr(trainer, task_name)(config_class(arch=arch, input_size=card.input_size))
    task.pipeline([], batch=2, augment=False)
    assert (seen["mean"], seen["std"]) == ([0.0, 10.0, 20.0], [1.0, 2.0, 4.0])
