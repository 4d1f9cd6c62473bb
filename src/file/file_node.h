// Internal: where file-node content lives (docs/format.md section 9).
#pragma once

#include <string>

namespace octavo {

inline constexpr const char* kFilesDir = "data/files";
// data/files/<2 hex>/<64 hex> for "blake2b-256:<64 hex>"; "" if `digest` is not a valid one.
std::string BlobPathForDigest(const std::string& digest);

}  // namespace octavo
