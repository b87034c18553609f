// The C interface's thread rules (edgeface.h): one bundle shared by threads that each
// create and run their own model; run under ASan in the asan tree.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "edgeface.h"
#include "test_paths.h"

namespace edgeface {
namespace {

using testing::repo_path;

TEST(Threads, ModelsFromOneBundleRunOnSeveralThreadsAtOnce) {
  edgeface_bundle* bundle = nullptr;
  ASSERT_EQ(edgeface_bundle_open(repo_path("tests/fixtures/bundles/blob_blazeface").c_str(), &bundle), EDGEFACE_OK);
  std::vector<edgeface_status> statuses(4, EDGEFACE_ERROR_INTERNAL);
  std::vector<std::vector<float>> results(statuses.size());
  std::vector<std::thread> threads;
  for (size_t t = 0; t < statuses.size(); ++t) {
    threads.emplace_back([&, t] {
      edgeface_model* model = nullptr;
      statuses[t] = edgeface_model_create(bundle, EDGEFACE_EMBEDDER, 1, &model);
      if (statuses[t] != EDGEFACE_OK) return;
      edgeface_tensor_info in, out;
      edgeface_model_input_info(model, 0, &in);
      edgeface_model_output_info(model, 0, &out);
      std::vector<float> input(in.element_count, 0.25f);
      results[t].assign(out.element_count, 0.0f);
      const float* inputs[] = {input.data()};
      float* outputs[] = {results[t].data()};
      const size_t in_size = in.element_count, out_size = out.element_count;
      for (int run = 0; run < 5 && statuses[t] == EDGEFACE_OK; ++run) {
        statuses[t] = edgeface_model_run(model, inputs, &in_size, 1, outputs, &out_size, 1);
      }
      edgeface_model_destroy(model);
    });
  }
  for (auto& thread : threads) thread.join();
  edgeface_bundle_close(bundle);
  for (size_t t = 0; t < statuses.size(); ++t) {
    EXPECT_EQ(statuses[t], EDGEFACE_OK) << "thread " << t;
    EXPECT_EQ(results[t], results[0]) << "thread " << t;
  }
}

}  // namespace
}  // namespace edgeface
