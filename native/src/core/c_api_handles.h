// The C interface's opaque handles that more than one file of entry points opens.
#pragma once

#include "analyzer.h"
#include "bundle.h"

struct edgeface_bundle {
  edgeface::Bundle bundle;
};

struct edgeface_analyzer {
  edgeface::Analyzer analyzer;
};
