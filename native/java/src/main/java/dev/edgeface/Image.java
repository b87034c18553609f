package dev.edgeface;

import java.nio.ByteBuffer;

/**
 * A picture for FaceAnalyzer: RGB/RGBA pixels (a byte array or a direct buffer, as
 * Bitmap.copyPixelsToBuffer gives them) or a YUV_420_888 camera frame as CameraX hands its
 * planes over. Nothing is copied here; the native core reads the memory during the call.
 * rotation: degrees clockwise (0, 90, 180, 270) that turn the picture upright.
 */
public final class Image {
  static final int RGB = 0, RGBA = 1, YUV420 = 5;

  final int format, width, height, rotation;
  final byte[] array;          // RGB/RGBA in a Java array, or null
  final ByteBuffer pixels;     // RGB/RGBA direct buffer, or the Y plane
  final int stride;            // bytes a row of pixels (or of Y)
  final ByteBuffer u, v;       // YUV: the chroma planes
  final int chromaStride, chromaPixelStride;

  private Image(int format, int width, int height, int rotation, byte[] array, ByteBuffer pixels, int stride,
                ByteBuffer u, ByteBuffer v, int chromaStride, int chromaPixelStride) {
    if (width < 1 || height < 1) throw new IllegalArgumentException("width and height must be positive, got " + width + "x" + height);
    if (rotation % 90 != 0 || rotation < 0 || rotation > 270)
      throw new IllegalArgumentException("rotation must be 0, 90, 180 or 270, got " + rotation);
    this.format = format;
    this.width = width;
    this.height = height;
    this.rotation = rotation;
    this.array = array;
    this.pixels = pixels;
    this.stride = stride;
    this.u = u;
    this.v = v;
    this.chromaStride = chromaStride;
    this.chromaPixelStride = chromaPixelStride;
  }

  private static void checkRows(int available, int width, int height, int stride, int bytesPerPixel, String what) {
    if (stride < width * bytesPerPixel)
      throw new IllegalArgumentException(what + ": rowStride " + stride + " is shorter than a row of " + width + " pixels");
    long needed = (long) stride * (height - 1) + (long) width * bytesPerPixel;
    if (available < needed)
      throw new IllegalArgumentException(what + ": " + available + " bytes cannot hold " + width + "x" + height + " pixels at rowStride " + stride + " (" + needed + " needed)");
  }

  private static ByteBuffer direct(ByteBuffer buffer, String what) {
    if (buffer == null || !buffer.isDirect()) throw new IllegalArgumentException(what + ": a direct ByteBuffer is needed");
    return buffer;
  }

  /** Interleaved R, G, B bytes. */
  public static Image rgb(byte[] pixels, int width, int height, int rowStride, int rotation) {
    if (pixels == null) throw new IllegalArgumentException("pixels: null");
    checkRows(pixels.length, width, height, rowStride, 3, "pixels");
    return new Image(RGB, width, height, rotation, pixels, null, rowStride, null, null, 0, 0);
  }

  /** Interleaved R, G, B, A bytes (alpha ignored), e.g. an ARGB_8888 Bitmap's copyPixelsToBuffer. */
  public static Image rgba(ByteBuffer pixels, int width, int height, int rowStride, int rotation) {
    direct(pixels, "pixels");
    checkRows(pixels.remaining(), width, height, rowStride, 4, "pixels");
    return new Image(RGBA, width, height, rotation, null, pixels, rowStride, null, null, 0, 0);
  }

  /** Interleaved R, G, B, A bytes in a Java array. */
  public static Image rgba(byte[] pixels, int width, int height, int rowStride, int rotation) {
    if (pixels == null) throw new IllegalArgumentException("pixels: null");
    checkRows(pixels.length, width, height, rowStride, 4, "pixels");
    return new Image(RGBA, width, height, rotation, pixels, null, rowStride, null, null, 0, 0);
  }

  /**
   * A YUV_420_888 frame from its three planes (ImageProxy.getPlanes(): buffer, rowStride,
   * pixelStride). Semi-planar frames (chroma pixel stride 2, what Android cameras give) are
   * read in place as NV21 or NV12; planar ones (pixel stride 1) are interleaved first.
   */
  public static Image yuv420(ByteBuffer y, int yRowStride, ByteBuffer u, ByteBuffer v, int uvRowStride,
                             int uvPixelStride, int width, int height, int rotation) {
    direct(y, "y");
    direct(u, "u");
    direct(v, "v");
    if (uvPixelStride != 1 && uvPixelStride != 2)
      throw new IllegalArgumentException("uvPixelStride must be 1 or 2, got " + uvPixelStride);
    checkRows(y.remaining(), width, height, yRowStride, 1, "y");
    int chromaWidth = (width + 1) / 2, chromaHeight = (height + 1) / 2;
    long needed = (long) uvRowStride * (chromaHeight - 1) + (long) (chromaWidth - 1) * uvPixelStride + 1;
    if (uvRowStride < (chromaWidth - 1) * uvPixelStride + 1 || u.remaining() < needed || v.remaining() < needed)
      throw new IllegalArgumentException("u, v: the chroma planes cannot hold " + chromaWidth + "x" + chromaHeight
                                         + " samples at uvRowStride " + uvRowStride + " and uvPixelStride " + uvPixelStride);
    return new Image(YUV420, width, height, rotation, null, y, yRowStride, u, v, uvRowStride, uvPixelStride);
  }
}
