// A bundle's manifest.json as plain structs, validated exactly as edgeface/bundle.py and
// its decoders validate it: the same limits, error categories and dotted field paths
// (tests/conformance is the contract both runtimes pass; docs/bundle.md the field list).
// Field names follow the Python specs (InputSpec, DetectorSpec, DecoderSpec, ...).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace edgeface {

constexpr int kSchemaVersion = 1;
constexpr size_t kMaxManifestBytes = 4u << 20;
constexpr uint64_t kMaxFileBytes = 1ull << 30;
constexpr int64_t kMaxInputSide = 2048;
constexpr int64_t kMaxTemplatePoints = 100;
constexpr double kMinTemplateSpacing = 1.0;
constexpr int64_t kMaxEmbeddingSize = 65536;
constexpr int64_t kMaxFaces = 10000;
constexpr uint64_t kMaxAnchors = 500000;

struct InputSpec {
  int height = 0, width = 0;
  std::string layout, dtype, channel_order;  // NHWC|NCHW, float32|uint8|int8, RGB|BGR
  double mean[3] = {0, 0, 0};
  double std[3] = {1, 1, 1};
  std::string resize, pad;  // letterbox|stretch, center|corner
  std::string sampling;     // half_pixel|top_left
};

struct TargetSpec {
  std::string soc, file, sha256, format, accelerator, precision;
  int64_t htp_arch = 0, soc_model = 0;
};

// A model output named by tensor name or by position.
struct OutputRef {
  bool by_name = true;
  std::string name;   // when by_name
  int64_t index = 0;  // else the position given (a negative one names no output)
};

// decoder.anchors of an SSD decoder (MediaPipe's SsdAnchorsCalculator options).
struct SsdAnchors {
  std::vector<int64_t> strides;
  std::vector<double> aspect_ratios;
  double interpolated_scale_aspect_ratio = 1.0;
  bool reduce_boxes_in_lowest_layer = false;
  double min_scale = 0, max_scale = 0;
  double anchor_offset_x = 0.5, anchor_offset_y = 0.5;
  bool fixed_anchor_size = false;
};

struct SsdDecoderSpec {
  OutputRef boxes, scores;
  SsdAnchors anchors;
  std::string box_format;  // xywh|yxhw
  double box_scale[4] = {1, 1, 1, 1};
  int64_t box_offset = 0, keypoint_offset = 4;
  std::string score_activation;  // sigmoid|none
  std::optional<double> score_clip;
};

struct ScrfdDecoderSpec {
  std::vector<int64_t> strides;
  int64_t anchors_per_cell = 2;
  std::vector<OutputRef> scores, boxes, keypoints;  // one per stride (keypoints empty without any)
  std::string score_activation;
};

// The detector's decoder: ``family`` says which of ssd / scrfd is filled in.
struct DecoderSpec {
  std::string family;  // ssd|scrfd
  std::optional<std::string> preset;
  int64_t num_keypoints = 0;
  SsdDecoderSpec ssd;
  ScrfdDecoderSpec scrfd;
};

struct ModelSpec {
  std::string role, file, sha256, format;
  InputSpec input;
  std::vector<TargetSpec> targets;  // in manifest order
};

struct DetectorSpec : ModelSpec {
  DecoderSpec decoder;
  std::vector<std::string> keypoint_names;
  double score_threshold = 0, nms_iou = 0;
  std::string nms;  // hard|weighted
  int64_t max_faces = 100;
  std::string search = "whole";  // whole|auto|all: the analyzer's search unless its options choose
};

struct AlignmentSpec {
  int width = 0, height = 0;
  std::vector<std::pair<std::string, std::pair<double, double>>> template_points;  // in manifest order
};

struct EmbedderSpec : ModelSpec {
  int64_t embedding_size = 0;
  std::optional<std::string> output;
  AlignmentSpec alignment;
  double verify_threshold = 0;
  std::optional<double> verify_far;
};

// A second output of a landmark model that gives some points more precisely (bundle.py's
// Refinement): 2 or 3 values per point of ``points``; ``depth_from`` sets their z to the
// mean z of those points.
struct Refinement {
  std::string output;
  std::vector<int64_t> points, depth_from;
};

// A dense face landmark model (MediaPipe's face mesh): parsed and checked as bundle.py's
// LandmarksSpec so that every runtime accepts the same bundles; the native core does not
// run it yet (the Python SDK does).
struct LandmarksSpec : ModelSpec {
  int64_t points = 0;
  std::string points_output;
  std::optional<std::string> presence_output;
  double presence_threshold = 0.5, roi_scale = 1.5;
  std::vector<std::string> roi_keypoints;  // two detector keypoint names
  std::vector<int64_t> roi_points;  // two point indices
  std::vector<std::pair<std::string, std::vector<int64_t>>> point_groups;  // in manifest order
  std::vector<Refinement> refinements;  // applied in this order over the points output's values
};

struct Manifest {
  std::string name, description;
  std::optional<DetectorSpec> detector;
  std::optional<EmbedderSpec> embedder;
  std::optional<LandmarksSpec> landmarks;
};

// Parse and validate manifest.json's bytes; throws Error (kManifest, with the field path).
// ``source`` names the file in messages.
Manifest parse_manifest(const std::string& text, const std::string& source = "manifest.json");

}  // namespace edgeface
