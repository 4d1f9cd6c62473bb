// Internal: Zarr v3 array metadata (zarr.json) and the chunk codec pipeline.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "octavo/array.h"
#include "octavo/status.h"
#include "util/json_util.h"

namespace octavo {

// One bytes -> bytes codec after the "bytes" codec.
struct ZarrBytesCodec {
  enum Kind { kZstd, kGzip, kZlib, kLz4, kShuffle, kBlosc } kind;
  int level = 0;        // zstd/gzip/zlib level, lz4 acceleration, blosc clevel
  int elementsize = 0;  // shuffle; blosc typesize
  std::string cname;    // blosc: blosclz, lz4, lz4hc, zlib, zstd
  int blosc_shuffle = 0;     // blosc: 0 noshuffle, 1 shuffle, 2 bitshuffle
  int64_t blocksize = 0;     // blosc: 0 = automatic
};

struct ZarrArrayMeta {
  std::vector<int64_t> shape;
  std::vector<int64_t> chunks;
  std::string dtype;   // octavo name: bool, int8.., float16..float64, complex64/128, S<n>, U<n>
  Json dtype_json;     // the Zarr data_type as written in zarr.json
  int itemsize = 0;
  int swap_unit = 1;   // bytes per byte-swapped word (complex: half the item; U: 4)
  Json fill_json;
  std::string fill_bytes;  // one element, native (little-endian) byte order
  bool big_endian = false;
  std::vector<ZarrBytesCodec> codecs;  // applied in order when encoding

  int ndim() const { return static_cast<int>(shape.size()); }
  int64_t chunk_elems() const;
  int64_t chunk_bytes() const { return chunk_elems() * itemsize; }
  // Number of chunks along each axis (ceil(shape / chunks)).
  std::vector<int64_t> grid() const;
};

// Build a zarr.json object for a new array (validates everything).
Result<Json> MakeZarrJson(const std::vector<int64_t>& shape, const std::string& dtype, const ArrayOptions& options,
                          const std::string& where);

// Parse and validate a zarr.json object; `where` names it in errors. Unsupported but valid
// Zarr features (other codecs, chunk grids, data types) are NotImplemented.
Result<ZarrArrayMeta> ParseZarrJson(const Json& z, const std::string& where);

// The compressor settings in user terms (for Info()).
void DescribeCodecs(const ZarrArrayMeta& meta, std::string* compressor, int* level, bool* shuffle);
// The whole codec pipeline in one line, e.g. "bytes(little) | blosc(zstd, clevel=5, shuffle, typesize=4)".
std::string CodecSummary(const ZarrArrayMeta& meta);

// A whole chunk of fill_value.
std::string FillChunk(const ZarrArrayMeta& meta);

Result<std::string> EncodeChunk(const ZarrArrayMeta& meta, std::string_view raw);
// Decode into exactly meta.chunk_bytes() bytes; damage is a Corruption naming `where`.
Result<std::string> DecodeChunk(const ZarrArrayMeta& meta, std::string encoded, const std::string& where);
// The same, reusing buffers: `cur` holds the encoded chunk on entry and the decoded chunk on
// success; `scratch` is working space. Both keep their capacity (no allocation per chunk).
Status DecodeChunkInPlace(const ZarrArrayMeta& meta, std::string& cur, std::string& scratch, const std::string& where);

// "0.1.2" <-> {0, 1, 2}; the 0-d chunk is "".
std::string ChunkKey(const std::vector<int64_t>& idx);
Result<std::vector<int64_t>> ParseChunkKey(const std::string& key, int ndim);

// Shape, chunk shape and item size fit in int64 (element count, chunk count, byte size) and
// one chunk stays under 2 GiB; errors carry `code` and start with `where`.
Status CheckGeometry(const std::vector<int64_t>& shape, const std::vector<int64_t>& chunks, int64_t itemsize,
                     const std::string& where, StatusCode code);

}  // namespace octavo
