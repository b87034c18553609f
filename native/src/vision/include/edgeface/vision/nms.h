// Non-maximum suppression (edgeface/decoders/nms.py): hard keeps the best box of each
// cluster, weighted (MediaPipe's) blends a cluster's boxes and keypoints by score.
#pragma once

#include "edgeface/vision/detections.h"

namespace edgeface::vision {

enum class NmsMethod { weighted, hard };

// The best-scoring candidates NMS looks at (edgeface.decoders.nms.MAX_CANDIDATES).
constexpr std::size_t kMaxCandidates = 20000;

// Greedy clustering, best score first: a box joins the cluster of the best free box when
// their IoU is above `iou_threshold`. At most `max_out` faces, best first, into `out`.
void suppress(const Detections& dets, NmsMethod method, float iou_threshold, int max_out, Detections& out);

}  // namespace edgeface::vision
