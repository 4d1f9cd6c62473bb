#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octavo/options.h"
#include "octavo/query.h"
#include "octavo/status.h"
#include "octavo/type_fwd.h"

namespace parquet {
class WriterProperties;
}

namespace octavo {

// The Parquet writer settings octavo writes its parts with (codec and level, row group and
// page sizes, dictionary limit) for `options`; kInvalid names an unknown codec. For writing
// plain Parquet files outside a bundle (the CLI's export) the same way.
Result<std::shared_ptr<parquet::WriterProperties>> ParquetWriterProperties(const TableOptions& options);

// Everything info() answers comes from the manifest: no data file is opened.
struct TableInfo {
  std::string path;                       // node path, e.g. /data/readout
  int64_t num_rows = 0;
  int num_columns = 0;
  int64_t size_bytes = 0;                 // sum of the part files
  int num_parts = 0;
  std::vector<std::string> column_names;
  std::vector<std::string> column_types;  // Arrow type strings
  std::shared_ptr<arrow::Schema> schema;
  std::string created_at;                 // ISO-8601 UTC
  std::string modified_at;
  std::vector<std::string> part_files;    // absolute paths, in row order
  TableOptions options;
  std::vector<std::string> sorted_by;     // set by Repack(sort_by) while its parts lead the table
  int64_t sorted_rows = 0;                // rows of the sorted run (the rest was appended later)
  std::vector<std::string> indexes;       // columns with a secondary index
};

// Rewriting a table's parts (one new commit; readers of older commits are unaffected).
struct RepackOptions {
  std::vector<std::string> sort_by;  // ascending, nulls last, NaN after numbers; empty = keep row order
  int64_t row_group_size = 0;        // rows per row group of the new parts (and later appends); 0 = keep
  // Rows sorted in memory at a time: a longer table is sorted in runs of this many rows,
  // spilled to temporary Parquet files and k-way merged, so memory stays bounded.
  int64_t run_rows = 4 << 20;
  ProgressCallback progress;  // rows read and sorted so far (unit "rows"; total = the table's rows)
};

struct AppendOptions {
  bool add_columns = false;  // add the new data's extra columns instead of refusing them
  ProgressCallback progress;  // rows written so far (unit "rows"; total = expected_rows)
  int64_t expected_rows = 0;  // the rows the data holds when the caller knows it (progress only); 0 = unknown
};

struct IndexOptions {
  ProgressCallback progress;  // rows indexed so far, once per part (unit "rows"; total = the table's rows)
};

// A table node. Handles are cheap; they read the bundle's snapshot at call time,
// so a handle from a writer sees its own appends, one from a reader its snapshot.
class Table {
 public:
  virtual ~Table() = default;

  virtual const std::string& path() const = 0;
  virtual Result<TableInfo> Info() const = 0;
  virtual Result<std::shared_ptr<arrow::Schema>> schema() const = 0;
  virtual Result<int64_t> num_rows() const = 0;

  // Rows [start, stop) of the requested columns. Only the row groups that hold
  // those rows, and only those columns, are read.
  virtual Result<std::shared_ptr<arrow::Table>> Read(const ReadOptions& options = {}) const = 0;
  virtual Result<std::shared_ptr<arrow::Table>> Head(int64_t n, const std::vector<std::string>& columns = {}) const = 0;

  // Streams batches of exactly `batch_size` rows (the last may be shorter) with
  // memory bounded by one row group per column, whatever the table's length.
  virtual Result<std::shared_ptr<arrow::RecordBatchReader>> Scan(const ReadOptions& options,
                                                                 int64_t batch_size) const = 0;

  // --- conditional reads (src/query/, grammar in docs/queries.md) ---------------
  // Rows of [options.start, options.stop) where `condition` holds, projected on
  // options.columns, streamed in batches of options.batch_size rows. Parts and row groups
  // whose statistics rule the condition out are never opened / decoded; `stats` (if
  // given) receives a live report that is complete once the reader is exhausted.
  virtual Result<std::shared_ptr<arrow::RecordBatchReader>> Where(
      const std::string& condition, const WhereOptions& options = {},
      std::shared_ptr<const QueryStats>* stats = nullptr) const = 0;
  // Table row numbers (ascending) where `condition` holds.
  virtual Result<std::vector<int64_t>> GetWhereList(const std::string& condition, const WhereOptions& options = {},
                                                    QueryStats* stats = nullptr) const = 0;
  // The given rows (table row numbers, any order, repeats allowed), in that order.
  virtual Result<std::shared_ptr<arrow::Table>> ReadCoordinates(const std::vector<int64_t>& rows,
                                                                const std::vector<std::string>& columns = {}) const = 0;

  // Rewrites the table (sorted by options.sort_by if given) into new parts, one commit.
  // The manifest records the order; Where then prunes the sorted parts sharply.
  virtual Status Repack(const RepackOptions& options) = 0;

  // Secondary indexes (one immutable index file per part, docs/format.md): used by Where /
  // GetWhereList for ==, IN, <, <=, >, >=, BETWEEN on the column. One commit each; parts
  // appended later are indexed on append.
  virtual Status CreateIndex(const std::string& column) = 0;
  virtual Status CreateIndex(const std::string& column, const IndexOptions& options) = 0;
  virtual Status RemoveIndex(const std::string& column) = 0;
  virtual Result<std::vector<std::string>> Indexes() const = 0;

  // Appends write new immutable parts and commit once; nothing is committed on a schema
  // mismatch. Values are converted to the table's types where no value can change
  // (docs/import.md "Appending data frames"). A table column of type null (made from data whose
  // column was all NULL) takes the new data's type; with options.add_columns, columns the
  // table lacks are added (nullable; NULL in the earlier rows). Either schema change rewrites
  // the table's existing parts in the same commit.
  virtual Status Append(const std::shared_ptr<arrow::RecordBatchReader>& data) = 0;
  virtual Status Append(const std::shared_ptr<arrow::RecordBatchReader>& data, const AppendOptions& options) = 0;
  virtual Status Append(const std::shared_ptr<arrow::Table>& data) = 0;

  // Copy-on-write edits, one commit each: only the parts holding affected rows are rewritten
  // (new files); the others, and readers of older commits, are untouched. Nothing is committed
  // on any error.
  // Rows start, start + step, ... (values->num_rows() of them) take the values of `values`'
  // columns (matched by name, converted as appends are); the other columns keep theirs.
  virtual Status ModifyRows(int64_t start, int64_t step, const std::shared_ptr<arrow::Table>& values) = 0;
  // Removes rows start, start + step, ... below stop (0 <= start, stop <= num_rows, step >= 1);
  // returns how many.
  virtual Result<int64_t> RemoveRows(int64_t start, int64_t stop, int64_t step) = 0;
};

// Reads of part of a row group keep the decoded columns of its 8,192-row blocks in one
// process-wide cache (least recently used out; default 32 MiB), from the second read of a
// block on, so a range read again is served from memory without opening its part file.
// Part files are immutable, so cached blocks are never stale. 0 disables and empties it.
void SetTableBlockCacheSize(int64_t bytes);
int64_t TableBlockCacheSize();

}  // namespace octavo
