package dev.edgeface;

/** 1:1 verification: the two faces' cosine similarity and whether it reaches the bundle's threshold. */
public final class Verification {
  public final float similarity;
  public final boolean isSame;

  Verification(float similarity, boolean isSame) {
    this.similarity = similarity;
    this.isSame = isSame;
  }
}
