package dev.edgeface.sample;

import dev.edgeface.Face;
import dev.edgeface.FaceAnalyzer;
import dev.edgeface.Gallery;
import dev.edgeface.Image;
import dev.edgeface.Match;
import dev.edgeface.Verification;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.List;

/**
 * What an Android app does with edgeface, as a plain main (an Activity would take its
 * pictures from the camera or a Bitmap): enroll people into a gallery file, identify the
 * faces of a picture against it, and verify two pictures. The gallery file is the Python
 * SDK's: it may have been enrolled there, and the SDK opens what this saves.
 *
 *   Sample BUNDLE GALLERY STEP...   with STEPs  enroll NAME PICTURE | identify PICTURE | verify PICTURE PICTURE
 *
 * Pictures are binary PPM (P6) files; GALLERY is created when it does not exist and saved
 * after the steps when one enrolled somebody.
 */
public final class Sample {
  private static final String USAGE =
      "usage: Sample BUNDLE GALLERY STEP...  (enroll NAME PICTURE | identify PICTURE | verify PICTURE PICTURE)";

  public static void main(String[] args) throws Exception {
    if (args.length < 3) fail(USAGE);
    Path galleryFile = Paths.get(args[1]);
    try (FaceAnalyzer analyzer = FaceAnalyzer.create(args[0], new FaceAnalyzer.Options());
         Gallery gallery = Files.exists(galleryFile) ? Gallery.open(args[1], analyzer.embeddingSize())
                                                     : Gallery.create(analyzer.embeddingSize())) {
      boolean enrolled = false;
      for (int i = 2; i < args.length; ) {
        String step = args[i];
        int needs = step.equals("enroll") || step.equals("verify") ? 2 : step.equals("identify") ? 1 : -1;
        if (needs < 0 || i + needs >= args.length) fail(USAGE);
        if (step.equals("enroll")) {
          enrolled |= enroll(analyzer, gallery, args[i + 1], args[i + 2]);
        } else if (step.equals("identify")) {
          identify(analyzer, gallery, args[i + 1]);
        } else {
          Verification same = analyzer.verify(picture(args[i + 1]), picture(args[i + 2]));
          System.out.printf("verify: similarity %.3f, same person: %b%n", same.similarity, same.isSame);
        }
        i += needs + 1;
      }
      if (enrolled) {
        gallery.save(args[1]);
        System.out.println("saved " + gallery.identityCount() + " identities to " + args[1]);
      }
    }
  }

  /** Enrolls the one face of the picture as name; a picture with no face or several is skipped. */
  private static boolean enroll(FaceAnalyzer analyzer, Gallery gallery, String name, String file) throws IOException {
    List<Face> faces = analyzer.analyze(picture(file));
    if (faces.size() != 1) {
      System.out.println("not enrolled " + name + ": " + faces.size() + " faces in " + file + ", need one");
      return false;
    }
    int templates = gallery.enroll(name, faces.get(0).embedding);
    System.out.println("enrolled " + name + ": " + templates + " template(s)");
    return true;
  }

  private static void identify(FaceAnalyzer analyzer, Gallery gallery, String file) throws IOException {
    List<Face> faces = analyzer.analyze(picture(file));
    System.out.println("faces: " + faces.size());
    for (Face face : faces) {
      List<Match> matches = gallery.search(face.embedding, 1, analyzer.threshold());
      System.out.printf("face at %.0f,%.0f-%.0f,%.0f score %.3f: %s%n", face.x1, face.y1, face.x2, face.y2, face.score,
                        matches.isEmpty() ? "unknown" : matches.get(0).name + " " + matches.get(0).score);
    }
  }

  /** A binary PPM (P6, 8-bit) picture as an RGB Image. */
  static Image picture(String file) throws IOException {
    byte[] bytes = Files.readAllBytes(Paths.get(file));
    int[] at = {0};
    String magic = token(bytes, at);
    int width = number(token(bytes, at)), height = number(token(bytes, at));
    String depth = token(bytes, at);
    long size = 3L * width * height;
    if (!magic.equals("P6") || !depth.equals("255") || width < 1 || height < 1 || bytes.length - at[0] - 1 != size)
      fail(file + ": not a binary 8-bit PPM (P6) picture: save it as one, e.g. with PIL's Image.save('x.ppm')");
    byte[] rgb = new byte[(int) size];
    System.arraycopy(bytes, at[0] + 1, rgb, 0, rgb.length);
    return Image.rgb(rgb, width, height, width * 3, 0);
  }

  private static int number(String text) {
    try {
      return Integer.parseInt(text);
    } catch (NumberFormatException e) {
      return -1;
    }
  }

  /** The next header token of a PPM (comments skipped); at[0] ends on the whitespace after it. */
  private static String token(byte[] bytes, int[] at) {
    StringBuilder text = new StringBuilder();
    while (at[0] < bytes.length && text.length() < 16) {
      char c = (char) (bytes[at[0]] & 0xff);
      if (c == '#' && text.length() == 0) {
        while (at[0] < bytes.length && bytes[at[0]] != '\n') ++at[0];
      } else if (Character.isWhitespace(c)) {
        if (text.length() > 0) break;
      } else {
        text.append(c);
      }
      ++at[0];
    }
    return text.toString();
  }

  private static void fail(String message) {
    System.err.println(message);
    System.exit(2);
  }
}
