// Hard and weighted NMS on boxes whose overlaps are worked out by hand.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "edgeface/vision/nms.h"

namespace edgeface::vision {
namespace {

Detections boxes_of(std::initializer_list<std::array<float, 5>> rows) {  // x1 y1 x2 y2 score
  Detections dets;
  dets.reset(1);
  for (const auto& r : rows) {
    const float point[2] = {r[0], r[1]};  // the box's top-left corner as its keypoint
    dets.push(r.data(), r[4], point);
  }
  return dets;
}

TEST(Nms, OverlapExactlyAtTheThresholdIsKept) {
  // Areas 3 and 3, intersection 2, union 4: IoU exactly 0.5; only IoU above it suppresses.
  const Detections dets = boxes_of({{0, 0, 3, 1, 0.9f}, {1, 0, 4, 1, 0.8f}});
  Detections out;
  suppress(dets, NmsMethod::hard, 0.5f, 10, out);
  EXPECT_EQ(out.size(), 2u);
  suppress(dets, NmsMethod::hard, 0.49f, 10, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out.scores[0], 0.9f);
}

TEST(Nms, HardKeepsTheBestOfEachClusterBestFirst) {
  const Detections dets = boxes_of({{20, 20, 30, 30, 0.6f}, {0, 0, 10, 10, 0.7f},
                                    {1, 1, 11, 11, 0.95f}, {21, 21, 31, 31, 0.5f}});
  Detections out;
  suppress(dets, NmsMethod::hard, 0.3f, 10, out);
  EXPECT_EQ(out.scores, (std::vector<float>{0.95f, 0.6f}));
  EXPECT_EQ(out.boxes, (std::vector<float>{1, 1, 11, 11, 20, 20, 30, 30}));
  EXPECT_EQ(out.keypoints, (std::vector<float>{1, 1, 20, 20}));
  suppress(dets, NmsMethod::hard, 0.3f, 1, out);  // max_out
  EXPECT_EQ(out.size(), 1u);
}

TEST(Nms, WeightedAveragesTheClusterByScoreAndKeepsTheBestScore) {
  // IoU 81/119 > 0.3: one cluster, weights 0.9/1.5 = 0.6 and 0.4.
  const Detections dets = boxes_of({{0, 0, 10, 10, 0.9f}, {1, 1, 11, 11, 0.6f}, {50, 50, 60, 60, 0.4f}});
  Detections out;
  suppress(dets, NmsMethod::weighted, 0.3f, 10, out);
  EXPECT_EQ(out.scores, (std::vector<float>{0.9f, 0.4f}));
  const float boxes[8] = {0.4f, 0.4f, 10.4f, 10.4f, 50, 50, 60, 60};  // the second alone: itself
  ASSERT_EQ(out.boxes.size(), 8u);
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(out.boxes[i], boxes[i], 1e-5) << i;
  ASSERT_EQ(out.keypoints.size(), 4u);
  EXPECT_NEAR(out.keypoints[0], 0.4f, 1e-6);
  EXPECT_NEAR(out.keypoints[1], 0.4f, 1e-6);
}

TEST(Nms, EqualScoresKeepTheirOrderAndEmptyBoxesNeverOverlap) {
  const Detections dets = boxes_of({{5, 5, 5, 5, 0.5f}, {5, 5, 5, 5, 0.5f}, {0, 0, 1, 1, 0.5f}});
  Detections out;
  suppress(dets, NmsMethod::hard, 0.0f, 10, out);  // zero-area boxes: union 0, IoU 0
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out.boxes[8], 0.f);  // the third stays third
  suppress(Detections{}, NmsMethod::weighted, 0.3f, 10, out);
  EXPECT_EQ(out.size(), 0u);
}

}  // namespace
}  // namespace edgeface::vision
