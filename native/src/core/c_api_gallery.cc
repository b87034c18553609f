// The C interface's galleries (edgeface_gallery_*, include/edgeface.h) over Gallery:
// search, enrolment, saving, and binding to an analyzer's embedder.
#include <cmath>
#include <string>

#include "c_api_guard.h"
#include "c_api_handles.h"
#include "edgeface.h"
#include "gallery.h"

struct edgeface_gallery {
  edgeface::Gallery gallery;
};

namespace {

using edgeface::c_api::guarded;
using edgeface::c_api::require;

}  // namespace

extern "C" {

edgeface_status edgeface_gallery_create(int32_t dim, edgeface_gallery** out) {
  return guarded([&] {
    require(out != nullptr, "out: NULL");
    *out = nullptr;
    *out = new edgeface_gallery{edgeface::Gallery(dim)};
  });
}

edgeface_status edgeface_gallery_open(const char* path, int32_t dim, edgeface_gallery** out) {
  return guarded([&] {
    require(out != nullptr, "out: NULL");
    *out = nullptr;
    require(path != nullptr, "path: NULL");
    require(dim >= 0, "dim: the template size, or 0 for the file's; got " + std::to_string(dim));
    *out = new edgeface_gallery{edgeface::Gallery::open(path, dim)};
  });
}

void edgeface_gallery_close(edgeface_gallery* gallery) { delete gallery; }

int32_t edgeface_gallery_dim(const edgeface_gallery* gallery) { return gallery ? gallery->gallery.dim() : 0; }

size_t edgeface_gallery_identity_count(const edgeface_gallery* gallery) {
  return gallery ? gallery->gallery.identity_count() : 0;
}

size_t edgeface_gallery_template_count(const edgeface_gallery* gallery) {
  return gallery ? gallery->gallery.template_count() : 0;
}

edgeface_status edgeface_gallery_bind(edgeface_gallery* gallery, const edgeface_analyzer* analyzer) {
  return guarded([&] {
    require(gallery && analyzer, "gallery or analyzer: NULL");
    gallery->gallery.bind(analyzer->analyzer.embedder_fingerprint());
  });
}

edgeface_status edgeface_gallery_search(const edgeface_gallery* gallery, const float* query, size_t size,
                                        float threshold, edgeface_match* matches, size_t capacity, size_t* count) {
  return guarded([&] {
    require(count != nullptr, "count: NULL");
    *count = 0;
    require(gallery && query, "gallery or query: NULL");
    require(capacity == 0 || matches, "matches: NULL");
    const edgeface::Gallery& g = gallery->gallery;
    require(size == static_cast<size_t>(g.dim()), "size: this gallery's templates have " + std::to_string(g.dim()) +
                                                      " values, the query has " + std::to_string(size));
    for (size_t i = 0; i < size; ++i) require(std::isfinite(query[i]), "query: holds a NaN or infinite value");
    require(!std::isnan(threshold), "threshold: NaN (pass -1 to keep every match)");
    for (const auto& [identity, score] : g.search(query, capacity, threshold)) {
      matches[*count] = edgeface_match{g.name(identity).c_str(), score};
      ++*count;
    }
  });
}

edgeface_status edgeface_gallery_enroll(edgeface_gallery* gallery, const char* name, const float* embeddings,
                                        size_t size, size_t count, size_t* templates) {
  return guarded([&] {
    if (templates) *templates = 0;
    require(gallery && name && embeddings, "gallery, name or embeddings: NULL");
    const size_t dim = static_cast<size_t>(gallery->gallery.dim());
    require(count > 0 && size / dim == count && size % dim == 0,
            "size: " + std::to_string(count) + " templates of " + std::to_string(dim) + " values are " +
                std::to_string(count * dim) + " floats, got " + std::to_string(size));
    const size_t total = gallery->gallery.enroll(name, embeddings, count);
    if (templates) *templates = total;
  });
}

edgeface_status edgeface_gallery_remove(edgeface_gallery* gallery, const char* name, size_t* removed) {
  return guarded([&] {
    if (removed) *removed = 0;
    require(gallery && name, "gallery or name: NULL");
    const size_t count = gallery->gallery.remove(name);
    if (removed) *removed = count;
  });
}

edgeface_status edgeface_gallery_save(edgeface_gallery* gallery, const char* path) {
  return guarded([&] {
    require(gallery != nullptr, "gallery: NULL");
    gallery->gallery.save(path ? path : "");
  });
}

}  // extern "C"
