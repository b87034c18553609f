package dev.edgeface;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * Faces in pictures and camera frames through edgeface's native core (libedgeface_jni over
 * libedgeface): detect, analyze (detect + align + embed), verify. Create one from a bundle
 * directory or zip; close it (or use try-with-resources) to free its native memory. Methods are
 * synchronized: calls from several threads take turns (for parallel work create one
 * analyzer per thread). Any call after close() throws IllegalStateException.
 */
public final class FaceAnalyzer implements AutoCloseable {
  static {
    System.loadLibrary("edgeface_jni");
  }

  /** How to create an analyzer. */
  public static final class Options {
    public int numThreads = 1;
    /** Keep faces scoring at least this; negative: the bundle's own threshold. */
    public float scoreThreshold = -1f;
    /** At most this many faces, best first; 0: the bundle's own limit. */
    public int maxFaces = 0;
    /** Where the models run (CPU by default). */
    public Accelerator accelerator = Accelerator.CPU;
    /** Where to look for faces (the bundle's choice by default). */
    public Search search = Search.BUNDLE;
    /** The narrowest face, in pixels (8..4096), that a search with tiles looks for. */
    public int minFace = 40;
  }

  private long handle;
  private final String[] keypointNames;
  private final int embeddingSize;

  private FaceAnalyzer(long handle) {
    this.handle = handle;
    this.keypointNames = nativeKeypointNames(handle);
    this.embeddingSize = nativeEmbeddingSize(handle);
  }

  /** An analyzer over a bundle folder, or a bundle zip (unpacked to a temporary folder, deleted once loaded). */
  public static FaceAnalyzer create(String bundle, Options options) {
    byte[] path = Utf8.encode("bundle", bundle);
    Options o = options != null ? options : new Options();
    if (!BundleZip.isZip(bundle)) return create(path, o);
    java.nio.file.Path folder = BundleZip.extract(bundle);
    try {
      return create(Utf8.encode("bundle", folder.toString()), o);
    } finally {
      BundleZip.delete(folder);
    }
  }

  private static FaceAnalyzer create(byte[] folder, Options o) {
    if (o.accelerator == null) throw new IllegalArgumentException("options.accelerator: null");
    if (o.search == null) throw new IllegalArgumentException("options.search: null");
    return new FaceAnalyzer(
        nativeCreate(folder, o.numThreads, o.scoreThreshold, o.maxFaces, o.accelerator.code, o.search.code, o.minFace));
  }

  /** The names of each face's keypoints, in order. */
  public List<String> keypointNames() {
    return Collections.unmodifiableList(java.util.Arrays.asList(keypointNames.clone()));
  }

  /** The cosine similarity at or above which two faces are the same person (the bundle's). */
  public float threshold() {
    return nativeThreshold(open());
  }

  /** The length of this bundle's embeddings (0 without an embedder). */
  public int embeddingSize() {
    return embeddingSize;
  }

  /** The faces of the picture, best first, without embeddings. */
  public synchronized List<Face> detect(Image image) {
    return faces(run(image, false));
  }

  /** The faces of the picture, best first, each with its unit embedding. */
  public synchronized List<Face> analyze(Image image) {
    return faces(run(image, true));
  }

  /**
   * The unit embedding of each face from its keypoints in this picture: faces detect found
   * (on this frame, or an earlier one while the face has not moved), or placed by the app.
   */
  public synchronized List<float[]> embed(Image image, List<Face> faces) {
    if (image == null || faces == null) throw new IllegalArgumentException("image or faces: null");
    int points = keypointNames.length;
    float[] keypoints = new float[Math.multiplyExact(faces.size(), points * 2)];
    for (int i = 0; i < faces.size(); ++i) {
      Face face = faces.get(i);
      if (face == null || face.keypoints.length != points)
        throw new IllegalArgumentException("faces[" + i + "]: null, or not " + points + " keypoints of this detector");
      for (int k = 0; k < points; ++k) {
        keypoints[(i * points + k) * 2] = face.keypoints[k][0];
        keypoints[(i * points + k) * 2 + 1] = face.keypoints[k][1];
      }
    }
    if (faces.isEmpty()) return new ArrayList<>();
    float[] packed = nativeEmbed(open(), image.format, image.width, image.height, image.rotation, image.array,
                                 image.pixels, image.stride, image.u, image.v, image.chromaStride,
                                 image.chromaPixelStride, keypoints, faces.size());
    List<float[]> embeddings = new ArrayList<>(faces.size());
    for (int i = 0; i < faces.size(); ++i)
      embeddings.add(java.util.Arrays.copyOfRange(packed, i * embeddingSize, (i + 1) * embeddingSize));
    return embeddings;
  }

  /** 1:1: the best face of each picture, compared with the bundle's threshold. */
  public synchronized Verification verify(Image a, Image b) {
    float[] first = best(a, "image a"), second = best(b, "image b");
    float[] result = nativeCompare(open(), first, second);
    return new Verification(result[0], result[1] != 0f);
  }

  private float[] best(Image image, String name) {
    List<Face> found = faces(run(image, true));
    if (found.isEmpty()) throw new EdgefaceException(Status.ARGUMENT.code, name + ": no face found");
    return found.get(0).embedding;
  }

  private float[] run(Image image, boolean analyze) {
    if (image == null) throw new IllegalArgumentException("image: null");
    return nativeRun(open(), analyze, image.format, image.width, image.height, image.rotation, image.array,
                     image.pixels, image.stride, image.u, image.v, image.chromaStride, image.chromaPixelStride);
  }

  // The packed result: count, keypoints per face, embedding size, then per face x1 y1 x2
  // y2, score, keypoints x y..., embedding...
  private static List<Face> faces(float[] packed) {
    int count = (int) packed[0], points = (int) packed[1], size = (int) packed[2];
    List<Face> faces = new ArrayList<>(count);
    int at = 3;
    for (int i = 0; i < count; ++i) {
      float[] box = {packed[at], packed[at + 1], packed[at + 2], packed[at + 3]};
      float score = packed[at + 4];
      at += 5;
      float[][] keypoints = new float[points][];
      for (int k = 0; k < points; ++k, at += 2) keypoints[k] = new float[] {packed[at], packed[at + 1]};
      float[] embedding = null;
      if (size > 0) {
        embedding = java.util.Arrays.copyOfRange(packed, at, at + size);
        at += size;
      }
      faces.add(new Face(box, score, keypoints, embedding));
    }
    return faces;
  }

  private long open() {
    if (handle == 0) throw new IllegalStateException("this FaceAnalyzer is closed");
    return handle;
  }

  /** The native analyzer, for Gallery.bind (callers hold this analyzer's lock). */
  long nativeHandle() {
    return open();
  }

  @Override
  public synchronized void close() {
    if (handle != 0) nativeDestroy(handle);
    handle = 0;
  }

  private static native long nativeCreate(byte[] bundle, int threads, float scoreThreshold, int maxFaces,
                                          int accelerator, int search, int minFace);
  private static native void nativeDestroy(long handle);
  private static native String[] nativeKeypointNames(long handle);
  private static native int nativeEmbeddingSize(long handle);
  private static native float[] nativeRun(long handle, boolean analyze, int format, int width, int height,
                                          int rotation, byte[] array, java.nio.ByteBuffer pixels, int stride,
                                          java.nio.ByteBuffer u, java.nio.ByteBuffer v, int chromaStride,
                                          int chromaPixelStride);
  private static native float[] nativeEmbed(long handle, int format, int width, int height, int rotation,
                                            byte[] array, java.nio.ByteBuffer pixels, int stride,
                                            java.nio.ByteBuffer u, java.nio.ByteBuffer v, int chromaStride,
                                            int chromaPixelStride, float[] keypoints, int count);
  private static native float[] nativeCompare(long handle, float[] a, float[] b);
  private static native float nativeThreshold(long handle);
}
