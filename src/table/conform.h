// Checking (and where it is lossless, adapting) incoming data to a table's schema.
#pragma once

#include <memory>
#include <string>

#include "octavo/status.h"

namespace arrow {
class ChunkedArray;
class DataType;
class RecordBatchReader;
class Schema;
}  // namespace arrow

namespace octavo {

// Returns a reader yielding batches with exactly `target`'s schema (including its
// metadata). Columns may arrive in another order; dictionary index widths may differ.
// Anything else -- a missing, extra or differently typed column -- is a kTypeError
// naming the column, the expected and the received type. Checked before any row is read.
Result<std::shared_ptr<arrow::RecordBatchReader>> ConformToSchema(
    const std::shared_ptr<arrow::RecordBatchReader>& data, const std::shared_ptr<arrow::Schema>& target,
    const std::string& table_path);

// The schema a new table is stored with: dictionary (categorical) columns get int32
// indices, so later appends with more categories than int8 holds still fit.
std::shared_ptr<arrow::Schema> NormalizeTableSchema(const std::shared_ptr<arrow::Schema>& schema);

// Parquet may hand back a column in an equivalent physical form (a dictionary of
// string for one of large_string, say); cast it to the table's declared type.
Result<std::shared_ptr<arrow::ChunkedArray>> CastToDeclaredType(const std::shared_ptr<arrow::ChunkedArray>& column,
                                                                const std::shared_ptr<arrow::DataType>& type,
                                                                const std::string& context);

}  // namespace octavo
