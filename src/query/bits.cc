// Bit and gather utilities of the scanner's executor (where.cc).
#include "query/bits.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>

#include <algorithm>
#include <cstring>

#include "octavo/arrow_status.h"

namespace octavo {
namespace cp = arrow::compute;

namespace {

template <typename T>
void GatherValues(const uint8_t* in, const std::vector<int64_t>& pos, uint8_t* out) {
  const T* src = reinterpret_cast<const T*>(in);
  T* dst = reinterpret_cast<T*>(out);
  for (size_t k = 0; k < pos.size(); ++k) dst[k] = src[pos[k]];
}

}  // namespace

// The positions of the set bits among the first `n` bits of `bits` (from bit `offset`),
// ascending, into `out`.
void SetPositions(const uint8_t* bits, int64_t offset, int64_t n, int64_t* out) {
  for (int64_t i = 0; i < n;) {
    // 64 bits starting at bit i (fewer at the end), shifted down to bit 0.
    const int64_t take = std::min<int64_t>(64, n - i);
    const int64_t bit = offset + i;
    const int shift = static_cast<int>(bit % 8);
    const size_t bytes = static_cast<size_t>((take + shift + 7) / 8);
    unsigned __int128 wide = 0;
    std::memcpy(&wide, bits + bit / 8, bytes);
    uint64_t word = static_cast<uint64_t>(wide >> shift);
    if (take < 64) word &= (uint64_t{1} << take) - 1;
    while (word) {
      *out++ = i + __builtin_ctzll(word);
      word &= word - 1;
    }
    i += take;
  }
}


// `a` at positions `pos` (ascending, in range). A plain loop for fixed-width columns without
// nulls: Arrow's filter kernel branches on every bit of a mixed mask, and its take kernel
// checks the bounds first; anything else goes to the take kernel.
Result<std::shared_ptr<arrow::Array>> TakePositions(const std::shared_ptr<arrow::Array>& a,
                                                    const std::vector<int64_t>& pos, cp::ExecContext* ctx) {
  const auto& type = *a->type();
  const int64_t n = static_cast<int64_t>(pos.size());
  if (a->null_count() == 0 && arrow::is_fixed_width(type.id()) && type.id() != arrow::Type::BOOL &&
      type.id() != arrow::Type::DICTIONARY && a->data()->buffers.size() == 2) {
    const int width = static_cast<const arrow::FixedWidthType&>(type).bit_width() / 8;
    const uint8_t* in = a->data()->buffers[1]->data() + a->offset() * width;
    OCTAVO_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Buffer> values, arrow::AllocateBuffer(n * width, ctx->memory_pool()));
    uint8_t* out = values->mutable_data();
    switch (width) {
      case 1: GatherValues<uint8_t>(in, pos, out); break;
      case 2: GatherValues<uint16_t>(in, pos, out); break;
      case 4: GatherValues<uint32_t>(in, pos, out); break;
      case 8: GatherValues<uint64_t>(in, pos, out); break;
      default:
        for (int64_t k = 0; k < n; ++k) std::memcpy(out + k * width, in + pos[static_cast<size_t>(k)] * width, width);
    }
    return arrow::MakeArray(arrow::ArrayData::Make(a->type(), n, {nullptr, values}, 0));
  }
  // A non-owning view of `pos` as indices: the kernel copies out of it before returning.
  auto idx = std::make_shared<arrow::Int64Array>(n, arrow::Buffer::Wrap(pos.data(), pos.size()));
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto t, cp::Take(a, idx, cp::TakeOptions::Defaults(), ctx));
  return t.make_array();
}

}  // namespace octavo
