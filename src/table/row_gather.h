// Late materialisation: reading only chosen rows of one Parquet column chunk.
//
// A conditional read decodes the condition columns first; the other columns are needed only
// at the rows that matched. GatherRows reads just those rows, and it never decompresses a data
// page that holds none of them (the page boundaries come from the Parquet offset index,
// written by default). Pages without nulls in the encodings octavo writes are read in place by
// octavo's decoders (page_decoders.h), which jump to the rows; others are decoded by Arrow's
// column reader into reused scratch memory and the rows copied out.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "octavo/status.h"

namespace arrow {
class Array;
class DataType;
class MemoryPool;
}  // namespace arrow
namespace parquet {
class ColumnDescriptor;
class ParquetFileReader;
class RowGroupPageIndexReader;
}  // namespace parquet

namespace octavo {

class ChecksummedFile;

// Whether GatherRows can produce `type` (the Arrow type parquet::arrow reads this leaf as)
// from the column's Parquet physical values as they are. Other columns (nested, decimal,
// int8/int16, unit-converted timestamps, ...) are read whole and then taken from.
bool CanGatherRows(const parquet::ColumnDescriptor& column, const arrow::DataType& type);

struct GatherStats {
  int64_t pages_total = 0;    // data pages in the column chunks visited
  int64_t pages_skipped = 0;  // of those, never decompressed: no chosen row in them
  int64_t bytes_read = 0;     // compressed bytes of the data pages decompressed
};

// The values of leaf column `leaf` of row group `row_group` at `rows` (ascending, distinct,
// counted from the row group's first row), as an array of `type`. `file` must not be used
// by another thread meanwhile. `source`, when given, is the checked file `file` reads through
// (OpenPart's `source`): zstd column chunks are then read from it and decompressed with one
// zstd context per thread, not one per page as Arrow's codec does.
Result<std::shared_ptr<arrow::Array>> GatherRows(parquet::ParquetFileReader* file, int row_group, int leaf,
                                                 const std::shared_ptr<arrow::DataType>& type,
                                                 const std::vector<int64_t>& rows, arrow::MemoryPool* pool,
                                                 GatherStats* stats, ChecksummedFile* source = nullptr);

// Rows [first, first + count) of the row group, for a column CanGatherRows accepts (not
// boolean). PLAIN fixed-width pages are copied straight into the result buffer; dictionary
// and delta pages without nulls go through octavo's page decoders; the rest through Arrow's
// column reader with nulls spread in place. Cheaper than parquet::arrow's record reader.
// `source` as GatherRows'.
Result<std::shared_ptr<arrow::Array>> ReadRowRange(parquet::ParquetFileReader* file, int row_group, int leaf,
                                                   const std::shared_ptr<arrow::DataType>& type, int64_t first,
                                                   int64_t count, arrow::MemoryPool* pool,
                                                   ChecksummedFile* source = nullptr);

// Rows [first, first + count) of the row group (any flat column CanGatherRows accepts,
// boolean included), reading from `source` (the checked file `file` reads through, OpenPart's
// `source`) only the pages that hold them, as the offset index places them, and the
// dictionary page: a point read does not fetch or decompress the rest of the column chunk.
// The pages read are CRC-checked, and the offset index is checked against the footer and
// the page headers. Without an offset index, the whole chunk as ReadRowRange. `index`, when
// given, is `file`'s page index reader of `row_group` (its offset indexes read once for all
// the columns read through it).
Result<std::shared_ptr<arrow::Array>> ReadPageRange(parquet::ParquetFileReader* file, ChecksummedFile* source,
                                                    int row_group, int leaf, const std::shared_ptr<arrow::DataType>& type,
                                                    int64_t first, int64_t count, arrow::MemoryPool* pool,
                                                    parquet::RowGroupPageIndexReader* index = nullptr);

}  // namespace octavo
