"""Model conversion (imported as ``edgeface.converters``).

- ``sources``: load a Keras, SavedModel, frozen GraphDef, ONNX or TFLite model as a
  ``Source`` that runs float reference outputs.
- ``tflite``: ``convert_to_tflite`` at fp32, fp16, dynamic, int8 and int16x8 (ONNX through
  onnx2tf in a child process, never allowed onto the network).
- ``onnx_export``: TF and TFLite models to ONNX (tf2onnx), with a parity check.
- ``job``: the ``edgeface convert`` job: every precision, fidelity, coverage, bundles, report.
"""
