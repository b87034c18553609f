"""The options that take one of a fixed set of words, as enums: --help lists the words and
click refuses any other (exit code 2, the usage error) before the command runs.

The sets are written out so that ``edgeface --help`` stays light (the modules that own them
import numpy and more); tests/test_cli_choices.py checks that they match their owners."""

from __future__ import annotations

from enum import StrEnum


class ConvertTarget(StrEnum):
    tflite = "tflite"
    onnx = "onnx"


class IoType(StrEnum):
    """An int8 model's input/output type (edgeface.converters.tflite.IO_TYPES)."""
    float32 = "float32"
    int8 = "int8"
    uint8 = "uint8"


class ModelRole(StrEnum):
    """edgeface.converters.job.ROLES."""
    detector = "detector"
    embedder = "embedder"
    landmarks = "landmarks"


class NmeNormaliser(StrEnum):
    inter_ocular = "inter_ocular"
    box = "box"


class HubRuntime(StrEnum):
    """AI Hub target runtimes (edgeface.hub.compile.RUNTIMES)."""
    tflite = "tflite"
    qnn_context_binary = "qnn_context_binary"
    qnn_dlc = "qnn_dlc"
    onnx = "onnx"


class ComputeUnit(StrEnum):
    """AI Hub compute units (edgeface.hub.profile.COMPUTE_UNITS, and all)."""
    npu = "npu"
    gpu = "gpu"
    cpu = "cpu"
    all = "all"


class Search(StrEnum):
    """Where the detector looks (edgeface.tiled_search.SEARCHES)."""
    whole = "whole"
    auto = "auto"
    all = "all"
