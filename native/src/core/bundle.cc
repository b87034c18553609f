// Reading a bundle directory safely (see bundle.h).
#include "bundle.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "error.h"
#include "sha256.h"

namespace edgeface {
namespace {

constexpr const char* kManifestName = "manifest.json";

std::vector<std::string> path_parts(const std::string& name) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string::npos) end = name.size();
    std::string part = name.substr(start, end - start);
    if (!part.empty() && part != ".") parts.push_back(std::move(part));
    start = end + 1;
  }
  return parts;
}

std::string size_text(uint64_t limit) {
  return limit >= (1u << 20) ? std::to_string(limit >> 20) + " MiB" : std::to_string(limit >> 10) + " KiB";
}

}  // namespace

FileHandle& FileHandle::operator=(FileHandle&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

FileHandle::~FileHandle() {
  if (fd_ >= 0) ::close(fd_);
}

int FileHandle::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

Bundle::Bundle(std::string location, FileHandle directory, Manifest manifest)
    : location_(std::move(location)), directory_(std::move(directory)), manifest_(std::move(manifest)) {}

Bundle Bundle::open(const std::string& path) {
  if (path.find('\0') != std::string::npos) throw Error(Category::kBundle, "the bundle path contains a NUL byte");
  FileHandle directory(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (directory.get() < 0) {
    const int error = errno;
    struct stat status;
    if (::stat(path.c_str(), &status) != 0) {
      throw Error(Category::kBundle, path + ": no such bundle: check the path given");
    }
    if (error == ENOTDIR) {
      throw Error(Category::kBundle, path + ": not a bundle directory (the native runtime reads a directory with " +
                                         kManifestName + "; unzip a .zip bundle first)");
    }
    throw Error(Category::kBundle, path + ": cannot open the bundle directory (" + std::strerror(error) +
                                       "): check its permissions");
  }
  Bundle bundle(path, std::move(directory), Manifest{});
  struct stat manifest;
  if (::fstatat(bundle.directory_.get(), kManifestName, &manifest, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) {
    throw Error(Category::kBundle, path + ": not a bundle (a bundle directory holds " + kManifestName + ")");
  }
  const std::vector<uint8_t> raw = bundle.read_member(kManifestName, kMaxManifestBytes);
  bundle.manifest_ = parse_manifest(std::string(raw.begin(), raw.end()), path + "/" + kManifestName);
  return bundle;
}

FileHandle Bundle::open_member(const std::string& name) const {
  if (name.find('\0') != std::string::npos) {
    throw Error(Category::kBundle, location_ + ": cannot read " + name + " (a NUL byte in its name)");
  }
  const std::vector<std::string> parts = path_parts(name);
  if (parts.empty()) throw Error(Category::kBundle, location_ + ": cannot read an empty member name");
  FileHandle parent;
  int parent_fd = directory_.get();
  for (size_t i = 0; i < parts.size(); ++i) {
    const bool leaf = i + 1 == parts.size();
    const int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (leaf ? O_NONBLOCK : O_DIRECTORY);
    FileHandle next(::openat(parent_fd, parts[i].c_str(), flags));
    if (next.get() < 0) {
      const int error = errno;
      if (error == ENOENT) {
        throw Error(Category::kBundle, location_ + ": " + name + " is named in manifest.json but missing: "
                                                                 "rebuild or re-download the bundle");
      }
      if (error == ELOOP || error == ENOTDIR) {
        throw Error(Category::kBundle, location_ + ": " + name + " is a symbolic link or under a file; a bundle may "
                                                                 "hold regular files only");
      }
      throw Error(Category::kBundle, location_ + ": cannot read " + name + " (" + std::strerror(error) +
                                         "): rebuild or re-download the bundle");
    }
    parent = std::move(next);
    parent_fd = parent.get();
  }
  struct stat status;
  if (::fstat(parent.get(), &status) != 0 || !S_ISREG(status.st_mode)) {
    throw Error(Category::kBundle, location_ + ": " + name + " is not a regular file; a bundle may hold regular "
                                                             "files only");
  }
  return parent;
}

std::vector<uint8_t> Bundle::read_member(const std::string& name, uint64_t limit) const {
  const FileHandle file = open_member(name);
  std::vector<uint8_t> bytes;
  uint8_t chunk[1 << 16];
  for (;;) {
    const ssize_t got = ::read(file.get(), chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      throw Error(Category::kBundle, location_ + ": cannot read " + name + " (" + std::strerror(errno) +
                                         "): rebuild or re-download the bundle");
    }
    if (got == 0) return bytes;
    if (bytes.size() + static_cast<uint64_t>(got) > limit) {
      throw Error(Category::kBundle, location_ + ": " + name + " is larger than " + size_text(limit) +
                                         ", edgeface's limit for this bundle member (docs/bundle.md): not a bundle "
                                         "it can load");
    }
    bytes.insert(bytes.end(), chunk, chunk + got);
  }
}

std::vector<uint8_t> Bundle::read_model(const ModelSpec& model) const {
  std::vector<uint8_t> bytes = read_member(model.file, kMaxFileBytes);
  if (sha256_hex(bytes.data(), bytes.size()) != model.sha256) {
    throw Error(Category::kChecksum, location_ + ": " + model.file + " does not match its sha256 in manifest.json "
                                                                     "(the file is corrupt, truncated or was "
                                                                     "replaced): rebuild or re-download the bundle");
  }
  return bytes;
}

}  // namespace edgeface
