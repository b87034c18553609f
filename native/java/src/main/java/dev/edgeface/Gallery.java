package dev.edgeface;

import java.util.ArrayList;
import java.util.List;

/**
 * A gallery file written by the Python SDK (edgeface.Gallery.save), searched 1:N: an
 * identity scores the cosine similarity of its best template. Read-only; many threads may
 * search one gallery. Close it to free its native memory.
 */
public final class Gallery implements AutoCloseable {
  static {
    System.loadLibrary("edgeface_jni");
  }

  private long handle;

  private Gallery(long handle) {
    this.handle = handle;
  }

  /** Opens and checks a gallery file; dim > 0 requires that template size (FaceAnalyzer.embeddingSize()). */
  public static Gallery open(String path, int dim) {
    if (path == null) throw new IllegalArgumentException("path: null");
    return new Gallery(nativeOpen(path, dim));
  }

  public synchronized int identityCount() {
    return (int) nativeCounts(open())[0];
  }

  public synchronized int templateCount() {
    return (int) nativeCounts(open())[1];
  }

  /** The topK identities closest to embedding scoring at least threshold, best first. */
  public synchronized List<Match> search(float[] embedding, int topK, float threshold) {
    if (embedding == null) throw new IllegalArgumentException("embedding: null");
    if (topK < 1) throw new IllegalArgumentException("topK must be at least 1, got " + topK);
    Object[] found = nativeSearch(open(), embedding, topK, threshold);
    String[] names = (String[]) found[0];
    float[] scores = (float[]) found[1];
    List<Match> matches = new ArrayList<>(names.length);
    for (int i = 0; i < names.length; ++i) matches.add(new Match(names[i], scores[i]));
    return matches;
  }

  private long open() {
    if (handle == 0) throw new IllegalStateException("this Gallery is closed");
    return handle;
  }

  @Override
  public synchronized void close() {
    if (handle != 0) nativeClose(handle);
    handle = 0;
  }

  private static native long nativeOpen(String path, int dim);
  private static native void nativeClose(long handle);
  private static native long[] nativeCounts(long handle);
  private static native Object[] nativeSearch(long handle, float[] query, int topK, float threshold);
}
