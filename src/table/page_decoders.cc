#include "table/page_decoders.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace octavo {
namespace {

static_assert(std::endian::native == std::endian::little, "the bit readers below assume a little-endian host");

// Bounds for counts read from a page: far above what any writer emits, low enough that the
// arithmetic below cannot overflow on a malformed page.
constexpr uint64_t kMaxBlockValues = uint64_t{1} << 30;
constexpr uint64_t kMaxRunValues = uint64_t{1} << 32;

bool ReadUleb(const uint8_t** p, const uint8_t* end, uint64_t* out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *p < end; shift += 7) {
    const uint8_t b = *(*p)++;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

uint64_t UnZigZag(uint64_t v) { return (v >> 1) ^ (~(v & 1) + 1); }

uint64_t Load64(const uint8_t* data, int64_t size, int64_t byte) {
  uint64_t v = 0;
  if (byte + 8 <= size) {
    std::memcpy(&v, data + byte, 8);
  } else if (byte < size) {
    std::memcpy(&v, data + byte, static_cast<size_t>(size - byte));
  }
  return v;
}

// `width` (0..64) bits starting at bit `bit` of `data`, least significant bit first.
uint64_t ReadBits(const uint8_t* data, int64_t size, uint64_t bit, int width) {
  if (width == 0) return 0;
  const int64_t byte = static_cast<int64_t>(bit >> 3);
  const int shift = static_cast<int>(bit & 7);
  uint64_t v = Load64(data, size, byte) >> shift;
  if (shift + width > 64) v |= Load64(data, size, byte + 8) << (64 - shift);
  return width == 64 ? v : v & ((uint64_t{1} << width) - 1);
}

// Walks the runs of an RLE / bit-packed hybrid section, calling run(start, count, rle_value,
// packed, packed_bytes) for each until it returns false or the section ends. false on a
// malformed run header.
template <typename Run>
bool ForEachRun(const uint8_t* data, int64_t size, int bit_width, Run run) {
  if (bit_width < 0 || bit_width > 32) return false;
  const uint8_t* p = data;
  const uint8_t* const end = data + size;
  const int value_bytes = (bit_width + 7) / 8;
  int64_t start = 0;
  while (p < end) {
    uint64_t header = 0;
    if (!ReadUleb(&p, end, &header)) return false;
    const uint64_t n = header >> 1;
    if (n == 0 || n > kMaxRunValues) return false;
    if (header & 1) {  // n groups of 8 bit-packed values; a writer may cut the last group's bytes short
      const int64_t bytes = std::min<int64_t>(static_cast<int64_t>(n) * bit_width, end - p);
      if (!run(start, static_cast<int64_t>(n * 8), uint32_t{0}, p, bytes)) return true;
      p += bytes;
      start += static_cast<int64_t>(n * 8);
    } else {
      if (end - p < value_bytes) return false;
      uint32_t value = 0;
      std::memcpy(&value, p, static_cast<size_t>(value_bytes));
      p += value_bytes;
      if (!run(start, static_cast<int64_t>(n), value, static_cast<const uint8_t*>(nullptr), int64_t{0})) return true;
      start += static_cast<int64_t>(n);
    }
  }
  return true;
}

}  // namespace

template <typename T>
bool GatherDeltaBinaryPacked(const uint8_t* data, int64_t size, const int64_t* rows, int64_t n, int64_t first,
                             T* out) {
  const uint8_t* p = data;
  const uint8_t* const end = data + size;
  uint64_t block = 0, miniblocks = 0, total = 0, first_value = 0;
  if (!ReadUleb(&p, end, &block) || !ReadUleb(&p, end, &miniblocks) || !ReadUleb(&p, end, &total) ||
      !ReadUleb(&p, end, &first_value))
    return false;
  if (block == 0 || block > kMaxBlockValues || block % 128 != 0 || miniblocks == 0 || block % miniblocks != 0 ||
      (block / miniblocks) % 32 != 0)
    return false;
  if (n == 0) return true;
  if (rows[0] < first || static_cast<uint64_t>(rows[n - 1] - first) >= total) return false;
  const int64_t per_miniblock = static_cast<int64_t>(block / miniblocks);
  const int max_width = static_cast<int>(sizeof(T) * 8);
  // Wrapping arithmetic in 64 bits; truncating to T at the end gives the INT32 wrap as well.
  uint64_t value = UnZigZag(first_value);  // the value at position `at`
  int64_t at = 0;
  int64_t k = 0;
  while (k < n && rows[k] - first == 0) out[k++] = static_cast<T>(value);
  while (k < n) {
    uint64_t zz = 0;
    if (!ReadUleb(&p, end, &zz)) return false;
    const uint64_t min_delta = UnZigZag(zz);
    if (end - p < static_cast<int64_t>(miniblocks)) return false;
    const uint8_t* widths = p;
    p += miniblocks;
    for (uint64_t m = 0; m < miniblocks && k < n; ++m) {
      const int width = widths[m];
      if (width > max_width) return false;
      const int64_t bytes = per_miniblock * width / 8;
      if (end - p < bytes) return false;
      const int64_t last = at + per_miniblock;  // this miniblock holds positions at+1 .. last
      if (width == 0) {  // every delta is min_delta: jump
        for (; k < n && rows[k] - first <= last; ++k)
          out[k] = static_cast<T>(value + static_cast<uint64_t>(rows[k] - first - at) * min_delta);
        value += static_cast<uint64_t>(per_miniblock) * min_delta;
      } else {
        const int64_t left = end - p;
        int64_t d = 0;  // deltas of this miniblock applied to `value`
        for (; k < n && rows[k] - first <= last; ++k) {
          for (const int64_t j = rows[k] - first - at; d < j; ++d)
            value += min_delta + ReadBits(p, left, static_cast<uint64_t>(d * width), width);
          out[k] = static_cast<T>(value);
        }
        if (k < n)
          for (; d < per_miniblock; ++d) value += min_delta + ReadBits(p, left, static_cast<uint64_t>(d * width), width);
      }
      at = last;
      p += bytes;
    }
  }
  return true;
}

template bool GatherDeltaBinaryPacked<int32_t>(const uint8_t*, int64_t, const int64_t*, int64_t, int64_t, int32_t*);
template bool GatherDeltaBinaryPacked<int64_t>(const uint8_t*, int64_t, const int64_t*, int64_t, int64_t, int64_t*);

bool GatherRleHybrid(const uint8_t* data, int64_t size, int bit_width, const int64_t* rows, int64_t n,
                     int64_t first, uint32_t* out) {
  int64_t k = 0;
  bool bad = false;
  const bool ok = ForEachRun(data, size, bit_width,
                             [&](int64_t start, int64_t count, uint32_t value, const uint8_t* packed, int64_t bytes) {
                               const int64_t stop = first + start + count;
                               if (!packed) {
                                 for (; k < n && rows[k] < stop; ++k) out[k] = value;
                               } else {
                                 for (; k < n && rows[k] < stop; ++k) {
                                   const uint64_t bit = static_cast<uint64_t>(rows[k] - first - start) * bit_width;
                                   if (bit + bit_width > static_cast<uint64_t>(bytes) * 8) {
                                     bad = true;
                                     return false;
                                   }
                                   out[k] = static_cast<uint32_t>(ReadBits(packed, bytes, bit, bit_width));
                                 }
                               }
                               return k < n;
                             });
  return ok && !bad && k == n && (n == 0 || rows[0] >= first);
}

bool DecodeRleHybrid(const uint8_t* data, int64_t size, int bit_width, int64_t from, int64_t count, uint32_t* out) {
  if (from < 0 || count < 0) return false;
  const int64_t to = from + count;
  const uint64_t mask = bit_width >= 32 ? 0xffffffffu : (uint64_t{1} << bit_width) - 1;
  int64_t done = from;  // positions [from, done) written
  bool bad = false;
  const bool ok = ForEachRun(data, size, bit_width,
                             [&](int64_t start, int64_t n, uint32_t value, const uint8_t* packed, int64_t bytes) {
                               const int64_t hi = std::min(to, start + n);
                               if (hi <= done) return true;
                               if (!packed) {
                                 std::fill(out + (done - from), out + (hi - from), value);
                               } else {
                                 if (static_cast<uint64_t>(hi - start) * bit_width > static_cast<uint64_t>(bytes) * 8) {
                                   bad = true;
                                   return false;
                                 }
                                 uint64_t bit = static_cast<uint64_t>(done - start) * bit_width;
                                 int64_t i = done;
                                 // one unaligned 8-byte load per value while 8 bytes remain (a
                                 // value of up to 32 bits at a shift of up to 7 fits in them)
                                 for (; i < hi && static_cast<int64_t>(bit >> 3) + 8 <= bytes; ++i, bit += bit_width) {
                                   uint64_t v;
                                   std::memcpy(&v, packed + (bit >> 3), 8);
                                   out[i - from] = static_cast<uint32_t>((v >> (bit & 7)) & mask);
                                 }
                                 for (; i < hi; ++i, bit += bit_width)
                                   out[i - from] = static_cast<uint32_t>(ReadBits(packed, bytes, bit, bit_width));
                               }
                               done = hi;
                               return done < to;
                             });
  return ok && !bad && done == to;
}

bool RleHybridAllEqual(const uint8_t* data, int64_t size, int bit_width, int64_t count, uint32_t value) {
  int64_t seen = 0;
  bool equal = true;
  const bool ok = ForEachRun(data, size, bit_width,
                             [&](int64_t, int64_t n, uint32_t v, const uint8_t* packed, int64_t bytes) {
                               const int64_t use = std::min(n, count - seen);
                               if (!packed) {
                                 equal = v == value;
                               } else {
                                 for (int64_t i = 0; i < use && equal; ++i) {
                                   const uint64_t bit = static_cast<uint64_t>(i) * bit_width;
                                   equal = bit + bit_width <= static_cast<uint64_t>(bytes) * 8 &&
                                           ReadBits(packed, bytes, bit, bit_width) == value;
                                 }
                               }
                               seen += use;
                               return equal && seen < count;
                             });
  return ok && equal && seen == count;
}

}  // namespace octavo
