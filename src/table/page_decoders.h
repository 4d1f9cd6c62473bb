// Random access into the value sections of Parquet data pages.
//
// A selective query needs a late column's values at a few rows per page. Arrow's decoders
// cannot start inside a DELTA_BINARY_PACKED page or skip dictionary indices without decoding
// them, so at 0.01% selectivity decoding ids, timestamps and labels up to each chosen row
// was a fifth of the query. These functions jump instead: delta miniblocks of bit width 0 are
// a multiplication, and an index in a bit-packed run is read at its bit offset.
//
// All of them take the chosen positions as `rows[0..n)` minus `first` (ascending, each
// below the page's value count), never read outside [data, data + size), and return false
// on a malformed section (the caller reports the page as corrupt).
#pragma once

#include <cstdint>

namespace octavo {

// DELTA_BINARY_PACKED values (INT32 or INT64 physical type) at the chosen positions.
template <typename T>
bool GatherDeltaBinaryPacked(const uint8_t* data, int64_t size, const int64_t* rows, int64_t n, int64_t first,
                             T* out);

// RLE / bit-packed hybrid values of `bit_width` bits (dictionary indices, definition levels)
// at the chosen positions. The section has no length prefix (a data page's dictionary
// indices; strip the 4-byte prefix of V1 levels first).
bool GatherRleHybrid(const uint8_t* data, int64_t size, int bit_width, const int64_t* rows, int64_t n,
                     int64_t first, uint32_t* out);

// The same section's values at the consecutive positions [from, from + count), decoded in
// one pass (a dense read: no per-row search).
bool DecodeRleHybrid(const uint8_t* data, int64_t size, int bit_width, int64_t from, int64_t count, uint32_t* out);

// Whether an RLE / bit-packed hybrid section of `bit_width` bits holds `count` values that all
// equal `value` (a page's definition levels when it has no nulls).
bool RleHybridAllEqual(const uint8_t* data, int64_t size, int bit_width, int64_t count, uint32_t value);

}  // namespace octavo
