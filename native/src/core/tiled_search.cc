#include "tiled_search.h"

#include <algorithm>

#include "edgeface/vision/tiles.h"
#include "error.h"
#include "vision_specs.h"

namespace edgeface {

Search search_named(const std::string& name) {
  if (name == "auto") return Search::automatic;
  if (name == "all") return Search::all;
  if (name == "whole") return Search::whole;
  throw Error(Category::kArgument, "search: '" + name + "' is not a search: choose whole, auto or all");
}

bool TiledSearch::ends_after_whole(const SearchSettings& settings, const vision::Detections& whole, int width,
                                   int height) const {
  if (settings.search == Search::whole) return true;
  if (settings.search == Search::all) return false;
  float widest = -1.0f;
  for (std::size_t i = 0; i < whole.size(); ++i) widest = std::max(widest, whole.boxes[4 * i + 2] - whole.boxes[4 * i]);
  return whole.size() > 0 && widest >= static_cast<float>(settings.stop_fraction * std::min(width, height));
}

void TiledSearch::run(Detector& detector, const vision::ImageView& image, const SearchSettings& settings,
                      double score_threshold, int max_faces, vision::Detections& faces) {
  const DetectorSpec& spec = detector.spec();
  const double threshold = score_threshold < 0 ? spec.score_threshold : score_threshold;
  const int limit = max_faces > 0 ? max_faces : static_cast<int>(spec.max_faces);
  detector.detect(image, threshold, limit, faces);
  const int width = vision::upright_width(image), height = vision::upright_height(image);
  if (ends_after_whole(settings, faces, width, height)) return;

  all_ = faces;
  const auto levels = vision::tile_levels(width, height, settings.min_face);
  if (!levels.empty()) {
    upright_.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
    require_image(vision::to_rgb(image, {upright_.data(), upright_.size()}));
  }
  const double tiled_threshold = std::max(threshold, settings.tile_score_threshold);
  const std::size_t row = static_cast<std::size_t>(width) * 3;
  for (const auto& level : levels) {
    for (const vision::Tile& tile : level) {
      const std::size_t offset = static_cast<std::size_t>(tile.y) * row + static_cast<std::size_t>(tile.x) * 3;
      vision::ImageView view;
      view.format = vision::PixelFormat::rgb;
      view.width = tile.width;
      view.height = tile.height;
      view.pixels = upright_.data() + offset;
      view.stride = row;
      view.size = upright_.size() - offset;
      detector.detect(view, tiled_threshold, limit, found_);
      vision::keep_uncut(found_, tile, width, height, all_);
    }
  }
  vision::suppress(all_, vision_nms(spec.nms), static_cast<float>(spec.nms_iou), limit, faces);
}

}  // namespace edgeface
