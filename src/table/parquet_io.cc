#include "table/parquet_io.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/io/file.h>
#include <arrow/io/interfaces.h>
#include <arrow/util/compression.h>
#include <arrow/util/hashing.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/arrow/writer.h>
#include <parquet/exception.h>
#include <parquet/file_reader.h>
#include <parquet/properties.h>

#include <cmath>
#include <type_traits>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <cstring>
#include <limits>
#include <list>
#include <map>
#include <unordered_map>
#include <mutex>

#include "bundle/bundle_impl.h"
#include "format/filename.h"
#include "table/page_checksums.h"
#include "octavo/arrow_status.h"
#include "util/crc32.h"
#include "util/json_util.h"
#include "util/lru_cache.h"
#include "util/threads.h"
#include "util/time_util.h"

namespace octavo {
namespace {

// arrow::io::OutputStream over an Env WritableFile, so fault injection reaches data files.
class EnvOutputStream final : public arrow::io::OutputStream {
 public:
  explicit EnvOutputStream(std::unique_ptr<WritableFile> file) : file_(std::move(file)) { buf_.reserve(kBufSize); }

  arrow::Status Close() override {
    if (closed_) return arrow::Status::OK();
    ARROW_RETURN_NOT_OK(Flush());
    closed_ = true;
    return ToArrow(file_->Close());
  }
  // Durable close: flush, fsync, close.
  Status SyncAndClose() {
    OCTAVO_RETURN_NOT_ARROW_OK(Flush());
    OCTAVO_RETURN_NOT_OK(file_->Sync());
    closed_ = true;
    return file_->Close();
  }
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override { return pos_; }
  arrow::Status Write(const void* data, int64_t nbytes) override {
    if (closed_) return arrow::Status::IOError("write to closed file ", file_->path());
    const char* p = static_cast<const char*>(data);
    if (buf_.size() + static_cast<size_t>(nbytes) > kBufSize) {
      ARROW_RETURN_NOT_OK(Flush());
      if (static_cast<size_t>(nbytes) >= kBufSize) {
        pos_ += nbytes;
        return ToArrow(file_->Append(std::string_view(p, static_cast<size_t>(nbytes))));
      }
    }
    buf_.append(p, static_cast<size_t>(nbytes));
    pos_ += nbytes;
    return arrow::Status::OK();
  }
  arrow::Status Flush() override {
    if (buf_.empty()) return arrow::Status::OK();
    auto st = file_->Append(buf_);
    buf_.clear();
    return ToArrow(st);
  }

 private:
  static constexpr size_t kBufSize = 1 << 20;
  std::unique_ptr<WritableFile> file_;
  std::string buf_;
  int64_t pos_ = 0;
  bool closed_ = false;
};

Result<arrow::Compression::type> CodecFromName(const std::string& name) {
  // Parquet's codec names (LZ4 here is Parquet's LZ4_RAW, not the LZ4 frame format).
  static const std::pair<const char*, arrow::Compression::type> kCodecs[] = {
      {"none", arrow::Compression::UNCOMPRESSED}, {"uncompressed", arrow::Compression::UNCOMPRESSED},
      {"zstd", arrow::Compression::ZSTD},         {"lz4", arrow::Compression::LZ4},
      {"lz4_raw", arrow::Compression::LZ4},       {"snappy", arrow::Compression::SNAPPY},
      {"gzip", arrow::Compression::GZIP},         {"brotli", arrow::Compression::BROTLI}};
  for (const auto& [n, c] : kCodecs) {
    if (name == n) {
      if (c != arrow::Compression::UNCOMPRESSED && !arrow::util::Codec::IsAvailable(c))
        return Status::Invalid("Parquet compression '", name, "' is not available in this Arrow build");
      return c;
    }
  }
  return Status::Invalid("unknown Parquet compression '", name, "'; use zstd, lz4, snappy, gzip, brotli or none");
}

}  // namespace

Result<std::shared_ptr<parquet::WriterProperties>> ParquetWriterProperties(const TableOptions& options) {
  return ParquetWriterProperties(options, ColumnEncodings{});
}

Result<std::shared_ptr<parquet::WriterProperties>> ParquetWriterProperties(const TableOptions& options,
                                                                           const ColumnEncodings& columns) {
  OCTAVO_ASSIGN_OR_RETURN(auto codec, CodecFromName(options.compression));
  parquet::WriterProperties::Builder b;
  b.compression(codec);
  if (codec != arrow::Compression::UNCOMPRESSED && options.compression_level > 0 &&
      options.compression != "snappy" && options.compression.rfind("lz4", 0) != 0)
    b.compression_level(options.compression_level);
  b.max_row_group_length(options.row_group_size);
  b.data_pagesize(options.data_page_size);
  // Pages of at most 8,192 rows (Arrow's default: 20,000): sparse conditional reads skip
  // the pages without a matching row (offset index), so smaller pages skip more; measured on
  // 20M rows at 0.01% selectivity, 4,096-row pages took 25% less CPU for 0.6% more bytes.
  b.max_rows_per_page(8192);
  // CRC32 of every page, checked on read: uncompressed pages have no other guard against
  // damage (a flipped byte in a float column would read back as a wrong value).
  b.enable_page_checksum();
  b.version(parquet::ParquetVersion::PARQUET_2_6);
  if (!options.write_statistics) b.disable_statistics();
  // Arrow 26 writes the page index unless told not to, so both branches are explicit.
  if (options.write_page_index) {
    b.enable_write_page_index();
  } else {
    b.disable_write_page_index();
  }
  if (!options.dictionary) b.disable_dictionary();
  for (const auto& c : columns.plain) b.disable_dictionary(c);
  for (const auto& c : columns.delta) {
    b.disable_dictionary(c);
    b.encoding(c, parquet::Encoding::DELTA_BINARY_PACKED);
  }
  for (const auto& c : columns.uncompressed) {
    b.compression(c, arrow::Compression::UNCOMPRESSED);
    b.compression_level(c, arrow::util::kUseDefaultCompressionLevel);  // a level is an error without a codec
  }
  b.dictionary_pagesize_limit(options.dictionary_page_limit);
  return b.build();
}

namespace {

// Running min / max / null count for one column, as JSON values.
struct ColumnStatsAcc {
  bool eligible = false;
  bool is_temporal = false;
  Json min, max;
  int64_t null_count = 0;
  bool has_nan = false;
};

bool StatsEligible(const arrow::DataType& t) {
  if (t.id() == arrow::Type::HALF_FLOAT) return false;  // no min_max kernel for float16
  return arrow::is_integer(t.id()) || arrow::is_floating(t.id()) || t.id() == arrow::Type::BOOL ||
         t.id() == arrow::Type::STRING || t.id() == arrow::Type::LARGE_STRING || arrow::is_temporal(t.id());
}

Result<Json> ScalarToJson(const arrow::Scalar& s, bool temporal) {
  if (!s.is_valid) return Json();
  const auto id = s.type->id();
  if (temporal) {
    // Temporal scalars keep their value in the integer representation.
    if (auto* ts = dynamic_cast<const arrow::TemporalScalar<arrow::TimestampType>*>(&s)) return Json(ts->value);
    if (auto* d32 = dynamic_cast<const arrow::Date32Scalar*>(&s)) return Json(d32->value);
    if (auto* d64 = dynamic_cast<const arrow::Date64Scalar*>(&s)) return Json(d64->value);
    if (auto* du = dynamic_cast<const arrow::DurationScalar*>(&s)) return Json(du->value);
    if (auto* t32 = dynamic_cast<const arrow::Time32Scalar*>(&s)) return Json(t32->value);
    if (auto* t64 = dynamic_cast<const arrow::Time64Scalar*>(&s)) return Json(t64->value);
    return Json();
  }
  if (id == arrow::Type::BOOL) return Json(static_cast<const arrow::BooleanScalar&>(s).value);
  if (arrow::is_unsigned_integer(id)) {
    OCTAVO_ARROW_ASSIGN_OR_RETURN(auto c, s.CastTo(arrow::uint64()));
    return Json(static_cast<const arrow::UInt64Scalar&>(*c).value);
  }
  if (arrow::is_signed_integer(id)) {
    OCTAVO_ARROW_ASSIGN_OR_RETURN(auto c, s.CastTo(arrow::int64()));
    return Json(static_cast<const arrow::Int64Scalar&>(*c).value);
  }
  if (arrow::is_floating(id)) {
    OCTAVO_ARROW_ASSIGN_OR_RETURN(auto c, s.CastTo(arrow::float64()));
    double v = static_cast<const arrow::DoubleScalar&>(*c).value;
    if (!std::isfinite(v)) return Json();
    return Json(v);
  }
  if (id == arrow::Type::STRING || id == arrow::Type::LARGE_STRING) {
    auto view = static_cast<const arrow::BaseBinaryScalar&>(s).view();
    if (view.size() > 256) return Json();  // too long to be a useful bound
    return Json(std::string(view));
  }
  return Json();
}

// Min and max of n floats ignoring NaNs (+inf and -inf when all are NaN); true when some is NaN.
// minpd/maxpd return their second operand when either is NaN, so a NaN value never replaces
// the running bound; the compiler does not vectorise the scalar form without -ffast-math.
template <typename T>
bool FloatBounds(const T* v, int64_t n, T* lo_out, T* hi_out) {
  T lo = std::numeric_limits<T>::infinity(), hi = -lo;
  bool nan = false;
  int64_t i = 0;
#if defined(__SSE2__)
  if constexpr (std::is_same_v<T, double>) {
    __m128d l0 = _mm_set1_pd(lo), l1 = l0, h0 = _mm_set1_pd(hi), h1 = h0, bad = _mm_setzero_pd();
    for (; i + 4 <= n; i += 4) {
      const __m128d a = _mm_loadu_pd(v + i), b = _mm_loadu_pd(v + i + 2);
      l0 = _mm_min_pd(a, l0);
      l1 = _mm_min_pd(b, l1);
      h0 = _mm_max_pd(a, h0);
      h1 = _mm_max_pd(b, h1);
      bad = _mm_or_pd(bad, _mm_or_pd(_mm_cmpunord_pd(a, a), _mm_cmpunord_pd(b, b)));
    }
    alignas(16) double t[2];
    _mm_store_pd(t, _mm_min_pd(l0, l1));
    lo = std::min(t[0], t[1]);
    _mm_store_pd(t, _mm_max_pd(h0, h1));
    hi = std::max(t[0], t[1]);
    nan = _mm_movemask_pd(bad) != 0;
  } else {
    __m128 l0 = _mm_set1_ps(lo), h0 = _mm_set1_ps(hi), bad = _mm_setzero_ps();
    for (; i + 4 <= n; i += 4) {
      const __m128 a = _mm_loadu_ps(v + i);
      l0 = _mm_min_ps(a, l0);
      h0 = _mm_max_ps(a, h0);
      bad = _mm_or_ps(bad, _mm_cmpunord_ps(a, a));
    }
    alignas(16) float t[4];
    _mm_store_ps(t, l0);
    lo = std::min(std::min(t[0], t[1]), std::min(t[2], t[3]));
    _mm_store_ps(t, h0);
    hi = std::max(std::max(t[0], t[1]), std::max(t[2], t[3]));
    nan = _mm_movemask_ps(bad) != 0;
  }
#endif
  for (; i < n; ++i) {
    const T x = v[i];
    nan |= x != x;
    lo = x < lo ? x : lo;
    hi = x > hi ? x : hi;
  }
  *lo_out = lo;
  *hi_out = hi;
  return nan;
}

Status UpdateStats(ColumnStatsAcc& acc, const std::shared_ptr<arrow::Array>& arr) {
  acc.null_count += arr->null_count();
  if (!acc.eligible || arr->length() == arr->null_count()) return Status::OK();
  if ((arr->type_id() == arrow::Type::DOUBLE || arr->type_id() == arrow::Type::FLOAT) && arr->null_count() == 0) {
    // One pass for NaN, min and max: is_nan (a boolean array, then Any) and MinMax (fmin/fmax
    // per value) took a tenth of a 20M x 10 write's CPU, on the thread that feeds the encoders.
    auto bounds = [&](auto tag) -> Result<std::pair<Json, Json>> {
      using T = decltype(tag);
      const T* v = arr->data()->GetValues<T>(1);
      T lo, hi;
      if (FloatBounds(v, arr->length(), &lo, &hi)) acc.has_nan = true;
      if (lo > hi) return std::pair<Json, Json>();  // only NaNs: no bound
      OCTAVO_ASSIGN_OR_RETURN(Json jlo, ScalarToJson(*arrow::MakeScalar(arr->type(), lo).ValueOrDie(), false));
      OCTAVO_ASSIGN_OR_RETURN(Json jhi, ScalarToJson(*arrow::MakeScalar(arr->type(), hi).ValueOrDie(), false));
      return std::pair<Json, Json>(std::move(jlo), std::move(jhi));
    };
    Result<std::pair<Json, Json>> b =
        arr->type_id() == arrow::Type::DOUBLE ? bounds(double{}) : bounds(float{});
    OCTAVO_RETURN_NOT_OK(b.status());
    auto& [lo, hi] = *b;
    if (lo.is_null() || hi.is_null()) {
      acc.eligible = false;
      acc.min = acc.max = Json();
      return Status::OK();
    }
    if (acc.min.is_null() || lo < acc.min) acc.min = lo;
    if (acc.max.is_null() || acc.max < hi) acc.max = hi;
    return Status::OK();
  }
  if (arrow::is_floating(arr->type_id())) {
    OCTAVO_ARROW_ASSIGN_OR_RETURN(auto nan, arrow::compute::CallFunction("is_nan", {arr}));
    OCTAVO_ARROW_ASSIGN_OR_RETURN(auto any, arrow::compute::Any(nan));
    if (any.scalar()->is_valid && any.scalar_as<arrow::BooleanScalar>().value) acc.has_nan = true;
  }
  arrow::compute::ScalarAggregateOptions opts(/*skip_nulls=*/true);
  auto mm_res = arrow::compute::MinMax(arr, opts);
  if (!mm_res.ok()) {  // statistics are an optimisation: a type without a kernel just has none
    acc.eligible = false;
    acc.min = acc.max = Json();
    return Status::OK();
  }
  auto mm = *mm_res;
  const auto& st = mm.scalar_as<arrow::StructScalar>();
  OCTAVO_ASSIGN_OR_RETURN(Json lo, ScalarToJson(*st.value[0], acc.is_temporal));
  OCTAVO_ASSIGN_OR_RETURN(Json hi, ScalarToJson(*st.value[1], acc.is_temporal));
  if (lo.is_null() || hi.is_null()) {
    acc.eligible = false;  // cannot bound this column in this part
    acc.min = acc.max = Json();
    return Status::OK();
  }
  if (acc.min.is_null() || lo < acc.min) acc.min = lo;
  if (acc.max.is_null() || acc.max < hi) acc.max = hi;
  return Status::OK();
}

// Per-column encodings chosen from the first rows of a part (`sample`), for top-level flat
// columns whose values barely repeat (more than half distinct):
// - integer-like columns whose successive differences need several bits fewer than the
//   values (ids, frame numbers, timestamps of a regular clock) -> DELTA_BINARY_PACKED,
//   stored uncompressed (the packed deltas are what is left after the redundancy);
// - the rest -> plain, and uncompressed when the codec shrinks a sample of the values by
//   less than 10% (measurement noise, random floats): decompressing costs CPU on every read
//   for no space saved.
// Repeating columns keep the dictionary, and are stored uncompressed when their bit-packed
// indices do not compress (categories in random order).
// Arrow would otherwise build a dictionary until its page limit and then fall back to
// plain pages: write time and two extra pages (dictionary + indices) per column chunk,
// each decompressed separately on read.

int BitsFor(double range) { return range < 1 ? 0 : static_cast<int>(std::ceil(std::log2(range + 1))); }

bool DeltaPays(const std::shared_ptr<arrow::Array>& col) {
  const auto id = col->type_id();
  const bool integer_like = arrow::is_integer(id) || id == arrow::Type::DATE32 || id == arrow::Type::DATE64 ||
                            id == arrow::Type::TIMESTAMP || id == arrow::Type::TIME32 ||
                            id == arrow::Type::TIME64 || id == arrow::Type::DURATION;
  if (!integer_like || col->null_count() > 0) return false;
  // Parquet deltas are computed on the stored signed integers: view, then widen.
  const int width = static_cast<const arrow::FixedWidthType&>(*col->type()).bit_width();
  auto storage = col->View(width == 64 ? arrow::int64() : width == 32 ? arrow::int32()
                           : width == 16 ? arrow::int16() : arrow::int8());
  if (!storage.ok()) return false;
  auto as_int = arrow::compute::Cast(*storage, arrow::int64());
  if (!as_int.ok()) return false;
  auto diff = arrow::compute::CallFunction("pairwise_diff", {*as_int});
  if (!diff.ok()) return false;
  auto mm_values = arrow::compute::MinMax(*as_int);
  auto mm_diffs = arrow::compute::MinMax(*diff);
  if (!mm_values.ok() || !mm_diffs.ok()) return false;
  auto range = [](const arrow::Datum& mm) -> double {
    const auto& st = mm.scalar_as<arrow::StructScalar>();
    if (!st.value[0]->is_valid || !st.value[1]->is_valid) return -1;
    return static_cast<double>(static_cast<const arrow::Int64Scalar&>(*st.value[1]).value) -
           static_cast<double>(static_cast<const arrow::Int64Scalar&>(*st.value[0]).value);
  };
  const double values = range(*mm_values), diffs = range(*mm_diffs);
  if (values < 0 || diffs < 0) return false;
  return BitsFor(diffs) + 4 <= BitsFor(values);
}

// The codec shrinks these bytes by less than 10%.
bool ShrinksLittle(const uint8_t* bytes, int64_t len, arrow::util::Codec* codec) {
  if (!codec || len <= 0) return false;
  const int64_t cap = codec->MaxCompressedLen(len, bytes);
  std::unique_ptr<uint8_t[]> out(new uint8_t[static_cast<size_t>(cap)]);  // not zeroed: written by the codec
  auto n = codec->Compress(len, bytes, cap, out.get());
  return n.ok() && *n * 10 > len * 9;
}

// A fixed-width column's values (as PLAIN pages hold them) do not compress.
bool Incompressible(const arrow::Array& col, arrow::util::Codec* codec) {
  if (!arrow::is_fixed_width(col.type_id()) || col.type_id() == arrow::Type::BOOL) return false;
  const auto& data = *col.data();
  if (data.buffers.size() < 2 || !data.buffers[1]) return false;
  const int64_t width = static_cast<const arrow::FixedWidthType&>(*col.type()).bit_width() / 8;
  return ShrinksLittle(data.buffers[1]->data() + data.offset * width, col.length() * width, codec);
}

// A dictionary-encoded column's data pages (bit-packed dictionary indices) do not compress:
// categories in random order. Clustered categories leave runs, which compress.
// A column already of a dictionary type (pandas categoricals) is taken as it is.
bool IndicesIncompressible(const std::shared_ptr<arrow::Array>& col, int64_t distinct, arrow::util::Codec* codec) {
  if (!codec || distinct < 2) return false;
  std::shared_ptr<arrow::Array> dict_array = col;
  if (col->type_id() != arrow::Type::DICTIONARY) {
    auto encoded = arrow::compute::DictionaryEncode(col);
    if (!encoded.ok()) return false;
    dict_array = encoded->make_array();
  }
  // Hold the arrays: indices() is a reference into dict_array (a temporary was a use after free).
  auto as_int32 = arrow::compute::Cast(*static_cast<const arrow::DictionaryArray&>(*dict_array).indices(),
                                       arrow::int32());
  if (!as_int32.ok()) return false;
  const std::shared_ptr<arrow::Array> indices = *as_int32;
  const auto& idx = static_cast<const arrow::Int32Array&>(*indices);
  int width = 0;
  while ((int64_t{1} << width) < distinct) ++width;
  std::vector<uint8_t> packed(static_cast<size_t>((idx.length() * width + 7) / 8 + 8), 0);
  int64_t bit = 0;
  for (int64_t k = 0; k < idx.length(); ++k, bit += width) {
    if (idx.IsNull(k)) continue;
    const uint64_t v = static_cast<uint32_t>(idx.Value(k));
    for (int b = 0; b < width; ++b)
      if (v >> b & 1) packed[static_cast<size_t>((bit + b) >> 3)] |= static_cast<uint8_t>(1u << ((bit + b) & 7));
  }
  return ShrinksLittle(packed.data(), static_cast<int64_t>(packed.size()), codec);
}

std::unique_ptr<arrow::util::Codec> MakeCodec(const std::string& compression, int level) {
  auto c = CodecFromName(compression);
  if (!c.ok() || *c == arrow::Compression::UNCOMPRESSED) return nullptr;
  auto made = level > 0 && *c != arrow::Compression::SNAPPY && *c != arrow::Compression::LZ4
                  ? arrow::util::Codec::Create(*c, level)
                  : arrow::util::Codec::Create(*c);
  return made.ok() ? std::move(*made) : nullptr;
}

// The number of distinct non-null values of `col`, counted up to `limit`: limit + 1 as soon as
// there are more (a column more than half distinct is decided there); -1 for a type not
// counted here. One memo table: Arrow's count_distinct built and merged one per chunk, a
// tenth of a write's CPU.
template <typename U>
int64_t DistinctFixed(const arrow::ArrayData& d, int64_t limit) {
  arrow::internal::ScalarMemoTable<U> memo(arrow::default_memory_pool());
  const U* v = d.GetValues<U>(1);
  const uint8_t* valid = d.MayHaveNulls() ? d.buffers[0]->data() : nullptr;
  for (int64_t i = 0; i < d.length; ++i) {
    if (valid && !arrow::bit_util::GetBit(valid, d.offset + i)) continue;
    int32_t unused;
    if (!memo.GetOrInsert(v[i], &unused).ok()) return -1;
    if (memo.size() > limit) return limit + 1;
  }
  return memo.size();
}

template <typename ArrayT, typename BuilderT>
int64_t DistinctBinary(const arrow::Array& col, int64_t limit) {
  const auto& a = static_cast<const ArrayT&>(col);
  arrow::internal::BinaryMemoTable<BuilderT> memo(arrow::default_memory_pool());
  for (int64_t i = 0; i < a.length(); ++i) {
    if (a.IsNull(i)) continue;
    const std::string_view v = a.GetView(i);
    int32_t unused;
    if (!memo.GetOrInsert(v.data(), static_cast<int32_t>(v.size()), &unused).ok()) return -1;
    if (memo.size() > limit) return limit + 1;
  }
  return memo.size();
}

int64_t CountDistinctUpTo(const arrow::Array& col, int64_t limit) {
  switch (col.type_id()) {
    case arrow::Type::STRING:
    case arrow::Type::BINARY:
      return DistinctBinary<arrow::BinaryArray, arrow::BinaryBuilder>(col, limit);
    case arrow::Type::LARGE_STRING:
    case arrow::Type::LARGE_BINARY:
      return DistinctBinary<arrow::LargeBinaryArray, arrow::LargeBinaryBuilder>(col, limit);
    default:
      break;
  }
  if (!arrow::is_fixed_width(col.type_id()) || col.type_id() == arrow::Type::BOOL) return -1;
  // values compared by their bits (the choice is a heuristic: -0.0 and 0.0 may count twice)
  switch (static_cast<const arrow::FixedWidthType&>(*col.type()).bit_width()) {
    case 8:
      return DistinctFixed<uint8_t>(*col.data(), limit);
    case 16:
      return DistinctFixed<uint16_t>(*col.data(), limit);
    case 32:
      return DistinctFixed<uint32_t>(*col.data(), limit);
    case 64:
      return DistinctFixed<uint64_t>(*col.data(), limit);
    default:
      return -1;
  }
}

ColumnEncodings ChooseEncodings(const arrow::RecordBatch& sample, const TableOptions& options) {
  // What each column gets; decided for all columns at once on the pool (counting a sample's
  // distinct values is a hash table of 64Ki entries per column, before any page is written).
  enum Choice : uint8_t { kAsArrowDoes = 0, kUncompressed = 1, kDelta = 2, kPlain = 4 };
  const int64_t n = std::min<int64_t>(sample.num_rows(), 64 * 1024);
  std::vector<uint8_t> choice(static_cast<size_t>(sample.num_columns()), kAsArrowDoes);
  auto choose = [&](size_t i, int) -> Status {
    auto codec = MakeCodec(options.compression, options.compression_level);
    const auto& type = *sample.schema()->field(static_cast<int>(i))->type();
    auto col = sample.column(static_cast<int>(i))->Slice(0, n);
    if (type.id() == arrow::Type::DICTIONARY) {  // written as dictionary pages of its own dictionary
      const int64_t distinct = static_cast<const arrow::DictionaryArray&>(*col).dictionary()->length();
      if (options.dictionary && col->length() - col->null_count() >= 1024 &&
          IndicesIncompressible(col, distinct, codec.get()))
        choice[i] = kUncompressed;
      return Status::OK();
    }
    if (!arrow::is_primitive(type.id()) && !arrow::is_base_binary_like(type.id())) return Status::OK();
    if (type.id() == arrow::Type::BOOL) return Status::OK();
    const int64_t values = col->length() - col->null_count();
    if (values < 1024) return Status::OK();  // too little evidence
    // Near-unique columns (ids, measurements) are told apart on their first 4,096 rows: more
    // than 95 % distinct there takes some 40,000 random categories or more, which are more
    // than half distinct over the sample too (and would overflow the dictionary page anyway).
    // A column that only repeats later (a cycle longer than 4,096) is written plain.
    int64_t distinct = -1;
    if (col->length() > 4096) {
      auto head = col->Slice(0, 4096);
      const int64_t head_values = head->length() - head->null_count();
      const int64_t many = head_values * 95 / 100;
      if (head_values >= 1024 && CountDistinctUpTo(*head, many) > many) distinct = values;  // more than half
    }
    if (distinct < 0) distinct = CountDistinctUpTo(*col, values / 2);
    if (distinct < 0) return Status::OK();
    if (distinct * 2 <= values) {  // dictionary-encoded
      if (options.dictionary && IndicesIncompressible(col, distinct, codec.get())) choice[i] = kUncompressed;
    } else if (DeltaPays(col)) {
      choice[i] = kDelta | kUncompressed;
    } else {
      choice[i] = kPlain | (Incompressible(*col, codec.get()) ? kUncompressed : 0);
    }
    return Status::OK();
  };
  ColumnEncodings out;
  if (!ParallelFor(choice.size(), ArrowMayUseThreads() ? GetNumThreads() : 1, choose).ok()) return out;
  for (size_t i = 0; i < choice.size(); ++i) {
    const std::string& name = sample.schema()->field(static_cast<int>(i))->name();
    if (choice[i] & kDelta) out.delta.push_back(name);
    if (choice[i] & kPlain) out.plain.push_back(name);
    if (choice[i] & kUncompressed) out.uncompressed.push_back(name);
  }
  return out;
}

// The footer of a Parquet file: FileMetaData, its 4-byte little-endian length and "PAR1".
struct Footer {
  std::shared_ptr<arrow::Buffer> bytes;  // the whole footer, length and magic included
  int64_t size = 0;
  uint32_t crc32 = 0;
  uint32_t metadata_len = 0;
};

Result<Footer> ReadFooter(arrow::io::RandomAccessFile* file, int64_t file_size, const std::string& what) {
  if (file_size < 12) return Status::Corruption(what, " is too short (", file_size, " bytes) to be a Parquet file");
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto tail, file->ReadAt(file_size - 8, 8));
  if (tail->size() != 8 || std::memcmp(tail->data() + 4, "PAR1", 4) != 0)
    return Status::Corruption(what, " does not end with the Parquet magic bytes");
  uint32_t len = 0;
  for (int i = 3; i >= 0; --i) len = len << 8 | tail->data()[i];
  if (static_cast<int64_t>(len) > file_size - 12)
    return Status::Corruption(what, " has a footer length (", len, ") larger than the file");
  Footer f;
  f.metadata_len = len;
  f.size = int64_t{len} + 8;
  OCTAVO_ARROW_ASSIGN_OR_RETURN(f.bytes, file->ReadAt(file_size - f.size, f.size));
  if (f.bytes->size() != f.size) return Status::Corruption(what, ": short read of the footer");
  f.crc32 = Crc32(0, f.bytes->data(), static_cast<size_t>(f.size));
  return f;
}

class PartWriter {
 public:
  PartWriter(Env* env, std::string root, std::string uid, std::shared_ptr<arrow::Schema> schema,
             const TableOptions& options)
      : env_(env), root_(std::move(root)), uid_(std::move(uid)), schema_(std::move(schema)), options_(options) {}

  bool open() const { return writer_ != nullptr; }
  int64_t rows() const { return rows_; }

  // `first`: the first rows to be written, to choose per-column encodings from.
  Status Open(const arrow::RecordBatch& first) {
    OCTAVO_ASSIGN_OR_RETURN(auto props, ParquetWriterProperties(options_, ChooseEncodings(first, options_)));
    rel_ = NewPartFileName(uid_);
    OCTAVO_ASSIGN_OR_RETURN(auto file, env_->NewWritableFile(root_ + "/" + rel_));
    stream_ = std::make_shared<EnvOutputStream>(std::move(file));
    // use_threads: encode the columns of a row group in parallel on the shared pool (one part is
    // written at a time, so Arrow's warning about parallel writers sharing an executor does not
    // apply); not from a pool thread, where Arrow's wait could deadlock (util/threads.h).
    auto arrow_props =
        parquet::ArrowWriterProperties::Builder().store_schema()->set_use_threads(ArrowMayUseThreads())->build();
    auto res = parquet::arrow::FileWriter::Open(*schema_, arrow::default_memory_pool(), stream_, props,
                                                arrow_props);
    if (!res.ok()) return FromArrow(res.status()).WithContext("cannot write Parquet part " + rel_);
    writer_ = std::move(*res);
    rows_ = 0;
    stats_.assign(schema_->num_fields(), ColumnStatsAcc{});
    for (int i = 0; i < schema_->num_fields(); ++i) {
      const auto& t = *schema_->field(i)->type();
      stats_[i].eligible = options_.write_statistics && StatsEligible(t);
      stats_[i].is_temporal = arrow::is_temporal(t.id());
    }
    return Status::OK();
  }

  Status Write(const std::shared_ptr<arrow::RecordBatch>& batch) {
    if (!ArrowMayUseThreads()) {
      OCTAVO_RETURN_NOT_ARROW_OK(writer_->WriteRecordBatch(*batch));
      for (int i = 0; i < batch->num_columns(); ++i) OCTAVO_RETURN_NOT_OK(UpdateStats(stats_[i], batch->column(i)));
    } else {
      // The columns' statistics are computed on the pool while Arrow encodes the batch: after
      // it, on the caller alone, they left every pool thread idle, and Arrow's encoders leave
      // threads idle at each row group's end, which these tasks fill.
      BackgroundTasks stats(batch->num_columns(), TaskPool::kCpu);
      for (int i = 0; i < batch->num_columns(); ++i)
        stats.Submit([this, &batch, i] { return UpdateStats(stats_[i], batch->column(i)); });
      const Status written = FromArrow(writer_->WriteRecordBatch(*batch));
      const Status counted = stats.Wait();
      OCTAVO_RETURN_NOT_OK(written);
      OCTAVO_RETURN_NOT_OK(counted);
    }
    rows_ += batch->num_rows();
    return Status::OK();
  }

  Result<PartEntry> Finish() {
    OCTAVO_RETURN_NOT_ARROW_OK(writer_->Close());
    auto md = writer_->metadata();
    OCTAVO_ASSIGN_OR_RETURN(int64_t size, [&]() -> Result<int64_t> {
      OCTAVO_ARROW_ASSIGN_OR_RETURN(auto t, stream_->Tell());
      return t;
    }());
    OCTAVO_RETURN_NOT_OK(stream_->SyncAndClose());
    PartEntry p;
    p.file = rel_;
    p.num_rows = rows_;
    p.size_bytes = size;
    {
      // The footer's checksum goes into the manifest (page CRCs do not cover it).
      OCTAVO_ASSIGN_OR_RETURN(auto in, env_->OpenRandomAccess(root_ + "/" + rel_));
      OCTAVO_ASSIGN_OR_RETURN(Footer footer, ReadFooter(in.get(), size, "new part file " + rel_));
      p.footer_size = footer.size;
      p.footer_crc32 = footer.crc32;
    }
    p.created_at = NowIso8601();
    for (int i = 0; i < md->num_row_groups(); ++i) p.row_group_rows.push_back(md->RowGroup(i)->num_rows());
    for (int i = 0; i < schema_->num_fields(); ++i) {
      Json s{{"null_count", stats_[i].null_count}};
      if (stats_[i].eligible && !stats_[i].min.is_null()) {
        s["min"] = stats_[i].min;
        s["max"] = stats_[i].max;
      }
      if (stats_[i].has_nan) s["has_nan"] = true;
      p.stats[schema_->field(i)->name()] = std::move(s);
    }
    writer_.reset();
    stream_.reset();
    return p;
  }

 private:
  Env* env_;
  std::string root_, uid_;
  std::shared_ptr<arrow::Schema> schema_;
  TableOptions options_;
  std::string rel_;
  std::shared_ptr<EnvOutputStream> stream_;
  std::unique_ptr<parquet::arrow::FileWriter> writer_;
  int64_t rows_ = 0;
  std::vector<ColumnStatsAcc> stats_;
};

}  // namespace

std::vector<std::string> IncompressibleColumns(const arrow::Table& table, const std::string& compression,
                                               int64_t sample_rows) {
  std::vector<std::string> out;
  auto codec = MakeCodec(compression, 0);
  if (!codec) return out;
  for (int i = 0; i < table.num_columns(); ++i) {
    const auto& col = *table.column(i);
    if (col.num_chunks() == 0 || !arrow::is_fixed_width(col.type()->id())) continue;
    auto sample = col.chunk(0)->Slice(0, sample_rows);
    if (sample->length() < std::min<int64_t>(sample_rows, table.num_rows())) continue;  // a tiny first chunk
    if (Incompressible(*sample, codec.get())) out.push_back(table.field(i)->name());
  }
  return out;
}

Result<std::vector<PartEntry>> WriteParts(Env* env, const std::string& root, const std::string& uid,
                                          const std::shared_ptr<arrow::Schema>& schema,
                                          arrow::RecordBatchReader* data, const TableOptions& options) {
  std::vector<PartEntry> parts;
  if (options.part_max_rows <= 0 || options.row_group_size <= 0)
    return Status::Invalid("part_max_rows and row_group_size must be positive");
  const std::string dir = root + "/" + kDataDir + "/" + uid;
  OCTAVO_RETURN_NOT_OK(env->CreateDir(dir));
  PartWriter w(env, root, uid, schema, options);
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    auto st = data->ReadNext(&batch);
    if (!st.ok()) return FromArrow(st).WithContext("reading the data to write");
    if (!batch) break;
    int64_t offset = 0;
    while (offset < batch->num_rows()) {
      const int64_t room = options.part_max_rows - (w.open() ? w.rows() : 0);
      const int64_t take = std::min(batch->num_rows() - offset, room);
      auto piece = (offset == 0 && take == batch->num_rows()) ? batch : batch->Slice(offset, take);
      if (!w.open()) OCTAVO_RETURN_NOT_OK(w.Open(*piece));
      OCTAVO_RETURN_NOT_OK(w.Write(piece));
      offset += take;
      if (w.rows() >= options.part_max_rows) {
        OCTAVO_ASSIGN_OR_RETURN(auto p, w.Finish());
        parts.push_back(std::move(p));
      }
    }
  }
  if (w.open() && w.rows() > 0) {
    OCTAVO_ASSIGN_OR_RETURN(auto p, w.Finish());
    parts.push_back(std::move(p));
  }
  if (!parts.empty()) {
    OCTAVO_RETURN_NOT_OK(env->SyncDir(dir));
    OCTAVO_RETURN_NOT_OK(env->SyncDir(root + "/" + kDataDir));
  }
  return parts;
}

namespace {

// Parsed footers of recently opened parts. A footer is parsed once, after its bytes matched the
// manifest's CRC: parsing it again took most of a 1,000-row read (Thrift decoding and freeing a
// 64-row-group footer). Parts are immutable and named uniquely, and the key carries the size
// and footer CRC the manifest recorded, so an entry is only ever reused for the same bytes.
struct FooterCacheEntry {
  std::shared_ptr<parquet::FileMetaData> metadata;
  std::shared_ptr<const ChecksummedFile::Chunks> chunks;
};

// Weighed by the footer's size on disk (its parsed form is a few times that): 4 MiB of footers,
// at most 256 of them.
LruCache<FooterCacheEntry>& Footers() {
  static auto* cache = new LruCache<FooterCacheEntry>(4 << 20, 256);  // never destroyed: readers may outlive it
  return *cache;
}

}  // namespace

std::string PartCacheKey(const std::string& abs_path, const PartEntry& part) {
  return abs_path + '\0' + std::to_string(part.size_bytes) + ':' + std::to_string(part.footer_size) + ':' +
         std::to_string(part.footer_crc32);
}

Result<std::unique_ptr<parquet::arrow::FileReader>> OpenPart(const std::string& root, const std::string& table_path,
                                                             const PartEntry& part, bool use_threads,
                                                             bool pre_buffer, arrow::MemoryPool* pool,
                                                             std::shared_ptr<ChecksummedFile>* source) {
  const std::string abs = root + "/" + part.file;
  auto where = [&](const std::string& msg) {
    return "table " + table_path + ": part file " + abs + " " + msg;
  };
  if (!pool) pool = arrow::default_memory_pool();
  // The bytes read come from the reader's pool too (local files; an object store's reads use its own).
  Env* env = EnvForPath(abs);
  Result<std::shared_ptr<arrow::io::RandomAccessFile>> file_res = Status::OK();
  if (env == Env::Default()) {
    auto local = arrow::io::ReadableFile::Open(abs, pool);
    if (local.ok()) file_res = std::shared_ptr<arrow::io::RandomAccessFile>(std::move(*local));
    else file_res = FromArrow(local.status());
  } else {
    file_res = env->OpenRandomAccess(abs);
  }
  if (!file_res.ok()) {
    if (!FileReferencedByCurrentCommit(root, part.file))
      return Status::NotFound(where("is gone: garbage collection removed it because the commit this handle reads "
                                    "is no longer kept (octavo gc --keep-last); reopen the bundle or refresh() "
                                    "to read the newest commit"));
    return Status::Corruption(where("is missing or unreadable (" + file_res.status().message() +
                                    "); the bundle is damaged: restore the file or open an earlier commit"));
  }
  auto file = *file_res;
  auto size_res = file->GetSize();
  if (!size_res.ok()) return FromArrow(size_res.status());
  if (*size_res != part.size_bytes)
    return Status::Corruption(where("is " + std::to_string(*size_res) + " bytes but the manifest recorded " +
                                    std::to_string(part.size_bytes) +
                                    " (truncated or overwritten); restore it or open an earlier commit"));
  parquet::ReaderProperties props(pool);  // decompression buffers come from here
  // Page CRCs are checked by ChecksummedFile as chunks are read (pages written without one
  // are read as they are), not by Arrow's reader: its table-driven CRC is 5-14x slower.
  props.set_page_checksum_verification(false);
  auto checked = std::make_shared<ChecksummedFile>(file);
  parquet::ArrowReaderProperties aprops;
  aprops.set_use_threads(use_threads && ArrowMayUseThreads());  // never nested on the pool (util/threads.h)
  aprops.set_pre_buffer(pre_buffer);
  // The footer is checked against the manifest before anything in it is believed: its row
  // counts and statistics choose what a read returns and what a query prunes.
  std::shared_ptr<parquet::FileMetaData> metadata;
  const std::string cache_key = PartCacheKey(abs, part);
  FooterCacheEntry cached;
  if (part.footer_crc32 >= 0) cached = Footers().Find(cache_key);
  metadata = cached.metadata;
  bool metadata_fresh = false;
  if (part.footer_crc32 >= 0 && !metadata) {
    auto footer = ReadFooter(file.get(), *size_res, "part file " + abs);
    if (!footer.ok()) return Status::Corruption(where(footer.status().message()));
    if (footer->size != part.footer_size || footer->crc32 != static_cast<uint32_t>(part.footer_crc32))
      return Status::Corruption(where("has a damaged Parquet footer (its checksum does not match the manifest); "
                                      "restore the file or open an earlier commit"));
    try {
      metadata = parquet::FileMetaData::Make(footer->bytes->data(), static_cast<int64_t>(footer->metadata_len));
      metadata_fresh = true;
    } catch (const std::exception& e) {
      return Status::Corruption(where(std::string("has an undecodable Parquet footer: ") + e.what()));
    }
  }
  std::unique_ptr<parquet::ParquetFileReader> pfr;
  try {
    pfr = parquet::ParquetFileReader::Open(checked, props, metadata);
    if (!cached.chunks) cached.chunks = ChecksummedFile::ComputeChunks(*pfr->metadata());
    checked->SetChunks(cached.chunks);
  } catch (const std::exception& e) {
    return Status::Corruption(where(std::string("is not a valid Parquet file: ") + e.what()));
  }
  {
    const auto& md = *pfr->metadata();
    bool counts_ok = md.num_rows() == part.num_rows;
    if (counts_ok && !part.row_group_rows.empty()) {
      counts_ok = md.num_row_groups() == static_cast<int>(part.row_group_rows.size());
      for (int i = 0; counts_ok && i < md.num_row_groups(); ++i)
        counts_ok = md.RowGroup(i)->num_rows() == part.row_group_rows[static_cast<size_t>(i)];
    }
    if (!counts_ok)
      return Status::Corruption(where("holds " + std::to_string(md.num_rows()) + " rows in " +
                                      std::to_string(md.num_row_groups()) +
                                      " row groups, which is not what the manifest recorded (" +
                                      std::to_string(part.num_rows) + " rows in " +
                                      std::to_string(part.row_group_rows.size()) +
                                      " row groups); restore the file or open an earlier commit"));
  }
  auto reader = parquet::arrow::FileReader::Make(pool, std::move(pfr), aprops);
  if (!reader.ok()) return Status::Corruption(where("cannot be read: " + reader.status().message()));
  if (metadata_fresh) Footers().Put(cache_key, {metadata, cached.chunks}, part.footer_size);  // only a footer that passed every check
  if (source) *source = checked;
  return std::move(*reader);
}

namespace {

// Keeps freed blocks of 64 KiB and more (rounded up to 64 KiB classes) for the next
// allocation of the same class, up to kCacheBytes in all. A scan decodes row group after row
// group into buffers of the same few sizes, so after the first ones it takes no fresh memory
// from the OS: no page faults, no page zeroing. Every block comes from `base`, so Reallocate
// and Free of any block can always fall back to it.
class RecyclingPool final : public arrow::MemoryPool {
 public:
  explicit RecyclingPool(arrow::MemoryPool* base) : base_(base) {}

  arrow::Status Allocate(int64_t size, int64_t alignment, uint8_t** out) override {
    const int64_t cls = Class(size);
    if (cls > 0) {
      std::lock_guard<std::mutex> l(mu_);
      auto& list = free_[{cls, alignment}];
      if (!list.empty()) {
        *out = list.back();
        list.pop_back();
        cached_ -= cls;
        Count(cls);
        return arrow::Status::OK();
      }
    }
    ARROW_RETURN_NOT_OK(base_->Allocate(cls > 0 ? cls : size, alignment, out));
    std::lock_guard<std::mutex> l(mu_);
    Count(cls > 0 ? cls : size);
    return arrow::Status::OK();
  }

  arrow::Status Reallocate(int64_t old_size, int64_t new_size, int64_t alignment, uint8_t** ptr) override {
    const int64_t old_cls = Class(old_size), new_cls = Class(new_size);
    if (old_cls > 0 && old_cls == new_cls) return arrow::Status::OK();  // the block already has room
    if (old_cls == 0 && new_cls == 0) {
      ARROW_RETURN_NOT_OK(base_->Reallocate(old_size, new_size, alignment, ptr));
      std::lock_guard<std::mutex> l(mu_);
      allocated_ += new_size - old_size;
      return arrow::Status::OK();
    }
    uint8_t* fresh = nullptr;
    ARROW_RETURN_NOT_OK(Allocate(new_size, alignment, &fresh));
    std::memcpy(fresh, *ptr, static_cast<size_t>(std::min(old_size, new_size)));
    Free(*ptr, old_size, alignment);
    *ptr = fresh;
    return arrow::Status::OK();
  }

  void Free(uint8_t* buffer, int64_t size, int64_t alignment) override {
    const int64_t cls = Class(size);
    {
      std::lock_guard<std::mutex> l(mu_);
      allocated_ -= cls > 0 ? cls : size;
      if (cls > 0 && cached_ + cls <= kCacheBytes) {
        free_[{cls, alignment}].push_back(buffer);
        cached_ += cls;
        return;
      }
    }
    base_->Free(buffer, cls > 0 ? cls : size, alignment);
  }

  void ReleaseUnused() override {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [key, list] : free_)
      for (uint8_t* b : list) base_->Free(b, key.first, key.second);
    free_.clear();
    cached_ = 0;
  }

  int64_t bytes_allocated() const override {
    std::lock_guard<std::mutex> l(mu_);
    return allocated_;
  }
  int64_t max_memory() const override {
    std::lock_guard<std::mutex> l(mu_);
    return max_;
  }
  int64_t total_bytes_allocated() const override {
    std::lock_guard<std::mutex> l(mu_);
    return total_;
  }
  int64_t num_allocations() const override {
    std::lock_guard<std::mutex> l(mu_);
    return count_;
  }
  std::string backend_name() const override { return "octavo-recycling(" + base_->backend_name() + ")"; }

 private:
  static constexpr int64_t kMinBlock = 64 * 1024;
  static constexpr int64_t kCacheBytes = 64 * 1024 * 1024;
  static int64_t Class(int64_t size) { return size < kMinBlock ? 0 : (size + kMinBlock - 1) / kMinBlock * kMinBlock; }
  void Count(int64_t size) {  // under mu_
    allocated_ += size;
    total_ += size;
    ++count_;
    max_ = std::max(max_, allocated_);
  }

  arrow::MemoryPool* base_;
  mutable std::mutex mu_;
  std::map<std::pair<int64_t, int64_t>, std::vector<uint8_t*>> free_;
  int64_t cached_ = 0, allocated_ = 0, max_ = 0, total_ = 0, count_ = 0;
};

}  // namespace

arrow::MemoryPool* QueryMemoryPool() {
  static auto* pool = new RecyclingPool(arrow::system_memory_pool());  // never destroyed: outlives all buffers
  return pool;
}

Result<std::vector<int>> LeafIndices(const parquet::arrow::FileReader& reader, const std::vector<int>& fields) {
  const auto& manifest = reader.manifest();
  std::vector<int> out;
  std::function<void(const parquet::arrow::SchemaField&)> rec = [&](const parquet::arrow::SchemaField& f) {
    if (f.is_leaf()) {
      out.push_back(f.column_index);
      return;
    }
    for (const auto& c : f.children) rec(c);
  };
  for (int i : fields) {
    if (i < 0 || i >= static_cast<int>(manifest.schema_fields.size()))
      return Status::Corruption("part has fewer columns than the table schema");
    rec(manifest.schema_fields[i]);
  }
  return out;
}

}  // namespace octavo
