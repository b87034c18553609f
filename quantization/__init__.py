"""Quantization (imported as ``edgeface.quantization``): post-training and
quantization-aware training, calibration sets, fidelity reports. Built under the
conversion issue; nothing here yet."""
