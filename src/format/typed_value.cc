// The typed attribute value codec (include/octavo/typed_value.h, docs/format.md 4.2.1).
#include "octavo/typed_value.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "util/json_util.h"

namespace octavo {
namespace {

static_assert(std::endian::native == std::endian::little, "typed values are little-endian in memory and on disk");

struct Dtype {
  char kind = 0;
  int64_t itemsize = 0;
};

bool ValidUnit(std::string_view u) {
  size_t i = 0;
  while (i < u.size() && u[i] >= '0' && u[i] <= '9') ++i;  // a multiplier, as in "<M8[10s]"
  u.remove_prefix(i);
  for (std::string_view k : {"Y", "M", "W", "D", "h", "m", "s", "ms", "us", "ns", "ps", "fs", "as"})
    if (u == k) return true;
  return false;
}

Result<Dtype> ParseDtype(const std::string& s, const std::string& where) {
  auto bad = [&](const std::string& why) {
    return Status::TypeError(where, ": dtype '", s, "' is not a typed attribute dtype (", why,
                             "); see docs/format.md 4.2.1");
  };
  if (s.size() < 3) return bad("too short");
  const char order = s[0], kind = s[1];
  size_t i = 2;
  int64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (n > (int64_t{1} << 30)) return bad("item size too large");
    n = n * 10 + (s[i++] - '0');
  }
  if (i == 2) return bad("no item size");
  const std::string_view rest = std::string_view(s).substr(i);
  const bool generic = kind == 'b' || kind == 'S' || ((kind == 'i' || kind == 'u') && n == 1);
  if (order != (generic ? '|' : '<'))
    return bad(order == '>' ? "big-endian values are stored little-endian" : "wrong byte-order character");
  if (kind == 'M' || kind == 'm') {
    if (n != 8) return bad("datetime64/timedelta64 are 8 bytes");
    if (!rest.empty() && !(rest.size() > 2 && rest.front() == '[' && rest.back() == ']' &&
                           ValidUnit(rest.substr(1, rest.size() - 2))))
      return bad("unknown time unit");
    return Dtype{kind, 8};
  }
  if (!rest.empty()) return bad("trailing characters");
  switch (kind) {
    case 'b':
      if (n == 1) return Dtype{kind, 1};
      break;
    case 'i':
    case 'u':
      if (n == 1 || n == 2 || n == 4 || n == 8) return Dtype{kind, n};
      break;
    case 'f':
      if (n == 2 || n == 4 || n == 8) return Dtype{kind, n};
      break;
    case 'c':
      if (n == 8 || n == 16) return Dtype{kind, n};
      break;
    case 'S':
      return Dtype{kind, n};
    case 'U':
      return Dtype{kind, n * 4};
    default:
      return bad("unknown kind");
  }
  return bad("unsupported item size");
}

// prod(shape) * itemsize, refusing negative lengths and overflow.
Result<int64_t> ByteCount(const std::vector<int64_t>& shape, int64_t itemsize, const std::string& where) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) return Status::TypeError(where, ": typed attribute shape has a negative length ", d);
    if (d != 0 && count > std::numeric_limits<int64_t>::max() / d)
      return Status::TypeError(where, ": typed attribute shape has too many elements");
    count *= d;
  }
  if (itemsize != 0 && count > std::numeric_limits<int64_t>::max() / itemsize)
    return Status::TypeError(where, ": typed attribute shape has too many elements");
  return count * itemsize;
}

template <typename T>
T Load(const std::string& bytes, int64_t i) {
  T v;
  std::memcpy(&v, bytes.data() + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
  return v;
}

template <typename T>
void Store(std::string& bytes, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  bytes.append(b, sizeof(T));
}

bool AllFinite(const Dtype& d, const std::string& bytes, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    if (!std::isfinite(d.itemsize == 4 ? double(Load<float>(bytes, i)) : Load<double>(bytes, i))) return false;
  return true;
}

Json Element(const Dtype& d, const std::string& bytes, int64_t i) {
  switch (d.kind) {
    case 'b':
      return bytes[static_cast<size_t>(i)] != 0;
    case 'i':
      switch (d.itemsize) {
        case 1: return Load<int8_t>(bytes, i);
        case 2: return Load<int16_t>(bytes, i);
        case 4: return Load<int32_t>(bytes, i);
        default: return Load<int64_t>(bytes, i);
      }
    case 'u':
      switch (d.itemsize) {
        case 1: return Load<uint8_t>(bytes, i);
        case 2: return Load<uint16_t>(bytes, i);
        case 4: return Load<uint32_t>(bytes, i);
        default: return Load<uint64_t>(bytes, i);
      }
    default:
      return d.itemsize == 4 ? double(Load<float>(bytes, i)) : Load<double>(bytes, i);
  }
}

template <typename T>
Status StoreInt(const Json& e, std::string& out, const std::string& where, int64_t i) {
  if (e.is_number_unsigned()) {
    uint64_t v = e.get<uint64_t>();
    if (v <= static_cast<uint64_t>(std::numeric_limits<T>::max())) {
      Store<T>(out, static_cast<T>(v));
      return Status::OK();
    }
  } else if (e.is_number_integer()) {
    int64_t v = e.get<int64_t>();
    if (std::is_signed_v<T> ? (v >= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
                               v <= static_cast<int64_t>(std::numeric_limits<T>::max()))
                            : (v >= 0 && static_cast<uint64_t>(v) <= static_cast<uint64_t>(std::numeric_limits<T>::max()))) {
      Store<T>(out, static_cast<T>(v));
      return Status::OK();
    }
  }
  return Status::TypeError(where, ": typed attribute element ", i, " (", e.dump(), ") is not a ",
                           std::is_signed_v<T> ? "signed" : "unsigned", " ", 8 * sizeof(T), "-bit integer");
}

Status StoreElement(const Dtype& d, const Json& e, std::string& out, const std::string& where, int64_t i) {
  switch (d.kind) {
    case 'b':
      if (e.is_boolean()) {
        out.push_back(e.get<bool>() ? 1 : 0);
        return Status::OK();
      }
      return Status::TypeError(where, ": typed attribute element ", i, " (", e.dump(), ") is not a boolean");
    case 'i':
      switch (d.itemsize) {
        case 1: return StoreInt<int8_t>(e, out, where, i);
        case 2: return StoreInt<int16_t>(e, out, where, i);
        case 4: return StoreInt<int32_t>(e, out, where, i);
        default: return StoreInt<int64_t>(e, out, where, i);
      }
    case 'u':
      switch (d.itemsize) {
        case 1: return StoreInt<uint8_t>(e, out, where, i);
        case 2: return StoreInt<uint16_t>(e, out, where, i);
        case 4: return StoreInt<uint32_t>(e, out, where, i);
        default: return StoreInt<uint64_t>(e, out, where, i);
      }
    default:
      if (!e.is_number())
        return Status::TypeError(where, ": typed attribute element ", i, " (", e.dump(), ") is not a number");
      if (d.itemsize == 4) Store<float>(out, static_cast<float>(e.get<double>()));
      else Store<double>(out, e.get<double>());
      return Status::OK();
  }
}

bool ListForm(const Dtype& d) { return d.kind == 'b' || d.kind == 'i' || d.kind == 'u' || (d.kind == 'f' && d.itemsize >= 4); }

}  // namespace

Result<std::string> EncodeTypedValue(const TypedValue& value, const std::string& where) {
  OCTAVO_ASSIGN_OR_RETURN(Dtype d, ParseDtype(value.dtype, where));
  OCTAVO_ASSIGN_OR_RETURN(int64_t nbytes, ByteCount(value.shape, d.itemsize, where));
  if (nbytes > kMaxTypedValueBytes)
    return Status::TypeError(where, ": a ", nbytes, "-byte array is too large for an attribute (limit ",
                             kMaxTypedValueBytes, " bytes); store it as an array node instead");
  if (static_cast<int64_t>(value.bytes.size()) != nbytes)
    return Status::TypeError(where, ": ", value.bytes.size(), " bytes given for a ", value.dtype, " value of ", nbytes,
                             " bytes");
  const int64_t count = d.itemsize ? nbytes / d.itemsize : 0;
  Json spec = Json::object();
  spec["dtype"] = value.dtype;
  spec["shape"] = value.shape;
  if (ListForm(d) && (d.kind != 'f' || AllFinite(d, value.bytes, count))) {
    Json data = Json::array();
    for (int64_t i = 0; i < count; ++i) data.push_back(Element(d, value.bytes, i));
    spec["data"] = std::move(data);
  } else {
    spec["base64"] = Base64Encode(value.bytes);
  }
  Json out = Json::object();
  out[std::string(kTypedValueKey)] = std::move(spec);
  return out.dump();
}

Result<TypedValue> DecodeTypedValue(std::string_view json_text, const std::string& where) {
  auto invalid = [&](const std::string& why) {
    return Status::TypeError(where, ": invalid typed numpy attribute (", why, "); see docs/format.md 4.2.1");
  };
  auto parsed = ParseJson(json_text, where, StatusCode::kTypeError);
  if (!parsed.ok()) return parsed.status();
  const Json& j = *parsed;
  if (!j.is_object() || j.size() != 1 || !j.contains(std::string(kTypedValueKey)))
    return invalid("not an object with the single key @ndarray");
  const Json& spec = j[std::string(kTypedValueKey)];
  if (!spec.is_object()) return invalid("@ndarray is not an object");
  if (!spec.contains("dtype") || !spec["dtype"].is_string()) return invalid("no dtype string");
  if (!spec.contains("shape") || !spec["shape"].is_array()) return invalid("no shape list");
  if (spec.contains("data") == spec.contains("base64")) return invalid("needs exactly one of data and base64");
  TypedValue out;
  out.dtype = spec["dtype"].get<std::string>();
  OCTAVO_ASSIGN_OR_RETURN(Dtype d, ParseDtype(out.dtype, where));
  for (const auto& s : spec["shape"]) {
    if (!s.is_number_integer()) return invalid("shape holds a non-integer");
    out.shape.push_back(s.get<int64_t>());
  }
  OCTAVO_ASSIGN_OR_RETURN(int64_t nbytes, ByteCount(out.shape, d.itemsize, where));
  const int64_t count = d.itemsize ? nbytes / d.itemsize : 0;
  if (spec.contains("base64")) {
    if (!spec["base64"].is_string()) return invalid("base64 is not a string");
    auto raw = Base64Decode(spec["base64"].get<std::string>());
    if (!raw.ok()) return invalid(raw.status().message());
    if (static_cast<int64_t>(raw->size()) != nbytes)
      return invalid("base64 holds " + std::to_string(raw->size()) + " bytes, dtype and shape need " +
                     std::to_string(nbytes));
    out.bytes = std::move(*raw);
    return out;
  }
  const Json& data = spec["data"];
  if (!ListForm(d)) return invalid("dtype " + out.dtype + " is stored as base64, not a data list");
  if (!data.is_array() || static_cast<int64_t>(data.size()) != count)
    return invalid("data is not a list of " + std::to_string(count) + " elements");
  out.bytes.reserve(static_cast<size_t>(nbytes));
  for (int64_t i = 0; i < count; ++i)
    OCTAVO_RETURN_NOT_OK(StoreElement(d, data[static_cast<size_t>(i)], out.bytes, where, i));
  return out;
}

}  // namespace octavo
