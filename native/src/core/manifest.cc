// manifest.json -> Manifest, in the order and with the checks of edgeface/bundle.py's
// parse_manifest and the decoders' parse methods (see manifest.h).
#include "manifest.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "fields.h"

namespace edgeface {
namespace {

constexpr size_t kMaxJsonDepth = 256;  // deeper nesting is refused before the (recursive) parser sees it

const std::vector<std::string> kRoles = {"detector", "embedder", "landmarks"};
constexpr int64_t kMaxLandmarks = 10000;
constexpr size_t kMaxPointGroups = 100;
constexpr size_t kMaxRefinements = 16;

Json decode(const std::string& text, const std::string& source) {
  if (text.rfind("\xEF\xBB\xBF", 0) == 0) {
    throw Error(Category::kManifest, source + ": not valid JSON (it starts with a byte order mark)");
  }
  if (nested_deeper_than(text, kMaxJsonDepth)) {
    throw Error(Category::kManifest, source + ": not valid JSON (nested more than " + std::to_string(kMaxJsonDepth) +
                                         " levels deep)");
  }
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    throw Error(Category::kManifest, source + ": not valid JSON (" + std::string(e.what()).substr(0, 200) + ")");
  }
}

// Whether a manifest's ``file`` is a relative path that stays inside the bundle.
bool is_member_path(const std::string& file) {
  if (file.empty() || file[0] == '/' || file.find('\\') != std::string::npos) return false;
  bool any_part = false;
  size_t start = 0;
  while (start <= file.size()) {
    size_t end = file.find('/', start);
    if (end == std::string::npos) end = file.size();
    const std::string part = file.substr(start, end - start);
    if (part == "..") return false;
    if (!part.empty() && part != ".") any_part = true;
    start = end + 1;
  }
  return any_part;
}

std::pair<std::string, std::string> file_and_hash(const Fields& f) {
  const std::string file = f.string("file");
  if (!is_member_path(file)) throw f.fail("file", "must be a relative path inside the bundle, got " + show(Json(file)));
  std::string sha = f.string("sha256");
  std::transform(sha.begin(), sha.end(), sha.begin(), [](char c) { return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c; });
  if (sha.size() != 64 || sha.find_first_not_of("0123456789abcdef") != std::string::npos) {
    throw f.fail("sha256", "expected 64 hex digits");
  }
  return {file, sha};
}

InputSpec parse_input(const Fields& f) {
  InputSpec in;
  in.height = static_cast<int>(f.integer("height", std::nullopt, 1, kMaxInputSide));
  in.width = static_cast<int>(f.integer("width", std::nullopt, 1, kMaxInputSide));
  in.layout = f.string("layout", "NHWC", {"NHWC", "NCHW"});
  in.dtype = f.string("dtype", "float32", {"float32", "uint8", "int8"});
  in.channel_order = f.string("channel_order", "RGB", {"RGB", "BGR"});
  const auto mean = f.numbers("mean", 3, std::nullopt, {-1e4, 1e4, {}, {}});
  const auto std = f.numbers("std", 3, std::nullopt, {1e-3, 1e4, {}, {}});
  std::copy(mean.begin(), mean.end(), in.mean);
  std::copy(std.begin(), std.end(), in.std);
  in.resize = f.string("resize", "letterbox", {"letterbox", "stretch"});
  in.pad = f.string("pad", "center", {"center", "corner"});
  in.sampling = f.string("sampling", "half_pixel", {"half_pixel", "top_left"});
  return in;
}

TargetSpec parse_target(const Fields& f, const std::string& soc) {
  TargetSpec t;
  t.soc = soc;
  std::tie(t.file, t.sha256) = file_and_hash(f);
  t.format = f.string("format", std::nullopt, {"onnx"});
  t.accelerator = f.string("accelerator", std::nullopt, {"qnn-htp"});
  t.precision = f.string("precision", std::nullopt, {"w8a8", "w8a16", "fp16"});
  t.htp_arch = f.integer("htp_arch", std::nullopt, 60, 200);
  t.soc_model = f.integer("soc_model", std::nullopt, 0);
  return t;
}

void parse_common(const Fields& f, const std::string& role, ModelSpec& m) {
  m.role = role;
  std::tie(m.file, m.sha256) = file_and_hash(f);
  std::optional<Fields> targets;
  if (f.has("targets")) targets = f.sub("targets");
  m.format = f.string("format", std::nullopt, {"tflite", "onnx"});
  m.input = parse_input(f.sub("input"));
  if (targets) {
    for (const auto& item : targets->data().items()) m.targets.push_back(parse_target(targets->sub(item.key()), item.key()));
  }
}

// --------------------------------------------------------------- decoders

void check_anchor_count(const Fields& f, const std::string& key, uint64_t count) {
  if (count > kMaxAnchors) {
    throw f.fail(key, "imply " + std::to_string(count) + " anchors for this input size, more than edgeface's limit of " +
                          std::to_string(kMaxAnchors) + ": use larger strides or a smaller input");
  }
}

OutputRef output_ref(const Json& value) {
  OutputRef ref;
  if (value.is_string()) ref.name = value.get<std::string>();
  else ref = {false, "", integer_value(value)};
  return ref;
}

bool is_ref(const Json& value) { return value.is_string() || value.is_number_integer(); }

OutputRef output_ref(const Fields& f, const std::string& key) {
  auto found = f.data().find(key);
  if (found == f.data().end() || !is_ref(*found)) {
    throw f.fail(key, "expected an output tensor name or index, got " +
                          (found == f.data().end() ? std::string("None") : show(*found)));
  }
  return output_ref(*found);
}

// How many anchors SSD options make (schema-side twin of ssd.py's ssd_anchor_count).
uint64_t ssd_anchor_count(int height, int width, const SsdAnchors& a) {
  uint64_t total = 0;
  const size_t count = a.strides.size();
  for (size_t layer = 0; layer < count;) {
    uint64_t per_cell = 0;
    size_t last = layer;
    for (; last < count && a.strides[last] == a.strides[layer]; ++last) {
      if (last == 0 && a.reduce_boxes_in_lowest_layer) per_cell += 3;
      else per_cell += a.aspect_ratios.size() + (a.interpolated_scale_aspect_ratio > 0 ? 1 : 0);
    }
    const uint64_t stride = static_cast<uint64_t>(a.strides[layer]);
    const uint64_t rows = (height + stride - 1) / stride, cols = (width + stride - 1) / stride;
    total += rows * cols * per_cell;
    if (total > kMaxAnchors) return total;  // enough to refuse; no overflow on long lists
    layer = last;
  }
  return total;
}

SsdAnchors parse_anchors(const Fields& a, int height, int width) {
  SsdAnchors out;
  out.strides = a.integers("strides", std::nullopt, 1);
  out.aspect_ratios = a.numbers("aspect_ratios", std::nullopt, std::vector<double>{1.0}, {1e-3, 1e3, {}, {}});
  out.interpolated_scale_aspect_ratio = a.number("interpolated_scale_aspect_ratio", 1.0, {-1e3, 1e3, {}, {}});
  out.reduce_boxes_in_lowest_layer = a.boolean("reduce_boxes_in_lowest_layer", false);
  check_anchor_count(a, "strides", ssd_anchor_count(height, width, out));
  out.min_scale = a.number("min_scale", std::nullopt, {0.0, 100.0, {}, {}});
  out.max_scale = a.number("max_scale", std::nullopt, {0.0, 100.0, {}, {}});
  out.anchor_offset_x = a.number("anchor_offset_x", 0.5, {0.0, 1.0, {}, {}});
  out.anchor_offset_y = a.number("anchor_offset_y", 0.5, {0.0, 1.0, {}, {}});
  out.fixed_anchor_size = a.boolean("fixed_anchor_size", false);
  return out;
}

void parse_ssd(const Fields& f, const InputSpec& input, DecoderSpec& d) {
  SsdDecoderSpec& s = d.ssd;
  const Fields outputs = f.sub("outputs");
  s.anchors = parse_anchors(f.sub("anchors"), input.height, input.width);
  d.num_keypoints = f.integer("num_keypoints", 0, 0, 1000);
  const auto scale = f.numbers("box_scale", 4, std::nullopt, {1e-3, 1e6, {}, {}});
  std::copy(scale.begin(), scale.end(), s.box_scale);
  if (f.has("score_clip")) s.score_clip = f.number("score_clip", std::nullopt, {0.0, {}, {}, {}});
  s.boxes = output_ref(outputs, "boxes");
  s.scores = output_ref(outputs, "scores");
  s.box_format = f.string("box_format", "xywh", {"xywh", "yxhw"});
  s.box_offset = f.integer("box_offset", 0, 0);
  s.keypoint_offset = f.integer("keypoint_offset", 4, 0);
  s.score_activation = f.string("score_activation", "sigmoid", {"sigmoid", "none"});
}

std::vector<OutputRef> scrfd_refs(const Fields& outputs, const std::string& kind, size_t strides) {
  auto found = outputs.data().find(kind);
  bool ok = found != outputs.data().end() && found->is_array() && found->size() == strides;
  for (size_t i = 0; ok && i < strides; ++i) ok = is_ref((*found)[i]);
  if (!ok) throw outputs.fail(kind, "expected " + std::to_string(strides) + " output names or indices, one per stride");
  std::vector<OutputRef> refs;
  for (const Json& item : *found) refs.push_back(output_ref(item));
  return refs;
}

void parse_scrfd(const Fields& f, const InputSpec& input, DecoderSpec& d) {
  ScrfdDecoderSpec& s = d.scrfd;
  s.strides = f.integers("strides", std::vector<int64_t>{8, 16, 32}, 1);
  const Fields outputs = f.sub("outputs");
  d.num_keypoints = f.integer("num_keypoints", 5, 0, 1000);
  s.scores = scrfd_refs(outputs, "scores", s.strides.size());
  s.boxes = scrfd_refs(outputs, "boxes", s.strides.size());
  if (d.num_keypoints) s.keypoints = scrfd_refs(outputs, "keypoints", s.strides.size());
  for (int64_t stride : s.strides) {
    if (input.height % stride || input.width % stride) {
      throw f.fail("strides", "the input size " + std::to_string(input.width) + "x" + std::to_string(input.height) +
                                  " must be a multiple of every stride (" + std::to_string(stride) + ")");
    }
  }
  s.anchors_per_cell = f.integer("anchors_per_cell", 2, 1, 64);
  uint64_t count = 0;
  for (int64_t stride : s.strides) {
    count += static_cast<uint64_t>(input.height / stride) * static_cast<uint64_t>(input.width / stride) *
             static_cast<uint64_t>(s.anchors_per_cell);
    if (count > kMaxAnchors) break;
  }
  check_anchor_count(f, "strides", count);
  s.score_activation = f.string("score_activation", "none", {"sigmoid", "none"});
}

DecoderSpec parse_decoder(const Fields& f, const InputSpec& input) {
  DecoderSpec d;
  d.family = f.string("family", std::nullopt, {"ssd", "scrfd"});
  if (d.family == "ssd") parse_ssd(f, input, d);
  else parse_scrfd(f, input, d);
  if (f.has("preset")) d.preset = f.string("preset");
  return d;
}

// --------------------------------------------------------------- models

DetectorSpec parse_detector(const Fields& f) {
  DetectorSpec d;
  parse_common(f, "detector", d);
  d.decoder = parse_decoder(f.sub("decoder"), d.input);
  d.keypoint_names = f.strings("keypoint_names", std::vector<std::string>{});
  if (!d.keypoint_names.empty() && static_cast<int64_t>(d.keypoint_names.size()) != d.decoder.num_keypoints) {
    throw f.fail("keypoint_names", "names " + std::to_string(d.keypoint_names.size()) +
                                       " keypoints but the decoder produces " + std::to_string(d.decoder.num_keypoints));
  }
  d.score_threshold = f.number("score_threshold", std::nullopt, {{}, {}, 0.0, 1.0});
  d.nms_iou = f.number("nms_iou", std::nullopt, {{}, 1.0, 0.0, {}});
  d.nms = f.string("nms", "hard", {"hard", "weighted"});
  d.max_faces = f.integer("max_faces", 100, 1, kMaxFaces);
  d.search = f.string("search", "whole", {"whole", "auto", "all"});
  return d;
}

AlignmentSpec parse_alignment(const Fields& align) {
  AlignmentSpec a;
  a.width = static_cast<int>(align.integer("width", std::nullopt, 8, 1024));
  a.height = static_cast<int>(align.integer("height", std::nullopt, 8, 1024));
  const Fields points = align.sub("template");
  for (const auto& item : points.data().items()) {
    const auto xy = points.numbers(item.key(), 2);
    a.template_points.push_back({item.key(), {xy[0], xy[1]}});
  }
  const auto n = static_cast<int64_t>(a.template_points.size());
  if (n < 2 || n > kMaxTemplatePoints) {
    throw align.fail("template", "needs 2 to " + std::to_string(kMaxTemplatePoints) + " named points, got " + std::to_string(n));
  }
  for (const auto& [name, xy] : a.template_points) {
    if (!(xy.first >= 0 && xy.first <= a.width && xy.second >= 0 && xy.second <= a.height)) {
      throw points.fail(name, "(" + show_number(xy.first) + ", " + show_number(xy.second) + ") is outside the " +
                                  std::to_string(a.width) + "x" + std::to_string(a.height) + " chip");
    }
  }
  for (size_t i = 0; i < a.template_points.size(); ++i) {
    for (size_t j = i + 1; j < a.template_points.size(); ++j) {
      const auto& p = a.template_points[i].second;
      const auto& q = a.template_points[j].second;
      if (std::hypot(p.first - q.first, p.second - q.second) < kMinTemplateSpacing) {
        throw points.fail(a.template_points[j].first, "is less than 1.0 pixel from " + a.template_points[i].first +
                                                          ": template points must be distinct");
      }
    }
  }
  return a;
}

EmbedderSpec parse_embedder(const Fields& f) {
  EmbedderSpec e;
  parse_common(f, "embedder", e);
  e.embedding_size = f.integer("embedding_size", std::nullopt, 1, kMaxEmbeddingSize);
  if (f.has("output")) e.output = f.string("output");
  e.alignment = parse_alignment(f.sub("alignment"));
  e.verify_threshold = f.number("verify_threshold", std::nullopt, {{}, 1.0, 0.0, {}});
  if (f.has("verify_far")) e.verify_far = f.number("verify_far", std::nullopt, {0.0, 1.0, {}, {}});
  return e;
}

std::vector<Refinement> parse_refinements(const Fields& f, int64_t points) {
  std::vector<Refinement> refinements;
  if (!f.has("refinements")) return refinements;
  const Json& items = f.data().at("refinements");
  if (!items.is_array() || items.empty() || items.size() > kMaxRefinements) {
    throw f.fail("refinements", "expected a list of 1 to " + std::to_string(kMaxRefinements) +
                                    " objects (output, points, depth_from), got " + show(items));
  }
  const std::string below = " below " + std::to_string(points);
  for (size_t i = 0; i < items.size(); ++i) {
    const Fields r(items[i], f.where() + ".refinements[" + std::to_string(i) + "]", f.source());
    Refinement refinement;
    refinement.points = r.integers("points", std::nullopt, 0);
    const std::set<int64_t> distinct(refinement.points.begin(), refinement.points.end());
    if (*distinct.rbegin() >= points || distinct.size() != refinement.points.size()) {
      throw r.fail("points", "expected different point indices" + below);
    }
    if (r.has("depth_from")) {
      refinement.depth_from = r.integers("depth_from", std::nullopt, 0);
      if (*std::max_element(refinement.depth_from.begin(), refinement.depth_from.end()) >= points) {
        throw r.fail("depth_from", "expected point indices" + below);
      }
    }
    // exactly these keys: another could change what the points mean
    for (const auto& item : r.data().items()) {
      if (item.key() != "output" && item.key() != "points" && item.key() != "depth_from") {
        throw r.fail(item.key(), "unknown key (expected output, points, depth_from)");
      }
    }
    refinement.output = r.string("output");
    refinements.push_back(std::move(refinement));
  }
  return refinements;
}

LandmarksSpec parse_landmarks(const Fields& f) {
  LandmarksSpec l;
  parse_common(f, "landmarks", l);
  l.points = f.integer("points", std::nullopt, 2, kMaxLandmarks);
  const std::string below = " below " + std::to_string(l.points);
  l.roi_keypoints = f.strings("roi_keypoints");
  if (l.roi_keypoints.size() != 2 || l.roi_keypoints[0] == l.roi_keypoints[1]) {
    throw f.fail("roi_keypoints", "expected two different keypoint names (the line that levels the crop)");
  }
  l.roi_points = f.integers("roi_points", std::nullopt, 0);
  if (l.roi_points.size() != 2 || l.roi_points[0] == l.roi_points[1] ||
      std::max(l.roi_points[0], l.roi_points[1]) >= l.points) {
    throw f.fail("roi_points", "expected two different point indices" + below);
  }
  if (f.has("point_groups")) {
    const Fields groups = f.sub("point_groups");
    if (groups.data().size() > kMaxPointGroups) {
      throw f.fail("point_groups", "at most " + std::to_string(kMaxPointGroups) + " groups, got " +
                                       std::to_string(groups.data().size()));
    }
    for (const auto& item : groups.data().items()) {
      std::vector<int64_t> indices = groups.integers(item.key(), std::nullopt, 0);
      if (*std::max_element(indices.begin(), indices.end()) >= l.points) {
        throw groups.fail(item.key(), "expected a non-empty list of point indices" + below);
      }
      l.point_groups.emplace_back(item.key(), std::move(indices));
    }
  }
  l.refinements = parse_refinements(f, l.points);
  l.points_output = f.string("points_output");
  if (f.has("presence_output")) l.presence_output = f.string("presence_output");
  l.presence_threshold = f.number("presence_threshold", 0.5, {{}, {}, 0.0, 1.0});
  l.roi_scale = f.number("roi_scale", std::nullopt, {1.0, 4.0, {}, {}});
  return l;
}

// The landmark crop is levelled by two of the detector's keypoints: they must be named.
void check_roi_keypoints(const Fields& models, const Manifest& m) {
  if (!m.landmarks || !m.detector || m.detector->keypoint_names.empty()) return;
  const auto& names = m.detector->keypoint_names;
  for (const auto& wanted : m.landmarks->roi_keypoints) {
    if (std::find(names.begin(), names.end(), wanted) == names.end()) {
      std::string known;
      for (const auto& name : names) known += (known.empty() ? "" : ", ") + name;
      throw models.sub("landmarks").fail("roi_keypoints",
                                         "'" + wanted + "' is not one of the detector's keypoint_names (" + known + ")");
    }
  }
}

}  // namespace

Manifest parse_manifest(const std::string& text, const std::string& source) {
  const Json data = decode(text, source);
  const Fields top(data, "manifest", source);
  const int64_t version = top.integer("schema_version");
  if (version != kSchemaVersion) {
    throw top.fail("schema_version", "this edgeface reads version " + std::to_string(kSchemaVersion) +
                                         ", the bundle has " + std::to_string(version) +
                                         ": rebuild the bundle or upgrade edgeface");
  }
  const Fields models = top.sub("models");
  std::set<std::string> unknown;
  for (const auto& item : models.data().items()) {
    if (std::find(kRoles.begin(), kRoles.end(), item.key()) == kRoles.end()) unknown.insert(item.key());
  }
  if (!unknown.empty()) {
    throw models.fail(*unknown.begin(), "unknown model role (expected detector, embedder or landmarks)");
  }
  if (models.data().empty()) {
    throw top.fail("models", "must name at least one model (detector, embedder or landmarks)");
  }
  Manifest m;
  if (models.has("detector")) m.detector = parse_detector(models.sub("detector"));
  if (models.has("embedder")) m.embedder = parse_embedder(models.sub("embedder"));
  if (models.has("landmarks")) m.landmarks = parse_landmarks(models.sub("landmarks"));
  check_roi_keypoints(models, m);
  m.name = top.string("name");
  m.description = top.string("description", "");
  return m;
}

}  // namespace edgeface
