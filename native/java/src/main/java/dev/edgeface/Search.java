package dev.edgeface;

/**
 * Where an analyzer looks for faces. A detector sees the whole image squeezed into its small
 * input, so small faces in a large photo need tiles as well (docs/sdk.md, "Small faces in
 * large photos").
 */
public enum Search {
  /** The bundle's own choice (its manifest's models.detector.search). */
  BUNDLE(0),
  /** One pass over the whole image: camera frames, selfies, video. */
  WHOLE(1),
  /** Also a pyramid of tiles, unless the whole image holds a large face. */
  AUTO(2),
  /** Always the whole image and every level of tiles. */
  ALL(3);

  final int code;  // edgeface_search in edgeface.h

  Search(int code) {
    this.code = code;
  }
}
