// Times the vision library's per-frame work around the model (not a test; printed as a
// table by scripts/bench_native_vision.py): a 640x480 camera frame into a 128x128
// BlazeFace input, the decode + NMS + map back of one face, and one 112x112 chip.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <time.h>
#include <vector>

#include "edgeface/vision/align.h"
#include "edgeface/vision/nms.h"
#include "edgeface/vision/preprocess.h"
#include "edgeface/vision/ssd.h"

namespace ev = edgeface::vision;

namespace {

// This thread's CPU time in microseconds: on a shared, loaded machine it leaves out the
// time other processes held the core (wall time would count it).
double cpu_us() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

// Median CPU time of `runs` calls, in microseconds (after a few warm-up calls).
double median_us(int runs, const std::function<void()>& work) {
  for (int i = 0; i < 10; ++i) work();
  std::vector<double> times(runs);
  for (double& t : times) {
    const double start = cpu_us();
    work();
    t = cpu_us() - start;
  }
  std::nth_element(times.begin(), times.begin() + runs / 2, times.end());
  return times[runs / 2];
}

std::vector<std::uint8_t> noise(std::size_t count) {
  std::mt19937 engine(7);
  std::vector<std::uint8_t> bytes(count);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(engine());
  return bytes;
}

ev::InputSpec blazeface_input() {
  ev::InputSpec spec;
  spec.height = spec.width = 128;
  for (float& m : spec.mean) m = 127.5f;
  for (float& s : spec.std) s = 127.5f;
  return spec;
}

ev::SsdSpec blazeface_decoder() {  // edgeface.cards.presets "blazeface-short"
  ev::SsdSpec spec;
  spec.anchors.strides = {8, 16, 16, 16};
  spec.anchors.min_scale = 0.1484375;
  spec.anchors.max_scale = 0.75;
  spec.anchors.fixed_anchor_size = true;
  for (float& s : spec.box_scale) s = 128.f;
  spec.num_keypoints = 6;
  spec.score_clip = 100.f;
  return spec;
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 2000;
  const int width = 640, height = 480;
  const std::vector<std::uint8_t> rgb = noise(width * height * 3), yuv = noise(width * height * 3 / 2);
  const ev::InputSpec spec = blazeface_input();
  std::vector<float> tensor(128 * 128 * 3);
  ev::Preprocessor pre(spec);
  ev::Placement place;

  ev::ImageView rgb_frame;
  rgb_frame.width = width;
  rgb_frame.height = height;
  rgb_frame.pixels = rgb.data();
  rgb_frame.stride = width * 3;
  rgb_frame.size = rgb.size();
  ev::ImageView nv21_frame = rgb_frame;
  nv21_frame.format = ev::PixelFormat::nv21;
  nv21_frame.stride = width;
  nv21_frame.size = static_cast<std::size_t>(width) * height;
  nv21_frame.chroma = yuv.data() + nv21_frame.size;
  nv21_frame.chroma_stride = width;
  nv21_frame.chroma_size = nv21_frame.size / 2;
  ev::ImageView nv21_upright = nv21_frame, rgb_turned = rgb_frame;
  // 1280x720 scales by 10: every sample lies between four pixels (640x480 scales by 5, an odd
  // factor, so every sample falls on a pixel centre and reads one)
  const std::vector<std::uint8_t> hd = noise(1280 * 720 * 3);
  ev::ImageView hd_frame = rgb_frame;
  hd_frame.width = 1280;
  hd_frame.height = 720;
  hd_frame.pixels = hd.data();
  hd_frame.stride = 1280 * 3;
  hd_frame.size = hd.size();
  nv21_frame.rotation = rgb_turned.rotation = 90;

  ev::SsdDecoder decoder;
  if (!ev::SsdDecoder::create(blazeface_decoder(), 128, 128, decoder).ok()) return 1;
  const std::size_t anchors = decoder.anchor_count();
  std::vector<float> scores(anchors, -8.f), boxes(anchors * 16, 0.f);
  for (std::size_t i = 300; i < 306; ++i) {  // one face: six neighbouring anchors agree
    scores[i] = 3.f;
    boxes[i * 16 + 2] = boxes[i * 16 + 3] = 40.f;
  }
  ev::Detections found, kept;

  ev::Aligner aligner;
  const std::vector<ev::TemplatePoint> arcface = {{"right_eye", 38.2946, 51.6963}, {"left_eye", 73.5318, 51.5014},
                                                  {"nose_tip", 56.0252, 71.7366}, {"mouth_right", 41.5493, 92.3655},
                                                  {"mouth_left", 70.7299, 92.2041}};
  if (!ev::Aligner::create(112, 112, arcface, {"right_eye", "left_eye", "nose_tip", "mouth_right", "mouth_left"},
                           aligner).ok())
    return 1;
  const float face[10] = {300, 200, 340, 200, 320, 225, 305, 250, 335, 250};
  ev::InputSpec chip = spec;
  chip.width = chip.height = 112;
  std::vector<float> chip_tensor(112 * 112 * 3);

  struct Row {
    const char* what;
    double us;
  };
  const Row rows[] = {
      {"preprocess 640x480 RGB -> 128x128", median_us(runs, [&] { pre.run(rgb_frame, {tensor.data(), tensor.size()}, &place); })},
      {"preprocess 1280x720 RGB -> 128x128 (4 reads a sample)",
       median_us(runs, [&] { pre.run(hd_frame, {tensor.data(), tensor.size()}, &place); })},
      {"preprocess 640x480 RGB rotated 90 -> 128x128",
       median_us(runs, [&] { pre.run(rgb_turned, {tensor.data(), tensor.size()}, &place); })},
      {"preprocess 640x480 NV21 -> 128x128",
       median_us(runs, [&] { pre.run(nv21_upright, {tensor.data(), tensor.size()}, &place); })},
      {"preprocess 640x480 NV21 rotated 90 -> 128x128",
       median_us(runs, [&] { pre.run(nv21_frame, {tensor.data(), tensor.size()}, &place); })},
      {"decode + weighted NMS + map back (896 anchors, 1 face)", median_us(runs, [&] {
         decoder.decode({boxes.data(), boxes.size()}, {scores.data(), scores.size()}, 0.5f, found);
         ev::suppress(found, ev::NmsMethod::weighted, 0.3f, 100, kept);
         ev::to_original(place, kept);
       })},
      {"align + warp 640x480 RGB -> 112x112 chip tensor",
       median_us(runs, [&] { aligner.warp(rgb_frame, face, chip, {chip_tensor.data(), chip_tensor.size()}); })},
  };
  std::printf("| %-56s | %12s |\n|%s|%s|\n", "step (median of runs, thread CPU time)", "microseconds",
              "----------------------------------------------------------", "--------------");
  for (const Row& row : rows) std::printf("| %-56s | %12.1f |\n", row.what, row.us);
  return kept.size() == 1 ? 0 : 2;  // the face was found: the timed work was real
}
