#include "gallery.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "edgeface/vision/align.h"
#include "error.h"
#include "identity_name.h"

namespace edgeface {
namespace {

std::string absolute(const std::string& path) {
  std::error_code failed;
  const std::filesystem::path full = std::filesystem::absolute(path, failed);
  return failed ? path : full.lexically_normal().string();
}

// `count` rows checked and scaled to unit length (by their largest value first, so that
// squaring neither overflows nor underflows), as Gallery._unit_rows.
std::vector<float> unit_rows(const float* rows, size_t count, size_t dim) {
  std::vector<float> unit(rows, rows + count * dim);
  for (size_t row = 0; row < count; ++row) {
    float* values = unit.data() + row * dim;
    double peak = 0;
    for (size_t i = 0; i < dim; ++i) {
      if (!std::isfinite(values[i])) throw Error(Category::kArgument, "embeddings: hold a NaN or infinite value");
      peak = std::max(peak, std::fabs(static_cast<double>(values[i])));
    }
    if (peak == 0) throw Error(Category::kArgument, "embeddings: hold an all-zero vector, which has no direction to compare");
    double norm = 0;
    for (size_t i = 0; i < dim; ++i) norm += (values[i] / peak) * (values[i] / peak);
    const double scale = 1.0 / (peak * std::sqrt(norm));
    for (size_t i = 0; i < dim; ++i) values[i] = static_cast<float>(values[i] * scale);
  }
  return unit;
}

std::string dim_mismatch(const std::string& where, int gallery_dim, int model_dim) {
  return where + " holds " + std::to_string(gallery_dim) + "-d templates but this model embeds " +
         std::to_string(model_dim) + "-d: use a gallery made with the same model";
}

}  // namespace

Gallery::Gallery(int dim) : dim_(dim) {
  if (dim < 1) throw Error(Category::kArgument, "dim: must be a positive template size, got " + std::to_string(dim));
}

Gallery Gallery::open(const std::string& path, int dim) {
  GalleryFile file = read_gallery_file(path);
  GalleryContents& contents = file.contents;
  if (dim > 0 && contents.dim != dim) throw Error(Category::kGallery, dim_mismatch(path, contents.dim, dim));
  Gallery gallery(contents.dim);
  gallery.embedder_ = std::move(contents.embedder);
  gallery.templates_ = std::move(contents.templates);
  for (size_t identity = 0; identity < contents.names.size(); ++identity) {
    gallery.ids_[contents.names[identity]] = identity;
    gallery.counts_.push_back(static_cast<size_t>(contents.counts[identity]));
    gallery.owner_.insert(gallery.owner_.end(), gallery.counts_.back(), identity);
  }
  gallery.names_ = std::move(contents.names);
  gallery.path_ = path;
  gallery.stamp_ = file.stamp;
  return gallery;
}

void Gallery::bind(const EmbedderFingerprint& embedder) {
  const std::string where = path_.empty() ? "the gallery" : path_;
  if (embedder.dim != dim_) throw Error(Category::kGallery, dim_mismatch(where, dim_, embedder.dim));
  if (!embedder_) {
    embedder_ = embedder;
  } else if (!embedder_->same_model(embedder)) {
    throw Error(Category::kGallery, where + " was enrolled with embedder " + embedder_->label() + ", not this bundle's " +
                                        embedder.label() + ": re-enroll the gallery with this bundle, or use the bundle "
                                        "that made it");
  }
}

std::vector<std::pair<size_t, float>> Gallery::search(const float* query, size_t top_k, float threshold) const {
  const size_t dim = static_cast<size_t>(dim_);
  std::vector<float> unit(query, query + dim);
  vision::l2_normalize({unit.data(), dim});
  std::vector<float> best(names_.size(), -std::numeric_limits<float>::infinity());
  for (size_t row = 0; row < owner_.size(); ++row) {
    const float* t = templates_.data() + row * dim;
    float score = 0.f;
    for (size_t i = 0; i < dim; ++i) score += unit[i] * t[i];
    best[owner_[row]] = std::max(best[owner_[row]], score);
  }
  std::vector<std::pair<size_t, float>> ranked;
  for (size_t identity = 0; identity < best.size(); ++identity) ranked.emplace_back(identity, best[identity]);
  const size_t keep = std::min(top_k, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep), ranked.end(),
                    [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
  ranked.resize(keep);
  ranked.erase(std::remove_if(ranked.begin(), ranked.end(), [&](const auto& m) { return !(m.second >= threshold); }),
               ranked.end());
  return ranked;
}

size_t Gallery::enroll(const std::string& name, const float* rows, size_t count) {
  check_identity_name(name);
  if (count == 0) throw Error(Category::kArgument, "embeddings: none given: enroll at least one template");
  const std::vector<float> unit = unit_rows(rows, count, static_cast<size_t>(dim_));
  append(name, unit.data(), count);
  if (added_[name] == 0) added_order_.push_back(name);
  added_[name] += count;
  return counts_[ids_.at(name)];
}

void Gallery::append(const std::string& name, const float* unit_rows, size_t count) {
  auto [found, inserted] = ids_.emplace(name, names_.size());
  if (inserted) {
    names_.push_back(name);
    counts_.push_back(0);
  }
  counts_[found->second] += count;
  templates_.insert(templates_.end(), unit_rows, unit_rows + count * static_cast<size_t>(dim_));
  owner_.insert(owner_.end(), count, found->second);
}

size_t Gallery::remove(const std::string& name) {
  const auto found = ids_.find(name);
  if (found == ids_.end()) throw Error(Category::kArgument, "name: no such identity in the gallery");
  const size_t identity = found->second, dim = static_cast<size_t>(dim_);
  size_t kept = 0;
  for (size_t row = 0; row < owner_.size(); ++row) {
    if (owner_[row] == identity) continue;
    std::copy_n(templates_.begin() + row * dim, dim, templates_.begin() + kept * dim);
    owner_[kept++] = owner_[row] - (owner_[row] > identity ? 1 : 0);
  }
  const size_t removed = owner_.size() - kept;
  owner_.resize(kept);
  templates_.resize(kept * dim);
  names_.erase(names_.begin() + static_cast<std::ptrdiff_t>(identity));
  counts_.erase(counts_.begin() + static_cast<std::ptrdiff_t>(identity));
  ids_.clear();
  for (size_t i = 0; i < names_.size(); ++i) ids_[names_[i]] = i;
  removed_.insert(name);
  added_.erase(name);
  return removed;
}

std::vector<float> Gallery::templates_of(size_t identity) const {
  const size_t dim = static_cast<size_t>(dim_);
  std::vector<float> rows;
  for (size_t row = 0; row < owner_.size(); ++row)
    if (owner_[row] == identity) rows.insert(rows.end(), templates_.begin() + row * dim, templates_.begin() + (row + 1) * dim);
  return rows;
}

GalleryContents Gallery::contents() const {
  GalleryContents contents;
  contents.dim = dim_;
  contents.names = names_;
  contents.counts.assign(counts_.begin(), counts_.end());
  contents.embedder = embedder_;
  if (std::is_sorted(owner_.begin(), owner_.end())) {  // already grouped (as read, or enrolled in order)
    contents.templates = templates_;
    return contents;
  }
  std::vector<size_t> order(owner_.size());
  for (size_t row = 0; row < order.size(); ++row) order[row] = row;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return owner_[a] < owner_[b]; });
  const size_t dim = static_cast<size_t>(dim_);
  contents.templates.reserve(templates_.size());
  for (size_t row : order)
    contents.templates.insert(contents.templates.end(), templates_.begin() + row * dim, templates_.begin() + (row + 1) * dim);
  return contents;
}

void Gallery::take_file_changes(const std::string& path) {
  const std::string stamp = gallery_file_stamp(path);
  if (stamp.empty() || stamp == stamp_) return;
  Gallery merged = open(path, dim_);
  if (embedder_) merged.bind(*embedder_);  // refuses a file another embedder took meanwhile
  for (const std::string& name : removed_)
    if (merged.ids_.count(name)) merged.remove(name);
  std::set<std::string> replayed;
  const size_t dim = static_cast<size_t>(dim_);
  for (const std::string& name : added_order_) {
    const auto added = added_.find(name);
    if (added == added_.end() || !replayed.insert(name).second) continue;
    const std::vector<float> rows = templates_of(ids_.at(name));
    merged.append(name, rows.data() + rows.size() - added->second * dim, added->second);
  }
  names_ = std::move(merged.names_);
  ids_ = std::move(merged.ids_);
  counts_ = std::move(merged.counts_);
  owner_ = std::move(merged.owner_);
  templates_ = std::move(merged.templates_);
  embedder_ = std::move(merged.embedder_);
}

void Gallery::save(const std::string& path) {
  const std::string target = path.empty() ? path_ : path;
  if (target.empty()) throw Error(Category::kArgument, "path: this gallery has no file: pass a path to save it to");
  GalleryWriterLock lock(target);
  if (!path_.empty() && absolute(target) == absolute(path_)) take_file_changes(target);
  stamp_ = write_gallery_file(target, contents());
  path_ = target;
  removed_.clear();
  added_.clear();
  added_order_.clear();
}

}  // namespace edgeface
