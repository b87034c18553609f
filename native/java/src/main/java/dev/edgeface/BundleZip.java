package dev.edgeface;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;

/**
 * A zipped bundle (what `edgeface export` and the Python SDK's FaceAnalyzer take), unpacked
 * into a private temporary folder for the native core, which reads bundle folders: the
 * analyzer reads its models into memory, so the folder is deleted right after it is made.
 * The zip is untrusted: member paths must stay inside the folder, and the bytes actually
 * unpacked are bounded (a small zip can claim to hold terabytes).
 */
final class BundleZip {
  static final long MAX_MEMBER_BYTES = 1L << 30;  // the Python SDK's limit per model file
  static final long MAX_TOTAL_BYTES = 2L << 30;
  static final int MAX_MEMBERS = 1000;
  private static final String FIX = ": use a zip made by edgeface export, or the bundle folder";

  private BundleZip() {}

  static boolean isZip(String path) {
    return Files.isRegularFile(Paths.get(path));
  }

  /** Unpacks the zip into a new temporary folder and returns it; the caller deletes it. */
  static Path extract(String zip) {
    Path folder;
    try {
      folder = Files.createTempDirectory("edgeface-bundle");
    } catch (IOException e) {
      throw new EdgefaceException(Status.BUNDLE.code, "cannot make a temporary folder to unpack " + zip + ": " + e);
    }
    try (ZipInputStream in = new ZipInputStream(Files.newInputStream(Paths.get(zip)))) {
      long total = 0;
      int members = 0;
      for (ZipEntry entry; (entry = in.getNextEntry()) != null; ) {
        if (++members > MAX_MEMBERS) throw bad(zip, "more than " + MAX_MEMBERS + " members");
        Path target = member(folder, zip, entry.getName());
        if (entry.isDirectory()) {
          Files.createDirectories(target);
          continue;
        }
        Files.createDirectories(target.getParent());
        total += copy(in, target, zip, entry.getName(), MAX_TOTAL_BYTES - total);
      }
      if (members == 0) throw bad(zip, "not a zip file, or an empty one");
      return folder;
    } catch (IOException | IllegalArgumentException e) {
      delete(folder);
      throw bad(zip, "unreadable zip (" + e.getMessage() + ")");
    } catch (RuntimeException e) {
      delete(folder);
      throw e;
    }
  }

  /** Deletes the folder extract made (nothing else: only its own temporary files). */
  static void delete(Path folder) {
    try {
      Files.walkFileTree(folder, new SimpleFileVisitor<Path>() {
        @Override
        public FileVisitResult visitFile(Path file, BasicFileAttributes attributes) throws IOException {
          Files.deleteIfExists(file);
          return FileVisitResult.CONTINUE;
        }

        @Override
        public FileVisitResult postVisitDirectory(Path dir, IOException failure) throws IOException {
          Files.deleteIfExists(dir);
          return FileVisitResult.CONTINUE;
        }
      });
    } catch (IOException ignored) {
      // a temporary folder left behind is the system's to clean; the analyzer does not need it
    }
  }

  private static Path member(Path folder, String zip, String name) {
    Path relative = Paths.get(name).normalize();
    if (name.contains("\\") || relative.isAbsolute() || relative.startsWith("..") || name.isEmpty())
      throw bad(zip, "member " + name + " points outside the bundle");
    return folder.resolve(relative);
  }

  /** Copies one member, at most MAX_MEMBER_BYTES and `budget` bytes; returns its size. */
  private static long copy(InputStream in, Path target, String zip, String name, long budget) throws IOException {
    long limit = Math.min(MAX_MEMBER_BYTES, budget), size = 0;
    byte[] buffer = new byte[1 << 16];
    try (OutputStream out = Files.newOutputStream(target)) {
      for (int got; (got = in.read(buffer)) > 0; ) {
        size += got;
        if (size > limit) throw bad(zip, "member " + name + " unpacks to more than " + limit + " bytes");
        out.write(buffer, 0, got);
      }
    }
    return size;
  }

  private static EdgefaceException bad(String zip, String reason) {
    return new EdgefaceException(Status.BUNDLE.code, zip + " is not a usable bundle zip: " + reason + FIX);
  }
}
