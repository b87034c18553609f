package dev.edgeface;

import java.util.ArrayList;
import java.util.List;

/**
 * Named identities with face templates, searched 1:N (an identity scores the cosine
 * similarity of its best template), enrolled into and saved in the Python SDK's gallery
 * file format: either side opens what the other saved. Saving to the gallery's own file
 * merges another writer's changes (see save). Methods are synchronized: one thread at a
 * time uses a Gallery. Close it to free its native memory.
 */
public final class Gallery implements AutoCloseable {
  static {
    System.loadLibrary("edgeface_jni");
  }

  private long handle;

  private Gallery(long handle) {
    this.handle = handle;
  }

  /** An empty gallery of dim-float templates (FaceAnalyzer.embeddingSize()), with no file until saved. */
  public static Gallery create(int dim) {
    return new Gallery(nativeCreate(dim));
  }

  /** Opens and checks a gallery file; dim > 0 requires that template size (FaceAnalyzer.embeddingSize()). */
  public static Gallery open(String path, int dim) {
    return new Gallery(nativeOpen(Utf8.encode("path", path), dim));
  }

  public synchronized int identityCount() {
    return (int) nativeCounts(open())[0];
  }

  public synchronized int templateCount() {
    return (int) nativeCounts(open())[1];
  }

  /**
   * Adds one template per embedding to the identity name (created when new); returns its
   * template count. Names are printable text of at most 256 characters, as in the Python
   * SDK; a refused name or embedding is an EdgefaceException with Status.ARGUMENT.
   */
  public synchronized int enroll(String name, float[]... embeddings) {
    byte[] utf8 = Utf8.encode("name", name);
    if (embeddings == null || embeddings.length == 0) throw new IllegalArgumentException("embeddings: none given");
    int dim = embeddings[0] == null ? 0 : embeddings[0].length;
    float[] rows = new float[Math.multiplyExact(dim, embeddings.length)];
    for (int i = 0; i < embeddings.length; ++i) {
      if (embeddings[i] == null || embeddings[i].length != dim)
        throw new IllegalArgumentException("embeddings[" + i + "]: null or of another length than embeddings[0]");
      System.arraycopy(embeddings[i], 0, rows, i * dim, dim);
    }
    return nativeEnroll(open(), utf8, rows, embeddings.length);
  }

  /**
   * Ties this gallery to the analyzer's embedder (its bundle, its model's sha256, its
   * embedding size), as the Python SDK's FaceAnalyzer does: a gallery that another
   * embedder made is an EdgefaceException with Status.GALLERY naming both and the fix; one
   * that records none adopts it and records it with its next save. Call it before
   * enrolling an analyzer's embeddings or searching with them.
   */
  public synchronized void bind(FaceAnalyzer analyzer) {
    if (analyzer == null) throw new IllegalArgumentException("analyzer: null");
    synchronized (analyzer) {
      nativeBind(open(), analyzer.nativeHandle());
    }
  }

  /** Deletes the identity name and its templates; returns how many went (Status.ARGUMENT if it is unknown). */
  public synchronized int remove(String name) {
    return nativeRemove(open(), Utf8.encode("name", name));
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

  /**
   * Writes the gallery atomically (mode 0600: templates are biometric data) to path, which
   * becomes its file. Saving to its own file takes the Python SDK's writer lock and, when
   * another writer changed the file since this gallery read or saved it, keeps that
   * writer's identities with this gallery's enrolments and removals on top.
   */
  public synchronized void save(String path) {
    nativeSave(open(), Utf8.encode("path", path));
  }

  /** save to the file the gallery was opened from or last saved to. */
  public synchronized void save() {
    nativeSave(open(), null);
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

  private static native long nativeCreate(int dim);
  private static native long nativeOpen(byte[] path, int dim);
  private static native void nativeClose(long handle);
  private static native long[] nativeCounts(long handle);
  private static native int nativeEnroll(long handle, byte[] name, float[] rows, int count);
  private static native int nativeRemove(long handle, byte[] name);
  private static native Object[] nativeSearch(long handle, float[] query, int topK, float threshold);
  private static native void nativeSave(long handle, byte[] path);
  private static native void nativeBind(long handle, long analyzer);
}
