// Runs a .tflite model once on raw input bytes and writes each output's raw bytes, so that
// tests/test_native.py can compare the C++ path with the Python ai_edge_litert Interpreter.
//   edgeface_run_model MODEL OUT_DIR INPUT_0.bin [INPUT_1.bin ...]
// writes OUT_DIR/<i>.bin per output and prints "<i> <name>" per output line.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <vector>

#include "litert.h"

namespace {

std::vector<char> read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("cannot read ") + path);
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

int run(int argc, char** argv) {
  edgeface::Environment env;
  auto model = std::make_shared<const edgeface::Model>(edgeface::Model::from_file(env, argv[1]));
  edgeface::CompiledModel compiled(env, model, edgeface::CompileOptions{});
  const auto& inputs = model->inputs();
  if (static_cast<size_t>(argc - 3) != inputs.size()) {
    std::cerr << "the model takes " << inputs.size() << " inputs\n";
    return 2;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::vector<char> bytes = read_file(argv[3 + i]);
    if (bytes.size() != inputs[i].byte_size()) {
      std::cerr << "input " << i << " needs " << inputs[i].byte_size() << " bytes, got " << bytes.size() << "\n";
      return 2;
    }
    std::memcpy(compiled.input(i), bytes.data(), bytes.size());
  }
  compiled.run();
  for (size_t i = 0; i < model->outputs().size(); ++i) {
    const std::string path = std::string(argv[2]) + "/" + std::to_string(i) + ".bin";
    std::ofstream out(path, std::ios::binary);
    out.write(static_cast<const char*>(compiled.output(i)), model->outputs()[i].byte_size());
    std::cout << i << " " << model->outputs()[i].name << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: edgeface_run_model MODEL OUT_DIR INPUT.bin...\n";
    return 2;
  }
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "edgeface_run_model: " << e.what() << "\n";
    return 1;
  }
}
