// Bit and gather utilities of the scanner's executor (bits.cc).
#pragma once

#include <arrow/compute/exec.h>
#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "octavo/status.h"

namespace octavo {

// The positions of the set bits among the first `n` bits of `bits` (from bit `offset`),
// ascending, into `out`.
void SetPositions(const uint8_t* bits, int64_t offset, int64_t n, int64_t* out);

// `a` at positions `pos` (ascending, in range).
Result<std::shared_ptr<arrow::Array>> TakePositions(const std::shared_ptr<arrow::Array>& a,
                                                    const std::vector<int64_t>& pos,
                                                    arrow::compute::ExecContext* ctx);

}  // namespace octavo
