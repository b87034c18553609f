package dev.edgeface;

/** A failure of the native core: its status and its one-line message (which names the file,
 * field or argument at fault and the fix). */
public class EdgefaceException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  public final Status status;

  public EdgefaceException(int code, String message) {
    super(Status.of(code) + ": " + message);
    this.status = Status.of(code);
  }
}
