package dev.edgeface;

/** One face: its box and keypoints in upright image pixels, its score, and (from analyze)
 * its unit embedding. */
public final class Face {
  public final float x1, y1, x2, y2;
  public final float score;
  /** keypoints[i] = {x, y}, in the order of FaceAnalyzer.keypointNames(). */
  public final float[][] keypoints;
  /** The unit embedding (analyze), or null (detect). */
  public final float[] embedding;

  Face(float[] box, float score, float[][] keypoints, float[] embedding) {
    this.x1 = box[0];
    this.y1 = box[1];
    this.x2 = box[2];
    this.y2 = box[3];
    this.score = score;
    this.keypoints = keypoints;
    this.embedding = embedding;
  }
}
