// octavo's own Parquet page decoders (src/table/page_decoders.h) on hostile page bytes. The
// first 4 input bytes choose the bit width, the row count and a stride for the gathered
// positions; the rest is the page section. The one-pass decoder must agree with the gather.
// The same bytes also go through the page header parser and the CRC walk.
#include <cstring>
#include <vector>

#include "table/page_checksums.h"
#include "table/page_decoders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const int bit_width = data[0] % 33;  // 0..32, the widths callers pass
  const int64_t n = data[1];
  const int64_t stride = 1 + data[2] % 7;
  const int64_t first = data[3] % 5;
  const uint8_t* page = data + 4;
  const int64_t page_size = static_cast<int64_t>(size) - 4;
  std::vector<int64_t> rows(n);
  for (int64_t i = 0; i < n; ++i) rows[i] = first + i * stride;
  std::vector<uint32_t> idx(n);
  (void)octavo::GatherRleHybrid(page, page_size, bit_width, rows.data(), n, first, idx.data());
  // consecutive positions, from `stride` on: must agree with the gather wherever both succeed
  std::vector<uint32_t> dense(n);
  if (octavo::DecodeRleHybrid(page, page_size, bit_width, stride, n, dense.data())) {
    std::vector<int64_t> consecutive(n);
    for (int64_t i = 0; i < n; ++i) consecutive[i] = stride + i;
    std::vector<uint32_t> gathered(n);
    if (octavo::GatherRleHybrid(page, page_size, bit_width, consecutive.data(), n, 0, gathered.data()) &&
        gathered != dense)
      __builtin_trap();
  }
  (void)octavo::RleHybridAllEqual(page, page_size, bit_width, n, 1);
  std::vector<int32_t> v32(n);
  std::vector<int64_t> v64(n);
  (void)octavo::GatherDeltaBinaryPacked<int32_t>(page, page_size, rows.data(), n, first, v32.data());
  (void)octavo::GatherDeltaBinaryPacked<int64_t>(page, page_size, rows.data(), n, first, v64.data());
  // the same bytes as Parquet page headers: parsed within their bytes, walked and CRC-checked
  octavo::PageHeaderInfo info;
  if (octavo::ParsePageHeader(page, page_size, &info) && info.header_size > page_size) __builtin_trap();
  (void)octavo::VerifyPageChecksums(page, page_size, 0, int64_t{1} << 20, nullptr);
  return 0;
}
