package dev.edgeface;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The Java API on the JVM (tests/test_java.py runs it):
 *   parity BUNDLE LIST   prints, per image of LIST (lines "name width height file.rgb"),
 *                        the faces analyze finds as JSON, for Python to compare with its SDK;
 *   misuse REPO_ROOT     misuse gives Java exceptions, never a crashed JVM; camera frames
 *                        (NV21 in place, planar I420) find the faces RGB does.
 * Ends with the line "N passed, M failed" and exits 1 on a failure.
 */
public final class JavaApiTest {
  private static int passed = 0, failed = 0;

  private static void check(boolean condition, String what) {
    if (condition) {
      ++passed;
    } else {
      ++failed;
      System.err.println("FAILED: " + what);
    }
  }

  private interface Body {
    void run() throws Exception;
  }

  private static void expectThrows(Class<? extends Throwable> kind, String what, Body body) {
    try {
      body.run();
      check(false, what + ": nothing was thrown");
    } catch (Throwable thrown) {
      check(kind.isInstance(thrown), what + ": threw " + thrown);
    }
  }

  // FaceAnalyzer.create refuses `bundle` with `options`: an EdgefaceException of `status`
  // whose message names `mentioned`.
  private static void expectCreateFails(String bundle, FaceAnalyzer.Options options, Status status, String mentioned) {
    try {
      FaceAnalyzer.create(bundle, options).close();
      check(false, bundle + ": created, expected " + status);
    } catch (EdgefaceException e) {
      check(e.status == status && e.getMessage().contains(mentioned), status + " naming " + mentioned + ": " + e.getMessage());
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length == 3 && args[0].equals("parity")) {
      parity(args[1], args[2]);
    } else if (args.length == 2 && args[0].equals("misuse")) {
      misuse(args[1]);
    } else {
      System.err.println("usage: JavaApiTest parity BUNDLE LIST | misuse REPO_ROOT");
      System.exit(2);
    }
    System.out.println(passed + " passed, " + failed + " failed");
    System.exit(failed == 0 ? 0 : 1);
  }

  private static void parity(String bundle, String list) throws Exception {
    StringBuilder json = new StringBuilder("{");
    try (FaceAnalyzer analyzer = FaceAnalyzer.create(bundle, null)) {
      boolean first = true;
      for (String line : Files.readAllLines(Paths.get(list))) {
        String[] f = line.split(" ", 4);
        int width = Integer.parseInt(f[1]), height = Integer.parseInt(f[2]);
        Image image = Image.rgb(Files.readAllBytes(Paths.get(f[3])), width, height, width * 3, 0);
        json.append(first ? "" : ",").append('"').append(f[0]).append("\":").append(facesJson(analyzer.analyze(image)));
        first = false;
      }
    }
    System.out.println("JSON " + json.append('}'));
    check(true, "parity run");
  }

  static String facesJson(List<Face> faces) {
    StringBuilder out = new StringBuilder("[");
    for (int i = 0; i < faces.size(); ++i) {
      Face face = faces.get(i);
      out.append(i == 0 ? "" : ",").append("{\"box\":[").append(face.x1).append(',').append(face.y1).append(',')
          .append(face.x2).append(',').append(face.y2).append("],\"score\":").append(face.score).append(",\"keypoints\":[");
      for (int k = 0; k < face.keypoints.length; ++k)
        out.append(k == 0 ? "" : ",").append('[').append(face.keypoints[k][0]).append(',').append(face.keypoints[k][1]).append(']');
      out.append("],\"embedding\":[");
      for (int e = 0; face.embedding != null && e < face.embedding.length; ++e) out.append(e == 0 ? "" : ",").append(face.embedding[e]);
      out.append("]}");
    }
    return out.append(']').toString();
  }

  // A black 640x480 RGB frame with a white 80 px square at (200, 200): one face to the blob detector.
  private static byte[] square() {
    byte[] rgb = new byte[640 * 480 * 3];
    for (int y = 160; y < 240; ++y)
      for (int x = 160; x < 240; ++x)
        for (int c = 0; c < 3; ++c) rgb[(y * 640 + x) * 3 + c] = (byte) 255;
    return rgb;
  }

  private static void misuse(String repo) throws Exception {
    String fixtures = repo + "/tests/fixtures/bundles", blob = fixtures + "/blob_blazeface";
    byte[] rgb = square();
    Image frame = Image.rgb(rgb, 640, 480, 640 * 3, 0);
    FaceAnalyzer analyzer = FaceAnalyzer.create(blob, null);
    List<Face> faces = analyzer.analyze(frame);
    check(faces.size() == 1 && Math.abs((faces.get(0).x1 + faces.get(0).x2) / 2 - 200) < 1, "one face at 200");
    check(faces.get(0).embedding.length == analyzer.embeddingSize(), "embedding size");
    check(analyzer.keypointNames().get(0).equals("right_eye"), "keypoint names");
    Verification same = analyzer.verify(frame, frame);
    check(same.isSame && same.similarity > 0.999f, "verify a frame with itself");
    float[] again = analyzer.embed(frame, analyzer.detect(frame)).get(0);
    check(java.util.Arrays.equals(again, faces.get(0).embedding), "embed from detect's keypoints gives analyze's embedding");
    check(analyzer.embed(frame, new ArrayList<Face>()).isEmpty(), "embed no faces");
    Face partial = new Face(new float[4], 1f, new float[1][2], null);
    expectThrows(IllegalArgumentException.class, "a face with too few keypoints",
                 () -> analyzer.embed(frame, java.util.Collections.singletonList(partial)));

    // camera frames: the same picture as NV21 with the planes one byte apart, and as planar I420
    ByteBuffer y = ByteBuffer.allocateDirect(640 * 480), chroma = ByteBuffer.allocateDirect(640 * 240);
    for (int i = 0; i < 640 * 480; ++i) y.put(i, rgb[3 * i]);
    for (int i = 0; i < 640 * 240; ++i) chroma.put(i, (byte) 128);
    ByteBuffer v = chroma.duplicate(), u = chroma.duplicate();
    u.position(1);
    List<Face> nv21 = analyzer.detect(Image.yuv420(y, 640, u.slice(), v.slice(), 640, 2, 640, 480, 0));
    check(nv21.size() == 1 && Math.abs(nv21.get(0).x1 - faces.get(0).x1) < 1, "NV21 in place finds the face");
    ByteBuffer planarU = ByteBuffer.allocateDirect(320 * 240), planarV = ByteBuffer.allocateDirect(320 * 240);
    for (int i = 0; i < 320 * 240; ++i) { planarU.put(i, (byte) 128); planarV.put(i, (byte) 128); }
    List<Face> i420 = analyzer.detect(Image.yuv420(y, 640, planarU, planarV, 320, 1, 640, 480, 0));
    check(i420.size() == 1 && Math.abs(i420.get(0).x1 - faces.get(0).x1) < 1, "planar I420 finds the face");

    expectThrows(IllegalArgumentException.class, "a buffer too small", () -> Image.rgb(new byte[100], 640, 480, 1920, 0));
    expectThrows(IllegalArgumentException.class, "a row stride too short", () -> Image.rgb(rgb, 640, 480, 100, 0));
    expectThrows(IllegalArgumentException.class, "rotation 45", () -> Image.rgb(rgb, 640, 480, 1920, 45));
    expectThrows(IllegalArgumentException.class, "a heap buffer for a camera plane",
                 () -> Image.yuv420(ByteBuffer.allocate(10), 640, u, v, 640, 2, 640, 480, 0));
    expectThrows(IllegalArgumentException.class, "a null image", () -> analyzer.detect(null));
    expectThrows(EdgefaceException.class, "a folder that is no bundle", () -> FaceAnalyzer.create(fixtures, null));
    FaceAnalyzer.Options gpu = new FaceAnalyzer.Options();
    gpu.accelerator = Accelerator.GPU;  // the test's LiteRT (the wheel's) has none
    expectCreateFails(blob, gpu, Status.MODEL_LOAD, "gpu accelerator");
    FaceAnalyzer.Options tiny = new FaceAnalyzer.Options();
    tiny.minFace = 4;
    expectCreateFails(blob, tiny, Status.ARGUMENT, "min_face");
    FaceAnalyzer.Options noSearch = new FaceAnalyzer.Options();
    noSearch.search = null;
    expectThrows(IllegalArgumentException.class, "a null search", () -> FaceAnalyzer.create(blob, noSearch));
    expectCreateFails(fixtures + "/missing", null, Status.BUNDLE, "missing");
    galleryBinding(blob, fixtures + "/blob_blazeface_int8");

    // two threads on one analyzer take turns: same answers, no crash
    AtomicInteger agreed = new AtomicInteger();
    List<Thread> threads = new ArrayList<>();
    for (int t = 0; t < 2; ++t) {
      Thread thread = new Thread(() -> {
        for (int i = 0; i < 20; ++i)
          if (analyzer.detect(frame).size() == 1) agreed.incrementAndGet();
      });
      threads.add(thread);
      thread.start();
    }
    for (Thread thread : threads) thread.join();
    check(agreed.get() == 40, "two threads: " + agreed.get() + " of 40 calls found the face");

    analyzer.close();
    analyzer.close();  // twice is fine
    expectThrows(IllegalStateException.class, "use after close", () -> analyzer.detect(frame));

    try (Gallery gallery = Gallery.open(repo + "/native/tests/core/data/galleries/v2.efg", 8)) {
      float[] query = {1, 0, 0, 0, 0, 0, 0, 0};
      List<Match> matches = gallery.search(query, 3, -1f);
      check(matches.size() == 3 && matches.get(0).score >= matches.get(1).score, "gallery search");
      check(gallery.identityCount() == 44, "gallery identities");
      expectThrows(EdgefaceException.class, "a query of another size", () -> gallery.search(new float[3], 3, 0f));
      expectThrows(IllegalArgumentException.class, "topK 0", () -> gallery.search(query, 0, 0f));
    }
    expectThrows(EdgefaceException.class, "a damaged gallery", () -> Gallery.open(blob + "/manifest.json", 0));
    galleryWriting();
    zippedBundles(blob, frame, faces.get(0));
  }

  /** A bundle zip loads as its folder does; a member pointing outside it, or a file that is no zip, is refused. */
  private static void zippedBundles(String blob, Image frame, Face expected) throws Exception {
    java.nio.file.Path dir = Files.createTempDirectory("edgeface-java-zip");
    java.nio.file.Path zip = dir.resolve("blob.zip"), evil = dir.resolve("evil.zip");
    try (java.util.zip.ZipOutputStream out = new java.util.zip.ZipOutputStream(Files.newOutputStream(zip))) {
      for (java.io.File member : new java.io.File(blob).listFiles()) {
        out.putNextEntry(new java.util.zip.ZipEntry(member.getName()));
        out.write(Files.readAllBytes(member.toPath()));
      }
    }
    try (FaceAnalyzer zipped = FaceAnalyzer.create(zip.toString(), null)) {
      List<Face> found = zipped.analyze(frame);
      check(found.size() == 1 && Math.abs(found.get(0).x1 - expected.x1) < 1e-3f, "a zipped bundle finds the face");
    }
    try (java.util.zip.ZipOutputStream out = new java.util.zip.ZipOutputStream(Files.newOutputStream(evil))) {
      out.putNextEntry(new java.util.zip.ZipEntry("../escaped.txt"));
      out.write(new byte[] {1, 2, 3});
    }
    try {
      FaceAnalyzer.create(evil.toString(), null);
      check(false, "a member outside the bundle was accepted");
    } catch (EdgefaceException e) {
      check(e.status == Status.BUNDLE && e.getMessage().contains("outside"), "zip slip: " + e.getMessage());
    }
    check(!Files.exists(Paths.get(System.getProperty("java.io.tmpdir"), "escaped.txt")), "nothing written outside");
    try {
      FaceAnalyzer.create(blob + "/manifest.json", null);
      check(false, "a file that is no zip was accepted");
    } catch (EdgefaceException e) {
      check(e.status == Status.BUNDLE && e.getMessage().contains("manifest.json"), "no zip: " + e.getMessage());
    }
  }

  /** A gallery is tied to the embedder that filled it: another model of the same size is refused. */
  private static void galleryBinding(String floatBundle, String int8Bundle) {
    try (FaceAnalyzer made = FaceAnalyzer.create(floatBundle, null);
         FaceAnalyzer other = FaceAnalyzer.create(int8Bundle, null);
         Gallery gallery = Gallery.create(made.embeddingSize())) {
      gallery.bind(made);
      gallery.bind(made);  // the same embedder again: fine
      check(other.embeddingSize() == made.embeddingSize(), "both fixtures embed alike-sized vectors");
      try {
        gallery.bind(other);
        check(false, "another embedder bound the gallery");
      } catch (EdgefaceException e) {
        check(e.status == Status.GALLERY && e.getMessage().contains("re-enroll"), "another embedder: " + e.getMessage());
      }
      expectThrows(IllegalArgumentException.class, "a null analyzer", () -> gallery.bind(null));
    }
  }

  /** Enrolment and saving: names outside the Basic Multilingual Plane survive the round trip (JNI's
   * modified UTF-8 would change them); names and embeddings the SDK refuses are exceptions. */
  private static void galleryWriting() throws Exception {
    java.nio.file.Path dir = Files.createTempDirectory("edgeface-java-gallery");
    String file = dir.resolve("people.efg").toString(), name = "Zo\u00eb \ud83d\ude42";
    float[] zoe = {3, 1, 0, 0, 0, 0, 0, 0}, other = {0, 0, 2, 0, 0, 0, 0, 0};
    Gallery gallery = Gallery.create(8);
    check(gallery.enroll(name, zoe) == 1 && gallery.enroll(name, zoe, zoe) == 3, "template counts");
    check(gallery.enroll("other", other) == 1, "a second identity");
    expectThrows(IllegalArgumentException.class, "a lone surrogate", () -> gallery.enroll("a\ud83d", zoe));
    expectThrows(IllegalArgumentException.class, "a NUL in a name", () -> gallery.enroll("a\0b", zoe));
    expectThrows(IllegalArgumentException.class, "rows of two lengths", () -> gallery.enroll("a", zoe, new float[3]));
    try {
      gallery.enroll("esc\u001b[31m", zoe);
      check(false, "a control character was enrolled");
    } catch (EdgefaceException e) {
      check(e.status == Status.ARGUMENT && e.getMessage().contains("control"), "a control character: " + e.getMessage());
    }
    expectThrows(EdgefaceException.class, "another template size", () -> gallery.enroll("a", new float[4]));
    expectThrows(EdgefaceException.class, "save with no file yet", gallery::save);
    gallery.save(file);
    check(gallery.remove("other") == 1 && gallery.identityCount() == 1, "remove");
    gallery.close();
    expectThrows(IllegalStateException.class, "save after close", gallery::save);
    try (Gallery reopened = Gallery.open(file, 8)) {
      List<Match> best = reopened.search(zoe, 1, 0f);
      check(reopened.templateCount() == 4 && best.get(0).name.equals(name), "the name comes back: " + best.get(0).name);
    }
  }
}
