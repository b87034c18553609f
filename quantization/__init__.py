"""Quantization (imported as ``edgeface.quantization``): calibration sets, the fidelity
report and gate that every converted file must pass, and delegate coverage (which ops
XNNPACK takes, where an int8 graph splits, float islands).

- ``calibration``: ``calibration_from_images``, ``calibration_from_npy``, ``default_spec``,
  ``face_images``, ``face_chips``.
- ``fidelity``: ``match_outputs``, ``align_outputs``, ``compare_outputs``,
  ``embedder_fidelity``, ``detector_fidelity``, ``run_model``, ``FidelityReport``.
- ``coverage``: ``delegate_coverage`` -> ``CoverageReport``.
"""

from edgeface.quantization.calibration import (CalibrationError, calibration_from_images,
                                               calibration_from_npy, default_spec, face_chips,
                                               face_images)
from edgeface.quantization.coverage import CoverageReport, delegate_coverage
from edgeface.quantization.fidelity import (DetectorFidelity, EmbedderFidelity, FidelityError,
                                            FidelityReport, OutputFidelity, align_outputs,
                                            compare_outputs, detector_fidelity, embedder_fidelity,
                                            match_outputs, run_model)

__all__ = [
    "CalibrationError", "calibration_from_images", "calibration_from_npy", "default_spec",
    "face_chips", "face_images", "CoverageReport", "delegate_coverage", "DetectorFidelity",
    "EmbedderFidelity", "FidelityError", "FidelityReport", "OutputFidelity", "align_outputs",
    "compare_outputs", "detector_fidelity", "embedder_fidelity", "match_outputs", "run_model",
]
