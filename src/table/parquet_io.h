// Writing and opening the Parquet parts of a table.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "format/manifest.h"
#include "octavo/env.h"
#include "octavo/options.h"

namespace arrow {
class MemoryPool;
class Table;
class RecordBatchReader;
class Schema;
}  // namespace arrow
namespace parquet {
class WriterProperties;
}
namespace parquet::arrow {
class FileReader;
}

namespace octavo {

class ChecksummedFile;

// Streams `data` (already conformed to `schema`) into new immutable part files under
// <root>/data/<uid>/, each fsynced, and returns their manifest entries. Nothing refers
// to the files until the caller commits; on error the partial files are orphans that a
// later collection removes. Rows are split into parts of at most options.part_max_rows.
Result<std::vector<PartEntry>> WriteParts(Env* env, const std::string& root, const std::string& uid,
                                          const std::shared_ptr<arrow::Schema>& schema,
                                          arrow::RecordBatchReader* data, const TableOptions& options);

// Per-column choices that override a table's options for one part file (top-level column
// names), made from the part's first rows by the part writer.
struct ColumnEncodings {
  std::vector<std::string> plain;         // no dictionary: values barely repeat
  std::vector<std::string> delta;         // DELTA_BINARY_PACKED, no dictionary: sequences
  std::vector<std::string> uncompressed;  // the codec would not shrink them (noise, packed deltas)
};

// Fixed-width columns of `table` whose first `sample_rows` values the codec named
// `compression` would shrink by less than 10% (noise-like measurements): compressing them
// costs write and read time for nothing. Empty for "none"/"uncompressed".
std::vector<std::string> IncompressibleColumns(const arrow::Table& table, const std::string& compression,
                                               int64_t sample_rows);

// The Parquet writer settings of a table's options (codec and level, row group and page
// sizes, statistics, page index, dictionary), with `columns`' overrides.
// Unknown or unavailable codecs are kInvalid.
// With per-column encodings (include/octavo/table.h has the one without).
Result<std::shared_ptr<parquet::WriterProperties>> ParquetWriterProperties(const TableOptions& options,
                                                                           const ColumnEncodings& columns);

// The key of caches of what a part holds: its absolute path with the size and footer CRC the
// manifest recorded, so an entry is only ever reused for the same bytes.
std::string PartCacheKey(const std::string& abs_path, const PartEntry& part);

// Opens one part, checking its size against the manifest first so a truncated file
// is reported as corruption of that file rather than as an obscure Parquet error.
// `source`, when given, gets the checked file the reader reads through (for page-level reads,
// row_gather.h ReadPageRange).
Result<std::unique_ptr<parquet::arrow::FileReader>> OpenPart(const std::string& root, const std::string& table_path,
                                                             const PartEntry& part, bool use_threads,
                                                             bool pre_buffer, arrow::MemoryPool* pool = nullptr,
                                                             std::shared_ptr<ChecksummedFile>* source = nullptr);

// The pool conditional reads decode into: the system allocator under a cache of freed large
// blocks. Arrow's default (mimalloc) hands freed memory back to the OS and faults it in
// again for the next row group; measured on a 50M-row where at 50% selectivity that zeroing
// cost more than the decoding, and glibc alone still faulted ~200 MB per query.
arrow::MemoryPool* QueryMemoryPool();

// Leaf column indices (Parquet numbering) of the given top-level fields.
Result<std::vector<int>> LeafIndices(const parquet::arrow::FileReader& reader, const std::vector<int>& fields);

}  // namespace octavo
