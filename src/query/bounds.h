// Column statistics as query::ColumnBounds (bounds.cc). RowGroupColumnBounds is declared
// in query/index_lookup.h.
#pragma once

#include <arrow/type_fwd.h>

#include <cstdint>

#include "format/manifest.h"
#include "query/condition.h"

namespace parquet {
class RowGroupMetaData;
}

namespace octavo {

// What the manifest's statistics of `part` (docs/format.md 4.4) say about table column `field`.
query::ColumnBounds PartColumnBounds(const PartEntry& part, const arrow::Field& field);

// What decoding every column of row group `rg` takes in memory, roughly.
int64_t DecodedBytes(const parquet::RowGroupMetaData& rg);

}  // namespace octavo
