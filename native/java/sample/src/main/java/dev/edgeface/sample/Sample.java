package dev.edgeface.sample;

import dev.edgeface.Face;
import dev.edgeface.FaceAnalyzer;
import dev.edgeface.Gallery;
import dev.edgeface.Image;
import dev.edgeface.Match;
import dev.edgeface.Verification;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.List;

/**
 * What an Android app does with edgeface, as a plain main (an Activity would get its
 * pictures from the camera): detect the faces of a picture, verify two pictures, and
 * identify a face against a gallery file the Python SDK enrolled.
 *   Sample BUNDLE GALLERY A.rgb B.rgb WIDTH HEIGHT   (raw RGB pictures of WIDTH x HEIGHT)
 */
public final class Sample {
  public static void main(String[] args) throws Exception {
    if (args.length != 6) {
      System.err.println("usage: Sample BUNDLE GALLERY A.rgb B.rgb WIDTH HEIGHT");
      System.exit(2);
    }
    int width = Integer.parseInt(args[4]), height = Integer.parseInt(args[5]);
    Image a = Image.rgb(Files.readAllBytes(Paths.get(args[2])), width, height, width * 3, 0);
    Image b = Image.rgb(Files.readAllBytes(Paths.get(args[3])), width, height, width * 3, 0);
    try (FaceAnalyzer analyzer = FaceAnalyzer.create(args[0], new FaceAnalyzer.Options());
         Gallery gallery = Gallery.open(args[1], 0)) {
      List<Face> faces = analyzer.analyze(a);
      System.out.println("faces: " + faces.size());
      for (Face face : faces) {
        List<Match> matches = gallery.search(face.embedding, 1, analyzer.threshold());
        System.out.printf("face at %.0f,%.0f-%.0f,%.0f score %.3f: %s%n", face.x1, face.y1, face.x2, face.y2,
                          face.score, matches.isEmpty() ? "unknown" : matches.get(0).name + " " + matches.get(0).score);
      }
      Verification same = analyzer.verify(a, b);
      System.out.printf("verify: similarity %.3f, same person: %b%n", same.similarity, same.isSame);
    }
  }
}
