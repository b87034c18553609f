// Small faces in large photos (edgeface/tiled_search.py): the detector on the whole image,
// then on a pyramid of tiles (vision/tiles.h), all merged by the detector's suppression.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "detector.h"
#include "edgeface/vision/detections.h"
#include "edgeface/vision/image.h"

namespace edgeface {

enum class Search { whole, automatic, all };

// Parses the manifest's (and the Python SDK's) names: "whole", "auto", "all".
Search search_named(const std::string& name);

struct SearchSettings {
  Search search = Search::whole;
  int min_face = 40;                  // pixels: the narrowest face the tiles look for
  double tile_score_threshold = 0.7;  // tiled detections need at least this score
  double stop_fraction = 0.35;        // auto: a face this wide (of the shorter side) ends the search
};

class TiledSearch {
 public:
  // The faces in `image` by `detector` over the pyramid `settings` asks for, best first, at
  // `score_threshold` (< 0: the manifest's) and at most `max_faces` (<= 0: the manifest's).
  void run(Detector& detector, const vision::ImageView& image, const SearchSettings& settings,
           double score_threshold, int max_faces, vision::Detections& faces);

 private:
  bool ends_after_whole(const SearchSettings& settings, const vision::Detections& whole, int width, int height) const;

  std::vector<std::uint8_t> upright_;  // the image as upright RGB, which the tiles view
  vision::Detections found_, all_;
};

}  // namespace edgeface
