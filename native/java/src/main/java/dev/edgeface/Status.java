package dev.edgeface;

/** The native core's status codes (edgeface_status in edgeface.h). */
public enum Status {
  OK(0),
  ARGUMENT(1),
  BUNDLE(2),
  MANIFEST(3),
  CHECKSUM(4),
  MODEL_LOAD(5),
  INFERENCE(6),
  OUT_OF_MEMORY(7),
  INTERNAL(8),
  IMAGE(9),
  GALLERY(10);

  public final int code;

  Status(int code) {
    this.code = code;
  }

  /** The status of a native code; INTERNAL for a code this version does not know. */
  public static Status of(int code) {
    for (Status status : values()) {
      if (status.code == code) return status;
    }
    return INTERNAL;
  }
}
