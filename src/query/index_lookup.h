// Secondary index lookups for Where: the candidate rows of a part from its index file
// (written by table/index.cc), read only where the condition's pruning tree allows.
#pragma once

#include <arrow/compute/expression.h>
#include <arrow/type_fwd.h>

#include <optional>
#include <string>
#include <vector>

#include "format/manifest.h"
#include "query/condition.h"

namespace parquet {
class RowGroupMetaData;
}

namespace octavo::query {

// What a row group's Parquet statistics say about one column (leaf < 0: nothing) (where.cc).
ColumnBounds RowGroupColumnBounds(const parquet::RowGroupMetaData& rg, int leaf, const arrow::Field& field);

// A condition on column `column` (a table field index) over a one-column schema
// {"value": type} that holds wherever `prune` can hold: what an index lookup selects.
// nullopt when the condition does not restrict the column (e.g. !=, IS NULL, OR with other columns).
std::optional<arrow::compute::Expression> NecessaryCondition(const PruneNode& prune, int column);

struct IndexLookup {
  bool used = false;          // the part has a valid index on the column
  bool stale = false;         // it has one, but written for another part / column
  bool too_wide = false;      // it would select most of a large part: scanned instead
  std::vector<int64_t> rows;  // candidate rows (part-relative, ascending)
  int64_t bytes_read = 0;
};

// Candidate rows of `part` from its index on table field `field`: only the index row groups
// whose statistics allow `prune` are read. A damaged index file is kCorruption naming the fix.
Result<IndexLookup> LookupIndex(const std::string& root, const std::string& table_path, const TableEntry& table,
                                const PartEntry& part, int field, const PruneNode& prune,
                                const arrow::compute::Expression& necessary);

}  // namespace octavo::query
