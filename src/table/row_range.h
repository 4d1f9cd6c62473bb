// Mapping a [start, stop) row range onto parts and Parquet row groups, from the
// manifest's row counts alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "format/manifest.h"

namespace arrow {
class Schema;
}

namespace octavo {

struct PartSlice {
  size_t part = 0;              // index into TableEntry::parts
  int64_t first_row = 0;        // table row number of the first row group's first row
  std::vector<int> row_groups;  // the row groups that hold the range, in order
  int64_t offset = 0;           // rows to skip in the first of those row groups
  int64_t length = 0;           // rows to keep
};

// Negative start counts from the end (Python style); stop = -1 means the end;
// out-of-range values are clamped like Python slices.
Result<std::vector<PartSlice>> ResolveRowRange(const TableEntry& table, int64_t start, int64_t stop);

Result<std::vector<int>> ResolveColumns(const arrow::Schema& schema, const std::vector<std::string>& columns,
                                        const std::string& table_path);
std::shared_ptr<arrow::Schema> ProjectSchema(const arrow::Schema& schema, const std::vector<int>& fields);

}  // namespace octavo
