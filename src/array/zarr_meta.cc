#include "array/zarr_meta.h"

#include <arrow/util/compression.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "util/arrow_status.h"

namespace octavo {
namespace {

struct DTypeDesc {
  const char* name;
  int itemsize;
  enum Kind { kBool, kSigned, kUnsigned, kFloat } kind;
};

constexpr DTypeDesc kDTypes[] = {
    {"bool", 1, DTypeDesc::kBool},      {"int8", 1, DTypeDesc::kSigned},    {"int16", 2, DTypeDesc::kSigned},
    {"int32", 4, DTypeDesc::kSigned},   {"int64", 8, DTypeDesc::kSigned},   {"uint8", 1, DTypeDesc::kUnsigned},
    {"uint16", 2, DTypeDesc::kUnsigned}, {"uint32", 4, DTypeDesc::kUnsigned}, {"uint64", 8, DTypeDesc::kUnsigned},
    {"float32", 4, DTypeDesc::kFloat},  {"float64", 8, DTypeDesc::kFloat},
};

const DTypeDesc* FindDType(const std::string& name) {
  for (const auto& d : kDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

template <typename T>
std::string Bytes(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(T));
}

// fill_value JSON -> one element's bytes (little-endian).
Result<std::string> FillBytes(const Json& f, const DTypeDesc& d, const std::string& where) {
  auto bad = [&](const std::string& why) {
    return Status::Invalid(where, ": fill_value ", f.dump(), " is not valid for data_type ", d.name, " (", why, ")");
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
    case DTypeDesc::kFloat: {
      double v;
      if (f.is_number()) {
        v = f.get<double>();
      } else if (f.is_string()) {
        std::string s = f.get<std::string>();
        if (s == "NaN") v = std::numeric_limits<double>::quiet_NaN();
        else if (s == "Infinity") v = std::numeric_limits<double>::infinity();
        else if (s == "-Infinity") v = -std::numeric_limits<double>::infinity();
        else if (s.size() == 2 + 2 * static_cast<size_t>(d.itemsize) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
          uint64_t bits = 0;
          for (size_t i = 2; i < s.size(); ++i) {
            char c = s[i];
            int h = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                                     : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            if (h < 0) return bad("bad hex digit");
            bits = (bits << 4) | static_cast<uint64_t>(h);
          }
          if (d.itemsize == 4) return Bytes(static_cast<uint32_t>(bits));
          return Bytes(bits);
        } else {
          return bad("use a number, \"NaN\", \"Infinity\", \"-Infinity\" or a 0x hex bit pattern");
        }
      } else {
        return bad("use a number or \"NaN\"");
      }
      if (d.itemsize == 4) return Bytes(static_cast<float>(v));
      return Bytes(v);
    }
  }
  return bad("unsupported");
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

void Shuffle(const std::string& in, std::string& out, int es) {
  const size_t n = in.size() / static_cast<size_t>(es);
  out.resize(in.size());
  for (size_t i = 0; i < n; ++i)
    for (int b = 0; b < es; ++b) out[static_cast<size_t>(b) * n + i] = in[i * es + b];
}

void Unshuffle(const std::string& in, std::string& out, int es) {
  const size_t n = in.size() / static_cast<size_t>(es);
  out.resize(in.size());
  for (size_t i = 0; i < n; ++i)
    for (int b = 0; b < es; ++b) out[i * es + b] = in[static_cast<size_t>(b) * n + i];
}

void ByteSwap(std::string& buf, int itemsize) {
  if (itemsize <= 1) return;
  for (size_t i = 0; i + itemsize <= buf.size(); i += itemsize)
    for (int a = 0, b = itemsize - 1; a < b; ++a, --b) std::swap(buf[i + a], buf[i + b]);
}

}  // namespace

int ArrayItemSize(const std::string& dtype) {
  const DTypeDesc* d = FindDType(dtype);
  return d ? d->itemsize : 0;
}

int64_t ArrayRange::count() const {
  if (step == 0) return 0;
  if (step > 0) return stop > start ? (stop - start + step - 1) / step : 0;
  return start > stop ? (start - stop + (-step) - 1) / (-step) : 0;
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

Result<Json> MakeZarrJson(const std::vector<int64_t>& shape, const std::string& dtype, const ArrayOptions& o,
                          const std::string& where) {
  const DTypeDesc* d = FindDType(dtype);
  if (!d)
    return Status::TypeError(where, ": unsupported dtype '", dtype,
                             "'; use bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float32 or float64");
  for (auto s : shape)
    if (s < 0) return Status::Invalid(where, ": shape must not be negative");
  std::vector<int64_t> chunks = o.chunks.empty() ? AutoChunks(shape, d->itemsize) : o.chunks;
  if (chunks.size() != shape.size())
    return Status::Invalid(where, ": chunks has ", chunks.size(), " dimensions but shape has ", shape.size());
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
    auto parsed = ParseJson(o.fill_value, where + " fill_value");
    if (!parsed.ok()) return parsed.status();
    fill = *parsed;
    OCTAVO_RETURN_NOT_OK(FillBytes(fill, *d, where).status());
  }
  Json codecs = Json::array();
  Json bytes_codec{{"name", "bytes"}};
  bytes_codec["configuration"] = Json{{"endian", "little"}};
  codecs.push_back(bytes_codec);
  if (o.shuffle && d->itemsize > 1)
    codecs.push_back(Json{{"name", "numcodecs.shuffle"}, {"configuration", Json{{"elementsize", d->itemsize}}}});
  const std::string& c = o.compressor;
  int level = o.compression_level;
  if (c == "zstd") {
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
  } else if (c == "blosc") {
    return Status::NotImplemented(where, ": the blosc codec is not supported by octavo (use zstd, lz4, gzip, zlib "
                                         "or none, with shuffle=True for blosc-like byte shuffling)");
  } else {
    return Status::Invalid(where, ": unknown compressor '", c, "'; use zstd, lz4, gzip, zlib or none");
  }
  Json z;
  z["zarr_format"] = 3;
  z["node_type"] = "array";
  z["shape"] = shape;
  z["data_type"] = dtype;
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
    if (!z.contains("data_type") || !z["data_type"].is_string()) return bad("data_type must be a string");
    m.dtype = z["data_type"].get<std::string>();
    const DTypeDesc* d = FindDType(m.dtype);
    if (!d) return Status::NotImplemented(where, ": data_type '", m.dtype, "' is not supported by octavo");
    m.itemsize = d->itemsize;
    const Json& grid = z.at("chunk_grid");
    if (grid.value("name", "") != "regular")
      return Status::NotImplemented(where, ": only the \"regular\" chunk grid is supported");
    for (const auto& c : grid.at("configuration").at("chunk_shape")) {
      if (!c.is_number_integer() || c.get<int64_t>() <= 0) return bad("chunk_shape must be positive integers");
      m.chunks.push_back(c.get<int64_t>());
    }
    if (m.chunks.size() != m.shape.size()) return bad("chunk_shape and shape differ in length");
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
      } else {
        return Status::NotImplemented(where, ": codec '", name,
                                      "' is not supported by octavo (supported: bytes, zstd, gzip, numcodecs.zlib, "
                                      "numcodecs.lz4, numcodecs.shuffle)");
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
    }
  }
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
  if (meta.big_endian) ByteSwap(cur, meta.itemsize);
  std::string tmp;
  for (const auto& c : meta.codecs) {
    if (c.kind == ZarrBytesCodec::kShuffle) {
      Shuffle(cur, tmp, c.elementsize);
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

Result<std::string> DecodeChunk(const ZarrArrayMeta& meta, std::string_view encoded, const std::string& where) {
  const int64_t want = meta.chunk_bytes();
  std::string cur(encoded);
  std::string tmp;
  for (auto it = meta.codecs.rbegin(); it != meta.codecs.rend(); ++it) {
    const ZarrBytesCodec& c = *it;
    if (c.kind == ZarrBytesCodec::kShuffle) {
      if (cur.size() % static_cast<size_t>(c.elementsize) != 0)
        return Status::Corruption(where, ": shuffled data is not a multiple of the element size");
      Unshuffle(cur, tmp, c.elementsize);
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
  if (meta.big_endian) ByteSwap(cur, meta.itemsize);
  return cur;
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

}  // namespace octavo
