// edgeface_bench: times what an app runs per frame through the C interface (detect,
// analyze, embed, search) beside the bare run call of the same models, in one process,
// and splits a frame into its stages. scripts/bench_native.py drives it as a worker, the
// way it drives MediaPipe's, so that the sides take turns within one run; `edgeface bench
// --on adb --sdk-binary` runs its Android build on a phone (edgeface/bench/sdk_adb.py):
//
//   edgeface_bench BUNDLE FRAMES.json [GALLERY]
//
// FRAMES.json lists raw frames: [{"name", "file", "format": "rgb"|"rgba"|"bgr"|"nv21"|"nv12",
// "width", "height", "rotation"}] (NV21/NV12: the Y plane then the chroma plane, rows
// packed; a relative file is read from the working directory). Each stdin line {"runs": N,
// "warmup": W, "threads": T} is answered with one line "bench-json: {...}":
//   "cases": per case the milliseconds of each timed call, the process CPU time and the
//            wall time of the timed loop;
//   "stages": per frame (bundles with a detector) the faces found and, per timed call, the
//            milliseconds of each stage: preprocess, detect (of which detect_invoke: the
//            model's run), align, embed (of which embed_invoke), search (with a gallery:
//            the first face's 1:N query) and total (the whole call). They are timed
//            inside the core's Analyzer, the code the C interface's analyze runs
//            (src/core/stage_times.h), so their sum is the frame's time;
//   "faces": the boxes found per frame; "peak_rss_kb": the process's peak resident memory.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analyzer.h"
#include "bundle.h"
#include "edgeface.h"
#include "edgeface/vision/image.h"
#include "litert.h"
#include "stage_times.h"

namespace {

using nlohmann::json;

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void check(edgeface_status status, const char* what) {
  if (status != EDGEFACE_OK)
    throw std::runtime_error(std::string(what) + ": " + edgeface_status_name(status) + ": " + edgeface_last_error());
}

double process_cpu_s() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

// `runs` timed calls after `warmup` untimed ones (scripts/bench_pretrained.py's time_calls).
json time_calls(const std::function<void()>& call, int runs, int warmup) {
  using clock = std::chrono::steady_clock;
  for (int i = 0; i < warmup; ++i) call();
  std::vector<double> ms;
  ms.reserve(runs);
  const double cpu = process_cpu_s();
  const auto wall = clock::now();
  for (int i = 0; i < runs; ++i) {
    const auto start = clock::now();
    call();
    ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - start).count());
  }
  return {{"ms", ms}, {"cpu_s", process_cpu_s() - cpu},
          {"wall_s", std::chrono::duration<double>(clock::now() - wall).count()}};
}

// A frame as the C interface takes it (`image`) and as the core's Analyzer does (`view`),
// over the same bytes.
struct Frame {
  std::string name;
  std::vector<uint8_t> bytes;
  edgeface_image image{};
  edgeface::vision::ImageView view{};
};

struct FormatName {
  const char* name;
  edgeface_pixel_format format;
  edgeface::vision::PixelFormat pixels;
};

constexpr FormatName kFormats[] = {
    {"rgb", EDGEFACE_PIXEL_RGB, edgeface::vision::PixelFormat::rgb},
    {"rgba", EDGEFACE_PIXEL_RGBA, edgeface::vision::PixelFormat::rgba},
    {"bgr", EDGEFACE_PIXEL_BGR, edgeface::vision::PixelFormat::bgr},
    {"nv21", EDGEFACE_PIXEL_NV21, edgeface::vision::PixelFormat::nv21},
    {"nv12", EDGEFACE_PIXEL_NV12, edgeface::vision::PixelFormat::nv12},
};

const FormatName& format_of(const std::string& name) {
  for (const FormatName& format : kFormats)
    if (name == format.name) return format;
  throw std::runtime_error("format " + name + ": expected rgb, rgba, bgr, nv21 or nv12");
}

std::vector<Frame> read_frames(const std::string& path) {
  const std::vector<uint8_t> text = read_file(path);
  std::vector<Frame> frames;
  for (const json& entry : json::parse(text.begin(), text.end())) {
    Frame frame;
    frame.name = entry.at("name").get<std::string>();
    frame.bytes = read_file(entry.at("file").get<std::string>());
    edgeface_image& image = frame.image;
    const FormatName& format = format_of(entry.at("format").get<std::string>());
    image.format = format.format;
    frame.view.format = format.pixels;
    image.width = entry.at("width").get<int32_t>();
    image.height = entry.at("height").get<int32_t>();
    image.rotation = entry.value("rotation", 0);
    image.yuv_full_range = 1;
    const bool yuv = image.format == EDGEFACE_PIXEL_NV21 || image.format == EDGEFACE_PIXEL_NV12;
    const size_t channels = image.format == EDGEFACE_PIXEL_RGBA ? 4 : 3;
    image.stride = yuv ? static_cast<size_t>(image.width) : image.width * channels;
    image.size = image.stride * image.height;
    if (yuv) {
      image.chroma_stride = static_cast<size_t>(image.width);
      image.chroma_size = frame.bytes.size() - image.size;
    }
    frames.push_back(std::move(frame));
  }
  for (Frame& frame : frames) {  // the vector no longer moves: point into each frame's bytes
    edgeface_image& image = frame.image;
    image.pixels = frame.bytes.data();
    if (image.chroma_size) image.chroma = frame.bytes.data() + image.size;
    edgeface::vision::ImageView& view = frame.view;
    view.width = image.width;
    view.height = image.height;
    view.pixels = image.pixels;
    view.stride = image.stride;
    view.size = image.size;
    view.chroma = image.chroma;
    view.chroma_stride = image.chroma_stride;
    view.chroma_size = image.chroma_size;
    view.rotation = image.rotation;
    view.range = edgeface::vision::YuvRange::full;
  }
  return frames;
}

// A bundle model compiled on its own, for its bare run call (the same kernels and thread
// count as the analyzer's copy; its input is left as allocated: run time does not depend
// on the values for these models).
struct BareModel {
  std::shared_ptr<edgeface::Environment> env = std::make_shared<edgeface::Environment>();
  std::unique_ptr<edgeface::CompiledModel> compiled;
  BareModel(const edgeface::Bundle& bundle, const edgeface::ModelSpec& spec, int threads) {
    auto model = std::make_shared<const edgeface::Model>(edgeface::Model::from_bytes(*env, bundle.read_model(spec)));
    compiled = std::make_unique<edgeface::CompiledModel>(*env, model, edgeface::CompileOptions{threads});
  }
};

class Bench {
 public:
  Bench(const std::string& bundle_path, std::vector<Frame> frames, const std::string& gallery_path)
      : bundle_path_(bundle_path), frames_(std::move(frames)) {
    check(edgeface_bundle_open(bundle_path.c_str(), &bundle_), "open the bundle");
    check(edgeface_bundle_get_info(bundle_, &info_), "read the bundle");
    if (!gallery_path.empty())
      check(edgeface_gallery_open(gallery_path.c_str(), info_.embedding_size, &gallery_), "open the gallery");
  }
  ~Bench() {
    edgeface_analyzer_destroy(analyzer_);
    edgeface_gallery_close(gallery_);
    edgeface_bundle_close(bundle_);
  }
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  json measure(int runs, int warmup, int threads) {
    prepare(threads);
    json cases;
    if (detector_) cases["detector_run"] = time_calls([&] { detector_->compiled->run(); }, runs, warmup);
    if (embedder_) cases["embedder_run"] = time_calls([&] { embedder_->compiled->run(); }, runs, warmup);
    json faces, stages;
    for (const Frame& frame : frames_) {
      edgeface_faces found{};
      if (info_.has_detector) {
        stages[frame.name] = time_stages(frame, runs, warmup);
        cases["detect " + frame.name] = time_calls([&] { check(edgeface_analyzer_detect(analyzer_, &frame.image, &found), "detect"); }, runs, warmup);
        faces[frame.name] = boxes(found);
      }
      if (info_.has_detector && info_.has_embedder) {
        cases["analyze " + frame.name] = time_calls([&] { check(edgeface_analyzer_analyze(analyzer_, &frame.image, &found), "analyze"); }, runs, warmup);
        measure_embed_and_search(frame, found, runs, warmup, cases);
      }
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return {{"cases", cases}, {"stages", stages}, {"faces", faces}, {"peak_rss_kb", usage.ru_maxrss}};
  }

 private:
  void prepare(int threads) {
    if (analyzer_ && threads == threads_) return;
    edgeface_analyzer_destroy(analyzer_);
    analyzer_ = nullptr;
    core_.reset();
    edgeface_analyzer_options options;
    edgeface_analyzer_options_default(&options);
    options.num_threads = threads;
    check(edgeface_analyzer_create(bundle_, &options, &analyzer_), "create the analyzer");
    const edgeface::Bundle bundle = edgeface::Bundle::open(bundle_path_);
    const edgeface::Manifest& manifest = bundle.manifest();
    if (manifest.detector) detector_ = std::make_unique<BareModel>(bundle, *manifest.detector, threads);
    if (manifest.embedder) embedder_ = std::make_unique<BareModel>(bundle, *manifest.embedder, threads);
    if (manifest.detector) {
      edgeface::AnalyzerOptions core_options;
      core_options.compile.num_threads = threads;
      core_ = std::make_unique<edgeface::Analyzer>(bundle, core_options);
    }
    threads_ = threads;
  }

  // One frame's stages, per timed call: the core's Analyzer (what edgeface_analyzer_analyze
  // runs, the results left where the C interface points to them) analyses it with stage
  // times kept, then with a gallery the first face's embedding is searched for.
  json time_stages(const Frame& frame, int runs, int warmup) {
    using clock = std::chrono::steady_clock;
    edgeface::Analyzer& analyzer = *core_;
    double search_ms = 0;
    auto call = [&] {
      if (analyzer.has_embedder()) {
        analyzer.analyze(frame.view);
      } else {
        analyzer.detect(frame.view);
      }
      if (gallery_ && analyzer.faces().size() > 0 && !analyzer.embeddings().empty()) {
        const edgeface::StageTimer timer(&search_ms);
        edgeface_match matches[5];
        size_t count = 0;
        check(edgeface_gallery_search(gallery_, analyzer.embeddings().data(),
                                      static_cast<size_t>(analyzer.embedding_size()), 0.0f, matches, 5, &count),
              "search");
      }
    };
    for (int i = 0; i < warmup; ++i) call();
    std::vector<double> preprocess, detect, detect_invoke, align, embed, embed_invoke, search, total;
    edgeface::StageTimes times;
    analyzer.set_stage_times(&times);
    for (int i = 0; i < runs; ++i) {
      times = edgeface::StageTimes{};
      search_ms = 0;
      const auto start = clock::now();
      call();
      total.push_back(std::chrono::duration<double, std::milli>(clock::now() - start).count());
      preprocess.push_back(times.preprocess_ms);
      detect.push_back(times.detect_ms);
      detect_invoke.push_back(times.detect_invoke_ms);
      align.push_back(times.align_ms);
      embed.push_back(times.embed_ms);
      embed_invoke.push_back(times.embed_invoke_ms);
      search.push_back(search_ms);
    }
    analyzer.set_stage_times(nullptr);
    json ms = {{"preprocess", preprocess}, {"detect", detect}, {"detect_invoke", detect_invoke}, {"total", total}};
    if (analyzer.has_embedder()) {
      ms["align"] = align;
      ms["embed"] = embed;
      ms["embed_invoke"] = embed_invoke;
      if (gallery_) ms["search"] = search;
    }
    return {{"faces", analyzer.faces().size()}, {"ms", ms}};
  }

  // embed_faces on the faces analyze found (alignment + embedder), and a gallery search
  // with the first face's embedding.
  void measure_embed_and_search(const Frame& frame, const edgeface_faces& found, int runs, int warmup, json& cases) {
    if (found.count == 0) return;
    const std::vector<float> keypoints(found.keypoints, found.keypoints + found.count * found.num_keypoints * 2);
    const std::vector<float> query(found.embeddings, found.embeddings + found.embedding_size);
    std::vector<float> embeddings(found.count * found.embedding_size);
    cases["embed " + frame.name] = time_calls([&] {
      check(edgeface_analyzer_embed_faces(analyzer_, &frame.image, keypoints.data(), found.count, embeddings.data(),
                                          embeddings.size()), "embed_faces");
    }, runs, warmup);
    if (!gallery_) return;
    edgeface_match matches[5];
    size_t count = 0;
    cases["search " + frame.name] = time_calls([&] {
      check(edgeface_gallery_search(gallery_, query.data(), query.size(), 0.0f, matches, 5, &count), "search");
    }, runs, warmup);
  }

  static json boxes(const edgeface_faces& faces) {
    json out = json::array();
    for (size_t i = 0; i < faces.count; ++i)
      out.push_back({faces.boxes[4 * i], faces.boxes[4 * i + 1], faces.boxes[4 * i + 2], faces.boxes[4 * i + 3]});
    return out;
  }

  std::string bundle_path_;
  std::vector<Frame> frames_;
  edgeface_bundle* bundle_ = nullptr;
  edgeface_bundle_info info_{};
  edgeface_gallery* gallery_ = nullptr;
  edgeface_analyzer* analyzer_ = nullptr;
  std::unique_ptr<BareModel> detector_, embedder_;
  std::unique_ptr<edgeface::Analyzer> core_;  // the same pipeline as analyzer_, for its stage times
  int threads_ = 0;
};

int serve(int argc, char** argv) {
  Bench bench(argv[1], read_frames(argv[2]), argc > 3 ? argv[3] : "");
  std::string line;
  while (std::getline(std::cin, line)) {
    const json request = json::parse(line);
    const json answer = bench.measure(request.at("runs").get<int>(), request.value("warmup", 5),
                                      request.value("threads", 1));
    std::cout << "bench-json: " << answer.dump() << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: edgeface_bench BUNDLE FRAMES.json [GALLERY]  (requests on stdin)\n";
    return 2;
  }
  try {
    return serve(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "edgeface_bench: " << e.what() << "\n";
    return 1;
  }
}
