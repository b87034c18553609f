"""Evaluation of face models through the SDK (toolchain side; numpy, plus matplotlib for
plots): detection AP and keypoint NME (``evaluate_detection_bundle``), LFW-protocol
verification, TAR@FAR and ROC (``evaluate_verification_bundle``), and the verification
threshold calibrated at a FAR written into a bundle (``calibrate_bundle``). The metric
definitions are in ``edgeface.eval.metrics``; the command is ``edgeface eval``."""

from edgeface.eval.evaluate import (DEFAULT_FARS, DetectionResult, EvalError, VerificationResult, calibrate_bundle,
                                    evaluate_detection_bundle, evaluate_verification_bundle, roc_plot,
                                    write_detection_report, write_verification_report)

__all__ = ["DEFAULT_FARS", "DetectionResult", "EvalError", "VerificationResult", "calibrate_bundle",
           "evaluate_detection_bundle", "evaluate_verification_bundle", "roc_plot", "write_detection_report",
           "write_verification_report"]
