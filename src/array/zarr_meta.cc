#include "array/zarr_meta.h"

#include <arrow/util/base64.h>
#include <arrow/util/compression.h>
#include <arrow/util/float16.h>
#include <arrow/util/utf8.h>
#include <blosc.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <optional>

#include "octavo/arrow_status.h"

namespace octavo {
namespace {

struct DTypeDesc {
  std::string name;  // octavo name
  int itemsize;
  enum Kind { kBool, kSigned, kUnsigned, kFloat, kComplex, kBytes, kUtf32 } kind;
  int swap_unit;     // bytes per byte-swapped word
};

struct FixedDesc {
  const char* name;
  int itemsize;
  DTypeDesc::Kind kind;
};

constexpr FixedDesc kDTypes[] = {
    {"bool", 1, DTypeDesc::kBool},       {"int8", 1, DTypeDesc::kSigned},      {"int16", 2, DTypeDesc::kSigned},
    {"int32", 4, DTypeDesc::kSigned},    {"int64", 8, DTypeDesc::kSigned},     {"uint8", 1, DTypeDesc::kUnsigned},
    {"uint16", 2, DTypeDesc::kUnsigned}, {"uint32", 4, DTypeDesc::kUnsigned},  {"uint64", 8, DTypeDesc::kUnsigned},
    {"float16", 2, DTypeDesc::kFloat},   {"float32", 4, DTypeDesc::kFloat},    {"float64", 8, DTypeDesc::kFloat},
    {"complex64", 8, DTypeDesc::kComplex}, {"complex128", 16, DTypeDesc::kComplex},
};

constexpr int64_t kMaxStringBytes = int64_t(1) << 20;

// "S<n>" (n bytes, Zarr null_terminated_bytes) and "U<n>" (n UTF-32 code points, Zarr
// fixed_length_utf32 with length_bytes 4n) as numpy spells them.
std::optional<DTypeDesc> FindDType(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name)
      return DTypeDesc{d.name, d.itemsize, d.kind, d.kind == DTypeDesc::kComplex ? d.itemsize / 2 : d.itemsize};
  if (name.size() >= 2 && (name[0] == 'S' || name[0] == 'U') && name.size() <= 9 &&
      name.find_first_not_of("0123456789", 1) == std::string::npos) {
    int64_t n = std::stoll(name.substr(1));
    if (name[0] == 'U') n *= 4;
    if (n <= 0 || n > kMaxStringBytes) return std::nullopt;
    if (name[0] == 'S') return DTypeDesc{name, static_cast<int>(n), DTypeDesc::kBytes, 1};
    return DTypeDesc{name, static_cast<int>(n), DTypeDesc::kUtf32, 4};
  }
  return std::nullopt;
}

// Zarr data_type JSON <-> octavo dtype name.
Json DTypeToJson(const DTypeDesc& d) {
  if (d.kind == DTypeDesc::kBytes)
    return Json{{"name", "null_terminated_bytes"}, {"configuration", Json{{"length_bytes", d.itemsize}}}};
  if (d.kind == DTypeDesc::kUtf32)
    return Json{{"name", "fixed_length_utf32"}, {"configuration", Json{{"length_bytes", d.itemsize}}}};
  return d.name;
}

Result<DTypeDesc> DTypeFromJson(const Json& j, const std::string& where) {
  if (j.is_string()) {
    std::string n = j.get<std::string>();
    auto d = FindDType(n);
    if (!d || d->kind == DTypeDesc::kBytes || d->kind == DTypeDesc::kUtf32)
      return Status::NotImplemented(where, ": data_type '", n,
                                    "' is not supported by octavo (supported: bool, int8..int64, uint8..uint64, "
                                    "float16, float32, float64, complex64, complex128, null_terminated_bytes, "
                                    "fixed_length_utf32)");
    return *d;
  }
  if (j.is_object() && j.contains("name") && j["name"].is_string()) {
    std::string n = j["name"].get<std::string>();
    int64_t len = -1;
    if (j.contains("configuration") && j["configuration"].is_object() &&
        j["configuration"].contains("length_bytes") && j["configuration"]["length_bytes"].is_number_integer())
      len = j["configuration"]["length_bytes"].get<int64_t>();
    if (n == "null_terminated_bytes" || n == "fixed_length_utf32") {
      if (len <= 0 || len > kMaxStringBytes || (n == "fixed_length_utf32" && len % 4 != 0))
        return Status::Invalid(where, ": invalid zarr.json: ", n, " needs a positive configuration.length_bytes",
                               n == "fixed_length_utf32" ? " (a multiple of 4)" : "");
      auto d = FindDType((n[0] == 'n' ? "S" : "U") + std::to_string(n[0] == 'n' ? len : len / 4));
      return *d;
    }
    return Status::NotImplemented(where, ": data_type '", n, "' is not supported by octavo");
  }
  return Status::Invalid(where, ": invalid zarr.json: data_type must be a string or a {name, configuration} object");
}

template <typename T>
std::string Bytes(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(T));
}

Result<std::string> FloatFill(const Json& f, int itemsize, const std::function<Status(const std::string&)>& bad) {
  double v;
  if (f.is_number()) {
    v = f.get<double>();
  } else if (f.is_string()) {
    std::string s = f.get<std::string>();
    if (s == "NaN") v = std::numeric_limits<double>::quiet_NaN();
    else if (s == "Infinity") v = std::numeric_limits<double>::infinity();
    else if (s == "-Infinity") v = -std::numeric_limits<double>::infinity();
    else if (s.size() == 2 + 2 * static_cast<size_t>(itemsize) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      uint64_t bits = 0;
      for (size_t i = 2; i < s.size(); ++i) {
        char c = s[i];
        int h = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
        if (h < 0) return bad("bad hex digit");
        bits = (bits << 4) | static_cast<uint64_t>(h);
      }
      if (itemsize == 2) return Bytes(static_cast<uint16_t>(bits));
      if (itemsize == 4) return Bytes(static_cast<uint32_t>(bits));
      return Bytes(bits);
    } else {
      return bad("use a number, \"NaN\", \"Infinity\", \"-Infinity\" or a 0x hex bit pattern");
    }
  } else {
    return bad("use a number or \"NaN\"");
  }
  if (itemsize == 2) return Bytes(arrow::util::Float16::FromDouble(v).bits());
  if (itemsize == 4) return Bytes(static_cast<float>(v));
  return Bytes(v);
}

// fill_value JSON -> one element's bytes (little-endian).
Result<std::string> FillBytes(const Json& f, const DTypeDesc& d, const std::string& where) {
  std::function<Status(const std::string&)> bad = [&](const std::string& why) {
    return Status::Invalid(where, where.empty() ? "" : ": ", "fill_value ", f.dump(-1, ' ', false, Json::error_handler_t::replace),
                           " is not valid for data_type ",
                           d.name, " (", why, ")");
  };
  switch (d.kind) {
    case DTypeDesc::kBool:
      if (!f.is_boolean()) return bad("use true or false");
      return std::string(1, f.get<bool>() ? '\1' : '\0');
    case DTypeDesc::kSigned: {
      int64_t v;
      if (f.is_number_integer()) v = f.get<int64_t>();
      else if (f.is_number_float() && std::floor(f.get<double>()) == f.get<double>() && std::abs(f.get<double>()) < 9e18)
        v = static_cast<int64_t>(f.get<double>());
      else return bad("use an integer");
      if (f.is_number_unsigned() && f.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return bad("out of range");
      int bits = d.itemsize * 8;
      if (bits < 64 && (v < -(int64_t(1) << (bits - 1)) || v >= (int64_t(1) << (bits - 1)))) return bad("out of range");
      switch (d.itemsize) {
        case 1: return Bytes(static_cast<int8_t>(v));
        case 2: return Bytes(static_cast<int16_t>(v));
        case 4: return Bytes(static_cast<int32_t>(v));
        default: return Bytes(v);
      }
    }
    case DTypeDesc::kUnsigned: {
      uint64_t v;
      if (f.is_number_unsigned()) v = f.get<uint64_t>();
      else if (f.is_number_integer() && f.get<int64_t>() >= 0) v = static_cast<uint64_t>(f.get<int64_t>());
      else if (f.is_number_integer()) return bad("negative");
      else if (f.is_number_float() && f.get<double>() >= 0 && std::floor(f.get<double>()) == f.get<double>() &&
               f.get<double>() < 1.8e19)
        v = static_cast<uint64_t>(f.get<double>());
      else return bad("use a non-negative integer");
      int bits = d.itemsize * 8;
      if (bits < 64 && v >= (uint64_t(1) << bits)) return bad("out of range");
      switch (d.itemsize) {
        case 1: return Bytes(static_cast<uint8_t>(v));
        case 2: return Bytes(static_cast<uint16_t>(v));
        case 4: return Bytes(static_cast<uint32_t>(v));
        default: return Bytes(v);
      }
    }
    case DTypeDesc::kFloat:
      return FloatFill(f, d.itemsize, bad);
    case DTypeDesc::kComplex: {
      if (!f.is_array() || f.size() != 2) return bad("use [real, imaginary]");
      OCTAVO_ASSIGN_OR_RETURN(std::string re, FloatFill(f[0], d.itemsize / 2, bad));
      OCTAVO_ASSIGN_OR_RETURN(std::string im, FloatFill(f[1], d.itemsize / 2, bad));
      return re + im;
    }
    case DTypeDesc::kBytes: {
      if (!f.is_string()) return bad("use a base64 string");
      auto raw = arrow::util::base64_decode(f.get<std::string>());
      if (!raw.ok()) return bad("not valid base64");
      if (static_cast<int64_t>(raw->size()) > d.itemsize) return bad("longer than the data type");
      std::string out = *raw;
      out.resize(static_cast<size_t>(d.itemsize), '\0');
      return out;
    }
    case DTypeDesc::kUtf32: {
      if (!f.is_string()) return bad("use a string");
      auto wide = arrow::util::UTF8ToWideString(f.get<std::string>());
      if (!wide.ok()) return bad("not valid UTF-8");
      if (static_cast<int64_t>(wide->size()) * 4 > d.itemsize) return bad("longer than the data type");
      std::string out(static_cast<size_t>(d.itemsize), '\0');
      for (size_t i = 0; i < wide->size(); ++i) {
        uint32_t cp = static_cast<uint32_t>((*wide)[i]);
        std::memcpy(out.data() + 4 * i, &cp, 4);
      }
      return out;
    }
  }
  return bad("unsupported");
}

// The data type's zero: what an array created without a fill value reads as.
Json ZeroFill(const DTypeDesc& d) {
  switch (d.kind) {
    case DTypeDesc::kBool: return false;
    case DTypeDesc::kSigned:
    case DTypeDesc::kUnsigned: return 0;
    case DTypeDesc::kFloat: return 0.0;
    case DTypeDesc::kComplex: return Json::array({0.0, 0.0});
    case DTypeDesc::kBytes:
    case DTypeDesc::kUtf32: return "";
  }
  return 0;
}

Json FloatJson(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  return v;
}

Result<int64_t> GetInt(const Json& j, const char* key, int64_t dflt, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) return dflt;
  if (!j[key].is_number_integer()) return Status::Invalid(where, ": '", key, "' must be an integer");
  return j[key].get<int64_t>();
}

Result<std::unique_ptr<arrow::util::Codec>> MakeCodec(const ZarrBytesCodec& c) {
  arrow::Result<std::unique_ptr<arrow::util::Codec>> r;
  switch (c.kind) {
    case ZarrBytesCodec::kZstd:
      r = arrow::util::Codec::Create(arrow::Compression::ZSTD, c.level);
      break;
    case ZarrBytesCodec::kGzip:
    case ZarrBytesCodec::kZlib: {
      arrow::util::GZipCodecOptions o;
      o.gzip_format = c.kind == ZarrBytesCodec::kGzip ? arrow::util::GZipFormat::GZIP : arrow::util::GZipFormat::ZLIB;
      o.compression_level = c.level;
      r = arrow::util::Codec::Create(arrow::Compression::GZIP, o);
      break;
    }
    case ZarrBytesCodec::kLz4:
      r = arrow::util::Codec::Create(arrow::Compression::LZ4);
      break;
    default:
      return Status::Invalid("not a compression codec");
  }
  if (!r.ok()) return FromArrow(r.status());
  return std::move(*r);
}

// Byte shuffle (numcodecs.shuffle / HDF5 shuffle): byte b of element i goes to b * n + i.
// Element sizes 2, 4, 8 get a fixed inner loop the compiler unrolls.
template <int ES>
void ShuffleFixed(const uint8_t* in, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; ++i)
    for (int b = 0; b < ES; ++b) out[b * n + i] = in[i * ES + b];
}
template <int ES>
void UnshuffleFixed(const uint8_t* in, uint8_t* out, size_t n) {
  for (int b = 0; b < ES; ++b) {
    const uint8_t* src = in + b * n;
    for (size_t i = 0; i < n; ++i) out[i * ES + b] = src[i];
  }
}

void Shuffle(const std::string& in, std::string& out, int es) {
  const size_t n = in.size() / static_cast<size_t>(es);
  out.resize(in.size());
  auto* i8 = reinterpret_cast<const uint8_t*>(in.data());
  auto* o8 = reinterpret_cast<uint8_t*>(out.data());
  switch (es) {
    case 2: ShuffleFixed<2>(i8, o8, n); break;
    case 4: ShuffleFixed<4>(i8, o8, n); break;
    case 8: ShuffleFixed<8>(i8, o8, n); break;
    default:
      for (size_t i = 0; i < n; ++i)
        for (int b = 0; b < es; ++b) o8[static_cast<size_t>(b) * n + i] = i8[i * es + b];
  }
  std::memcpy(o8 + n * es, i8 + n * es, in.size() - n * es);  // a trailing partial element stays
}

void Unshuffle(const std::string& in, std::string& out, int es) {
  const size_t n = in.size() / static_cast<size_t>(es);
  out.resize(in.size());
  auto* i8 = reinterpret_cast<const uint8_t*>(in.data());
  auto* o8 = reinterpret_cast<uint8_t*>(out.data());
  switch (es) {
    case 2: UnshuffleFixed<2>(i8, o8, n); break;
    case 4: UnshuffleFixed<4>(i8, o8, n); break;
    case 8: UnshuffleFixed<8>(i8, o8, n); break;
    default:
      for (size_t i = 0; i < n; ++i)
        for (int b = 0; b < es; ++b) o8[i * es + b] = i8[static_cast<size_t>(b) * n + i];
  }
  std::memcpy(o8 + n * es, i8 + n * es, in.size() - n * es);
}

void ByteSwap(std::string& buf, int itemsize) {
  if (itemsize <= 1) return;
  for (size_t i = 0; i + itemsize <= buf.size(); i += itemsize)
    for (int a = 0, b = itemsize - 1; a < b; ++a, --b) std::swap(buf[i + a], buf[i + b]);
}

}  // namespace

int ArrayItemSize(const std::string& dtype) {
  auto d = FindDType(dtype);
  return d ? d->itemsize : 0;
}

int64_t ArrayRange::count() const {
  // In 128 bits: start, stop and step are a caller's, any int64 (INT64_MIN:INT64_MAX, step
  // INT64_MIN), and their difference or -step overflows int64. A count above INT64_MAX
  // (only possible out of range) is capped; CheckSelection refuses it.
  if (step == 0) return 0;
  const __int128 span = step > 0 ? static_cast<__int128>(stop) - start : static_cast<__int128>(start) - stop;
  const __int128 s = step > 0 ? static_cast<__int128>(step) : -static_cast<__int128>(step);
  if (span <= 0) return 0;
  const __int128 n = (span + s - 1) / s;
  return n > INT64_MAX ? INT64_MAX : static_cast<int64_t>(n);
}

std::vector<int64_t> AutoChunks(const std::vector<int64_t>& shape, int itemsize, int64_t target_bytes) {
  std::vector<int64_t> chunks(shape.size(), 1);
  int64_t budget = std::max<int64_t>(1, target_bytes / std::max(1, itemsize));  // elements left
  for (int d = static_cast<int>(shape.size()) - 1; d >= 0; --d) {
    // An empty first axis (an extendable array about to be appended to) gets the whole budget.
    int64_t want = (d == 0 && shape[0] == 0) ? budget : std::min<int64_t>(std::max<int64_t>(shape[d], 1), budget);
    chunks[d] = std::max<int64_t>(1, want);
    budget = std::max<int64_t>(1, budget / chunks[d]);
  }
  return chunks;
}

int64_t ZarrArrayMeta::chunk_elems() const {
  int64_t n = 1;
  for (auto c : chunks) n *= c;
  return n;
}

std::vector<int64_t> ZarrArrayMeta::grid() const {
  std::vector<int64_t> g(shape.size());
  for (size_t d = 0; d < shape.size(); ++d) g[d] = (shape[d] + chunks[d] - 1) / chunks[d];
  return g;
}

// Shape, chunk shape and item size must describe a grid whose element count, chunk count and
// chunk byte size all fit in int64 (and a chunk under 2 GiB): later index arithmetic relies on it.
Status CheckGeometry(const std::vector<int64_t>& shape, const std::vector<int64_t>& chunks, int64_t itemsize,
                            const std::string& where, StatusCode code) {
  auto fail = [&](const std::string& why) { return Status(code, where + ": " + why); };
  if (chunks.size() != shape.size()) return fail("chunk shape and shape differ in length");
  int64_t elems = 1, nchunks = 1, celems = 1;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < 0) return fail("shape must not be negative");
    if (chunks[d] <= 0) return fail("chunk sizes must be positive");
    int64_t grid = shape[d] / chunks[d] + (shape[d] % chunks[d] != 0);
    if (__builtin_mul_overflow(elems, shape[d], &elems) || __builtin_mul_overflow(nchunks, grid, &nchunks))
      return fail("shape has more elements or chunks than fit in a 64-bit integer");
    if (__builtin_mul_overflow(celems, chunks[d], &celems)) return fail("chunks are too large");
  }
  int64_t bytes;
  if (__builtin_mul_overflow(elems, itemsize, &bytes))
    return fail("array is larger than 2^63 bytes");
  if (__builtin_mul_overflow(celems, itemsize, &bytes) || bytes > (int64_t(1) << 31))
    return fail("one chunk would be over 2 GiB; use smaller chunks");
  return Status::OK();
}

Result<Json> MakeZarrJson(const std::vector<int64_t>& shape, const std::string& dtype, const ArrayOptions& o,
                          const std::string& where) {
  auto d = FindDType(dtype);
  if (!d)
    return Status::TypeError(where, ": unsupported dtype '", dtype,
                             "'; use bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, float32, "
                             "float64, complex64, complex128, S<n> (bytes) or U<n> (unicode)");
  for (auto s : shape)
    if (s < 0) return Status::Invalid(where, ": shape must not be negative");
  std::vector<int64_t> chunks = o.chunks.empty() ? AutoChunks(shape, d->itemsize) : o.chunks;
  if (chunks.size() != shape.size())
    return Status::Invalid(where, ": chunks has ", chunks.size(), " dimensions but shape has ", shape.size());
  OCTAVO_RETURN_NOT_OK(CheckGeometry(shape, chunks, d->itemsize, where, StatusCode::kInvalid));
  int64_t celems = 1;
  for (auto c : chunks) {
    if (c <= 0) return Status::Invalid(where, ": chunk sizes must be positive");
    if (celems > (int64_t(1) << 40) / c) return Status::Invalid(where, ": chunks are too large");
    celems *= c;
  }
  if (celems * d->itemsize > (int64_t(1) << 31))
    return Status::Invalid(where, ": one chunk would be ", celems * d->itemsize, " bytes; keep chunks under 2 GiB");
  Json fill;
  {
    // The caller's argument, not a damaged file: kInvalid.
    auto parsed = ParseJson(o.fill_value, where + " fill_value", StatusCode::kInvalid);
    if (!parsed.ok()) return parsed.status();
    fill = parsed->is_null() ? ZeroFill(*d) : *parsed;
    OCTAVO_RETURN_NOT_OK(FillBytes(fill, *d, where).status());
  }
  Json codecs = Json::array();
  Json bytes_codec{{"name", "bytes"}};
  bytes_codec["configuration"] = Json{{"endian", "little"}};
  codecs.push_back(bytes_codec);
  const std::string& c = o.compressor;
  const bool blosc = c == "blosc" || c.rfind("blosc:", 0) == 0;
  if (o.bitshuffle && !blosc)
    return Status::Invalid(where, ": bitshuffle needs a blosc compressor (e.g. compressor='blosc:zstd')");
  if (o.blocksize != 0 && !blosc) return Status::Invalid(where, ": blocksize applies to blosc compressors only");
  if (o.shuffle && !blosc && d->itemsize > 1)
    codecs.push_back(Json{{"name", "numcodecs.shuffle"}, {"configuration", Json{{"elementsize", d->itemsize}}}});
  int level = o.compression_level;
  if (blosc) {
    std::string cname = c.size() > 6 ? c.substr(6) : "zstd";
    if (blosc_compname_to_compcode(cname.c_str()) < 0 || cname == "snappy")
      return Status::Invalid(where, ": unknown blosc compressor '", cname, "'; use blosc:blosclz, blosc:lz4, ",
                             "blosc:lz4hc, blosc:zlib or blosc:zstd");
    if (level == -1) level = 5;
    if (level < 0 || level > 9) return Status::Invalid(where, ": blosc level must be 0..9");
    if (o.blocksize < 0) return Status::Invalid(where, ": blosc blocksize must be >= 0");
    if (celems * d->itemsize > BLOSC_MAX_BUFFERSIZE)
      return Status::Invalid(where, ": one chunk would be ", celems * d->itemsize, " bytes; blosc takes at most ",
                             BLOSC_MAX_BUFFERSIZE);
    const char* shuf = o.bitshuffle ? "bitshuffle" : o.shuffle ? "shuffle" : "noshuffle";
    codecs.push_back(Json{{"name", "blosc"},
                          {"configuration", Json{{"typesize", d->swap_unit}, {"cname", cname}, {"clevel", level},
                                                 {"shuffle", shuf}, {"blocksize", o.blocksize}}}});
  } else if (c == "zstd") {
    if (level == -1) level = 1;
    if (level < -131072 || level > 22) return Status::Invalid(where, ": zstd level must be at most 22");
    codecs.push_back(Json{{"name", "zstd"}, {"configuration", Json{{"level", level}, {"checksum", false}}}});
  } else if (c == "gzip" || c == "zlib") {
    if (level == -1) level = 6;
    if (level < 0 || level > 9) return Status::Invalid(where, ": ", c, " level must be 0..9");
    codecs.push_back(Json{{"name", c == "gzip" ? "gzip" : "numcodecs.zlib"}, {"configuration", Json{{"level", level}}}});
  } else if (c == "lz4") {
    if (level == -1) level = 1;
    if (level < 1) return Status::Invalid(where, ": lz4 acceleration must be >= 1");
    codecs.push_back(Json{{"name", "numcodecs.lz4"}, {"configuration", Json{{"acceleration", level}}}});
  } else if (c == "none" || c.empty()) {
  } else {
    return Status::Invalid(where, ": unknown compressor '", c, "'; use zstd, lz4, gzip, zlib, blosc[:cname] or none");
  }
  Json z;
  z["zarr_format"] = 3;
  z["node_type"] = "array";
  z["shape"] = shape;
  z["data_type"] = DTypeToJson(*d);
  z["chunk_grid"] = Json{{"name", "regular"}, {"configuration", Json{{"chunk_shape", chunks}}}};
  z["chunk_key_encoding"] = Json{{"name", "default"}, {"configuration", Json{{"separator", "/"}}}};
  z["fill_value"] = fill;
  z["codecs"] = std::move(codecs);
  z["attributes"] = Json::object();
  z["storage_transformers"] = Json::array();
  return z;
}

Result<ZarrArrayMeta> ParseZarrJson(const Json& z, const std::string& where) {
  ZarrArrayMeta m;
  auto bad = [&](const std::string& why) { return Status::Invalid(where, ": invalid zarr.json: ", why); };
  if (!z.is_object()) return bad("not a JSON object");
  try {
    if (!z.contains("zarr_format") || z["zarr_format"] != 3) return bad("zarr_format must be 3");
    if (z.value("node_type", "") != "array") return bad("node_type must be \"array\"");
    if (!z.contains("shape") || !z["shape"].is_array()) return bad("shape must be a list of integers");
    for (const auto& s : z["shape"]) {
      if (!s.is_number_integer() || s.get<int64_t>() < 0) return bad("shape must be a list of non-negative integers");
      m.shape.push_back(s.get<int64_t>());
    }
    if (!z.contains("data_type")) return bad("data_type is missing");
    OCTAVO_ASSIGN_OR_RETURN(DTypeDesc dd, DTypeFromJson(z["data_type"], where));
    const DTypeDesc* d = &dd;
    m.dtype = d->name;
    m.dtype_json = z["data_type"];
    m.itemsize = d->itemsize;
    m.swap_unit = d->swap_unit;
    const Json& grid = z.at("chunk_grid");
    if (grid.value("name", "") != "regular")
      return Status::NotImplemented(where, ": only the \"regular\" chunk grid is supported");
    for (const auto& c : grid.at("configuration").at("chunk_shape")) {
      if (!c.is_number_integer() || c.get<int64_t>() <= 0) return bad("chunk_shape must be positive integers");
      m.chunks.push_back(c.get<int64_t>());
    }
    if (m.chunks.size() != m.shape.size()) return bad("chunk_shape and shape differ in length");
    OCTAVO_RETURN_NOT_OK(CheckGeometry(m.shape, m.chunks, m.itemsize, where + ": invalid zarr.json", StatusCode::kInvalid));
    if (m.chunk_bytes() > (int64_t(1) << 31) || m.chunk_bytes() <= 0) return bad("chunks are too large");
    if (z.contains("chunk_key_encoding")) {
      const Json& k = z["chunk_key_encoding"];
      if (k.value("name", "") != "default")
        return Status::NotImplemented(where, ": only the \"default\" chunk_key_encoding is supported");
    }
    if (!z.contains("fill_value")) return bad("fill_value is missing");
    m.fill_json = z["fill_value"];
    OCTAVO_ASSIGN_OR_RETURN(m.fill_bytes, FillBytes(m.fill_json, *d, where));
    if (z.contains("storage_transformers") && !z["storage_transformers"].empty())
      return Status::NotImplemented(where, ": storage transformers are not supported");
    if (!z.contains("codecs") || !z["codecs"].is_array() || z["codecs"].empty()) return bad("codecs must be a list");
    bool seen_bytes = false;
    for (const auto& cj : z["codecs"]) {
      std::string name = cj.is_string() ? cj.get<std::string>() : cj.value("name", "");
      Json conf = cj.is_object() ? cj.value("configuration", Json::object()) : Json::object();
      if (!seen_bytes) {
        if (name != "bytes")
          return Status::NotImplemented(where, ": codec '", name,
                                        "' before \"bytes\" is not supported (octavo reads bytes + compression)");
        std::string endian = conf.value("endian", "little");
        if (endian != "little" && endian != "big") return bad("bytes endian must be little or big");
        m.big_endian = endian == "big";
        seen_bytes = true;
        continue;
      }
      ZarrBytesCodec c{};
      if (name == "zstd") {
        c.kind = ZarrBytesCodec::kZstd;
        OCTAVO_ASSIGN_OR_RETURN(int64_t l, GetInt(conf, "level", 0, where));
        c.level = static_cast<int>(l);
      } else if (name == "gzip" || name == "numcodecs.gzip") {
        c.kind = ZarrBytesCodec::kGzip;
        OCTAVO_ASSIGN_OR_RETURN(int64_t l, GetInt(conf, "level", 6, where));
        c.level = static_cast<int>(l);
      } else if (name == "numcodecs.zlib") {
        c.kind = ZarrBytesCodec::kZlib;
        OCTAVO_ASSIGN_OR_RETURN(int64_t l, GetInt(conf, "level", 6, where));
        c.level = static_cast<int>(l);
      } else if (name == "numcodecs.lz4") {
        c.kind = ZarrBytesCodec::kLz4;
        OCTAVO_ASSIGN_OR_RETURN(int64_t l, GetInt(conf, "acceleration", 1, where));
        c.level = static_cast<int>(l);
      } else if (name == "numcodecs.shuffle") {
        c.kind = ZarrBytesCodec::kShuffle;
        OCTAVO_ASSIGN_OR_RETURN(int64_t es, GetInt(conf, "elementsize", m.itemsize, where));
        if (es <= 0 || m.chunk_bytes() % es != 0) return bad("shuffle elementsize must divide the chunk size");
        c.elementsize = static_cast<int>(es);
      } else if (name == "blosc") {
        c.kind = ZarrBytesCodec::kBlosc;
        if (!conf.contains("cname") || !conf["cname"].is_string()) return bad("blosc needs a cname");
        c.cname = conf["cname"].get<std::string>();
        if (blosc_compname_to_compcode(c.cname.c_str()) < 0)
          return Status::NotImplemented(where, ": blosc compressor '", c.cname, "' is not available in this C-Blosc (",
                                        blosc_list_compressors(), ")");
        OCTAVO_ASSIGN_OR_RETURN(int64_t l, GetInt(conf, "clevel", 5, where));
        if (l < 0 || l > 9) return bad("blosc clevel must be 0..9");
        c.level = static_cast<int>(l);
        std::string sh = conf.contains("shuffle") && conf["shuffle"].is_string() ? conf["shuffle"].get<std::string>()
                                                                                  : "noshuffle";
        if (sh == "noshuffle") c.blosc_shuffle = BLOSC_NOSHUFFLE;
        else if (sh == "shuffle") c.blosc_shuffle = BLOSC_SHUFFLE;
        else if (sh == "bitshuffle") c.blosc_shuffle = BLOSC_BITSHUFFLE;
        else return bad("blosc shuffle must be noshuffle, shuffle or bitshuffle");
        OCTAVO_ASSIGN_OR_RETURN(int64_t ts, GetInt(conf, "typesize", 1, where));
        if (ts <= 0 || ts > 255) return bad("blosc typesize must be 1..255");
        c.elementsize = static_cast<int>(ts);
        OCTAVO_ASSIGN_OR_RETURN(c.blocksize, GetInt(conf, "blocksize", 0, where));
        if (c.blocksize < 0) return bad("blosc blocksize must be >= 0");
        if (m.chunk_bytes() > BLOSC_MAX_BUFFERSIZE) return bad("chunks are too large for blosc");
      } else {
        return Status::NotImplemented(where, ": codec '", name,
                                      "' is not supported by octavo (supported: bytes, zstd, gzip, numcodecs.zlib, "
                                      "numcodecs.lz4, numcodecs.shuffle, blosc)");
      }
      m.codecs.push_back(c);
    }
  } catch (const std::exception& e) {
    return bad(e.what());
  }
  return m;
}

void DescribeCodecs(const ZarrArrayMeta& meta, std::string* compressor, int* level, bool* shuffle) {
  *compressor = "none";
  *level = 0;
  *shuffle = false;
  for (const auto& c : meta.codecs) {
    switch (c.kind) {
      case ZarrBytesCodec::kShuffle: *shuffle = true; break;
      case ZarrBytesCodec::kZstd: *compressor = "zstd"; *level = c.level; break;
      case ZarrBytesCodec::kGzip: *compressor = "gzip"; *level = c.level; break;
      case ZarrBytesCodec::kZlib: *compressor = "zlib"; *level = c.level; break;
      case ZarrBytesCodec::kLz4: *compressor = "lz4"; *level = c.level; break;
      case ZarrBytesCodec::kBlosc:
        *compressor = "blosc:" + c.cname;
        *level = c.level;
        if (c.blosc_shuffle == BLOSC_SHUFFLE) *shuffle = true;
        break;
    }
  }
}

std::string CodecSummary(const ZarrArrayMeta& meta) {
  std::string s = meta.itemsize > 1 || meta.swap_unit > 1 ? (meta.big_endian ? "bytes(big)" : "bytes(little)") : "bytes";
  for (const auto& c : meta.codecs) {
    s += " | ";
    switch (c.kind) {
      case ZarrBytesCodec::kShuffle: s += "shuffle(elementsize=" + std::to_string(c.elementsize) + ")"; break;
      case ZarrBytesCodec::kZstd: s += "zstd(level=" + std::to_string(c.level) + ")"; break;
      case ZarrBytesCodec::kGzip: s += "gzip(level=" + std::to_string(c.level) + ")"; break;
      case ZarrBytesCodec::kZlib: s += "zlib(level=" + std::to_string(c.level) + ")"; break;
      case ZarrBytesCodec::kLz4: s += "lz4(acceleration=" + std::to_string(c.level) + ")"; break;
      case ZarrBytesCodec::kBlosc: {
        static const char* kShuf[] = {"noshuffle", "shuffle", "bitshuffle"};
        s += "blosc(" + c.cname + ", clevel=" + std::to_string(c.level) + ", " + kShuf[c.blosc_shuffle] +
             ", typesize=" + std::to_string(c.elementsize);
        if (c.blocksize) s += ", blocksize=" + std::to_string(c.blocksize);
        s += ")";
        break;
      }
    }
  }
  return s;
}

std::string FillChunk(const ZarrArrayMeta& meta) {
  const int64_t n = meta.chunk_elems();
  bool zero = true;
  for (char ch : meta.fill_bytes) zero = zero && ch == 0;
  if (zero) return std::string(static_cast<size_t>(n * meta.itemsize), '\0');
  std::string out;
  out.reserve(static_cast<size_t>(n * meta.itemsize));
  for (int64_t i = 0; i < n; ++i) out += meta.fill_bytes;
  return out;
}

Result<std::string> EncodeChunk(const ZarrArrayMeta& meta, std::string_view raw) {
  std::string cur(raw);
  if (meta.big_endian) ByteSwap(cur, meta.swap_unit);
  std::string tmp;
  for (const auto& c : meta.codecs) {
    if (c.kind == ZarrBytesCodec::kShuffle) {
      Shuffle(cur, tmp, c.elementsize);
      cur.swap(tmp);
      continue;
    }
    if (c.kind == ZarrBytesCodec::kBlosc) {
      tmp.resize(cur.size() + BLOSC_MAX_OVERHEAD);
      int r = blosc_compress_ctx(c.level, c.blosc_shuffle, static_cast<size_t>(c.elementsize), cur.size(), cur.data(),
                                 tmp.data(), tmp.size(), c.cname.c_str(), static_cast<size_t>(c.blocksize), 1);
      if (r <= 0) return Status::IOError("blosc could not compress a chunk of ", cur.size(), " bytes (error ", r, ")");
      tmp.resize(static_cast<size_t>(r));
      cur.swap(tmp);
      continue;
    }
    OCTAVO_ASSIGN_OR_RETURN(auto codec, MakeCodec(c));
    const auto* in = reinterpret_cast<const uint8_t*>(cur.data());
    const int64_t n = static_cast<int64_t>(cur.size());
    size_t header = c.kind == ZarrBytesCodec::kLz4 ? 4 : 0;  // numcodecs.lz4: uint32 LE original size
    tmp.resize(header + static_cast<size_t>(codec->MaxCompressedLen(n, in)));
    auto r = codec->Compress(n, in, static_cast<int64_t>(tmp.size() - header),
                             reinterpret_cast<uint8_t*>(tmp.data() + header));
    if (!r.ok()) return FromArrow(r.status()).WithContext("compressing a chunk");
    if (header) {
      uint32_t n32 = static_cast<uint32_t>(n);
      std::memcpy(tmp.data(), &n32, 4);
    }
    tmp.resize(header + static_cast<size_t>(*r));
    cur.swap(tmp);
  }
  return cur;
}

Result<std::string> DecodeChunk(const ZarrArrayMeta& meta, std::string encoded, const std::string& where) {
  std::string tmp;
  OCTAVO_RETURN_NOT_OK(DecodeChunkInPlace(meta, encoded, tmp, where));
  return encoded;
}

Status DecodeChunkInPlace(const ZarrArrayMeta& meta, std::string& cur, std::string& tmp, const std::string& where) {
  const int64_t want = meta.chunk_bytes();
  for (auto it = meta.codecs.rbegin(); it != meta.codecs.rend(); ++it) {
    const ZarrBytesCodec& c = *it;
    if (c.kind == ZarrBytesCodec::kShuffle) {
      if (cur.size() % static_cast<size_t>(c.elementsize) != 0)
        return Status::Corruption(where, ": shuffled data is not a multiple of the element size");
      Unshuffle(cur, tmp, c.elementsize);
      cur.swap(tmp);
      continue;
    }
    if (c.kind == ZarrBytesCodec::kBlosc) {
      size_t nbytes = 0, cbytes = 0, blocksize = 0;
      if (cur.size() < BLOSC_MIN_HEADER_LENGTH) return Status::Corruption(where, ": blosc chunk is too short");
      blosc_cbuffer_sizes(cur.data(), &nbytes, &cbytes, &blocksize);
      if (cbytes != cur.size() || blosc_cbuffer_validate(cur.data(), cur.size(), &nbytes) != 0)
        return Status::Corruption(where, ": not a valid blosc buffer (header says ", cbytes, " bytes, the chunk has ",
                                  cur.size(), ")");
      if (static_cast<int64_t>(nbytes) != want)
        return Status::Corruption(where, ": blosc header says ", nbytes, " bytes, expected ", want);
      tmp.resize(static_cast<size_t>(want));
      int r = blosc_decompress_ctx(cur.data(), tmp.data(), tmp.size(), 1);
      if (r != want) return Status::Corruption(where, ": blosc cannot decompress (error ", r, ")");
      cur.swap(tmp);
      continue;
    }
    OCTAVO_ASSIGN_OR_RETURN(auto codec, MakeCodec(c));
    const uint8_t* in = reinterpret_cast<const uint8_t*>(cur.data());
    int64_t in_len = static_cast<int64_t>(cur.size());
    if (c.kind == ZarrBytesCodec::kLz4) {
      if (in_len < 4) return Status::Corruption(where, ": lz4 chunk is too short");
      uint32_t n32;
      std::memcpy(&n32, in, 4);
      if (static_cast<int64_t>(n32) != want) return Status::Corruption(where, ": lz4 header says ", n32, " bytes, expected ", want);
      in += 4;
      in_len -= 4;
    }
    // Every codec of this pipeline decodes to a whole chunk (shuffle keeps the size).
    tmp.resize(static_cast<size_t>(want));
    auto r = codec->Decompress(in_len, in, want, reinterpret_cast<uint8_t*>(tmp.data()));
    if (!r.ok()) return Status::Corruption(where, ": cannot decompress (", r.status().message(), ")");
    if (*r != want) return Status::Corruption(where, ": decompressed to ", *r, " bytes, expected ", want);
    cur.swap(tmp);
  }
  if (static_cast<int64_t>(cur.size()) != want)
    return Status::Corruption(where, ": decoded chunk is ", cur.size(), " bytes, expected ", want);
  if (meta.big_endian) ByteSwap(cur, meta.swap_unit);
  return Status::OK();
}

std::string ChunkKey(const std::vector<int64_t>& idx) {
  std::string k;
  for (size_t i = 0; i < idx.size(); ++i) {
    if (i) k += '.';
    k += std::to_string(idx[i]);
  }
  return k;
}

Result<std::vector<int64_t>> ParseChunkKey(const std::string& key, int ndim) {
  std::vector<int64_t> out;
  if (ndim == 0) {
    if (!key.empty()) return Status::Corruption("chunk key '", key, "' of a 0-d array");
    return out;
  }
  size_t pos = 0;
  while (true) {
    size_t dot = key.find('.', pos);
    std::string part = key.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (part.empty() || part.size() > 18 || part.find_first_not_of("0123456789") != std::string::npos)
      return Status::Corruption("bad chunk key '", key, "'");
    out.push_back(std::stoll(part));
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  if (static_cast<int>(out.size()) != ndim) return Status::Corruption("chunk key '", key, "' has the wrong rank");
  return out;
}

Result<std::string> FillValueJson(const FillValue& v, const std::string& dtype) {
  auto d = FindDType(dtype);
  if (!d) return Status::Invalid("fill_value: '", dtype, "' is not a data type octavo stores");
  auto bad = [&](const std::string& what, const std::string& why) {
    return Status::Invalid("fill_value ", what, " is not valid for data_type ", d->name, " (", why, ")");
  };
  const bool complex = d->kind == DTypeDesc::kComplex;
  Json j;
  switch (v.kind) {
    case FillValue::Kind::kDefault:
      j = ZeroFill(*d);
      break;
    case FillValue::Kind::kBool:
      j = v.boolean;
      if (d->kind == DTypeDesc::kFloat || complex) j = v.boolean ? 1.0 : 0.0;
      break;
    case FillValue::Kind::kInt:
      j = v.int_value;
      break;
    case FillValue::Kind::kUInt:
      j = v.uint_value;
      break;
    case FillValue::Kind::kFloat:
      j = FloatJson(v.real);
      break;
    case FillValue::Kind::kComplex:
      if (!complex) return bad("(" + Json(v.real).dump() + "+" + Json(v.imag).dump() + "j)", "a complex number");
      j = Json::array({FloatJson(v.real), FloatJson(v.imag)});
      break;
    case FillValue::Kind::kText:
      if (d->kind == DTypeDesc::kBytes) j = arrow::util::base64_encode(v.data);
      else j = v.data;
      break;
    case FillValue::Kind::kBytes:
      if (d->kind != DTypeDesc::kBytes) return bad(std::to_string(v.data.size()) + " bytes", "bytes fill only S<n> types");
      j = arrow::util::base64_encode(v.data);
      break;
  }
  // A real number for a complex type is its real part (as numpy converts it).
  if (complex && (j.is_number() || (j.is_string() && v.kind == FillValue::Kind::kFloat))) j = Json::array({j, 0.0});
  if (v.kind == FillValue::Kind::kText && d->kind != DTypeDesc::kBytes && d->kind != DTypeDesc::kUtf32 &&
      j != "NaN" && j != "Infinity" && j != "-Infinity")
    return bad(Json(v.data).dump(-1, ' ', false, Json::error_handler_t::replace), "text fills only S<n> and U<n> types");
  OCTAVO_RETURN_NOT_OK(FillBytes(j, *d, "").status());
  return j.dump();
}

}  // namespace octavo
