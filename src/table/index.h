// Secondary index files: building them (index.cc); lookups are in src/query/index_lookup.h.
#pragma once

#include <string>

#include "format/manifest.h"
#include "octavo/env.h"
#include "octavo/status.h"

namespace octavo {

// Schema metadata keys of an index file: the column and the part file it was built for.
inline constexpr const char* kIndexMetaColumn = "octavo.index.column";
inline constexpr const char* kIndexMetaPart = "octavo.index.part";

// Writes the index of `column` for `part` (an immutable Parquet file of sorted (value, row)
// pairs, docs/format.md) and records it in part->indexes. Nothing refers to the file until
// the caller commits.
Status BuildPartIndex(Env* env, const std::string& root, const std::string& table_path, const TableEntry& table,
                      const std::string& column, PartEntry* part);

}  // namespace octavo
