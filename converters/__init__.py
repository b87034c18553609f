"""Model conversion (imported as ``edgeface.converters``): Keras / SavedModel / ONNX to
TFLite, TFLite to ONNX, ONNX to QNN context binaries. Built under the conversion issue;
nothing here yet."""
