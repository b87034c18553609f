// An opened bundle directory: its validated manifest and checked reads of its model files.
// As edgeface/bundle.py reads it (docs/security.md): members are opened without following
// symbolic links, only regular files are read, each read is bounded (manifest 4 MiB, model
// 1 GiB), and a model's bytes are returned only when they match the manifest's sha256.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "manifest.h"

namespace edgeface {

// An open file descriptor, closed on destruction.
class FileHandle {
 public:
  explicit FileHandle(int fd = -1) : fd_(fd) {}
  FileHandle(FileHandle&& other) noexcept : fd_(other.release()) {}
  FileHandle& operator=(FileHandle&& other) noexcept;
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  ~FileHandle();
  int get() const { return fd_; }
  int release();

 private:
  int fd_;
};

class Bundle {
 public:
  // Opens a bundle directory and validates its manifest; throws Error (kBundle, kManifest).
  static Bundle open(const std::string& path);

  const std::string& location() const { return location_; }
  const Manifest& manifest() const { return manifest_; }
  // The model file's bytes after checking them against its sha256 (kBundle, kChecksum).
  std::vector<uint8_t> read_model(const ModelSpec& model) const;

 private:
  Bundle(std::string location, FileHandle directory, Manifest manifest);
  std::vector<uint8_t> read_member(const std::string& name, uint64_t limit) const;
  FileHandle open_member(const std::string& name) const;

  std::string location_;
  FileHandle directory_;  // the directory as opened: later reads come from the same one
  Manifest manifest_;
};

}  // namespace edgeface
