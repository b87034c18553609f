package dev.edgeface;

/** An identity a gallery search found: its name and the cosine similarity of its best template. */
public final class Match {
  public final String name;
  public final float score;

  Match(String name, float score) {
    this.name = name;
    this.score = score;
  }
}
