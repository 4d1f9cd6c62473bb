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
// metadata). Columns may arrive in another order, and in any type that converts without
// loss (see ConversionOf in conform.cc): another layout (string / large_string /
// string_view, dictionary index widths, categorical <-> string), a wider type (float32 ->
// float64, small integers -> float), all-null columns, and value-checked casts (integer widths
// and signedness, timestamp units) whose failing value is a kTypeError naming the column when
// its batch is read. Anything else -- a missing, extra or lossy / conflicting column -- is a
// kTypeError naming the column, both types and the fix, checked before any row is read.
Result<std::shared_ptr<arrow::RecordBatchReader>> ConformToSchema(
    const std::shared_ptr<arrow::RecordBatchReader>& data, const std::shared_ptr<arrow::Schema>& target,
    const std::string& table_path);

// The schema a table has after appending data with `incoming`'s schema: columns of type null
// take the incoming type (normalised as a new table's), and with `add_columns` the incoming
// columns the table lacks are added at the end, nullable. Metadata stays the table's.
std::shared_ptr<arrow::Schema> EvolveSchema(const std::shared_ptr<arrow::Schema>& table,
                                            const std::shared_ptr<arrow::Schema>& incoming, bool add_columns);

// A reader of a table's rows (with its old schema) yielding `evolved`'s: null-typed columns
// cast, added columns all NULL.
std::shared_ptr<arrow::RecordBatchReader> EvolvingReader(std::shared_ptr<arrow::RecordBatchReader> old_rows,
                                                         std::shared_ptr<arrow::Schema> evolved);

// The schema a new table is stored with: dictionary (categorical) columns get int32
// indices, so later appends with more categories than int8 holds still fit; string_view /
// binary_view (polars) are stored as large_string / large_binary (what pandas gives).
std::shared_ptr<arrow::Schema> NormalizeTableSchema(const std::shared_ptr<arrow::Schema>& schema);

// Parquet may hand back a column in an equivalent physical form (a dictionary of
// string for one of large_string, say); cast it to the table's declared type.
Result<std::shared_ptr<arrow::ChunkedArray>> CastToDeclaredType(const std::shared_ptr<arrow::ChunkedArray>& column,
                                                                const std::shared_ptr<arrow::DataType>& type,
                                                                const std::string& context);

}  // namespace octavo
