// N-d arrays: chunked, compressed, stored as plain Zarr v3 chunks and metadata.
// See docs/format.md, "Arrays". Arrow-free.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octavo/status.h"

namespace octavo {

// How a new array is laid out. Everything here ends up in the array's zarr.json.
struct ArrayOptions {
  // Chunk shape; empty = automatic (see AutoChunks).
  std::vector<int64_t> chunks;
  // zstd (default), lz4, gzip, zlib, none, or blosc[:cname] with cname blosclz, lz4,
  // lz4hc, zlib or zstd ("blosc" = "blosc:zstd"; the Zarr v3 "blosc" codec, C-Blosc 1).
  // lz4 and zlib are numcodecs codecs ("numcodecs.lz4", "numcodecs.zlib"), which
  // zarr-python reads (with a warning that they are not in the Zarr v3 core specification).
  std::string compressor = "zstd";
  // Codec level; -1 = octavo's default (zstd 1, gzip/zlib 6, lz4 acceleration 1, blosc 5).
  int compression_level = -1;
  // Byte shuffle before compression: "numcodecs.shuffle" with elementsize = itemsize, or
  // for blosc its own shuffle="shuffle".
  bool shuffle = false;
  // blosc only: bit shuffle (shuffle="bitshuffle"; takes precedence over `shuffle`).
  bool bitshuffle = false;
  // blosc only: block size in bytes; 0 = blosc's automatic choice.
  int64_t blocksize = 0;
  // Zarr v3 fill_value, as JSON text: a number, true/false, "NaN", "Infinity",
  // "-Infinity", a "0x..." hex bit pattern, [real, imag], a base64 string (S<n>) or a
  // string (U<n>); null is the data type's zero. Elements never written read as this.
  // FillValueJson makes it from a value as a program holds it.
  std::string fill_value = "null";
};

// A fill value as a program holds it, before it is checked against a data type.
struct FillValue {
  enum class Kind { kDefault, kBool, kInt, kUInt, kFloat, kComplex, kText, kBytes };
  Kind kind = Kind::kDefault;  // kDefault: the data type's zero (false, 0, empty string)
  bool boolean = false;
  int64_t int_value = 0;
  uint64_t uint_value = 0;
  double real = 0, imag = 0;  // kFloat: real; kComplex: both
  std::string data;           // kText: UTF-8 text; kBytes: raw bytes
};

// The Zarr fill_value JSON text of `value` for data type `dtype` (ArrayInfo::dtype's
// spelling). Invalid, naming the value, the type and the rule, where it does not fit:
// out of range, a fraction for an integer type, text longer than the type, bytes for a
// non-bytes type, invalid UTF-8. Text for S<n> is taken as its UTF-8 bytes; a real number
// for a complex type is its real part.
Result<std::string> FillValueJson(const FillValue& value, const std::string& dtype);

// One axis of a selection: the coordinates of Python's range(start, stop, step). Every
// selected coordinate must lie inside the array (IndexError otherwise); step may be
// negative but not 0. An empty selection vector means the whole array.
struct ArrayRange {
  int64_t start = 0;
  int64_t stop = 0;
  int64_t step = 1;
  int64_t count() const;  // number of coordinates
};

struct ArrayChunkRef {
  std::string key;   // "0.1.2": chunk grid indices
  std::string file;  // absolute path of the encoded chunk (a plain Zarr chunk)
  int64_t size = 0;  // bytes
  int64_t crc32 = -1;  // CRC-32 (zlib's) of the file's bytes; -1: none recorded (older chunks)
};

struct ArrayInfo {
  std::string path;
  std::vector<int64_t> shape;
  std::vector<int64_t> chunks;
  // bool, int8..int64, uint8..uint64, float16, float32, float64, complex64, complex128,
  // S<n> (n-byte strings, Zarr null_terminated_bytes) or U<n> (n UTF-32 code points,
  // Zarr fixed_length_utf32), spelled as numpy spells them.
  std::string dtype;
  int itemsize = 0;
  std::string fill_value;      // JSON text
  std::string fill_element;    // fill_value as one element's bytes (little-endian, itemsize bytes)
  std::string compressor;      // zstd | lz4 | gzip | zlib | none | blosc:<cname>
  int compression_level = 0;
  bool shuffle = false;        // byte shuffle (numcodecs.shuffle or blosc shuffle)
  bool bitshuffle = false;     // blosc bit shuffle
  std::string codecs;          // the codec pipeline, e.g. "bytes(little) | zstd(level=1)"
  int64_t logical_bytes = 0;   // product(shape) * itemsize
  std::string zarr_json;       // the array's zarr.json (attributes = the node's attributes)
  int64_t num_chunks_stored = 0;  // chunks with a file; the others read as fill_value
  int64_t size_bytes = 0;         // sum of stored chunk sizes (compression ratio = logical_bytes / size_bytes)
  std::string created_at, modified_at;
};

// A handle on an array node. Reads see the bundle handle's snapshot; every write is one
// atomic commit that adds new immutable chunk files (a changed chunk is a new file).
class Array {
 public:
  virtual ~Array() = default;
  virtual const std::string& path() const = 0;
  virtual Result<ArrayInfo> Info() const = 0;
  virtual Result<std::vector<int64_t>> shape() const = 0;
  // ArrayInfo::dtype, without the work of Info() (which sums the whole chunk index).
  virtual Result<std::string> dtype() const = 0;
  // Every stored chunk of the array at this snapshot.
  virtual Result<std::vector<ArrayChunkRef>> ChunkRefs() const = 0;
  // The stored bytes of chunk `key` ("0.1.2"), a plain Zarr chunk still encoded, read through the
  // bundle's Env and checked against the manifest's size and CRC (Corruption if they differ).
  // NotFound if the chunk is not stored (it reads as fill_value).
  virtual Result<std::string> ReadStoredChunk(const std::string& key) const = 0;

  // Read the selection into `out`: C order, shape = the ranges' counts, dtype of the array.
  // `out_bytes` must equal that size exactly. Only the chunks involved are read.
  virtual Status Read(const std::vector<ArrayRange>& selection, void* out, int64_t out_bytes) const = 0;
  // Write C-ordered `data` (shape = the ranges' counts, dtype of the array) to the
  // selection, in one commit. Chunks outside the selection are untouched.
  virtual Status Write(const std::vector<ArrayRange>& selection, const void* data, int64_t nbytes) = 0;
  // Grow `axis` by data_shape[axis] and write `data` there (PyTables EArray.append), one
  // commit. data_shape must equal the array's shape on every other axis.
  virtual Status Append(const void* data, int64_t nbytes, const std::vector<int64_t>& data_shape, int axis = 0) = 0;
  // Change the shape (same number of dimensions). Shrinking drops chunks outside the new
  // shape and resets the cut-off part of edge chunks to fill_value, so growing again
  // shows fill_value, never stale data.
  virtual Status Resize(const std::vector<int64_t>& new_shape) = 0;
};

// Size in bytes of one element of a Zarr v3 data_type; 0 if octavo does not support it.
int ArrayItemSize(const std::string& dtype);

// The automatic chunk shape: at most about 1 MiB per chunk (at least 1 element per axis),
// filled from the last axis backwards, so trailing axes stay whole as long as they fit and
// leading axes get what budget is left. A 0-long first axis (an array to be appended to)
// gets the whole remaining budget, so appends fill ~1 MiB chunks.
std::vector<int64_t> AutoChunks(const std::vector<int64_t>& shape, int itemsize,
                                int64_t target_bytes = 1 << 20);

class Bundle;

// Reads keep recently decoded chunks in one process-wide cache (least recently used out;
// default 32 MiB), so repeated small reads of the same chunks skip reading and decoding.
// Chunk files are immutable, so cached chunks are never stale. 0 disables and empties it.
void SetArrayChunkCacheSize(int64_t bytes);
int64_t ArrayChunkCacheSize();

// Copy the Zarr v3 array stored in the local directory `zarr_dir` (its zarr.json and chunk
// files, "default" chunk keys with either separator) to a new array node `path` of
// `bundle`, keeping its encoding: chunk files are copied byte for byte (each is decoded once
// to check it; chunks that decode to all fill_value are dropped) and the Zarr attributes
// become the node's attributes. One commit (or part of the open transaction).
// NotImplemented when octavo cannot decode the array's data type or codecs (the caller may
// fall back to decoding with another Zarr library); Corruption names the damaged file.
Result<std::shared_ptr<Array>> ImportZarrArray(Bundle& bundle, const std::string& zarr_dir, const std::string& path,
                                               bool create_parents = true);

}  // namespace octavo
