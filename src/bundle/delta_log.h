// Internal: the Delta Lake log of each table (include/octavo/delta.h, docs/format.md 12).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "format/manifest.h"

namespace octavo {

class BundleImpl;

inline constexpr const char* kDeltaLogDir = "_delta_log";

// Called by BundleImpl::CommitLocked after the commit point: writes a log version for each
// table whose parts or schema changed between `parent` and `next` (catching up versions an
// earlier failure left out). Errors are returned for repair; the commit ignores them.
Status UpdateDeltaLogs(BundleImpl& b, const Manifest* parent, const Manifest& next, int64_t* versions_written,
                       std::vector<std::string>* errors);

// Whether `rel` (relative to the bundle root) is a file of a table's Delta log.
bool IsDeltaLogFile(const std::string& rel);

// Garbage collection's part (src/bundle/gc.cc): the log of each live table keeps only the
// versions from the one that holds commit `oldest_kept` on (a checkpoint is written there);
// logs of tables absent from `current` are deleted. `manifests` holds every kept manifest.
Status TruncateDeltaLogs(BundleImpl& b, const Manifest& current, int64_t oldest_kept,
                         const std::map<int64_t, std::shared_ptr<const Manifest>>& manifests,
                         std::vector<std::string>* removed);

}  // namespace octavo
