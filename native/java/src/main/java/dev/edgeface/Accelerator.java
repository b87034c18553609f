package dev.edgeface;

/**
 * Where an analyzer's models run. GPU and NPU need LiteRT's accelerator for them in the
 * app (LiteRT's Android packages); asking for one that is missing fails at
 * FaceAnalyzer.create with Status.MODEL_LOAD, never a silent fallback to the CPU.
 */
public enum Accelerator {
  CPU(0),
  GPU(1),
  NPU(2);

  final int code;  // edgeface_accelerator in edgeface.h

  Accelerator(int code) {
    this.code = code;
  }
}
