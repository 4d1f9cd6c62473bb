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

namespace octavo {

// Compares cell i of x with cell j of y (same type; temporal arrays given as storage views):
// -1/0/1 in Arrow's ascending order with NaN after numbers and nulls last.
using CellComparator = int (*)(const arrow::Array& x, int64_t i, const arrow::Array& y, int64_t j);
// kTypeError naming `what` for types that cannot be sorted / indexed.
Result<CellComparator> MakeCellComparator(const arrow::DataType& type, const std::string& what);
// Temporal arrays viewed as their integer storage; others unchanged.
std::shared_ptr<arrow::Array> StorageView(const std::shared_ptr<arrow::Array>& a);

}  // namespace octavo
