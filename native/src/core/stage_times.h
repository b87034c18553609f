// Per-stage wall time of the face pipeline, for tools/edgeface_bench's breakdown of a
// frame (preprocess, detect, align, embed) on a phone. The detector and embedder add each
// stage's time to the StageTimes they were given, around the very code a call runs; with
// none given (apps, the C interface) no clock is read and a stage costs one branch.
#pragma once

#include <chrono>

namespace edgeface {

struct StageTimes {
  double preprocess_ms = 0;        // the image into the detector's input tensor
  double detect_ms = 0;            // the detector's run, decoding, NMS, boxes mapped back
  double detect_invoke_ms = 0;     //   of which the detector model's run alone
  double align_ms = 0;             // each face's chip warped into the embedder's input
  double embed_ms = 0;             // the embedder's run(s), flip average, L2 normalisation
  double embed_invoke_ms = 0;      //   of which the embedder model's runs alone
};

// Adds the wall time of its scope to *slot; a null slot reads no clock.
class StageTimer {
 public:
  explicit StageTimer(double* slot) : slot_(slot) {
    if (slot_) start_ = Clock::now();
  }
  ~StageTimer() {
    if (slot_) *slot_ += std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
  }
  StageTimer(const StageTimer&) = delete;
  StageTimer& operator=(const StageTimer&) = delete;

 private:
  using Clock = std::chrono::steady_clock;
  double* slot_;
  Clock::time_point start_{};
};

// The slot of `times` for one stage, or null when no times are kept.
inline double* stage_slot(StageTimes* times, double StageTimes::*stage) {
  return times ? &(times->*stage) : nullptr;
}

}  // namespace edgeface
