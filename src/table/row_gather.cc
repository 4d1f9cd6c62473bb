#include "table/row_gather.h"

#include <arrow/api.h>
#include <arrow/compute/api_vector.h>
#include <arrow/compute/exec.h>
#include <arrow/util/bit_util.h>
#include <parquet/column_page.h>
#include <parquet/column_reader.h>
#include <parquet/exception.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/page_index.h>
#include <parquet/schema.h>
#include <parquet/types.h>
#include <arrow/io/memory.h>
#include <arrow/util/compression.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <functional>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <numeric>
#include <type_traits>

#include "table/page_checksums.h"
#include "table/page_decoders.h"
#include "octavo/arrow_status.h"

namespace octavo {
namespace {

bool SameUnit(parquet::LogicalType::TimeUnit::unit p, arrow::TimeUnit::type a) {
  switch (p) {
    case parquet::LogicalType::TimeUnit::MILLIS:
      return a == arrow::TimeUnit::MILLI;
    case parquet::LogicalType::TimeUnit::MICROS:
      return a == arrow::TimeUnit::MICRO;
    case parquet::LogicalType::TimeUnit::NANOS:
      return a == arrow::TimeUnit::NANO;
    default:
      return false;
  }
}

// Rows [first, end) of the row group, held by consecutive data pages that are all read.
struct Run {
  int64_t first = 0, end = 0;
};

constexpr int64_t kBatch = 64 * 1024;  // levels decoded per ReadBatch into the scratch

// Validity of the gathered rows, allocated at the first null only (most columns have none).
struct LazyValidity {
  std::shared_ptr<arrow::Buffer> bitmap;
  int64_t nulls = 0;
  Status status;
  void SetNull(int64_t i, int64_t total, arrow::MemoryPool* pool) {
    if (!bitmap) {
      auto r = arrow::AllocateBitmap(total, pool);
      if (!r.ok()) {
        if (status.ok()) status = FromArrow(r.status());
        return;
      }
      bitmap = std::move(*r);
      arrow::bit_util::SetBitsTo(bitmap->mutable_data(), 0, total, true);
    }
    arrow::bit_util::ClearBit(bitmap->mutable_data(), i);
    ++nulls;
  }
};

// Fixed-width values written straight into the exactly-sized result buffer.
template <typename T>
struct FixedSink {
  using value_type = T;
  T* out;
  int64_t total;
  arrow::MemoryPool* pool;
  int64_t n = 0;
  LazyValidity validity;
  Status status() const { return validity.status; }
  void Value(const T& v) { out[n++] = v; }
  // get(0), ..., get(count - 1): the chosen rows of a batch or page without nulls.
  template <typename Get>
  void Emit(int64_t count, Get get) {
    T* o = out + n;
    for (int64_t i = 0; i < count; ++i) o[i] = get(i);
    n += count;
  }
  void Null() {
    validity.SetNull(n, total, pool);
    out[n++] = T{};
  }
};

template <typename Builder, typename T>
struct BuilderSink {
  Builder* builder;
  void Value(const T& v) { builder->UnsafeAppend(v); }
  template <typename Get>
  void Emit(int64_t count, Get get) {
    for (int64_t i = 0; i < count; ++i) builder->UnsafeAppend(get(i));
  }
  void Null() { builder->UnsafeAppendNull(); }
  Status status() const { return Status::OK(); }
};

// Byte arrays: exact offsets, the bytes collected in per-thread scratch and copied once into
// an exactly-sized buffer (a builder's doubling and zero-padded tail touched twice the memory,
// and a libc call per few-byte value showed in profiles).
template <typename Offset>
struct BinarySink {
  using value_type = parquet::ByteArray;
  Offset* offsets;  // total + 1 entries
  int64_t total;
  arrow::MemoryPool* pool;
  std::unique_ptr<uint8_t[]>* scratch;
  size_t* capacity;
  int64_t n = 0;
  size_t bytes = 0;
  LazyValidity validity;
  Status overflow;
  Status status() const { return overflow.ok() ? validity.status : overflow; }
  void Value(const parquet::ByteArray& v) {
    Emit(1, [&](int64_t) -> const parquet::ByteArray& { return v; });
  }
  // get(0), ..., get(count - 1), with the sink's state in locals: byte stores through uint8_t*
  // may alias anything, so member state would be reloaded after every copy.
  template <typename Get>
  void Emit(int64_t count, Get get) {
    size_t need = bytes;
    for (int64_t i = 0; i < count; ++i) need += get(i).len;
    if (need > static_cast<size_t>(std::numeric_limits<Offset>::max())) {
      if (overflow.ok())
        overflow = Status::Invalid("gathered values exceed ", std::numeric_limits<Offset>::max(),
                                   " bytes; declare the column large_string/large_binary");
      for (int64_t i = 0; i < count; ++i) offsets[++n] = static_cast<Offset>(bytes);
      return;
    }
    if (need > *capacity) Grow(need);
    uint8_t* const base = scratch->get();
    Offset* const off = offsets;
    size_t b = bytes;
    int64_t i = n;
    for (int64_t c = 0; c < count; ++c) {
      const parquet::ByteArray& v = get(c);
      CopySmall(base + b, v.ptr, v.len);
      b += v.len;
      off[++i] = static_cast<Offset>(b);
    }
    bytes = b;
    n = i;
  }
  // memcpy without a libc call for the short values typical of labels and categories.
  static void CopySmall(uint8_t* dst, const uint8_t* src, size_t len) {
    if (len >= 8 && len <= 16) {
      uint64_t a, z;
      std::memcpy(&a, src, 8);
      std::memcpy(&z, src + len - 8, 8);
      std::memcpy(dst, &a, 8);
      std::memcpy(dst + len - 8, &z, 8);
    } else if (len >= 4 && len < 8) {
      uint32_t a, z;
      std::memcpy(&a, src, 4);
      std::memcpy(&z, src + len - 4, 4);
      std::memcpy(dst, &a, 4);
      std::memcpy(dst + len - 4, &z, 4);
    } else if (len < 4) {
      for (size_t j = 0; j < len; ++j) dst[j] = src[j];
    } else {
      std::memcpy(dst, src, len);
    }
  }
  void Null() {
    validity.SetNull(n, total, pool);
    offsets[n + 1] = offsets[n];
    ++n;
  }
  void Grow(size_t need) {
    size_t cap = std::max<size_t>(need, std::max<size_t>(*capacity * 2, 64 * 1024));
    std::unique_ptr<uint8_t[]> bigger(new uint8_t[cap]);
    if (bytes) std::memcpy(bigger.get(), scratch->get(), bytes);
    *scratch = std::move(bigger);
    *capacity = cap;
  }
};

// Dictionary-typed columns: the chosen rows' dictionary indices, and the chunk's dictionary
// page as the result's dictionary (as parquet::arrow reads them), with no string copied per
// row. GatherDirect hands it indices instead of values and declines every page that is not
// dictionary-encoded.
struct DictionaryIndexSink {
  using value_type = parquet::ByteArray;
  int32_t* out;
  std::shared_ptr<arrow::DataType> value_type_arrow;  // of the dictionary
  arrow::MemoryPool* pool;
  int64_t n = 0;
  std::shared_ptr<arrow::Array> dictionary;
  Status status() const { return Status::OK(); }
  Status SetDictionary(const std::vector<parquet::ByteArray>& values) {
    if (dictionary) return Status::Corruption("column chunk holds more than one dictionary page");
    OCTAVO_ASSIGN_OR_RETURN(dictionary, BinaryArrayOf(values, value_type_arrow, pool));
    return Status::OK();
  }
  void Indices(int64_t count, const uint32_t* idx) {
    for (int64_t i = 0; i < count; ++i) out[n + i] = static_cast<int32_t>(idx[i]);
    n += count;
  }
  // A dictionary page's values as an array of `type` (string, binary or their large forms).
  static Result<std::shared_ptr<arrow::Array>> BinaryArrayOf(const std::vector<parquet::ByteArray>& values,
                                                             const std::shared_ptr<arrow::DataType>& type,
                                                             arrow::MemoryPool* pool) {
    const bool large = type->id() == arrow::Type::LARGE_STRING || type->id() == arrow::Type::LARGE_BINARY;
    return large ? Build<arrow::LargeBinaryBuilder>(values, type, pool) : Build<arrow::BinaryBuilder>(values, type, pool);
  }
  template <typename Builder>
  static Result<std::shared_ptr<arrow::Array>> Build(const std::vector<parquet::ByteArray>& values,
                                                     const std::shared_ptr<arrow::DataType>& type,
                                                     arrow::MemoryPool* pool) {
    Builder b(pool);
    int64_t bytes = 0;
    for (const auto& v : values) bytes += v.len;
    OCTAVO_RETURN_NOT_ARROW_OK(b.Reserve(static_cast<int64_t>(values.size())));
    OCTAVO_RETURN_NOT_ARROW_OK(b.ReserveData(bytes));
    for (const auto& v : values) b.UnsafeAppend(v.ptr, static_cast<int64_t>(v.len));
    std::shared_ptr<arrow::Array> out;
    OCTAVO_RETURN_NOT_ARROW_OK(b.Finish(&out));
    auto data = out->data()->Copy();
    data->type = type;  // binary -> string: same layout
    return arrow::MakeArray(data);
  }
};

template <typename Sink>
constexpr bool kTakesIndices = std::is_same_v<Sink, DictionaryIndexSink>;

// Decodes the runs batch by batch into thread-local scratch and hands the chosen rows to the
// sink right away (byte-array values point into the current page, valid until the next read).
template <typename DType, typename Sink>
Status GatherTyped(parquet::ColumnReader* base, int16_t max_def, const std::vector<Run>& runs,
                   const std::vector<int64_t>& rows, Sink* sink) {
  using T = typename DType::c_type;
  auto* reader = static_cast<parquet::TypedColumnReader<DType>*>(base);
  // Reused per thread (std::vector<bool> has no data(), hence plain arrays).
  thread_local std::unique_ptr<T[]> values_buf(new T[kBatch]);
  thread_local std::unique_ptr<int16_t[]> defs_buf(new int16_t[kBatch]);
  T* const values = values_buf.get();  // thread_local access is a call in a shared library
  int16_t* const defs = defs_buf.get();
  size_t k = 0;
  int64_t tail = 0;  // rows of the previous run after its last chosen one, not consumed yet
  for (size_t ri = 0; ri < runs.size() && k < rows.size(); ++ri) {
    const Run& run = runs[ri];
    size_t k_end = k;
    while (k_end < rows.size() && rows[k_end] < run.end) ++k_end;
    if (k_end == k) continue;  // cannot happen: runs are built from pages holding chosen rows
    const int64_t need_end = rows[k_end - 1] + 1;
    // One Skip over the previous run's tail and this run's head. Arrow's reader drops a page
    // undecoded only when a skip reaches past its end, so skipping the tail alone (which ends
    // exactly at a page end) decoded it value by value.
    const int64_t head = rows[k] - run.first;
    if (tail + head > 0) {
      const int64_t skipped = reader->Skip(tail + head);
      if (skipped != tail + head)
        return Status::Corruption("column chunk holds fewer values than its row group's rows");
    }
    int64_t pos = rows[k];
    while (pos < need_end) {
      const int64_t want = std::min(need_end - pos, kBatch);
      int64_t values_read = 0;
      const int64_t levels =
          reader->ReadBatch(want, max_def > 0 ? defs : nullptr, nullptr, values, &values_read);
      if (levels <= 0) return Status::Corruption("column chunk holds fewer values than its row group's rows");
      const int64_t end = pos + levels;
      if (max_def == 0 || values_read == levels) {
        size_t k2 = k;
        while (k2 < k_end && rows[k2] < end) ++k2;
        const int64_t* chosen = rows.data() + k;
        sink->Emit(static_cast<int64_t>(k2 - k), [&](int64_t i) -> const T& { return values[chosen[i] - pos]; });
        k = k2;
      } else {
        // Nulls take no value slot: the value of level i is values[number of defined levels before i].
        int64_t level = 0, value = 0;
        for (; k < k_end && rows[k] < end; ++k) {
          const int64_t target = rows[k] - pos;
          for (; level < target; ++level) value += defs[static_cast<size_t>(level)] == max_def;
          if (defs[static_cast<size_t>(target)] == max_def) {
            sink->Value(values[static_cast<size_t>(value)]);
          } else {
            sink->Null();
          }
        }
      }
      pos = end;
    }
    tail = run.end - pos;  // the reader must pass it before the next run's first page comes
  }
  if (k != rows.size()) return Status::Corruption("column chunk holds fewer values than its row group's rows");
  return sink->status();
}

// The gathered array of `n` rows, filled by fill(&sink) -> Result<bool>; null when fill
// declines (returns false) and the caller must gather another way.
template <typename T, typename Fill>
Result<std::shared_ptr<arrow::Array>> GatherFixed(int64_t n, const std::shared_ptr<arrow::DataType>& type,
                                                  arrow::MemoryPool* pool, Fill fill) {
  OCTAVO_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Buffer> values,
                                arrow::AllocateBuffer(n * static_cast<int64_t>(sizeof(T)), pool));
  FixedSink<T> sink{reinterpret_cast<T*>(values->mutable_data()), n, pool, 0, {}};
  OCTAVO_ASSIGN_OR_RETURN(const bool done, fill(&sink));
  if (!done) return std::shared_ptr<arrow::Array>();
  OCTAVO_RETURN_NOT_OK(sink.status());
  auto& v = sink.validity;
  return arrow::MakeArray(arrow::ArrayData::Make(type, n, {v.nulls ? v.bitmap : nullptr, values}, v.nulls));
}

Result<std::shared_ptr<arrow::Array>> GatherBool(parquet::ColumnReader* col, int16_t max_def,
                                                 const std::vector<Run>& runs, const std::vector<int64_t>& rows,
                                                 arrow::MemoryPool* pool) {
  arrow::BooleanBuilder builder(pool);
  OCTAVO_RETURN_NOT_ARROW_OK(builder.Reserve(static_cast<int64_t>(rows.size())));
  BuilderSink<arrow::BooleanBuilder, bool> sink{&builder};
  OCTAVO_RETURN_NOT_OK((GatherTyped<parquet::BooleanType>(col, max_def, runs, rows, &sink)));
  std::shared_ptr<arrow::Array> out;
  OCTAVO_RETURN_NOT_ARROW_OK(builder.Finish(&out));
  return out;
}

template <typename Offset, typename Fill>
Result<std::shared_ptr<arrow::Array>> GatherBinary(int64_t n, const std::shared_ptr<arrow::DataType>& type,
                                                   arrow::MemoryPool* pool, Fill fill) {
  OCTAVO_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Buffer> offsets,
                                arrow::AllocateBuffer((n + 1) * static_cast<int64_t>(sizeof(Offset)), pool));
  auto* off = reinterpret_cast<Offset*>(offsets->mutable_data());
  off[0] = 0;
  thread_local std::unique_ptr<uint8_t[]> scratch;
  thread_local size_t capacity = 0;
  BinarySink<Offset> sink{off, n, pool, &scratch, &capacity, 0, 0, {}, Status::OK()};
  Result<bool> done = fill(&sink);
  Status st = done.ok() ? sink.status() : done.status();
  std::shared_ptr<arrow::Buffer> data;
  if (st.ok() && *done) {
    auto r = arrow::AllocateBuffer(static_cast<int64_t>(sink.bytes), pool);
    if (r.ok()) {
      data = std::move(*r);
      if (sink.bytes) std::memcpy(data->mutable_data(), scratch.get(), sink.bytes);
    } else {
      st = FromArrow(r.status());
    }
  }
  if (capacity > (64u << 20)) {  // do not keep a huge column's bytes per thread
    scratch.reset();
    capacity = 0;
  }
  OCTAVO_RETURN_NOT_OK(st);
  if (!*done) return std::shared_ptr<arrow::Array>();
  auto& v = sink.validity;
  return arrow::MakeArray(arrow::ArrayData::Make(type, n, {v.nulls ? v.bitmap : nullptr, offsets, data}, v.nulls));
}

// The row after the last of page `i` of an offset index (`rg_rows`: the row group's rows).
int64_t PageRowEnd(const std::vector<parquet::PageLocation>& locs, size_t i, int64_t rg_rows) {
  return i + 1 < locs.size() ? locs[i + 1].first_row_index : rg_rows;
}

// The run of pages a read walks: a whole column chunk, or (ReadPageRange) the pages of it that
// hold a row range, read and checked apart.
struct ChunkPages {
  const parquet::ColumnDescriptor* descr = nullptr;
  std::unique_ptr<parquet::ColumnChunkMetaData> chunk;  // the whole chunk's metadata
  int64_t num_rows = 0;                                 // rows the pages hold
  std::function<std::unique_ptr<parquet::PageReader>()> open;  // a fresh reader from the first page
  std::function<std::shared_ptr<parquet::OffsetIndex>()> offsets;  // null: pages follow each other
  // A whole chunk in a checked file, readable page by page (OpenKeptPages); null otherwise.
  ChecksummedFile* source = nullptr;
  std::shared_ptr<parquet::ReaderProperties> props;
  bool always_compressed = false;
  int row_group = -1;
};

// The decompressed size a zstd frame header records, or -1 (absent or not a frame).
int64_t ZstdContentSize(const uint8_t* p, int64_t n) {
  if (n < 5 || p[0] != 0x28 || p[1] != 0xB5 || p[2] != 0x2F || p[3] != 0xFD) return -1;
  const uint8_t fhd = p[4];
  const int fcs_flag = fhd >> 6, single_segment = (fhd >> 5) & 1, dict_flag = fhd & 3;
  int64_t at = 5 + (single_segment ? 0 : 1) + (dict_flag == 3 ? 4 : dict_flag);
  const int fcs_bytes = fcs_flag == 0 ? (single_segment ? 1 : 0) : (1 << fcs_flag);
  if (fcs_bytes == 0 || at + fcs_bytes > n) return -1;
  uint64_t v = 0;
  for (int i = fcs_bytes - 1; i >= 0; --i) v = (v << 8) | p[at + i];
  if (fcs_bytes == 2) v += 256;
  return v > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(v);
}

// Arrow's zstd codec creates and frees a decompression context for every page it
// decompresses (ZSTD_decompress): 13% of a selective query's CPU at one thread. This reader
// takes the pages still compressed from Arrow's page reader (opened with no codec: header
// parsing, page filter and value counts stay Arrow's) and decompresses them with one
// context per thread, reused for every page. Like Arrow's, a page's bytes live in
// one buffer per reader, valid until the next NextPage().
class ZstdPageReader final : public parquet::PageReader {
 public:
  ZstdPageReader(std::unique_ptr<parquet::PageReader> raw, int64_t max_uncompressed, arrow::MemoryPool* pool)
      : raw_(std::move(raw)), max_uncompressed_(max_uncompressed), pool_(pool) {}

  std::shared_ptr<parquet::Page> NextPage() override {
    if (data_page_filter_) {  // set on this reader; the raw one skips the pages, undecompressed
      raw_->set_data_page_filter(std::move(data_page_filter_));
      data_page_filter_ = nullptr;
    }
    std::shared_ptr<parquet::Page> page = raw_->NextPage();
    if (!page) return page;
    switch (page->type()) {
      case parquet::PageType::DICTIONARY_PAGE: {
        const auto& d = static_cast<const parquet::DictionaryPage&>(*page);
        return std::make_shared<parquet::DictionaryPage>(Decompress(*page, 0, -1), d.num_values(), d.encoding(),
                                                         d.is_sorted());
      }
      case parquet::PageType::DATA_PAGE: {
        const auto& d = static_cast<const parquet::DataPageV1&>(*page);
        return std::make_shared<parquet::DataPageV1>(
            Decompress(*page, 0, d.uncompressed_size()), d.num_values(), d.encoding(), d.definition_level_encoding(),
            d.repetition_level_encoding(), d.uncompressed_size(), d.statistics(), d.first_row_index(),
            d.size_statistics());
      }
      case parquet::PageType::DATA_PAGE_V2: {
        const auto& d = static_cast<const parquet::DataPageV2&>(*page);
        if (!d.is_compressed()) return page;
        const int64_t levels =
            static_cast<int64_t>(d.definition_levels_byte_length()) + d.repetition_levels_byte_length();
        return std::make_shared<parquet::DataPageV2>(
            Decompress(*page, levels, d.uncompressed_size()), d.num_values(), d.num_nulls(), d.num_rows(),
            d.encoding(), d.definition_levels_byte_length(), d.repetition_levels_byte_length(),
            d.uncompressed_size(), d.is_compressed(), d.statistics(), d.first_row_index(), d.size_statistics());
      }
      default:
        return page;
    }
  }

  void set_max_page_header_size(uint32_t size) override { raw_->set_max_page_header_size(size); }

 private:
  // The page's bytes with everything after its first `levels` bytes (V2 levels are stored
  // plain) decompressed; `expect` is the header's uncompressed size (-1 for a dictionary page,
  // whose size Arrow's page object does not keep: then the frame's content size, grown as
  // needed up to the chunk's uncompressed size). Throws on damage, as Arrow's reader does.
  std::shared_ptr<arrow::Buffer> Decompress(const parquet::Page& page, int64_t levels, int64_t expect) {
    // One context per thread of the pool, from Debian's libzstd, whose Huffman decoding runs
    // its assembly loop (the zstd inside Arrow's wheel is built without it).
    thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
    if (!dctx) throw parquet::ParquetException("out of memory for a zstd context");
    const uint8_t* in = page.data();
    const int64_t in_len = page.size();
    if (levels < 0 || levels > in_len || (expect >= 0 && expect < levels))
      throw parquet::ParquetException("Invalid page header");
    if (!buffer_) {
      PARQUET_ASSIGN_OR_THROW(buffer_, arrow::AllocateResizableBuffer(0, pool_));
    }
    int64_t cap = expect;
    if (cap < 0) {
      cap = ZstdContentSize(in + levels, in_len - levels);
      if (cap < 0) cap = std::max<int64_t>(4 * in_len, 4096);
      cap = std::min(cap, max_uncompressed_);
    }
    PARQUET_THROW_NOT_OK(buffer_->Resize(cap, /*shrink_to_fit=*/false));
    if (levels > 0) std::memcpy(buffer_->mutable_data(), in, static_cast<size_t>(levels));
    int64_t written = levels;
    if (expect != levels) {  // a V2 page of nulls only may hold no frame at all (GH-31992)
      while (true) {  // concatenated frames are read as ZSTD_decompress reads them
        const size_t r = ZSTD_decompressDCtx(dctx.get(), buffer_->mutable_data() + levels,
                                             static_cast<size_t>(buffer_->size() - levels), in + levels,
                                             static_cast<size_t>(in_len - levels));
        if (!ZSTD_isError(r)) {
          written = levels + static_cast<int64_t>(r);
          break;
        }
        if (ZSTD_getErrorCode(r) != ZSTD_error_dstSize_tooSmall)
          throw parquet::ParquetException(std::string("zstd page is damaged: ") + ZSTD_getErrorName(r));
        if (expect >= 0 || buffer_->size() >= max_uncompressed_)
          throw parquet::ParquetException("zstd page decompresses to more than its header says");
        PARQUET_THROW_NOT_OK(
            buffer_->Resize(std::min(max_uncompressed_, 2 * buffer_->size() + 4096), /*shrink_to_fit=*/false));
      }
    }
    if (expect >= 0 && written != expect)
      throw parquet::ParquetException("Page didn't decompress to expected size, expected: " + std::to_string(expect) +
                                      ", but got:" + std::to_string(written));
    PARQUET_THROW_NOT_OK(buffer_->Resize(written, /*shrink_to_fit=*/false));
    return buffer_;
  }

  std::unique_ptr<parquet::PageReader> raw_;
  int64_t max_uncompressed_;
  arrow::MemoryPool* pool_;
  std::shared_ptr<arrow::ResizableBuffer> buffer_;
};

// A page reader over the pages in `stream`: Arrow's, with zstd pages decompressed by
// ZstdPageReader.
std::unique_ptr<parquet::PageReader> OpenPages(std::shared_ptr<arrow::io::InputStream> stream, int64_t total_values,
                                               arrow::Compression::type codec, const parquet::ReaderProperties& props,
                                               const parquet::ColumnDescriptor& descr, bool always_compressed,
                                               int64_t max_uncompressed) {
  if (codec != arrow::Compression::ZSTD)
    return parquet::PageReader::Open(std::move(stream), total_values, codec, props, descr, always_compressed);
  return std::make_unique<ZstdPageReader>(
      parquet::PageReader::Open(std::move(stream), total_values, arrow::Compression::UNCOMPRESSED, props, descr,
                                always_compressed),
      max_uncompressed, props.memory_pool());
}

ChunkPages WholeChunk(parquet::ParquetFileReader* file, int row_group, int leaf, ChecksummedFile* source,
                      arrow::MemoryPool* pool) {
  ChunkPages c;
  const auto& md = *file->metadata();
  c.descr = md.schema()->Column(leaf);
  auto rg = file->RowGroup(row_group);
  c.chunk = rg->metadata()->ColumnChunk(leaf);
  c.num_rows = rg->metadata()->num_rows();
  const auto& cc = *c.chunk;
  // The pages straight from `source` (ChecksummedFile::ReadAt checks their CRCs, as when
  // Arrow's row group reader reads them), read once however often the pages are walked,
  // for zstd chunks as Arrow would place them. Otherwise (and for encrypted chunks or
  // footers of writers whose chunk ranges Arrow pads) Arrow's row group reader.
  const bool checked_pages = source && !cc.crypto_metadata() &&
                             !md.writer_version().VersionLt(parquet::ApplicationVersion::PARQUET_816_FIXED_VERSION());
  c.row_group = row_group;
  if (checked_pages) {
    c.source = source;
    c.props = std::make_shared<parquet::ReaderProperties>(pool);
    c.props->set_page_checksum_verification(false);  // checked by ChecksummedFile
    c.always_compressed =
        md.writer_version().VersionLt(parquet::ApplicationVersion::PARQUET_CPP_10353_FIXED_VERSION());
  }
  if (checked_pages && cc.compression() == arrow::Compression::ZSTD) {
    int64_t start = cc.data_page_offset();  // as ComputeColumnChunkRange
    if (cc.has_dictionary_page() && cc.dictionary_page_offset() > 0 && start > cc.dictionary_page_offset())
      start = cc.dictionary_page_offset();
    const int64_t len = cc.total_compressed_size();
    const int64_t values = cc.num_values(), max_uncompressed = cc.total_uncompressed_size();
    const bool always_compressed = c.always_compressed;
    auto props = c.props;
    auto bytes = std::make_shared<std::shared_ptr<arrow::Buffer>>();
    const parquet::ColumnDescriptor* descr = c.descr;
    c.open = [=]() -> std::unique_ptr<parquet::PageReader> {
      if (!*bytes) {
        if (start < 0 || len < 0) throw parquet::ParquetException("invalid column chunk range");
        PARQUET_ASSIGN_OR_THROW(*bytes, source->ReadAt(start, len));
        if ((*bytes)->size() != len) {
          *bytes = nullptr;
          throw parquet::ParquetException("column chunk at byte " + std::to_string(start) + " is cut short");
        }
      }
      return OpenPages(std::make_shared<arrow::io::BufferReader>(*bytes), values, arrow::Compression::ZSTD, *props,
                       *descr, always_compressed, max_uncompressed);
    };
  } else {
    c.open = [rg, leaf] { return rg->GetColumnPageReader(leaf); };
  }
  c.offsets = [file, row_group, leaf]() -> std::shared_ptr<parquet::OffsetIndex> {
    if (auto pages = file->GetPageIndexReader()) {
      if (auto g = pages->RowGroup(row_group)) return g->GetOffsetIndex(leaf);
    }
    return nullptr;
  };
  return c;
}

// Makes `pager` drop, undecompressed, the data pages `keep` does not mark (in page order).
void SkipPagesNotKept(parquet::PageReader* pager, std::shared_ptr<std::vector<char>> keep) {
  auto next = std::make_shared<size_t>(0);
  pager->set_data_page_filter([keep, next](const parquet::DataPageStats&) {
    const size_t i = (*next)++;
    return i < keep->size() && !(*keep)[i];
  });
}

// The page runs of the column chunk that hold chosen rows, from the offset index; a data page
// filter makes the reader drop every other page before decompressing it.
// `kept_first` gets the first row of each data page the reader will return (empty without an
// offset index: then every page comes, one after the other).
Result<std::vector<Run>> PlanRuns(const ChunkPages& src, const std::vector<int64_t>& rows, parquet::PageReader* pager,
                                  GatherStats* stats, std::vector<int64_t>* kept_first,
                                  std::vector<char>* kept_pages = nullptr,
                                  std::shared_ptr<parquet::OffsetIndex>* offsets_out = nullptr) {
  kept_first->clear();
  if (kept_pages) kept_pages->clear();
  const int64_t rg_rows = src.num_rows;
  std::shared_ptr<parquet::OffsetIndex> offsets = src.offsets ? src.offsets() : nullptr;
  if (!offsets || offsets->page_locations().empty()) {
    stats->pages_total += 1;
    stats->bytes_read += src.chunk->total_compressed_size();
    return std::vector<Run>{Run{0, rg_rows}};
  }
  const auto& locs = offsets->page_locations();
  auto keep = std::make_shared<std::vector<char>>(locs.size(), 0);
  std::vector<Run> runs;
  size_t k = 0;
  for (size_t i = 0; i < locs.size(); ++i) {
    const int64_t first = locs[i].first_row_index;
    const int64_t end = PageRowEnd(locs, i, rg_rows);
    if (first < 0 || end < first || end > rg_rows)
      return Status::Corruption("offset index of column ", src.descr->path()->ToDotString(), " is inconsistent");
    while (k < rows.size() && rows[k] < first) ++k;
    if (k < rows.size() && rows[k] < end) {
      (*keep)[i] = 1;
      kept_first->push_back(first);
      stats->bytes_read += locs[i].compressed_page_size;
      if (!runs.empty() && runs.back().end == first) {
        runs.back().end = end;
      } else {
        runs.push_back(Run{first, end});
      }
    } else {
      stats->pages_skipped++;
    }
  }
  stats->pages_total += static_cast<int64_t>(locs.size());
  if (kept_pages) *kept_pages = *keep;
  if (offsets_out) *offsets_out = offsets;
  if (pager) SkipPagesNotKept(pager, std::move(keep));
  return runs;
}

// The offset index is not covered by the footer's checksum: its page offsets and sizes must
// chain from the (checked) footer's data page offset to the chunk's end, its first rows rise
// from 0 and stay below the row group's `rg_rows`. Corruption otherwise.
Status CheckOffsetIndex(const parquet::ColumnChunkMetaData& chunk, const std::vector<parquet::PageLocation>& locs,
                        int64_t rg_rows, const std::string& column, int row_group) {
  auto bad_index = [&](const char* what) {
    return Status::Corruption("the offset index of column ", column, " in row group ", row_group, " ", what,
                              " (the file is damaged)");
  };
  const int64_t data_start = chunk.data_page_offset();
  int64_t chunk_start = data_start;
  if (chunk.has_dictionary_page()) {
    const int64_t d = chunk.dictionary_page_offset();
    if (d < 0 || d >= data_start) return bad_index("disagrees with the footer's dictionary page offset");
    chunk_start = d;
  }
  if (locs.empty()) return bad_index("lists no page");
  for (size_t i = 0; i < locs.size(); ++i) {
    const int64_t expect_offset = i == 0 ? data_start : locs[i - 1].offset + locs[i - 1].compressed_page_size;
    const int64_t row_end = PageRowEnd(locs, i, rg_rows);
    if (locs[i].offset != expect_offset || locs[i].compressed_page_size <= 0 ||
        (i == 0 ? locs[i].first_row_index != 0 : locs[i].first_row_index <= locs[i - 1].first_row_index) ||
        row_end > rg_rows || row_end <= locs[i].first_row_index)
      return bad_index("does not chain its pages");
  }
  if (locs.back().offset + locs.back().compressed_page_size != chunk_start + chunk.total_compressed_size())
    return bad_index("does not end where the column chunk ends");
  return Status::OK();
}

// A page reader over the chunk's dictionary page and only the data pages `keep` marks (of
// the offset index `locs`), read run by run from the checked file into one buffer: a sparse
// gather does not fetch the bytes of pages it skips. Null when the chunk is not read from a
// checked file, or most pages are kept anyway (one read of the whole chunk is then cheaper).
Result<std::unique_ptr<parquet::PageReader>> OpenKeptPages(const ChunkPages& src,
                                                           const parquet::OffsetIndex& index,
                                                           const std::vector<char>& keep, int row_group) {
  const auto& locs = index.page_locations();
  const auto& meta = *src.chunk;
  // (a dictionary page at offset 0 is a writer's quirk Arrow's whole-chunk reader copes with)
  if (!src.source || src.descr->max_repetition_level() != 0 || keep.size() != locs.size() ||
      (meta.has_dictionary_page() && meta.dictionary_page_offset() <= 0))
    return std::unique_ptr<parquet::PageReader>();
  int64_t kept_bytes = 0, all_bytes = 0;
  for (size_t i = 0; i < locs.size(); ++i) {
    all_bytes += locs[i].compressed_page_size;
    if (keep[i]) kept_bytes += locs[i].compressed_page_size;
  }
  if (kept_bytes * 4 > all_bytes * 3) return std::unique_ptr<parquet::PageReader>();
  const auto& chunk = *src.chunk;
  OCTAVO_RETURN_NOT_OK(CheckOffsetIndex(chunk, locs, src.num_rows, src.descr->path()->ToDotString(), row_group));
  const int64_t dict_at = chunk.has_dictionary_page() ? chunk.dictionary_page_offset() : chunk.data_page_offset();
  const int64_t dict_len = chunk.data_page_offset() - dict_at;
  OCTAVO_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Buffer> buf,
                                arrow::AllocateBuffer(dict_len + kept_bytes, src.props->memory_pool()));
  uint8_t* out = buf->mutable_data();
  if (dict_len > 0) OCTAVO_RETURN_NOT_OK(src.source->ReadPagesInto(dict_at, dict_len, out, nullptr));
  int64_t at = dict_len, total_values = 0;
  std::vector<int64_t> values;
  for (size_t i = 0; i < locs.size();) {
    if (!keep[i]) {
      ++i;
      continue;
    }
    size_t j = i;  // a run of kept pages [i, j), one read
    int64_t len = 0;
    while (j < locs.size() && keep[j]) len += locs[j++].compressed_page_size;
    OCTAVO_RETURN_NOT_OK(src.source->ReadPagesInto(locs[i].offset, len, out + at, &values));
    if (values.size() != j - i)
      return Status::Corruption("the offset index of column ", src.descr->path()->ToDotString(), " in row group ",
                                row_group, " does not match the pages it points to (the file is damaged)");
    for (size_t k = i; k < j; ++k) {  // flat: a page's values are its rows
      const int64_t rows = PageRowEnd(locs, k, src.num_rows) - locs[k].first_row_index;
      if (values[k - i] != rows)
        return Status::Corruption("the offset index of column ", src.descr->path()->ToDotString(), " in row group ",
                                  row_group, " does not match the pages' row counts (the file is damaged)");
      total_values += rows;
    }
    at += len;
    i = j;
  }
  return OpenPages(std::make_shared<arrow::io::BufferReader>(buf), total_values, chunk.compression(), *src.props,
                   *src.descr, src.always_compressed, chunk.total_uncompressed_size());
}

// The pages a direct gather of `rows` walks (`kept_first`: their first rows, as PlanRuns):
// only the pages holding chosen rows, read apart when that saves reading (OpenKeptPages),
// else the whole chunk's reader, dropping the other pages before decompression.
Result<std::unique_ptr<parquet::PageReader>> OpenGatherPages(const ChunkPages& src, const std::vector<int64_t>& rows,
                                                             GatherStats* stats, std::vector<int64_t>* kept_first) {
  std::vector<char> keep;
  std::shared_ptr<parquet::OffsetIndex> index;
  OCTAVO_RETURN_NOT_OK(PlanRuns(src, rows, nullptr, stats, kept_first, &keep, &index).status());
  if (index) {
    OCTAVO_ASSIGN_OR_RETURN(auto kept, OpenKeptPages(src, *index, keep, src.row_group));
    if (kept) return kept;
  }
  auto pager = src.open();
  if (index) SkipPagesNotKept(pager.get(), std::make_shared<std::vector<char>>(std::move(keep)));
  return pager;
}

template <typename DType>
Status ReadRangeTyped(parquet::ColumnReader* base, int16_t max_def, int64_t first, int64_t count, uint8_t* values,
                      std::shared_ptr<arrow::Buffer>* bitmap, int64_t* null_count, arrow::MemoryPool* pool) {
  using T = typename DType::c_type;
  auto* reader = static_cast<parquet::TypedColumnReader<DType>*>(base);
  T* out = reinterpret_cast<T*>(values);
  thread_local std::unique_ptr<int16_t[]> defs_buf(new int16_t[kBatch]);
  int16_t* const defs = defs_buf.get();
  if (first > 0 && reader->Skip(first) != first)
    return Status::Corruption("column chunk holds fewer values than its row group's rows");
  uint8_t* valid = nullptr;
  int64_t pos = 0;
  while (pos < count) {
    int64_t values_read = 0;
    const int64_t levels = reader->ReadBatch(std::min(count - pos, kBatch), max_def > 0 ? defs : nullptr,
                                             nullptr, out + pos, &values_read);
    if (levels <= 0) return Status::Corruption("column chunk holds fewer values than its row group's rows");
    if (values_read != levels) {
      if (!valid) {
        OCTAVO_ARROW_ASSIGN_OR_RETURN(*bitmap, arrow::AllocateEmptyBitmap(count, pool));
        valid = (*bitmap)->mutable_data();
        arrow::bit_util::SetBitsTo(valid, 0, pos, true);
      }
      // The values arrive packed (nulls take no slot): move each to its row, last first.
      int64_t v = values_read - 1;
      for (int64_t l = levels - 1; l >= 0; --l) {
        if (defs[static_cast<size_t>(l)] == max_def) {
          out[pos + l] = out[pos + v--];
          arrow::bit_util::SetBit(valid, pos + l);
        } else {
          out[pos + l] = T{};
          ++*null_count;
        }
      }
    } else if (valid) {
      arrow::bit_util::SetBitsTo(valid, pos, levels, true);
    }
    pos += levels;
  }
  return Status::OK();
}

// The value section of a data page (V1 or V2) whose rows are all defined: no definition
// levels (a required column), or levels that all equal `max_def`. False for a page with nulls.
struct PageValues {
  const uint8_t* data = nullptr;
  int64_t size = 0;
  int64_t count = 0;  // values = rows (flat columns)
  parquet::Encoding::type encoding = parquet::Encoding::PLAIN;
};

// The bytes of a V1 page's length-prefixed RLE definition levels (at `p`, `left` bytes on)
// when all `values` of them equal `max_def` (no nulls); -1 otherwise.
int64_t AllDefinedLevelsV1(const uint8_t* p, int64_t left, int16_t max_def, int64_t values) {
  if (left < 4) return -1;
  uint32_t len = 0;
  std::memcpy(&len, p, 4);  // little-endian length of the level data
  if (len > static_cast<uint64_t>(left - 4) ||
      !RleHybridAllEqual(p + 4, len, static_cast<int>(std::bit_width(static_cast<unsigned>(max_def))), values,
                         static_cast<uint32_t>(max_def)))
    return -1;
  return 4 + static_cast<int64_t>(len);
}

bool AllDefinedValues(const parquet::Page& page, int16_t max_def, PageValues* out) {
  if (page.type() == parquet::PageType::DATA_PAGE) {
    const auto& dp = static_cast<const parquet::DataPageV1&>(page);
    const uint8_t* p = dp.data();
    int64_t left = dp.size();
    const int64_t values = dp.num_values();
    if (max_def > 0) {
      if (dp.definition_level_encoding() != parquet::Encoding::RLE) return false;
      const int64_t levels = AllDefinedLevelsV1(p, left, max_def, values);
      if (levels < 0) return false;
      p += levels;
      left -= levels;
    }
    *out = PageValues{p, left, values, dp.encoding()};
    return true;
  }
  if (page.type() == parquet::PageType::DATA_PAGE_V2) {
    const auto& dp = static_cast<const parquet::DataPageV2&>(page);
    const int64_t levels =
        static_cast<int64_t>(dp.repetition_levels_byte_length()) + dp.definition_levels_byte_length();
    if (dp.num_nulls() != 0 || levels < 0 || levels > dp.size() || dp.num_values() != dp.num_rows()) return false;
    *out = PageValues{dp.data() + levels, dp.size() - levels, dp.num_values(), dp.encoding()};
    return true;
  }
  return false;
}

// A dictionary page's entries; byte-array entries point into `bytes` (a copy: the page
// reader reuses its buffers for the next page). false for an encoding other than PLAIN.
template <typename T>
Result<bool> ParseDictionaryPage(const parquet::DictionaryPage& dp, std::vector<uint8_t>* bytes,
                                 std::vector<T>* dictionary) {
  if (dp.encoding() != parquet::Encoding::PLAIN && dp.encoding() != parquet::Encoding::PLAIN_DICTIONARY) return false;
  const int64_t count = dp.num_values();
  const int64_t size = dp.size();
  if (count < 0) return Status::Corruption("dictionary page holds a negative number of values");
  dictionary->clear();
  if constexpr (std::is_same_v<T, parquet::ByteArray>) {
    bytes->assign(dp.data(), dp.data() + size);
    const uint8_t* d = bytes->data();
    dictionary->reserve(static_cast<size_t>(std::min<int64_t>(count, size / 4)));
    int64_t at = 0;
    for (int64_t i = 0; i < count; ++i) {
      uint32_t len = 0;
      if (size - at < 4) return Status::Corruption("dictionary page is cut short");
      std::memcpy(&len, d + at, 4);
      at += 4;
      if (len > static_cast<uint64_t>(size - at)) return Status::Corruption("dictionary page is cut short");
      dictionary->push_back(parquet::ByteArray(len, d + at));
      at += len;
    }
  } else {
    if (size / static_cast<int64_t>(sizeof(T)) < count) return Status::Corruption("dictionary page is cut short");
    dictionary->resize(static_cast<size_t>(count));
    if (count) std::memcpy(dictionary->data(), dp.data(), static_cast<size_t>(count) * sizeof(T));
  }
  return true;
}

// The chosen rows straight from the pages, decoded by octavo (table/page_decoders.h): PLAIN,
// dictionary and DELTA_BINARY_PACKED pages without nulls, the encodings octavo writes. Returns
// false (declined) at the first page it does not handle: the caller drops what was emitted
// and gathers with Arrow's reader from the start.
template <typename T, typename Sink>
Result<bool> GatherDirect(parquet::PageReader* pager, int16_t max_def, const std::vector<int64_t>& kept_first,
                          const std::vector<int64_t>& rows, Sink* sink) {
  constexpr bool kBinary = std::is_same_v<T, parquet::ByteArray>;
  constexpr bool kInteger = std::is_same_v<T, int32_t> || std::is_same_v<T, int64_t>;
  // Per-thread scratch for one page's chosen values or dictionary indices.
  thread_local std::vector<T> picked;
  thread_local std::vector<uint32_t> indices;
  // The page reader reuses its buffers for the next page, so the dictionary is copied out:
  // byte-array entries point into dictionary_bytes.
  std::vector<uint8_t> dictionary_bytes;
  std::vector<T> dictionary;
  bool has_dictionary = false;
  size_t k = 0, page = 0;
  int64_t next_first = 0;  // without an offset index, pages follow each other
  while (k < rows.size()) {
    std::shared_ptr<parquet::Page> p = pager->NextPage();
    if (!p) return Status::Corruption("column chunk holds fewer values than its row group's rows");
    if (p->type() == parquet::PageType::DICTIONARY_PAGE) {
      OCTAVO_ASSIGN_OR_RETURN(const bool parsed, ParseDictionaryPage(static_cast<const parquet::DictionaryPage&>(*p),
                                                                      &dictionary_bytes, &dictionary));
      if (!parsed) return false;
      has_dictionary = true;
      if constexpr (kTakesIndices<Sink>) OCTAVO_RETURN_NOT_OK(sink->SetDictionary(dictionary));
      continue;
    }
    PageValues values;
    if (!AllDefinedValues(*p, max_def, &values)) return false;
    int64_t first = next_first;
    if (!kept_first.empty()) {
      if (page >= kept_first.size()) return Status::Corruption("column chunk holds more pages than its offset index");
      first = kept_first[page];
    }
    ++page;
    next_first = first + values.count;
    if (values.count < 0 || rows[k] < first)
      return Status::Corruption("data page starting at row ", first, " does not match the offset index");
    size_t k_end = k;
    while (k_end < rows.size() && rows[k_end] < next_first) ++k_end;
    const int64_t m = static_cast<int64_t>(k_end - k);
    if (m == 0) continue;
    const int64_t* chosen = rows.data() + k;
    auto corrupt = [first](const char* what) {
      return Status::Corruption("the ", what, " of the data page starting at row ", first, " are malformed");
    };
    switch (values.encoding) {
      case parquet::Encoding::PLAIN:
        if constexpr (kTakesIndices<Sink>) {
          return false;  // a dictionary that overflowed into plain pages
        } else if constexpr (kBinary) {
          // length-prefixed values: walk up to the last chosen one
          picked.resize(static_cast<size_t>(m));
          int64_t at = 0, row = first;
          for (int64_t i = 0; i < m; ++i) {
            for (;; ++row) {
              uint32_t len = 0;
              if (values.size - at < 4) return corrupt("PLAIN byte arrays");
              std::memcpy(&len, values.data + at, 4);
              if (len > static_cast<uint64_t>(values.size - at - 4)) return corrupt("PLAIN byte arrays");
              if (row == chosen[i]) {
                picked[static_cast<size_t>(i)] = parquet::ByteArray(len, values.data + at + 4);
                at += 4 + len;
                ++row;
                break;
              }
              at += 4 + len;
            }
          }
          sink->Emit(m, [&](int64_t i) -> const T& { return picked[static_cast<size_t>(i)]; });
        } else {
          if (values.size / static_cast<int64_t>(sizeof(T)) < values.count) return corrupt("PLAIN values");
          const uint8_t* base = values.data;
          sink->Emit(m, [&](int64_t i) {
            T v;
            std::memcpy(&v, base + (chosen[i] - first) * static_cast<int64_t>(sizeof(T)), sizeof(T));
            return v;
          });
        }
        break;
      case parquet::Encoding::RLE_DICTIONARY:
      case parquet::Encoding::PLAIN_DICTIONARY: {
        if (!has_dictionary) return Status::Corruption("dictionary-encoded data page without a dictionary page");
        if (values.size < 1) return corrupt("dictionary indices");
        indices.resize(static_cast<size_t>(m));
        const bool consecutive = chosen[m - 1] - chosen[0] == m - 1;  // rows ascend and are distinct
        if (!(consecutive ? DecodeRleHybrid(values.data + 1, values.size - 1, values.data[0], chosen[0] - first, m,
                                            indices.data())
                          : GatherRleHybrid(values.data + 1, values.size - 1, values.data[0], chosen, m, first,
                                            indices.data())))
          return corrupt("dictionary indices");
        const uint32_t* idx = indices.data();
        const size_t dict_size = dictionary.size();
        for (int64_t i = 0; i < m; ++i)
          if (idx[i] >= dict_size) return corrupt("dictionary indices");
        if constexpr (kTakesIndices<Sink>) {
          sink->Indices(m, idx);
        } else {
          const T* dict = dictionary.data();
          sink->Emit(m, [&](int64_t i) -> const T& { return dict[idx[i]]; });
        }
        break;
      }
      case parquet::Encoding::DELTA_BINARY_PACKED:
        if constexpr (kInteger) {
          picked.resize(static_cast<size_t>(m));
          if (!GatherDeltaBinaryPacked<T>(values.data, values.size, chosen, m, first, picked.data()))
            return corrupt("DELTA_BINARY_PACKED values");
          const T* v = picked.data();
          sink->Emit(m, [&](int64_t i) -> const T& { return v[i]; });
          break;
        } else {
          return false;
        }
      default:
        return false;
    }
    k = k_end;
  }
  return true;
}

// ReadRowRange's fast path: copies the values of PLAIN pages without nulls straight from the
// page, with no level decoding. false when some page needs the general reader.
bool ReadPlainRange(parquet::PageReader* pager, int16_t max_def, int width, int64_t first, int64_t count,
                    uint8_t* out) {
  int64_t row = 0;  // the first row of the next page
  const int64_t end = first + count;
  while (row < end) {
    std::shared_ptr<parquet::Page> page = pager->NextPage();
    if (!page) return false;
    if (page->type() == parquet::PageType::DICTIONARY_PAGE) return false;
    PageValues page_values;
    if (!AllDefinedValues(*page, max_def, &page_values) || page_values.encoding != parquet::Encoding::PLAIN ||
        page_values.size != page_values.count * width)
      return false;
    const int64_t n = page_values.count;
    const int64_t from = std::max(first, row), to = std::min(end, row + n);
    if (to > from)
      std::memcpy(out + (from - first) * width, page_values.data + (from - row) * width, (to - from) * width);
    row += n;
  }
  return true;
}

// The parquet DType whose values are T (T: a sink's value_type).
template <typename T>
using PhysicalOf = std::conditional_t<
    std::is_same_v<T, int32_t>, parquet::Int32Type,
    std::conditional_t<std::is_same_v<T, int64_t>, parquet::Int64Type,
                       std::conditional_t<std::is_same_v<T, float>, parquet::FloatType,
                                          std::conditional_t<std::is_same_v<T, double>, parquet::DoubleType,
                                                             parquet::ByteArrayType>>>>;

// The gathered array for a non-boolean physical type, its sink filled by fill(&sink).
template <typename Fill>
Result<std::shared_ptr<arrow::Array>> DispatchGather(parquet::Type::type physical, bool large_offsets, int64_t n,
                                                     const std::shared_ptr<arrow::DataType>& type,
                                                     arrow::MemoryPool* pool, Fill fill) {
  switch (physical) {
    case parquet::Type::INT32:
      return GatherFixed<int32_t>(n, type, pool, fill);
    case parquet::Type::INT64:
      return GatherFixed<int64_t>(n, type, pool, fill);
    case parquet::Type::FLOAT:
      return GatherFixed<float>(n, type, pool, fill);
    case parquet::Type::DOUBLE:
      return GatherFixed<double>(n, type, pool, fill);
    case parquet::Type::BYTE_ARRAY:
      return large_offsets ? GatherBinary<int64_t>(n, type, pool, fill) : GatherBinary<int32_t>(n, type, pool, fill);
    default:
      return Status::NotImplemented("unsupported physical type");
  }
}

// Whether GatherDirect may handle the chunk: only encodings it decodes, and no nulls (a chunk
// whose statistics carry no null count is tried; a page with nulls then declines).
bool DirectGatherable(const parquet::ColumnChunkMetaData& chunk) {
  for (auto e : chunk.encodings()) {
    switch (e) {
      case parquet::Encoding::PLAIN:
      case parquet::Encoding::RLE:
      case parquet::Encoding::RLE_DICTIONARY:
      case parquet::Encoding::PLAIN_DICTIONARY:
      case parquet::Encoding::DELTA_BINARY_PACKED:
        break;
      default:
        return false;
    }
  }
  const auto stats = chunk.statistics();
  return !(stats && stats->HasNullCount() && stats->null_count() > 0);
}

Result<std::shared_ptr<arrow::Array>> GatherRowsFrom(const ChunkPages& src, const std::shared_ptr<arrow::DataType>& type,
                                                     const std::vector<int64_t>& rows, arrow::MemoryPool* pool,
                                                     GatherStats* stats);

Result<std::shared_ptr<arrow::Array>> ReadRowRangeFrom(const ChunkPages& src, const std::shared_ptr<arrow::DataType>& type,
                                                       int64_t first, int64_t count, arrow::MemoryPool* pool) {
  {
    const parquet::ColumnDescriptor* descr = src.descr;
    const auto phys = descr->physical_type();
    if (!CanGatherRows(*descr, *type) || phys == parquet::Type::BOOLEAN)
      return Status::NotImplemented("column ", descr->path()->ToDotString(), " cannot be read as ", type->ToString());
    if (first < 0 || count < 0 || first + count > src.num_rows)
      return Status::IndexError("rows ", first, "..", first + count, " are outside the ", src.num_rows,
                                " rows of the column chunk");
    const auto& chunk = src.chunk;
    const bool binary = phys == parquet::Type::BYTE_ARRAY;
    const int16_t max_def = descr->max_definition_level();
    const int width = binary ? 0 : static_cast<const arrow::FixedWidthType&>(*type).bit_width() / 8;
    std::shared_ptr<arrow::Buffer> values;
    // Only a chunk whose data pages can all be PLAIN is tried page by page (a delta chunk
    // would have its first page read twice).
    const auto encodings = chunk->encodings();
    const bool plain_only = std::none_of(encodings.begin(), encodings.end(), [](parquet::Encoding::type e) {
      return e == parquet::Encoding::DELTA_BINARY_PACKED || e == parquet::Encoding::BYTE_STREAM_SPLIT ||
             e == parquet::Encoding::DELTA_BYTE_ARRAY || e == parquet::Encoding::DELTA_LENGTH_BYTE_ARRAY;
    });
    if (!binary && !chunk->has_dictionary_page() && plain_only) {
      OCTAVO_ARROW_ASSIGN_OR_RETURN(values, arrow::AllocateBuffer(count * width, pool));
      if (ReadPlainRange(src.open().get(), max_def, width, first, count, values->mutable_data()))
        return arrow::MakeArray(arrow::ArrayData::Make(type, count, {nullptr, values}, 0));
    }
    if (binary || DirectGatherable(*chunk)) {
      // Every row "gathered": octavo's page decoders (dictionary, delta) where they apply, and
      // no parquet::arrow builders for strings.
      std::vector<int64_t> rows(static_cast<size_t>(count));
      std::iota(rows.begin(), rows.end(), first);
      GatherStats ignored;
      return GatherRowsFrom(src, type, rows, pool, &ignored);
    }
    if (!values) {
      OCTAVO_ARROW_ASSIGN_OR_RETURN(values, arrow::AllocateBuffer(count * width, pool));
    }
    // otherwise decoded with levels by the general reader (from the first page again)
    std::shared_ptr<arrow::Buffer> bitmap;
    int64_t nulls = 0;
    uint8_t* data = values->mutable_data();
    auto col = parquet::ColumnReader::Make(descr, src.open(), pool);
    Status st;
    switch (phys) {
      case parquet::Type::INT32:
        st = ReadRangeTyped<parquet::Int32Type>(col.get(), max_def, first, count, data, &bitmap, &nulls, pool);
        break;
      case parquet::Type::INT64:
        st = ReadRangeTyped<parquet::Int64Type>(col.get(), max_def, first, count, data, &bitmap, &nulls, pool);
        break;
      case parquet::Type::FLOAT:
        st = ReadRangeTyped<parquet::FloatType>(col.get(), max_def, first, count, data, &bitmap, &nulls, pool);
        break;
      case parquet::Type::DOUBLE:
        st = ReadRangeTyped<parquet::DoubleType>(col.get(), max_def, first, count, data, &bitmap, &nulls, pool);
        break;
      default:
        return Status::NotImplemented("unsupported physical type");
    }
    OCTAVO_RETURN_NOT_OK(st);
    return arrow::MakeArray(arrow::ArrayData::Make(type, count, {nulls ? bitmap : nullptr, values}, nulls));
  }
}

// A dictionary-typed column (dictionary<int32, string|binary>: a BYTE_ARRAY column stored
// with that Arrow type): the indices straight from dictionary-encoded pages, the chunk's
// dictionary page as the dictionary. When a page has nulls or the dictionary overflowed into
// plain pages, the values are gathered and encoded after the dictionary page's entries, which
// so keep their order and positions, as in parquet::arrow's result.
Result<std::shared_ptr<arrow::Array>> GatherDictionary(const ChunkPages& src, const std::shared_ptr<arrow::DataType>& type,
                                                       const std::vector<int64_t>& rows, arrow::MemoryPool* pool,
                                                       GatherStats* stats) {
  const auto& value_type = static_cast<const arrow::DictionaryType&>(*type).value_type();
  const int64_t n = static_cast<int64_t>(rows.size());
  GatherStats ignored;
  std::shared_ptr<arrow::Array> dictionary;
  if (DirectGatherable(*src.chunk) && src.chunk->has_dictionary_page()) {  // else every page declines
    std::vector<int64_t> kept_first;
    OCTAVO_ASSIGN_OR_RETURN(auto pager, OpenGatherPages(src, rows, stats ? stats : &ignored, &kept_first));
    stats = nullptr;  // counted once, whichever way the rows are gathered
    OCTAVO_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Buffer> indices, arrow::AllocateBuffer(n * 4, pool));
    DictionaryIndexSink sink{reinterpret_cast<int32_t*>(indices->mutable_data()), value_type, pool, 0, nullptr};
    OCTAVO_ASSIGN_OR_RETURN(const bool done, GatherDirect<parquet::ByteArray>(
                                                 pager.get(), src.descr->max_definition_level(), kept_first, rows, &sink));
    if (done) {
      if (!sink.dictionary) {
        OCTAVO_ARROW_ASSIGN_OR_RETURN(sink.dictionary, arrow::MakeEmptyArray(value_type, pool));
      }
      return std::shared_ptr<arrow::Array>(std::make_shared<arrow::DictionaryArray>(
          type, std::make_shared<arrow::Int32Array>(n, indices), sink.dictionary));
    }
    dictionary = std::move(sink.dictionary);
  }
  if (!dictionary && src.chunk->has_dictionary_page()) {
    std::shared_ptr<parquet::Page> p = src.open()->NextPage();
    std::vector<uint8_t> bytes;
    std::vector<parquet::ByteArray> entries;
    if (p && p->type() == parquet::PageType::DICTIONARY_PAGE) {
      OCTAVO_ASSIGN_OR_RETURN(const bool parsed,
                              ParseDictionaryPage(static_cast<const parquet::DictionaryPage&>(*p), &bytes, &entries));
      if (parsed) {
        OCTAVO_ASSIGN_OR_RETURN(dictionary, DictionaryIndexSink::BinaryArrayOf(entries, value_type, pool));
      }
    }
  }
  OCTAVO_ASSIGN_OR_RETURN(auto values, GatherRowsFrom(src, value_type, rows, pool, stats ? stats : &ignored));
  std::shared_ptr<arrow::Array> all = values;
  const int64_t offset = dictionary ? dictionary->length() : 0;
  if (offset > 0) {
    OCTAVO_ARROW_ASSIGN_OR_RETURN(all, arrow::Concatenate({dictionary, values}, pool));
  }
  arrow::compute::ExecContext ctx(pool);
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto encoded, arrow::compute::DictionaryEncode(
                                                  all, arrow::compute::DictionaryEncodeOptions::Defaults(), &ctx));
  auto data = encoded.make_array()->Slice(offset, n)->data()->Copy();
  data->type = type;  // the declared ordered flag
  return arrow::MakeArray(data);
}

Result<std::shared_ptr<arrow::Array>> GatherRowsFrom(const ChunkPages& src, const std::shared_ptr<arrow::DataType>& type,
                                                     const std::vector<int64_t>& rows, arrow::MemoryPool* pool,
                                                     GatherStats* stats) {
  {
    const parquet::ColumnDescriptor* descr = src.descr;
    if (!CanGatherRows(*descr, *type))
      return Status::NotImplemented("column ", descr->path()->ToDotString(), " cannot be gathered as ",
                                    type->ToString());
    const int64_t rg_rows = src.num_rows;
    if (!rows.empty() && (rows.front() < 0 || rows.back() >= rg_rows))
      return Status::IndexError("row ", rows.back(), " is outside the ", rg_rows, " rows of the column chunk");
    if (type->id() == arrow::Type::DICTIONARY) return GatherDictionary(src, type, rows, pool, stats);
    const int16_t max_def = descr->max_definition_level();
    const int64_t n = static_cast<int64_t>(rows.size());
    const auto phys = descr->physical_type();
    const bool large = type->id() == arrow::Type::LARGE_STRING || type->id() == arrow::Type::LARGE_BINARY;
    std::vector<int64_t> kept_first;
    Result<std::shared_ptr<arrow::Array>> physical = std::shared_ptr<arrow::Array>();
    // octavo's own page decoding first, where the chunk's encodings and null count allow it
    if (phys != parquet::Type::BOOLEAN && DirectGatherable(*src.chunk)) {
      OCTAVO_ASSIGN_OR_RETURN(auto pager, OpenGatherPages(src, rows, stats, &kept_first));
      stats = nullptr;  // counted once, whichever way the rows are gathered
      auto direct = [&](auto* sink) {
        using T = typename std::remove_cvref_t<decltype(*sink)>::value_type;
        return GatherDirect<T>(pager.get(), max_def, kept_first, rows, sink);
      };
      physical = DispatchGather(phys, large, n, type, pool, direct);
    }
    if (physical.ok() && !*physical) {  // Arrow's column reader: nulls, booleans, other encodings
      GatherStats ignored;
      auto pager = src.open();
      OCTAVO_ASSIGN_OR_RETURN(auto runs, PlanRuns(src, rows, pager.get(), stats ? stats : &ignored, &kept_first));
      auto col = parquet::ColumnReader::Make(descr, std::move(pager), pool);
      if (phys == parquet::Type::BOOLEAN) {
        physical = GatherBool(col.get(), max_def, runs, rows, pool);
      } else {
        auto arrow_reader = [&](auto* sink) -> Result<bool> {
          using T = typename std::remove_cvref_t<decltype(*sink)>::value_type;
          using DType = PhysicalOf<T>;
          OCTAVO_RETURN_NOT_OK((GatherTyped<DType>(col.get(), max_def, runs, rows, sink)));
          return true;
        };
        physical = DispatchGather(phys, large, n, type, pool, arrow_reader);
      }
    }
    OCTAVO_RETURN_NOT_OK(physical.status());
    if ((*physical)->type()->Equals(*type)) return *physical;
    // Same memory layout (int64 -> timestamp, binary -> string, ...): relabel, no copy.
    auto data = (*physical)->data()->Copy();
    data->type = type;
    return arrow::MakeArray(data);
  }
}

}  // namespace

bool CanGatherRows(const parquet::ColumnDescriptor& column, const arrow::DataType& type) {
  if (column.max_repetition_level() != 0) return false;
  const auto& lt = column.logical_type();
  const bool none = !lt || lt->is_none();
  const bool integer = none || lt->is_int();
  switch (column.physical_type()) {
    case parquet::Type::BOOLEAN:
      return type.id() == arrow::Type::BOOL;
    case parquet::Type::INT32:
      switch (type.id()) {
        case arrow::Type::INT32:
        case arrow::Type::UINT32:
          return integer;
        case arrow::Type::DATE32:
          return lt && lt->is_date();
        case arrow::Type::TIME32:
          return lt && lt->is_time() &&
                 SameUnit(static_cast<const parquet::TimeLogicalType&>(*lt).time_unit(),
                          static_cast<const arrow::Time32Type&>(type).unit());
        default:
          return false;
      }
    case parquet::Type::INT64:
      switch (type.id()) {
        case arrow::Type::INT64:
        case arrow::Type::UINT64:
        case arrow::Type::DURATION:
          return integer;
        case arrow::Type::TIMESTAMP:
          return lt && lt->is_timestamp() &&
                 SameUnit(static_cast<const parquet::TimestampLogicalType&>(*lt).time_unit(),
                          static_cast<const arrow::TimestampType&>(type).unit());
        case arrow::Type::TIME64:
          return lt && lt->is_time() &&
                 SameUnit(static_cast<const parquet::TimeLogicalType&>(*lt).time_unit(),
                          static_cast<const arrow::Time64Type&>(type).unit());
        default:
          return false;
      }
    case parquet::Type::FLOAT:
      return type.id() == arrow::Type::FLOAT && none;
    case parquet::Type::DOUBLE:
      return type.id() == arrow::Type::DOUBLE && none;
    case parquet::Type::BYTE_ARRAY:
      if (lt && lt->is_decimal()) return false;
      if (type.id() == arrow::Type::DICTIONARY) {
        const auto& dict = static_cast<const arrow::DictionaryType&>(type);
        return dict.index_type()->id() == arrow::Type::INT32 && dict.value_type()->id() != arrow::Type::DICTIONARY &&
               CanGatherRows(column, *dict.value_type());
      }
      return type.id() == arrow::Type::STRING || type.id() == arrow::Type::BINARY ||
             type.id() == arrow::Type::LARGE_STRING || type.id() == arrow::Type::LARGE_BINARY;
    default:
      return false;
  }
}

// Parquet's exceptions (thrown by page readers and decoders on damaged pages) as corruption.
template <typename F>
Result<std::shared_ptr<arrow::Array>> CatchCorruption(int row_group, int leaf, F f) {
  try {
    auto r = f();
    if (r.ok() || r.status().code() != StatusCode::kCorruption) return r;
    return Status::Corruption("row group ", row_group, ": ", r.status().message());
  } catch (const std::exception& e) {
    return Status::Corruption("row group ", row_group, " column ", leaf, " cannot be decoded: ", e.what());
  }
}

Result<std::shared_ptr<arrow::Array>> ReadRowRange(parquet::ParquetFileReader* file, int row_group, int leaf,
                                                   const std::shared_ptr<arrow::DataType>& type, int64_t first,
                                                   int64_t count, arrow::MemoryPool* pool, ChecksummedFile* source) {
  return CatchCorruption(row_group, leaf,
                         [&] { return ReadRowRangeFrom(WholeChunk(file, row_group, leaf, source, pool), type, first, count, pool); });
}

Result<std::shared_ptr<arrow::Array>> GatherRows(parquet::ParquetFileReader* file, int row_group, int leaf,
                                                 const std::shared_ptr<arrow::DataType>& type,
                                                 const std::vector<int64_t>& rows, arrow::MemoryPool* pool,
                                                 GatherStats* stats, ChecksummedFile* source) {
  return CatchCorruption(row_group, leaf,
                         [&] { return GatherRowsFrom(WholeChunk(file, row_group, leaf, source, pool), type, rows, pool, stats); });
}

// Rows [first, first + count) of the data pages `locs[p0..p1]` (rows counted from page p0's
// first row; `rg_rows` rows in the row group) when they hold PLAIN fixed-width values,
// uncompressed and without nulls, and most of their rows are wanted: one scattered read puts
// every page's values straight into the result buffer (they end each page) and the headers and
// levels aside, where they are checked (CRC, header, levels all defined). A column read whole
// is so copied once, by the kernel, not a second time out of its pages. Null (not done) for
// pages of any other shape: the caller reads them as usual.
Result<std::shared_ptr<arrow::Array>> ReadPlainPagesDirect(ChecksummedFile* source,
                                                           const parquet::ColumnDescriptor& descr,
                                                           const parquet::ColumnChunkMetaData& chunk,
                                                           const std::shared_ptr<arrow::DataType>& type,
                                                           const std::vector<parquet::PageLocation>& locs, size_t p0,
                                                           size_t p1, int64_t rg_rows, int64_t first, int64_t count,
                                                           arrow::MemoryPool* pool) {
  const auto phys = descr.physical_type();
  const int64_t width = phys == parquet::Type::INT32 || phys == parquet::Type::FLOAT    ? 4
                        : phys == parquet::Type::INT64 || phys == parquet::Type::DOUBLE ? 8
                                                                                       : 0;
  const auto encodings = chunk.encodings();
  const bool plain = std::all_of(encodings.begin(), encodings.end(), [](parquet::Encoding::type e) {
    return e == parquet::Encoding::PLAIN || e == parquet::Encoding::RLE;  // RLE: the levels
  });
  const auto stats = chunk.statistics();
  const bool nulls = stats && stats->HasNullCount() && stats->null_count() > 0;
  const int64_t base = locs[p0].first_row_index;
  const int64_t span_end = PageRowEnd(locs, p1, rg_rows);
  // Most of the span wanted: a small range copied out does not keep all its pages alive.
  if (width == 0 || descr.max_repetition_level() != 0 || chunk.compression() != arrow::Compression::UNCOMPRESSED ||
      chunk.has_dictionary_page() || !plain || nulls || count == 0 || 2 * count < span_end - base)
    return std::shared_ptr<arrow::Array>();
  OCTAVO_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Buffer> values,
                                arrow::AllocateBuffer((span_end - base) * width, pool));
  std::vector<ChecksummedFile::ScatteredPage> pages;
  std::vector<int64_t> page_rows;
  for (size_t i = p0; i <= p1; ++i) {
    const int64_t rows = PageRowEnd(locs, i, rg_rows) - locs[i].first_row_index;
    pages.push_back({locs[i].compressed_page_size, values->mutable_data() + (locs[i].first_row_index - base) * width,
                     rows * width});
    page_rows.push_back(rows);
    if (rows * width >= locs[i].compressed_page_size) return std::shared_ptr<arrow::Array>();  // not PLAIN
  }
  std::string heads;
  auto infos = source->ReadPagesScattered(locs[p0].offset, pages, &heads);
  if (!infos.ok() && infos.status().code() == StatusCode::kNotImplemented) return std::shared_ptr<arrow::Array>();
  OCTAVO_RETURN_NOT_OK(infos.status());
  // Each page as a plain page without nulls must look: PLAIN values, as many as its rows, and
  // between header and values only definition levels that are all `max_def`.
  const int16_t max_def = descr.max_definition_level();
  const auto* h = reinterpret_cast<const uint8_t*>(heads.data());
  for (size_t i = 0; i < pages.size(); ++i) {
    const PageHeaderInfo& info = (*infos)[i];
    const int64_t levels = pages[i].size - pages[i].values_size - info.header_size;
    const uint8_t* lv = h + info.header_size;
    const int64_t n = page_rows[i];
    bool ok = info.encoding == static_cast<int64_t>(parquet::Encoding::PLAIN) && info.num_values == n &&
              info.uncompressed == info.compressed && levels >= 0;
    if (ok && info.type == 0) {  // DATA_PAGE: the levels carry a 4-byte length
      ok = max_def == 0 ? levels == 0
                        : info.def_level_encoding == static_cast<int64_t>(parquet::Encoding::RLE) &&
                              AllDefinedLevelsV1(lv, levels, max_def, n) == levels;
    } else if (ok && info.type == 3) {  // DATA_PAGE_V2: no nulls, levels ahead of the values
      ok = info.num_nulls == 0 && info.num_rows == n && info.rep_levels_bytes == 0 &&
           info.def_levels_bytes == levels;
    } else {
      ok = false;
    }
    if (!ok) return std::shared_ptr<arrow::Array>();
    h += pages[i].size - pages[i].values_size;
  }
  auto wanted = arrow::SliceBuffer(values, (first - base) * width, count * width);
  return arrow::MakeArray(arrow::ArrayData::Make(type, count, {nullptr, std::move(wanted)}, 0));
}

Result<std::shared_ptr<arrow::Array>> ReadPageRange(parquet::ParquetFileReader* file, ChecksummedFile* source,
                                                    int row_group, int leaf, const std::shared_ptr<arrow::DataType>& type,
                                                    int64_t first, int64_t count, arrow::MemoryPool* pool,
                                                    parquet::RowGroupPageIndexReader* index) {
  return CatchCorruption(row_group, leaf, [&]() -> Result<std::shared_ptr<arrow::Array>> {
    const parquet::ColumnDescriptor* descr = file->metadata()->schema()->Column(leaf);
    if (!CanGatherRows(*descr, *type))
      return Status::NotImplemented("column ", descr->path()->ToDotString(), " cannot be read as ", type->ToString());
    auto rg_md = file->metadata()->RowGroup(row_group);
    const int64_t rg_rows = rg_md->num_rows();
    if (first < 0 || count < 0 || first + count > rg_rows)
      return Status::IndexError("rows ", first, "..", first + count, " are outside row group ", row_group);
    ChunkPages whole = WholeChunk(file, row_group, leaf, source, pool);
    // The row group's page index reader reads the offset indexes of all its columns at once:
    // given one, the columns of a slice share that read.
    std::shared_ptr<parquet::OffsetIndex> offsets = index ? index->GetOffsetIndex(leaf) : whole.offsets();
    if (!offsets || offsets->page_locations().empty()) {  // no page index: the whole chunk
      if (descr->physical_type() == parquet::Type::BOOLEAN) {
        std::vector<int64_t> rows(static_cast<size_t>(count));
        std::iota(rows.begin(), rows.end(), first);
        GatherStats ignored;
        return GatherRowsFrom(whole, type, rows, pool, &ignored);
      }
      return ReadRowRangeFrom(whole, type, first, count, pool);
    }
    if (count == 0) {
      OCTAVO_ARROW_ASSIGN_OR_RETURN(auto empty, arrow::MakeEmptyArray(type, pool));
      return empty;
    }
    const auto& chunk = *whole.chunk;
    const auto& locs = offsets->page_locations();
    const std::string column = descr->path()->ToDotString();
    auto bad_index = [&](const char* what) {
      return Status::Corruption("the offset index of column ", column, " in row group ", row_group, " ", what,
                                " (the file is damaged)");
    };
    // Checked before it is believed (it is outside the footer's checksum); each page read must
    // also hold as many values as its rows (below).
    OCTAVO_RETURN_NOT_OK(CheckOffsetIndex(chunk, locs, rg_rows, column, row_group));
    const int64_t data_start = chunk.data_page_offset();
    const int64_t chunk_start = chunk.has_dictionary_page() ? chunk.dictionary_page_offset() : data_start;
    // The pages [p0, p1] holding rows [first, first + count).
    auto page_of = [&](int64_t row) {
      size_t lo = 0, hi = locs.size();  // the last page whose first row <= row
      while (hi - lo > 1) {
        const size_t mid = (lo + hi) / 2;
        (locs[mid].first_row_index <= row ? lo : hi) = mid;
      }
      return lo;
    };
    const size_t p0 = page_of(first), p1 = page_of(first + count - 1);
    const int64_t base = locs[p0].first_row_index;
    const int64_t span_end = PageRowEnd(locs, p1, rg_rows);
    const int64_t bytes_from = locs[p0].offset, bytes_to = locs[p1].offset + locs[p1].compressed_page_size;
    OCTAVO_ASSIGN_OR_RETURN(auto direct, ReadPlainPagesDirect(source, *descr, chunk, type, locs, p0, p1, rg_rows,
                                                              first, count, pool));
    if (direct) return direct;
    std::vector<int64_t> values;
    OCTAVO_ASSIGN_OR_RETURN(auto data, source->ReadPages(bytes_from, bytes_to - bytes_from, &values));
    if (values.size() != p1 - p0 + 1) return bad_index("does not match the pages it points to");
    if (descr->max_repetition_level() == 0) {  // flat: a page's values are its rows
      for (size_t i = p0; i <= p1; ++i) {
        const int64_t end = PageRowEnd(locs, i, rg_rows);
        if (values[i - p0] != end - locs[i].first_row_index) return bad_index("does not match the pages' row counts");
      }
    }
    int64_t total_values = 0;
    for (int64_t v : values) total_values += v;
    std::shared_ptr<arrow::Buffer> pages = data;
    if (chunk.has_dictionary_page()) {  // the dictionary page first, then the data pages
      OCTAVO_ASSIGN_OR_RETURN(auto dict, source->ReadPages(chunk_start, data_start - chunk_start, nullptr));
      OCTAVO_ARROW_ASSIGN_OR_RETURN(auto both, arrow::AllocateBuffer(dict->size() + data->size(), pool));
      std::memcpy(both->mutable_data(), dict->data(), static_cast<size_t>(dict->size()));
      std::memcpy(both->mutable_data() + dict->size(), data->data(), static_cast<size_t>(data->size()));
      pages = std::move(both);
    }
    ChunkPages src;
    src.descr = descr;
    src.chunk = std::move(whole.chunk);
    src.num_rows = span_end - base;
    const auto codec = src.chunk->compression();
    auto props = std::make_shared<parquet::ReaderProperties>(pool);
    props->set_page_checksum_verification(false);  // checked by ReadPages
    const int64_t max_uncompressed = src.chunk->total_uncompressed_size();
    src.open = [pages, total_values, codec, props, descr, max_uncompressed] {
      return OpenPages(std::make_shared<arrow::io::BufferReader>(pages), total_values, codec, *props, *descr,
                       /*always_compressed=*/false, max_uncompressed);
    };
    if (descr->physical_type() == parquet::Type::BOOLEAN) {
      std::vector<int64_t> rows(static_cast<size_t>(count));
      std::iota(rows.begin(), rows.end(), first - base);
      GatherStats ignored;
      return GatherRowsFrom(src, type, rows, pool, &ignored);
    }
    return ReadRowRangeFrom(src, type, first - base, count, pool);
  });
}

}  // namespace octavo
