// Decoded 8,192-row blocks of table columns, kept process-wide for repeated small reads, as
// PyTables keeps recently read HDF5 chunks: Table::Read of part of a row group reads the same
// rows again from memory, without opening the part file. A block is kept from its second
// read on (the first reads just the rows asked for), so one-off reads of random ranges cost
// no more than before and a scan through different ranges does not flush the cache.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "octavo/status.h"

namespace arrow {
class Array;
class Schema;
}  // namespace arrow

namespace octavo {

class RowGroupSliceReader;

// Rows [first, first + count) of row group `g` (of `rg_rows` rows) of the part `part_key`
// (PartCacheKey), per field of `fields` (indexes into `schema`): the chunks that make up each
// column, in order. `open` gives the part's reader, called only when something is decoded.
Result<std::vector<std::vector<std::shared_ptr<arrow::Array>>>> ReadRowGroupSliceCached(
    const std::string& part_key, int g, int64_t rg_rows, const arrow::Schema& schema, const std::vector<int>& fields,
    int64_t first, int64_t count, const std::function<Result<RowGroupSliceReader*>()>& open);

}  // namespace octavo
