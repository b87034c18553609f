// Version 3 of the gallery file (EFGALLERY3): the base file the Python SDK writes beside
// its journal (edgeface/gallery/base_file.py documents the layout). Read whole and checked
// as that reader checks it: the header's sha256 over its canonical JSON, the layout
// against the file size, zero padding, the identity tables' sha256 and every template
// chunk's sha256. The native core does not write it (gallery_file.h says why).
#pragma once

#include <string>

#include "gallery_file.h"
#include "gallery_fileio.h"

namespace edgeface {

// What a base file holds, and the id of the journal whose records apply on top of it.
struct BaseFile {
  GalleryContents contents;
  std::string journal_id;
};

// The rest of the file whose head `reader` read (`lead`, `raw`), checked; any problem is
// reader.invalid. Identity names must also pass check_identity_name and be distinct.
BaseFile read_base_file(gallery_io::Reader& reader, const std::string& lead, const std::string& raw);

// A base file's header (`raw`) alone, checked as read_base_file checks it: its journal id,
// and contents with only the dim and the embedder.
BaseFile read_base_header(const gallery_io::Reader& reader, const std::string& raw);

}  // namespace edgeface
