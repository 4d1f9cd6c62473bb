// Helpers shared by sorting (sort.cc) and secondary indexes (index.cc).
#pragma once

#include <arrow/compute/expression.h>
#include <arrow/type_fwd.h>

#include <optional>
#include <vector>

#include <memory>
#include <string>

#include "format/manifest.h"
#include "octavo/env.h"
#include "octavo/status.h"
#include "query/condition.h"

namespace parquet {
class RowGroupMetaData;
}

namespace octavo {

// Compares cell i of x with cell j of y (same type; temporal arrays given as storage views):
// -1/0/1 in Arrow's ascending order with NaN after numbers and nulls last.
using CellComparator = int (*)(const arrow::Array& x, int64_t i, const arrow::Array& y, int64_t j);
// kTypeError naming `what` for types that cannot be sorted / indexed.
Result<CellComparator> MakeCellComparator(const arrow::DataType& type, const std::string& what);
// Temporal arrays viewed as their integer storage; others unchanged.
std::shared_ptr<arrow::Array> StorageView(const std::shared_ptr<arrow::Array>& a);

// Writes the index of `column` for `part` (an immutable Parquet file of sorted (value, row)
// pairs, docs/format.md) and records it in part->indexes. Nothing refers to the file until
// the caller commits.
Status BuildPartIndex(Env* env, const std::string& root, const std::string& table_path, const TableEntry& table,
                      const std::string& column, PartEntry* part);

// What a row group's Parquet statistics say about one column (leaf < 0: nothing) (where.cc).
query::ColumnBounds RowGroupColumnBounds(const parquet::RowGroupMetaData& rg, int leaf, const arrow::Field& field);

// A condition on column `column` (a table field index) over a one-column schema
// {"value": type} that holds wherever `prune` can hold: what an index lookup selects.
// nullopt when the condition does not restrict the column (e.g. !=, IS NULL, OR with other columns).
std::optional<arrow::compute::Expression> NecessaryCondition(const query::PruneNode& prune, int column);

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
                                const PartEntry& part, int field, const query::PruneNode& prune,
                                const arrow::compute::Expression& necessary);

}  // namespace octavo
