#include "analyzer.h"

#include "error.h"

namespace edgeface {

Analyzer::Analyzer(const Bundle& bundle, const AnalyzerOptions& options) : location_(bundle.location()), options_(options) {
  const Manifest& manifest = bundle.manifest();
  if (manifest.detector) detector_ = std::make_unique<Detector>(bundle, options.compile);
  if (manifest.detector) search_.search = options.search.value_or(search_named(manifest.detector->search));
  search_.min_face = options.min_face;
  // An embedder aligns faces by the detector's keypoints: without a detector it has none to take.
  if (manifest.embedder && detector_) {
    embedder_ = std::make_unique<Embedder>(bundle, detector_->keypoint_names(), options.compile, options.flip_average);
    fingerprint_ = {manifest.name, manifest.embedder->sha256, embedder_->dim()};
  }
}

Detector& Analyzer::detector() {
  if (!detector_)
    throw Error(Category::kArgument, location_ + ": this bundle has no detector, which this operation needs: use a "
                                                 "bundle with models.detector");
  return *detector_;
}

Embedder& Analyzer::embedder() {
  if (!embedder_)
    throw Error(Category::kArgument, location_ + ": this bundle has no " + (detector_ ? "embedder" : "detector") +
                                         ", which this operation needs: use a bundle with models.detector and "
                                         "models.embedder");
  return *embedder_;
}

const std::vector<std::string>& Analyzer::keypoint_names() const {
  static const std::vector<std::string> none;
  return detector_ ? detector_->keypoint_names() : none;
}

int Analyzer::embedding_size() const { return embedder_ ? embedder_->dim() : 0; }

EmbedderFingerprint Analyzer::embedder_fingerprint() const {
  if (!embedder_)
    throw Error(Category::kArgument, location_ + ": this bundle has no embedder, so no gallery can be bound to it: use "
                                                 "a bundle with models.detector and models.embedder");
  return fingerprint_;
}

double Analyzer::verify_threshold() const { return embedder_ ? embedder_->verify_threshold() : 0.0; }

void Analyzer::set_stage_times(StageTimes* times) {
  if (detector_) detector_->set_stage_times(times);
  if (embedder_) embedder_->set_stage_times(times);
}

void Analyzer::detect(const vision::ImageView& image) {
  embeddings_.clear();
  tiled_search_.run(detector(), image, search_, options_.score_threshold, options_.max_faces, faces_);
}

void Analyzer::analyze(const vision::ImageView& image) {
  Embedder& embedding = embedder();
  detect(image);
  embeddings_.resize(faces_.size() * static_cast<size_t>(embedding.dim()));
  embedding.embed(image, faces_.keypoints.data(), faces_.size(), embeddings_.data());
}

void Analyzer::embed(const vision::ImageView& image, const float* keypoints, size_t count, float* out) {
  embedder().embed(image, keypoints, count, out);
}

}  // namespace edgeface
