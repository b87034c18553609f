// The face pipeline through the C interface on the fixture bundles, whose blob detectors
// fire on white squares (tests/fixtures/README.md): a square of side 80 centred at
// (200, 200) in a 640x480 black frame is one face, its box 120 px square on the same
// centre, its first keypoint 25 px left and 20 px above it (as tests/test_analyzer.py).
// Parity with the Python SDK on real faces is tests/test_native_parity.py's.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "analyzer.h"
#include "bundle.h"
#include "edgeface.h"
#include "stage_times.h"
#include "test_paths.h"

namespace {

using edgeface::testing::repo_path;

struct Square {
  int cx, cy, side;
};

std::vector<uint8_t> blob_rgb(int width, int height, const std::vector<Square>& squares) {
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3, 0);
  for (const Square& s : squares)
    for (int y = std::max(s.cy - s.side / 2, 0); y < std::min(s.cy + s.side / 2, height); ++y)
      for (int x = std::max(s.cx - s.side / 2, 0); x < std::min(s.cx + s.side / 2, width); ++x)
        for (int c = 0; c < 3; ++c) rgb[(static_cast<size_t>(y) * width + x) * 3 + c] = 255;
  return rgb;
}

edgeface_image rgb_image(const std::vector<uint8_t>& rgb, int width, int height) {
  edgeface_image image{};
  image.format = EDGEFACE_PIXEL_RGB;
  image.width = width;
  image.height = height;
  image.pixels = rgb.data();
  image.stride = static_cast<size_t>(width) * 3;
  image.size = rgb.size();
  image.yuv_full_range = 1;
  return image;
}

// The upright RGB frame as a sensor's NV21 frame that rotation 90 (clockwise) turns
// upright: sensor pixel (x, y) lands on upright pixel (width - 1 - y, x). Grey only
// (chroma 128), as the blobs are.
std::vector<uint8_t> nv21_rotated(const std::vector<uint8_t>& rgb, int width, int height) {
  const int sensor_w = height, sensor_h = width;
  std::vector<uint8_t> yuv(static_cast<size_t>(sensor_w) * sensor_h * 3 / 2, 128);
  for (int y = 0; y < sensor_h; ++y)
    for (int x = 0; x < sensor_w; ++x) {
      const int ux = width - 1 - y, uy = x;
      yuv[static_cast<size_t>(y) * sensor_w + x] = rgb[(static_cast<size_t>(uy) * width + ux) * 3];
    }
  return yuv;
}

class Analyzer : public ::testing::Test {
 protected:
  void open(const std::string& fixture, int max_faces = 0, edgeface_search search = EDGEFACE_SEARCH_BUNDLE) {
    edgeface_analyzer_destroy(analyzer_);
    analyzer_ = edgeface::testing::open_analyzer(fixture, max_faces, search);
    ASSERT_NE(analyzer_, nullptr);
  }
  void TearDown() override { edgeface_analyzer_destroy(analyzer_); }
  // detect (or analyze) the 640x480 frame with one square at (200, 200)
  edgeface_faces one_square(bool analyze) {
    frame_ = blob_rgb(640, 480, {{200, 200, 80}});
    const edgeface_image image = rgb_image(frame_, 640, 480);
    edgeface_faces faces{};
    const edgeface_status status = analyze ? edgeface_analyzer_analyze(analyzer_, &image, &faces)
                                           : edgeface_analyzer_detect(analyzer_, &image, &faces);
    EXPECT_EQ(status, EDGEFACE_OK) << edgeface_last_error();
    return faces;
  }
  edgeface_analyzer* analyzer_ = nullptr;
  std::vector<uint8_t> frame_;
};

void expect_square_face(const edgeface_faces& faces, size_t index, float cx, float cy) {
  const float* box = faces.boxes + 4 * index;
  EXPECT_NEAR((box[0] + box[2]) / 2, cx, 1.0);
  EXPECT_NEAR((box[1] + box[3]) / 2, cy, 1.0);
  EXPECT_NEAR(box[2] - box[0], 120.0, 1.0);
  EXPECT_NEAR(box[3] - box[1], 120.0, 1.0);
  EXPECT_GT(faces.scores[index], 0.99f);
  const float* first = faces.keypoints + index * faces.num_keypoints * 2;
  EXPECT_NEAR(first[0], cx - 25, 1.0);
  EXPECT_NEAR(first[1], cy - 20, 1.0);
}

TEST_F(Analyzer, DetectsTheSquareInImagePixelsWithTheManifestsKeypointNames) {
  open("blob_blazeface");
  const edgeface_faces faces = one_square(false);
  ASSERT_EQ(faces.count, 1u);
  ASSERT_EQ(faces.num_keypoints, 6);
  expect_square_face(faces, 0, 200, 200);
  EXPECT_EQ(faces.embeddings, nullptr);
  const char* names[] = {"right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear"};
  for (int i = 0; i < 6; ++i) {
    const char* name = nullptr;
    ASSERT_EQ(edgeface_analyzer_keypoint_name(analyzer_, i, &name), EDGEFACE_OK);
    EXPECT_STREQ(name, names[i]);
  }
  const char* name = nullptr;
  EXPECT_EQ(edgeface_analyzer_keypoint_name(analyzer_, 6, &name), EDGEFACE_ERROR_ARGUMENT);
}

TEST_F(Analyzer, FindsTwoFacesBestFirstNoneOnBlackAndHonoursMaxFaces) {
  open("blob_blazeface");
  const auto two = blob_rgb(640, 480, {{200, 200, 80}, {440, 280, 80}});
  const edgeface_image image = rgb_image(two, 640, 480);
  edgeface_faces faces;
  ASSERT_EQ(edgeface_analyzer_detect(analyzer_, &image, &faces), EDGEFACE_OK);
  ASSERT_EQ(faces.count, 2u);
  EXPECT_GE(faces.scores[0], faces.scores[1]);
  const auto black = blob_rgb(640, 480, {});
  const edgeface_image dark = rgb_image(black, 640, 480);
  ASSERT_EQ(edgeface_analyzer_detect(analyzer_, &dark, &faces), EDGEFACE_OK);
  EXPECT_EQ(faces.count, 0u);
  open("blob_blazeface", 1);
  ASSERT_EQ(edgeface_analyzer_detect(analyzer_, &image, &faces), EDGEFACE_OK);
  EXPECT_EQ(faces.count, 1u);
}

TEST_F(Analyzer, AnNv21FrameWithRotationGivesTheUprightFaces) {
  open("blob_blazeface");
  const auto rgb = blob_rgb(640, 480, {{200, 200, 80}});
  const auto yuv = nv21_rotated(rgb, 640, 480);
  edgeface_image frame{};
  frame.format = EDGEFACE_PIXEL_NV21;
  frame.width = 480;
  frame.height = 640;
  frame.pixels = yuv.data();
  frame.stride = 480;
  frame.size = 480 * 640;
  frame.chroma = yuv.data() + frame.size;
  frame.chroma_stride = 480;
  frame.chroma_size = yuv.size() - frame.size;
  frame.rotation = 90;
  frame.yuv_full_range = 1;
  edgeface_faces faces;
  ASSERT_EQ(edgeface_analyzer_detect(analyzer_, &frame, &faces), EDGEFACE_OK) << edgeface_last_error();
  ASSERT_EQ(faces.count, 1u);
  expect_square_face(faces, 0, 200, 200);
}

// The tiles of a search are views of the upright image: a sensor's NV21 frame turned 90
// degrees gives the faces its upright RGB twin gives, tiles and all.
TEST_F(Analyzer, ATiledSearchOfARotatedNv21FrameGivesTheUprightFrames) {
  const int width = 1280, height = 960;
  const auto rgb = blob_rgb(width, height, {{200, 200, 80}, {700, 500, 48}, {1000, 800, 36}});
  const auto yuv = nv21_rotated(rgb, width, height);
  edgeface_image frame{};
  frame.format = EDGEFACE_PIXEL_NV21;
  frame.width = height;
  frame.height = width;
  frame.pixels = yuv.data();
  frame.stride = static_cast<size_t>(height);
  frame.size = static_cast<size_t>(width) * height;
  frame.chroma = yuv.data() + frame.size;
  frame.chroma_stride = frame.stride;
  frame.chroma_size = yuv.size() - frame.size;
  frame.rotation = 90;
  frame.yuv_full_range = 1;
  const edgeface_image upright = rgb_image(rgb, width, height);
  open("blob_blazeface", 0, EDGEFACE_SEARCH_WHOLE);
  edgeface_faces faces;
  ASSERT_EQ(edgeface_analyzer_detect(analyzer_, &upright, &faces), EDGEFACE_OK) << edgeface_last_error();
  const size_t whole = faces.count;
  open("blob_blazeface", 0, EDGEFACE_SEARCH_ALL);
  ASSERT_EQ(edgeface_analyzer_detect(analyzer_, &upright, &faces), EDGEFACE_OK) << edgeface_last_error();
  const std::vector<float> expected(faces.boxes, faces.boxes + 4 * faces.count);
  EXPECT_GT(faces.count, whole);  // the tiles find squares too small for the whole-image pass
  ASSERT_EQ(edgeface_analyzer_detect(analyzer_, &frame, &faces), EDGEFACE_OK) << edgeface_last_error();
  ASSERT_EQ(faces.count * 4, expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(faces.boxes[i], expected[i], 0.5) << i;
}

TEST_F(Analyzer, TheInt8BundleFindsTheSameFace) {
  open("blob_blazeface_int8");
  const edgeface_faces faces = one_square(true);
  ASSERT_EQ(faces.count, 1u);
  expect_square_face(faces, 0, 200, 200);
  ASSERT_NE(faces.embeddings, nullptr);
}

TEST_F(Analyzer, AnalyzeEmbedsUnitVectorsThatEmbedFacesAndCompareAgreeWith) {
  open("blob_blazeface");
  const auto rgb = blob_rgb(640, 480, {{200, 200, 80}, {440, 280, 80}});
  const edgeface_image image = rgb_image(rgb, 640, 480);
  edgeface_faces faces;
  ASSERT_EQ(edgeface_analyzer_analyze(analyzer_, &image, &faces), EDGEFACE_OK) << edgeface_last_error();
  ASSERT_EQ(faces.count, 2u);
  ASSERT_GT(faces.embedding_size, 0);
  const size_t dim = static_cast<size_t>(faces.embedding_size);
  const std::vector<float> analyzed(faces.embeddings, faces.embeddings + 2 * dim);
  const std::vector<float> keypoints(faces.keypoints, faces.keypoints + 2 * faces.num_keypoints * 2);
  for (size_t face = 0; face < 2; ++face) {
    double norm = 0;
    for (size_t i = 0; i < dim; ++i) norm += analyzed[face * dim + i] * analyzed[face * dim + i];
    EXPECT_NEAR(norm, 1.0, 1e-5);
  }
  std::vector<float> embedded(2 * dim);
  ASSERT_EQ(edgeface_analyzer_embed_faces(analyzer_, &image, keypoints.data(), 2, embedded.data(), embedded.size()),
            EDGEFACE_OK);
  EXPECT_EQ(embedded, analyzed);
  float similarity = 0;
  int32_t match = 0;
  ASSERT_EQ(edgeface_analyzer_compare(analyzer_, embedded.data(), analyzed.data(), dim, &similarity, &match), EDGEFACE_OK);
  EXPECT_NEAR(similarity, 1.0, 1e-5);
  EXPECT_EQ(match, 1);
  EXPECT_EQ(edgeface_analyzer_embed_faces(analyzer_, &image, keypoints.data(), 2, embedded.data(), dim),
            EDGEFACE_ERROR_ARGUMENT);
  EXPECT_EQ(edgeface_analyzer_compare(analyzer_, embedded.data(), analyzed.data(), dim - 1, &similarity, &match),
            EDGEFACE_ERROR_ARGUMENT);
}

TEST_F(Analyzer, RefusesWhatTheBundleCannotDoAndImagesThatDoNotHoldTheirPixels) {
  open("blob_detector_only");
  const auto rgb = blob_rgb(64, 48, {});
  edgeface_image image = rgb_image(rgb, 64, 48);
  edgeface_faces faces;
  EXPECT_EQ(edgeface_analyzer_analyze(analyzer_, &image, &faces), EDGEFACE_ERROR_ARGUMENT);
  EXPECT_NE(std::string(edgeface_last_error()).find("no embedder"), std::string::npos) << edgeface_last_error();
  image.stride = 64;  // narrower than a row of RGB pixels
  EXPECT_EQ(edgeface_analyzer_detect(analyzer_, &image, &faces), EDGEFACE_ERROR_IMAGE);
  EXPECT_NE(std::string(edgeface_last_error()).find("image"), std::string::npos);
  image = rgb_image(rgb, 64, 48);
  image.rotation = 45;
  EXPECT_EQ(edgeface_analyzer_detect(analyzer_, &image, &faces), EDGEFACE_ERROR_IMAGE);
  image.rotation = 0;
  image.format = static_cast<edgeface_pixel_format>(17);
  EXPECT_EQ(edgeface_analyzer_detect(analyzer_, &image, &faces), EDGEFACE_ERROR_IMAGE);
  EXPECT_EQ(edgeface_analyzer_detect(analyzer_, nullptr, &faces), EDGEFACE_ERROR_ARGUMENT);
}

TEST(AnalyzerCreate, RefusesAnOnnxBundleAndBadOptions) {
  edgeface_bundle* bundle = nullptr;
  ASSERT_EQ(edgeface_bundle_open(repo_path("tests/fixtures/bundles/blob_scrfd_onnx").c_str(), &bundle), EDGEFACE_OK);
  edgeface_analyzer_options options;
  edgeface_analyzer_options_default(&options);
  edgeface_analyzer* analyzer = nullptr;
  EXPECT_EQ(edgeface_analyzer_create(bundle, &options, &analyzer), EDGEFACE_ERROR_MODEL_LOAD);
  EXPECT_NE(std::string(edgeface_last_error()).find("tflite"), std::string::npos) << edgeface_last_error();
  EXPECT_EQ(analyzer, nullptr);
  edgeface_bundle_close(bundle);
  ASSERT_EQ(edgeface_bundle_open(repo_path("tests/fixtures/bundles/blob_blazeface").c_str(), &bundle), EDGEFACE_OK);
  options.num_threads = 0;
  EXPECT_EQ(edgeface_analyzer_create(bundle, &options, &analyzer), EDGEFACE_ERROR_ARGUMENT);
  edgeface_analyzer_options_default(&options);
  options.score_threshold = NAN;
  EXPECT_EQ(edgeface_analyzer_create(bundle, &options, &analyzer), EDGEFACE_ERROR_ARGUMENT);
  edgeface_analyzer_options_default(&options);
  options.accelerator = static_cast<edgeface_accelerator>(3);
  EXPECT_EQ(edgeface_analyzer_create(bundle, &options, &analyzer), EDGEFACE_ERROR_ARGUMENT);
  edgeface_analyzer_options_default(&options);
  options.search = static_cast<edgeface_search>(4);
  EXPECT_EQ(edgeface_analyzer_create(bundle, &options, &analyzer), EDGEFACE_ERROR_ARGUMENT);
  edgeface_analyzer_options_default(&options);
  options.min_face = 7;
  EXPECT_EQ(edgeface_analyzer_create(bundle, &options, &analyzer), EDGEFACE_ERROR_ARGUMENT);
  EXPECT_NE(std::string(edgeface_last_error()).find("min_face"), std::string::npos) << edgeface_last_error();
  edgeface_analyzer_options_default(&options);
  options.accelerator = EDGEFACE_ACCELERATOR_NPU;  // the test's LiteRT (the wheel's) has no NPU accelerator
  EXPECT_EQ(edgeface_analyzer_create(bundle, &options, &analyzer), EDGEFACE_ERROR_MODEL_LOAD);
  EXPECT_NE(std::string(edgeface_last_error()).find("npu accelerator"), std::string::npos) << edgeface_last_error();
  EXPECT_EQ(edgeface_analyzer_create(bundle, nullptr, &analyzer), EDGEFACE_ERROR_ARGUMENT);
  edgeface_bundle_close(bundle);
}


// The core analyzer's stage times (tools/edgeface_bench's breakdown): every stage of a call
// is timed, each model's run within its stage; without times given nothing is kept and the
// results are the same.
TEST(AnalyzerStageTimes, EachStageOfAnAnalyzeIsTimedAndTheResultsDoNotChange) {
  const edgeface::Bundle bundle = edgeface::Bundle::open(repo_path("tests/fixtures/bundles/blob_blazeface"));
  edgeface::Analyzer analyzer(bundle, edgeface::AnalyzerOptions{});
  const auto rgb = blob_rgb(640, 480, {{200, 200, 80}, {440, 280, 80}});
  edgeface::vision::ImageView view;
  view.width = 640;
  view.height = 480;
  view.pixels = rgb.data();
  view.stride = 640 * 3;
  view.size = rgb.size();
  analyzer.analyze(view);
  const std::vector<float> untimed = analyzer.embeddings();
  edgeface::StageTimes times;
  analyzer.set_stage_times(&times);
  analyzer.analyze(view);
  ASSERT_EQ(analyzer.faces().size(), 2u);
  EXPECT_EQ(analyzer.embeddings(), untimed);
  for (double ms : {times.preprocess_ms, times.detect_ms, times.detect_invoke_ms, times.align_ms, times.embed_ms,
                    times.embed_invoke_ms})
    EXPECT_GT(ms, 0.0);
  EXPECT_LE(times.detect_invoke_ms, times.detect_ms);
  EXPECT_LE(times.embed_invoke_ms, times.embed_ms);
  const edgeface::StageTimes after_one = times;
  analyzer.detect(view);  // adds to the same times: preprocess and detect only
  EXPECT_GT(times.detect_ms, after_one.detect_ms);
  EXPECT_EQ(times.align_ms, after_one.align_ms);
  const edgeface::StageTimes after_detect = times;
  analyzer.set_stage_times(nullptr);
  analyzer.analyze(view);
  EXPECT_EQ(times.preprocess_ms, after_detect.preprocess_ms);
  EXPECT_EQ(times.detect_ms, after_detect.detect_ms);
  EXPECT_EQ(times.embed_ms, after_detect.embed_ms);
}

}  // namespace
