// The tiles of the search for small faces in large photos (edgeface/tiled_search.py): a
// pyramid of square windows, each level's side half the last, whose faces are merged with
// the whole image's. Pure geometry: the detector runs in the core library.
#pragma once

#include <vector>

#include "edgeface/vision/detections.h"

namespace edgeface::vision {

// The smallest tile's side, in faces of min_face pixels (tiled_search.FACE_PER_TILE).
constexpr int kFacePerTile = 4;
// A box this close to a tile's inner border is a face the border cut (tiled_search.BORDER_PX).
constexpr float kTileBorderPx = 2.0f;

struct Tile {  // a window of the upright image, in pixels
  int x = 0, y = 0, width = 0, height = 0;
};

// The tiles of each level below the whole image, coarsest first: sides of half the
// image's longer side, then halving, while a side holds kFacePerTile faces of min_face
// pixels; tiles of a level overlap by half their side and the last is flush with the edge.
std::vector<std::vector<Tile>> tile_levels(int width, int height, int min_face);

// Drops from `found` (tile pixels) the faces an inner border of `tile` cuts, and moves the
// rest into image pixels (an image of `width` x `height`), appending them to `out`.
void keep_uncut(const Detections& found, const Tile& tile, int width, int height, Detections& out);

}  // namespace edgeface::vision
