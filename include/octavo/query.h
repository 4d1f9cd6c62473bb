// Conditional reads: PyTables-style / SQL-style conditions compiled to Arrow compute
// expressions and pushed down into the parts (manifest statistics) and the Parquet row
// groups (footer statistics). Grammar and semantics: docs/queries.md.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "octavo/status.h"
#include "octavo/type_fwd.h"

namespace octavo {

// A value bound to a name used in a condition (PyTables' condvars).
struct QueryValue {
  enum class Kind { kNull, kBool, kInt, kFloat, kString, kBytes };
  Kind kind = Kind::kNull;
  bool bool_value = false;
  int64_t int_value = 0;
  double float_value = 0.0;
  std::string string_value;  // kString (UTF-8) and kBytes

  static QueryValue Null() { return QueryValue{}; }
  static QueryValue Bool(bool v) { QueryValue q; q.kind = Kind::kBool; q.bool_value = v; return q; }
  static QueryValue Int(int64_t v) { QueryValue q; q.kind = Kind::kInt; q.int_value = v; return q; }
  static QueryValue Float(double v) { QueryValue q; q.kind = Kind::kFloat; q.float_value = v; return q; }
  static QueryValue String(std::string v) { QueryValue q; q.kind = Kind::kString; q.string_value = std::move(v); return q; }
  static QueryValue Bytes(std::string v) { QueryValue q; q.kind = Kind::kBytes; q.string_value = std::move(v); return q; }
};

using CondVars = std::map<std::string, QueryValue>;

struct WhereOptions {
  std::vector<std::string> columns;  // projection; empty = all columns
  int64_t start = 0;                 // only rows [start, stop) are considered (Python slice rules)
  int64_t stop = -1;                 // -1 = end of table
  CondVars condvars;                 // external values, by name
  // Rows per emitted batch (the last may be shorter). 0: batches as decoded, without the
  // copy that exact sizes cost (small ones are still merged to about 64Ki rows).
  int64_t batch_size = 64 * 1024;
  bool use_threads = true;
  bool use_index = true;             // false: ignore secondary indexes (scan with statistics only)
};

// What a conditional read skipped and read. Filled in while the result is consumed; final
// once the reader is exhausted (GetWhereList / ReadWhere return it complete).
struct QueryStats {
  int64_t parts_total = 0;          // parts overlapping [start, stop)
  int64_t parts_skipped = 0;        // ruled out by the manifest's per-part min/max/null counts
  int64_t row_groups_total = 0;     // row groups overlapping [start, stop)
  int64_t row_groups_skipped = 0;   // ruled out by statistics (of skipped parts, or their own)
  int64_t rows_scanned = 0;         // rows decoded and tested
  int64_t rows_selected = 0;
  int64_t bytes_read = 0;           // compressed bytes of the column chunks / pages (and index pages) decoded
  int64_t pages_total = 0;          // data pages of the columns read only at matching rows (late materialisation)
  int64_t pages_skipped = 0;        // of those, never decompressed because no matching row is in them
  int64_t row_groups_matched = 0;   // row groups whose statistics show every row matches (no filter run)
  int64_t parts_sorted = 0;         // parts of the sorted run (Repack sort_by) among parts_total
  int64_t parts_indexed = 0;        // parts answered through a secondary index
  int64_t parts_index_stale = 0;    // parts whose index no longer matches the part (scanned instead)
  int64_t parts_index_too_wide = 0; // parts where the index would select most rows (scanned instead)
  std::string index_column;         // the indexed column used, if any
  std::vector<std::string> columns_read;  // the columns decoded: condition ∪ projection
};

// The statistics as a JSON object text (every field by name; index_column null when none):
// the one serializer the bindings and the CLI share.
std::string QueryStatsToJson(const QueryStats& stats);

// Rows of plain Parquet files (not a bundle: any writer's, e.g. what Bundle::GetTablePath
// lists or a directory of parts) where `condition` holds, in file order, with the same
// grammar and semantics as Table::Where. `paths`: files, or one directory (its *.parquet
// files, recursively; names starting with '.' or '_' skipped). Every file must have the same
// columns and types (kTypeError naming both schemas otherwise). Row groups are skipped by
// their footer statistics. Uses options.columns, condvars, batch_size and use_threads; start
// and stop must be left at 0 and -1. An empty condition selects every row.
Result<std::shared_ptr<arrow::RecordBatchReader>> ScanParquetFiles(const std::vector<std::string>& paths,
                                                                   const std::string& condition,
                                                                   const WhereOptions& options = {});

}  // namespace octavo
