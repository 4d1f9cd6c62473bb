// CRC-32 (the zlib / gzip / Parquet page polynomial), with carry-less multiply where the CPU
// has it: about 8x zlib's table-driven loop, which made checking Parquet page checksums a
// third of a selective query's CPU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace octavo {

// crc32(crc32(0, a), b) == crc32(0, a + b), as zlib's crc32.
uint32_t Crc32(uint32_t crc, const void* data, size_t n);
inline uint32_t Crc32(std::string_view data) { return Crc32(0, data.data(), data.size()); }

}  // namespace octavo
