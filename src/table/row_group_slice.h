// Reading a slice of rows of one Parquet row group: the page-level path shared by
// Table::Read (ranges that cover a row group only in part) and Table::Scan (row groups read
// chunk by chunk, so memory follows the chunk size, not the row group size).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octavo/status.h"

namespace arrow {
class Array;
class MemoryPool;
class Schema;
class Table;
}  // namespace arrow
namespace parquet {
class RowGroupPageIndexReader;
}
namespace parquet::arrow {
class FileReader;
}

namespace octavo {

class ChecksummedFile;

// Per top-level field of `table_schema`, the Parquet leaf that ReadPageRange can read it from
// as its declared type (flat columns stored as parquet::arrow would read them), or -1.
std::vector<int> PageReadableLeaves(const parquet::arrow::FileReader& reader, const arrow::Schema& table_schema);

class RowGroupSliceReader {
 public:
  // `reader` and `source` from one OpenPart; `fields` index `table_schema`; `context` names
  // the table and part file in errors.
  RowGroupSliceReader(parquet::arrow::FileReader* reader, std::shared_ptr<ChecksummedFile> source,
                      std::shared_ptr<arrow::Schema> table_schema, std::vector<int> fields, std::string context,
                      arrow::MemoryPool* pool);

  // Rows [first, first + count) of row group `g`, one array per field, of the declared types.
  // Flat columns read only the pages that hold the rows; the others (nested, dictionary, ...,
  // and chunks without an offset index) are decoded whole by parquet::arrow, kept for later
  // slices of the same row group.
  Result<std::vector<std::shared_ptr<arrow::Array>>> Read(int g, int64_t first, int64_t count);

 private:
  parquet::arrow::FileReader* reader_;
  std::shared_ptr<ChecksummedFile> source_;
  std::shared_ptr<arrow::Schema> schema_;
  std::vector<int> fields_;
  std::string context_;
  arrow::MemoryPool* pool_;
  std::vector<int> leaf_;          // per field: its page-readable leaf, or -1
  int index_group_ = -1;           // the row group index_ reads the offset indexes of
  std::shared_ptr<parquet::RowGroupPageIndexReader> index_;
  int whole_group_ = -1;           // the row group whole_table_ holds,
  std::vector<int> whole_fields_;  // of these fields
  std::shared_ptr<arrow::Table> whole_table_;
};

}  // namespace octavo
