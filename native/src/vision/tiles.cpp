#include "edgeface/vision/tiles.h"

#include <algorithm>

namespace edgeface::vision {
namespace {

// Where windows of `side` (at most `length`) start along one axis: every half side, and
// one flush with the far end.
std::vector<int> starts(int length, int side) {
  if (side >= length) return {0};
  std::vector<int> at;
  for (int start = 0; start <= length - side; start += std::max(side / 2, 1)) at.push_back(start);
  if (at.back() + side < length) at.push_back(length - side);
  return at;
}

}  // namespace

std::vector<std::vector<Tile>> tile_levels(int width, int height, int min_face) {
  std::vector<std::vector<Tile>> levels;
  for (int side = std::max(width, height) / 2; side >= kFacePerTile * min_face; side /= 2) {
    const int w = std::min(side, width), h = std::min(side, height);
    std::vector<Tile> level;
    for (int y : starts(height, h))
      for (int x : starts(width, w)) level.push_back({x, y, w, h});
    levels.push_back(std::move(level));
  }
  return levels;
}

void keep_uncut(const Detections& found, const Tile& tile, int width, int height, Detections& out) {
  const float shift[2] = {static_cast<float>(tile.x), static_cast<float>(tile.y)};
  const float right = static_cast<float>(tile.width) - kTileBorderPx;
  const float bottom = static_cast<float>(tile.height) - kTileBorderPx;
  std::vector<float> points(2 * static_cast<std::size_t>(found.num_keypoints));
  for (std::size_t i = 0; i < found.size(); ++i) {
    const float* box = &found.boxes[4 * i];
    const bool cut = (tile.x > 0 && box[0] <= kTileBorderPx) || (tile.y > 0 && box[1] <= kTileBorderPx) ||
                     (tile.x + tile.width < width && box[2] >= right) ||
                     (tile.y + tile.height < height && box[3] >= bottom);
    if (cut) continue;
    const float moved[4] = {box[0] + shift[0], box[1] + shift[1], box[2] + shift[0], box[3] + shift[1]};
    for (std::size_t k = 0; k < points.size(); ++k) points[k] = found.keypoints[i * points.size() + k] + shift[k % 2];
    out.push(moved, found.scores[i], points.data());
  }
}

}  // namespace edgeface::vision
