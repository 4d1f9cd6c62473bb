// Checking (and where it is lossless, adapting) incoming data to a table's schema.
#pragma once

#include <memory>
#include <string>

#include "octavo/status.h"

namespace arrow {
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

}  // namespace octavo
