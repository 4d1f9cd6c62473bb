// pandas HDFStore reader: format="table" (PyTables compound tables) and format="fixed"
// (one HDF5 array per axis / block), into Arrow tables with pandas metadata.
// Layout knowledge follows pandas/io/pytables.py (pandas 1.x - 3.x).
#include <arrow/api.h>

#include <type_traits>
#include <arrow/compute/api.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <regex>
#include <sys/stat.h>

#include "hdf5/h5util.h"
#include "util/names.h"
#include "hdf5/unpickle.h"
#include "octavo/hdf5.h"
#include "octavo/arrow_status.h"

namespace octavo::hdf5 {
namespace {

using json = nlohmann::json;
using pickle::Kind;
using pickle::Value;

constexpr int64_t kNaT = std::numeric_limits<int64_t>::min();

// --- labels ----------------------------------------------------------------------

// A pandas label (column name, level name) as JSON: string / number / null / array (tuple).
json LabelFromValue(const Value* v) {
  switch (v->kind) {
    case Kind::kStr: return v->str;
    case Kind::kBytes: return v->str;
    case Kind::kInt: return v->i;
    case Kind::kBool: return v->b;
    case Kind::kFloat: return v->f;
    case Kind::kNone: return nullptr;
    case Kind::kTuple:
    case Kind::kList: {
      json a = json::array();
      for (auto* e : v->items) a.push_back(LabelFromValue(e));
      return a;
    }
    default: return "<" + v->name + ">";
  }
}

std::string PyStrRepr(const std::string& s) {
  bool has_sq = s.find('\'') != std::string::npos, has_dq = s.find('"') != std::string::npos;
  char q = (has_sq && !has_dq) ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) out += std::string("\\") + q;
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back(q);
  return out;
}

// pyarrow's _column_name_to_strings: str stays, tuples become str(tuple of strings).
std::string LabelToString(const json& l) {
  if (l.is_string()) return l.get<std::string>();
  if (l.is_null()) return "None";
  if (l.is_boolean()) return l.get<bool>() ? "True" : "False";
  if (l.is_number_integer()) return std::to_string(l.get<int64_t>());
  if (l.is_number_float()) {
    char buf[40];
    double d = l.get<double>();
    if (std::isnan(d)) return "nan";
    std::snprintf(buf, sizeof buf, "%.17g", d);
    std::string s(buf);
    if (s.find_first_of(".en") == std::string::npos) s += ".0";
    return s;
  }
  if (l.is_array()) {
    std::string out = "(";
    for (size_t k = 0; k < l.size(); ++k) {
      if (k) out += ", ";
      out += l[k].is_null() ? "None" : PyStrRepr(LabelToString(l[k]));
    }
    if (l.size() == 1) out += ",";
    return out + ")";
  }
  return l.dump();
}

// column_indexes entry for one level of column labels.
json ColumnIndexEntry(const json& name, const std::vector<json>& labels) {
  bool all_str = true, all_int = true, all_float = true;
  for (const auto& l : labels) {
    all_str = all_str && l.is_string();
    all_int = all_int && l.is_number_integer();
    all_float = all_float && l.is_number();
  }
  json e;
  e["name"] = name;
  e["field_name"] = name.is_string() ? name : json(name.is_null() ? json(nullptr) : json(LabelToString(name)));
  if (all_str) {
    e["pandas_type"] = "unicode";
    e["numpy_type"] = "str";
    e["metadata"] = {{"encoding", "UTF-8"}};
  } else if (all_int) {
    e["pandas_type"] = "int64";
    e["numpy_type"] = "int64";
    e["metadata"] = nullptr;
  } else if (all_float) {
    e["pandas_type"] = "float64";
    e["numpy_type"] = "float64";
    e["metadata"] = nullptr;
  } else {
    e["pandas_type"] = "mixed";
    e["numpy_type"] = "object";
    e["metadata"] = nullptr;
  }
  return e;
}

// --- output ----------------------------------------------------------------------

struct OutColumn {
  json label;  // pandas label (column) or level name (index)
  std::shared_ptr<arrow::Array> array;
  std::string pandas_type;
  std::string numpy_type;
  json metadata = nullptr;
};

struct Frame {
  std::vector<OutColumn> index;            // one per index level
  std::vector<OutColumn> columns;
  std::vector<json> column_level_names;    // names of the column index levels (size = nlevels)
  bool columns_multi = false;
  bool is_series = false;
  json series_name = nullptr;
  int64_t num_rows = 0;
};

std::string NumpyTypeOf(const arrow::DataType& t) {
  switch (t.id()) {
    case arrow::Type::BOOL: return "bool";
    case arrow::Type::INT8: return "int8";
    case arrow::Type::INT16: return "int16";
    case arrow::Type::INT32: return "int32";
    case arrow::Type::INT64: return "int64";
    case arrow::Type::UINT8: return "uint8";
    case arrow::Type::UINT16: return "uint16";
    case arrow::Type::UINT32: return "uint32";
    case arrow::Type::UINT64: return "uint64";
    case arrow::Type::FLOAT: return "float32";
    case arrow::Type::DOUBLE: return "float64";
    default: return "object";
  }
}

void SetTypes(OutColumn* c, const std::string& str_numpy_type = "str") {
  const auto& t = *c->array->type();
  switch (t.id()) {
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
      c->pandas_type = "unicode";
      c->numpy_type = str_numpy_type;
      break;
    case arrow::Type::BINARY:
      c->pandas_type = "bytes";
      c->numpy_type = "object";
      break;
    case arrow::Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(t);
      static const char* units[] = {"s", "ms", "us", "ns"};
      c->numpy_type = std::string("datetime64[") + units[static_cast<int>(ts.unit())] + "]";
      if (!ts.timezone().empty()) {
        c->pandas_type = "datetimetz";
        c->metadata = {{"timezone", ts.timezone()}};
      } else {
        c->pandas_type = "datetime";
      }
      break;
    }
    case arrow::Type::DURATION: {
      const auto& d = static_cast<const arrow::DurationType&>(t);
      static const char* units[] = {"s", "ms", "us", "ns"};
      c->pandas_type = "timedelta";
      c->numpy_type = std::string("timedelta64[") + units[static_cast<int>(d.unit())] + "]";
      break;
    }
    case arrow::Type::DICTIONARY: {
      const auto& d = static_cast<const arrow::DictionaryType&>(t);
      c->pandas_type = "categorical";
      c->numpy_type = NumpyTypeOf(*d.index_type());
      auto dict_arr = std::static_pointer_cast<arrow::DictionaryArray>(c->array);
      c->metadata = {{"num_categories", dict_arr->dictionary()->length()}, {"ordered", d.ordered()}};
      break;
    }
    default:
      c->numpy_type = NumpyTypeOf(t);
      c->pandas_type = c->numpy_type == "bool" ? "bool" : c->numpy_type;
  }
}

Result<std::shared_ptr<arrow::Table>> ToArrow(const Frame& f, const std::string& path, const std::string& key,
                                              const std::string& pandas_type) {
  arrow::FieldVector fields;
  arrow::ArrayVector arrays;
  json cols = json::array();
  json index_columns = json::array();
  std::vector<std::string> used;
  for (const auto& c : f.columns) {
    std::string name = LabelToString(c.label);
    fields.push_back(arrow::field(name, c.array->type()));
    arrays.push_back(c.array);
    json m;
    m["name"] = c.label.is_string() || c.label.is_null() ? c.label : json(name);
    m["field_name"] = name;
    m["pandas_type"] = c.pandas_type;
    m["numpy_type"] = c.numpy_type;
    m["metadata"] = c.metadata;
    cols.push_back(m);
  }
  for (size_t i = 0; i < f.index.size(); ++i) {
    const auto& c = f.index[i];
    std::string field = "__index_level_" + std::to_string(i) + "__";
    fields.push_back(arrow::field(field, c.array->type()));
    arrays.push_back(c.array);
    index_columns.push_back(field);
    json m;
    m["name"] = c.label.is_null() || c.label.is_string() ? c.label : json(LabelToString(c.label));
    m["field_name"] = field;
    m["pandas_type"] = c.pandas_type;
    m["numpy_type"] = c.numpy_type;
    m["metadata"] = c.metadata;
    cols.push_back(m);
  }
  if (f.index.empty()) index_columns.push_back({{"kind", "range"}, {"name", nullptr}, {"start", 0}, {"stop", f.num_rows}, {"step", 1}});
  json column_indexes = json::array();
  size_t nlev = f.columns_multi ? f.column_level_names.size() : 1;
  for (size_t lev = 0; lev < nlev; ++lev) {
    std::vector<json> labels;
    for (const auto& c : f.columns) labels.push_back(f.columns_multi && c.label.is_array() && lev < c.label.size() ? c.label[lev] : c.label);
    json name = lev < f.column_level_names.size() ? f.column_level_names[lev] : json(nullptr);
    column_indexes.push_back(ColumnIndexEntry(name, labels));
  }
  json meta;
  meta["index_columns"] = index_columns;
  meta["column_indexes"] = column_indexes;
  meta["columns"] = cols;
  meta["attributes"] = json::object();
  meta["creator"] = {{"library", "octavo"}, {"version", "0.1.0"}};
  meta["pandas_version"] = "3.0.0";
  json src = {{"file", path}, {"key", key}, {"pandas_type", pandas_type}, {"is_series", f.is_series},
              {"series_name", f.series_name}};
  std::string meta_text;
  try {
    meta_text = meta.dump();
  } catch (const json::exception&) {
    return Status::Invalid(path, ": ", ShownName(key), ": a column name or index label is not valid UTF-8 text; ",
                           "Arrow and Parquet hold only UTF-8 names (rename the columns in pandas and save the file again)");
  }
  // the source's path is provenance only: bytes that are not UTF-8 are replaced
  const std::string src_text = src.dump(-1, ' ', false, json::error_handler_t::replace);
  auto kv = arrow::key_value_metadata({"pandas", "octavo.h5"}, {meta_text, src_text});
  auto schema = arrow::schema(fields, kv);
  return arrow::Table::Make(schema, arrays, f.num_rows);
}

// --- raw -> Arrow ------------------------------------------------------------------

// Element r of a logical column inside a raw buffer: index = base + r * stride. The
// elements live in raw->data, or in `owner` when set (then a contiguous, same-typed column
// becomes an Arrow array without a copy).
struct Slice {
  const RawArray* raw;
  int64_t base;
  int64_t stride;
  int64_t length;
  std::shared_ptr<arrow::Buffer> owner = nullptr;
  const char* data() const { return owner ? reinterpret_cast<const char*>(owner->data()) : raw->data.data(); }
  const char* ptr(int64_t r) const { return data() + (base + r * stride) * static_cast<int64_t>(raw->itemsize); }
};

template <size_t N>
void TransposeTiles(const char* src, char* dst, int64_t nrows, int64_t width, size_t isz) {
  constexpr int64_t kTile = 32;
  for (int64_t r0 = 0; r0 < nrows; r0 += kTile) {
    const int64_t r1 = std::min(nrows, r0 + kTile);
    for (int64_t c0 = 0; c0 < width; c0 += kTile) {
      const int64_t c1 = std::min(width, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) {
          if constexpr (N > 0) std::memcpy(dst + (c * nrows + r) * N, src + (r * width + c) * N, N);
          else std::memcpy(dst + (c * nrows + r) * isz, src + (r * width + c) * isz, isz);
        }
    }
  }
}

// A rows x width row-major block -> width x rows (one contiguous run per column), in
// cache-sized tiles: reading each column with a stride of `width` elements touches a whole
// cache line per value, which dominates the read of wide frames (DeepLabCut: 81 columns).
void TransposeToColumns(RawArray* raw, int64_t nrows, int64_t width) {
  if (width <= 1 || nrows <= 1) return;
  const size_t isz = raw->itemsize;
  std::string out(raw->data.size(), '\0');
  switch (isz) {
    case 1: TransposeTiles<1>(raw->data.data(), out.data(), nrows, width, isz); break;
    case 2: TransposeTiles<2>(raw->data.data(), out.data(), nrows, width, isz); break;
    case 4: TransposeTiles<4>(raw->data.data(), out.data(), nrows, width, isz); break;
    case 8: TransposeTiles<8>(raw->data.data(), out.data(), nrows, width, isz); break;
    default: TransposeTiles<0>(raw->data.data(), out.data(), nrows, width, isz);
  }
  raw->data.swap(out);
  raw->dims = {static_cast<hsize_t>(width), static_cast<hsize_t>(nrows)};
}

template <typename T>
T ReadAs(const Slice& s, int64_t r) {
  const char* p = s.ptr(r);
  switch (s.raw->kind) {
    case 'f':
      if (s.raw->itemsize == 4) { float v; std::memcpy(&v, p, 4); return static_cast<T>(v); }
      else { double v; std::memcpy(&v, p, 8); return static_cast<T>(v); }
    case 'u':
    case 'b':
      switch (s.raw->itemsize) {
        case 1: return static_cast<T>(*reinterpret_cast<const uint8_t*>(p));
        case 2: { uint16_t v; std::memcpy(&v, p, 2); return static_cast<T>(v); }
        case 4: { uint32_t v; std::memcpy(&v, p, 4); return static_cast<T>(v); }
        default: { uint64_t v; std::memcpy(&v, p, 8); return static_cast<T>(v); }
      }
    default:
      switch (s.raw->itemsize) {
        case 1: return static_cast<T>(*reinterpret_cast<const int8_t*>(p));
        case 2: { int16_t v; std::memcpy(&v, p, 2); return static_cast<T>(v); }
        case 4: { int32_t v; std::memcpy(&v, p, 4); return static_cast<T>(v); }
        default: { int64_t v; std::memcpy(&v, p, 8); return static_cast<T>(v); }
      }
  }
}

template <typename ArrowType>
Result<std::shared_ptr<arrow::Array>> NumericArray(const Slice& s, std::shared_ptr<arrow::DataType> type = nullptr,
                                                   bool nat_is_null = false) {
  using C = typename ArrowType::c_type;
  if (s.raw->kind == 'S') return Status::TypeError("expected numbers, found strings");
  if constexpr (arrow::TypeTraits<ArrowType>::is_parameter_free) {
    if (!type) type = arrow::TypeTraits<ArrowType>::type_singleton();
  }
  // Fast path: same width and kind, no NaT mapping -> a plain strided copy.
  const bool same_kind = std::is_floating_point_v<C> ? s.raw->kind == 'f'
                         : std::is_signed_v<C>       ? s.raw->kind == 'i'
                                                     : s.raw->kind == 'u';
  if (!nat_is_null && same_kind && s.raw->itemsize == sizeof(C)) {
    if (s.owner && s.stride == 1) {  // zero copy: a slice of the column-major read buffer
      auto buf = arrow::SliceBuffer(s.owner, s.base * static_cast<int64_t>(sizeof(C)),
                                    s.length * static_cast<int64_t>(sizeof(C)));
      return arrow::MakeArray(arrow::ArrayData::Make(type, s.length, {nullptr, std::move(buf)}));
    }
    OCTAVO_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Buffer> buf,
                                  arrow::AllocateBuffer(s.length * static_cast<int64_t>(sizeof(C))));
    C* dst = reinterpret_cast<C*>(buf->mutable_data());
    if (s.stride == 1) {
      if (s.length > 0) std::memcpy(dst, s.ptr(0), static_cast<size_t>(s.length) * sizeof(C));
    } else {
      for (int64_t r = 0; r < s.length; ++r) std::memcpy(dst + r, s.ptr(r), sizeof(C));
    }
    return arrow::MakeArray(arrow::ArrayData::Make(type, s.length, {nullptr, buf}));
  }
  arrow::NumericBuilder<ArrowType> b(type, arrow::default_memory_pool());
  OCTAVO_RETURN_NOT_ARROW_OK(b.Reserve(s.length));
  for (int64_t r = 0; r < s.length; ++r) {
    C v = ReadAs<C>(s, r);
    if (nat_is_null && static_cast<int64_t>(v) == kNaT) b.UnsafeAppendNull();
    else b.UnsafeAppend(v);
  }
  std::shared_ptr<arrow::Array> out;
  OCTAVO_RETURN_NOT_ARROW_OK(b.Finish(&out));
  return out;
}

Result<std::shared_ptr<arrow::Array>> BoolArray(const Slice& s) {
  if (s.raw->kind == 'S') return Status::TypeError("expected booleans, found strings");
  arrow::BooleanBuilder b;
  OCTAVO_RETURN_NOT_ARROW_OK(b.Reserve(s.length));
  for (int64_t r = 0; r < s.length; ++r) b.UnsafeAppend(ReadAs<int64_t>(s, r) != 0);
  std::shared_ptr<arrow::Array> out;
  OCTAVO_RETURN_NOT_ARROW_OK(b.Finish(&out));
  return out;
}

bool ValidUtf8(const std::string& s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > n) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

// Fixed-width byte strings -> utf8; `nan_rep` (if set) becomes null.
Result<std::shared_ptr<arrow::Array>> StringArray(const Slice& s, const std::optional<std::string>& nan_rep,
                                                  const std::string& what) {
  if (s.raw->kind != 'S') return Status::TypeError(what, ": expected strings");
  arrow::StringBuilder b;
  OCTAVO_RETURN_NOT_ARROW_OK(b.Reserve(s.length));
  std::string tmp;
  for (int64_t r = 0; r < s.length; ++r) {
    const char* p = s.ptr(r);
    size_t len = s.raw->itemsize;
    while (len > 0 && p[len - 1] == '\0') --len;
    tmp.assign(p, len);
    if (nan_rep && tmp == *nan_rep) {
      OCTAVO_RETURN_NOT_ARROW_OK(b.AppendNull());
      continue;
    }
    if (!ValidUtf8(tmp)) return Status::NotImplemented(what, ": string is not valid UTF-8 (non-UTF-8 encodings are not supported)");
    OCTAVO_RETURN_NOT_ARROW_OK(b.Append(tmp));
  }
  std::shared_ptr<arrow::Array> out;
  OCTAVO_RETURN_NOT_ARROW_OK(b.Finish(&out));
  return out;
}

// numpy-style dtype name -> Arrow array.
Result<std::shared_ptr<arrow::Array>> TypedArray(const Slice& s, const std::string& dtype, const std::string& tz,
                                                 const std::optional<std::string>& nan_rep, const std::string& what) {
  auto unit_of = [](const std::string& d, arrow::TimeUnit::type* u) -> bool {
    size_t br = d.find('[');
    std::string unit = br == std::string::npos ? "ns" : d.substr(br + 1, d.size() - br - 2);
    if (unit == "ns") *u = arrow::TimeUnit::NANO;
    else if (unit == "us") *u = arrow::TimeUnit::MICRO;
    else if (unit == "ms") *u = arrow::TimeUnit::MILLI;
    else if (unit == "s") *u = arrow::TimeUnit::SECOND;
    else return false;
    return true;
  };
  if (dtype.rfind("datetime64", 0) == 0) {
    arrow::TimeUnit::type u;
    if (!unit_of(dtype, &u)) return Status::NotImplemented(what, ": unsupported datetime unit in '", dtype, "'");
    return NumericArray<arrow::TimestampType>(s, arrow::timestamp(u, tz), true);
  }
  if (dtype.rfind("timedelta64", 0) == 0) {
    arrow::TimeUnit::type u;
    if (!unit_of(dtype, &u)) return Status::NotImplemented(what, ": unsupported timedelta unit in '", dtype, "'");
    return NumericArray<arrow::DurationType>(s, arrow::duration(u), true);
  }
  if (dtype == "bool") return BoolArray(s);
  if (dtype == "int8") return NumericArray<arrow::Int8Type>(s);
  if (dtype == "int16") return NumericArray<arrow::Int16Type>(s);
  if (dtype == "int32") return NumericArray<arrow::Int32Type>(s);
  if (dtype == "int64") return NumericArray<arrow::Int64Type>(s);
  if (dtype == "uint8") return NumericArray<arrow::UInt8Type>(s);
  if (dtype == "uint16") return NumericArray<arrow::UInt16Type>(s);
  if (dtype == "uint32") return NumericArray<arrow::UInt32Type>(s);
  if (dtype == "uint64") return NumericArray<arrow::UInt64Type>(s);
  if (dtype == "float32") return NumericArray<arrow::FloatType>(s);
  if (dtype == "float64") return NumericArray<arrow::DoubleType>(s);
  if (dtype.rfind("bytes", 0) == 0 || dtype.rfind("str", 0) == 0 || dtype == "object" || dtype == "string" ||
      dtype.rfind("|S", 0) == 0)
    return StringArray(s, nan_rep, what);
  return Status::NotImplemented(what, ": unsupported pandas dtype '", dtype, "'");
}

// Default dtype for a raw array without pandas dtype information.
std::string RawDtype(const RawArray& raw) {
  switch (raw.kind) {
    case 'f': return raw.itemsize == 4 ? "float32" : "float64";
    case 'i': return "int" + std::to_string(raw.itemsize * 8);
    case 'u': return "uint" + std::to_string(raw.itemsize * 8);
    case 'b': return "bool";
    default: return "bytes";
  }
}

Result<std::shared_ptr<arrow::Array>> MakeCategorical(const std::shared_ptr<arrow::Array>& codes_in,
                                                      std::shared_ptr<arrow::Array> categories, bool ordered,
                                                      const std::string& what) {
  // codes -1 -> null; NaN categories dropped (pandas does the same)
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto codes64, arrow::compute::Cast(*codes_in, arrow::int64()));
  auto c = std::static_pointer_cast<arrow::Int64Array>(codes64);
  if (!categories) categories = arrow::MakeArrayOfNull(arrow::float64(), 0).ValueOrDie();
  std::vector<int64_t> remap(static_cast<size_t>(categories->length()), -1);
  std::vector<int64_t> keep;
  for (int64_t k = 0; k < categories->length(); ++k) {
    bool is_nan = categories->IsNull(k);
    if (!is_nan && categories->type_id() == arrow::Type::DOUBLE)
      is_nan = std::isnan(std::static_pointer_cast<arrow::DoubleArray>(categories)->Value(k));
    if (!is_nan) {
      remap[static_cast<size_t>(k)] = static_cast<int64_t>(keep.size());
      keep.push_back(k);
    }
  }
  if (keep.size() != static_cast<size_t>(categories->length())) {
    arrow::Int64Builder kb;
    OCTAVO_RETURN_NOT_ARROW_OK(kb.AppendValues(keep));
    std::shared_ptr<arrow::Array> karr;
    OCTAVO_RETURN_NOT_ARROW_OK(kb.Finish(&karr));
    OCTAVO_ARROW_ASSIGN_OR_RETURN(auto taken, arrow::compute::Take(*categories, *karr));
    categories = taken;
  }
  auto index_type = codes_in->type();
  arrow::Int64Builder ib;
  OCTAVO_RETURN_NOT_ARROW_OK(ib.Reserve(c->length()));
  for (int64_t r = 0; r < c->length(); ++r) {
    int64_t v = c->Value(r);
    if (v < 0) {
      ib.UnsafeAppendNull();
      continue;
    }
    if (v >= static_cast<int64_t>(remap.size())) return Status::Corruption(what, ": category code out of range");
    int64_t m = remap[static_cast<size_t>(v)];
    if (m < 0) ib.UnsafeAppendNull();
    else ib.UnsafeAppend(m);
  }
  std::shared_ptr<arrow::Array> idx64;
  OCTAVO_RETURN_NOT_ARROW_OK(ib.Finish(&idx64));
  if (!arrow::is_integer(index_type->id()) || arrow::is_unsigned_integer(index_type->id())) index_type = arrow::int64();
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto idx, arrow::compute::Cast(*idx64, index_type));
  auto dtype = arrow::dictionary(index_type, categories->type(), ordered);
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto out, arrow::DictionaryArray::FromArrays(dtype, idx, categories));
  return std::shared_ptr<arrow::Array>(out);
}

// Take level values by codes (-1 -> null).
Result<std::shared_ptr<arrow::Array>> TakeCodes(const std::shared_ptr<arrow::Array>& level, const RawArray& codes,
                                                const std::string& what) {
  arrow::Int64Builder ib;
  int64_t n = codes.num_elements();
  OCTAVO_RETURN_NOT_ARROW_OK(ib.Reserve(n));
  Slice s{&codes, 0, 1, n};
  for (int64_t r = 0; r < n; ++r) {
    int64_t v = ReadAs<int64_t>(s, r);
    if (v < 0) ib.UnsafeAppendNull();
    else if (v >= level->length()) return Status::Corruption(what, ": MultiIndex code out of range");
    else ib.UnsafeAppend(v);
  }
  std::shared_ptr<arrow::Array> idx;
  OCTAVO_RETURN_NOT_ARROW_OK(ib.Finish(&idx));
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto out, arrow::compute::Take(*level, *idx));
  return out;
}

// Labels (JSON) from an Arrow array (for column labels).
Result<std::vector<json>> LabelsFromArray(const arrow::Array& a) {
  std::vector<json> out;
  for (int64_t k = 0; k < a.length(); ++k) {
    if (a.IsNull(k)) {
      out.push_back(nullptr);
      continue;
    }
    switch (a.type_id()) {
      case arrow::Type::STRING: out.push_back(std::string(static_cast<const arrow::StringArray&>(a).GetView(k))); break;
      case arrow::Type::INT64: out.push_back(static_cast<const arrow::Int64Array&>(a).Value(k)); break;
      case arrow::Type::INT32: out.push_back(static_cast<const arrow::Int32Array&>(a).Value(k)); break;
      case arrow::Type::DOUBLE: out.push_back(static_cast<const arrow::DoubleArray&>(a).Value(k)); break;
      case arrow::Type::BOOL: out.push_back(static_cast<const arrow::BooleanArray&>(a).Value(k)); break;
      default: {
        OCTAVO_ARROW_ASSIGN_OR_RETURN(auto sc, a.GetScalar(k));
        out.push_back(sc->ToString());
      }
    }
  }
  return out;
}

// --- context ---------------------------------------------------------------------

struct Ctx {
  std::string path;
  std::string key;
  std::string What(const std::string& node) const { return "'" + key + "/" + node + "' in " + path; }
};

std::optional<std::string> NanRepFrom(const std::optional<pickle::Object>& a, const std::string& dflt_if_absent,
                                      bool empty_is_none) {
  if (!a) return dflt_if_absent.empty() ? std::nullopt : std::optional<std::string>(dflt_if_absent);
  if (a->root().kind != Kind::kStr) return std::nullopt;  // None
  if (empty_is_none && a->root().str.empty()) return std::nullopt;
  return a->root().str;
}

// --- fixed format ------------------------------------------------------------------

struct IndexRead {
  std::vector<std::shared_ptr<arrow::Array>> levels;  // per-row values per level
  std::vector<json> names;
  std::vector<std::string> kinds;
  int64_t length = 0;
};

Result<std::string> AttrStr(hid_t obj, const std::string& name) {
  OCTAVO_ASSIGN_OR_RETURN(auto s, ReadStrAttr(obj, name));
  return s ? *s : std::string();
}

Result<json> AttrLabel(hid_t obj, const std::string& name) {
  OCTAVO_ASSIGN_OR_RETURN(auto a, ReadAttr(obj, name));
  if (!a) return json(nullptr);
  return LabelFromValue(&a->root());
}

// One index node (a 1-d array + attrs kind/name/nan_rep/tz/value_type/shape).
Result<std::shared_ptr<arrow::Array>> ReadIndexNode(hid_t group, const std::string& node, const Ctx& ctx, json* name,
                                                    std::string* kind_out) {
  Hid d(H5Oopen(group, node.c_str(), H5P_DEFAULT), H5Oclose);
  if (!d.valid()) return Status::NotFound("pandas object is missing ", ctx.What(node), ": ", TakeErrorStack());
  OCTAVO_ASSIGN_OR_RETURN(std::string kind, AttrStr(d.get(), "kind"));
  OCTAVO_ASSIGN_OR_RETURN(*name, AttrLabel(d.get(), "name"));
  *kind_out = kind;
  OCTAVO_ASSIGN_OR_RETURN(auto shape_attr, ReadAttr(d.get(), "shape"));
  OCTAVO_ASSIGN_OR_RETURN(std::string value_type, AttrStr(d.get(), "value_type"));
  OCTAVO_ASSIGN_OR_RETURN(RawArray raw, ReadArray(group, node, ctx.What(node)));
  bool empty = false;
  if (shape_attr) {
    // an empty axis is stored as a 1-element dummy plus attrs shape / value_type
    const Value& sv = shape_attr->root();
    if (sv.is_seq() && !sv.items.empty() && sv.items[0]->kind == Kind::kInt && sv.items[0]->i == 0) empty = true;
  }
  int64_t n = empty ? 0 : raw.num_elements();
  Slice s{&raw, 0, 1, n};
  std::string what = ctx.What(node);
  if (kind == "category") return Status::NotImplemented(what, ": CategoricalIndex in fixed format is not supported");
  if (kind == "string") {
    OCTAVO_ASSIGN_OR_RETURN(auto nr_attr, ReadAttr(d.get(), "nan_rep"));
    auto nan_rep = NanRepFrom(nr_attr, "nan", true);
    if (empty) return arrow::MakeArrayOfNull(arrow::utf8(), 0).ValueOrDie();
    return StringArray(s, nan_rep, what);
  }
  if (kind == "integer") return TypedArray(s, empty && !value_type.empty() ? value_type : RawDtype(raw), "", std::nullopt, what);
  if (kind == "float") return TypedArray(s, "float64", "", std::nullopt, what);
  if (kind == "boolean" || kind == "bool") return BoolArray(s);
  if (kind.rfind("datetime64", 0) == 0 || kind.rfind("timedelta64", 0) == 0) {
    OCTAVO_ASSIGN_OR_RETURN(std::string tz, AttrStr(d.get(), "tz"));
    std::string dt = kind;
    if (dt == "datetime64" || dt == "timedelta64") dt += "[ns]";
    return TypedArray(s, dt, kind.rfind("datetime64", 0) == 0 ? tz : "", std::nullopt, what);
  }
  return Status::NotImplemented(what, ": unsupported index kind '", kind, "'");
}

Result<IndexRead> ReadFixedIndex(hid_t group, const std::string& key, const Ctx& ctx) {
  IndexRead out;
  OCTAVO_ASSIGN_OR_RETURN(std::string variety, AttrStr(group, key + "_variety"));
  if (variety == "multi") {
    OCTAVO_ASSIGN_OR_RETURN(auto nlev, ReadIntAttr(group, key + "_nlevels"));
    if (!nlev || *nlev < 1 || *nlev > 1000) return Status::Corruption(ctx.What(key), ": bad MultiIndex level count");
    for (int64_t i = 0; i < *nlev; ++i) {
      json name;
      std::string kind;
      std::string lk = key + "_level" + std::to_string(i);
      OCTAVO_ASSIGN_OR_RETURN(auto level, ReadIndexNode(group, lk, ctx, &name, &kind));
      std::string ck = key + "_label" + std::to_string(i);
      OCTAVO_ASSIGN_OR_RETURN(RawArray codes, ReadArray(group, ck, ctx.What(ck)));
      Hid cn(H5Oopen(group, ck.c_str(), H5P_DEFAULT), H5Oclose);
      OCTAVO_ASSIGN_OR_RETURN(auto cshape, ReadAttr(cn.get(), "shape"));
      if (cshape) codes.dims = {0}, codes.data.clear();
      OCTAVO_ASSIGN_OR_RETURN(auto vals, TakeCodes(level, codes, ctx.What(ck)));
      out.levels.push_back(vals);
      out.names.push_back(name);
      out.kinds.push_back(kind);
      out.length = vals->length();
    }
    return out;
  }
  if (variety != "regular" && !variety.empty())
    return Status::NotImplemented(ctx.What(key), ": unsupported index variety '", variety, "'");
  json name;
  std::string kind;
  OCTAVO_ASSIGN_OR_RETURN(auto arr, ReadIndexNode(group, key, ctx, &name, &kind));
  out.levels.push_back(arr);
  out.names.push_back(name);
  out.kinds.push_back(kind);
  out.length = arr->length();
  return out;
}

void AddIndex(Frame* f, const IndexRead& idx) {
  for (size_t i = 0; i < idx.levels.size(); ++i) {
    OutColumn c;
    c.label = idx.names[i];
    c.array = idx.levels[i];
    SetTypes(&c);
    f->index.push_back(std::move(c));
  }
}

// Column labels of an axis: plain labels, or tuples for a MultiIndex.
Result<std::vector<json>> AxisLabels(const IndexRead& idx) {
  std::vector<std::vector<json>> per_level;
  for (const auto& lv : idx.levels) {
    OCTAVO_ASSIGN_OR_RETURN(auto l, LabelsFromArray(*lv));
    per_level.push_back(std::move(l));
  }
  std::vector<json> out;
  for (int64_t k = 0; k < idx.length; ++k) {
    if (per_level.size() == 1) {
      out.push_back(per_level[0][static_cast<size_t>(k)]);
    } else {
      json t = json::array();
      for (auto& l : per_level) t.push_back(l[static_cast<size_t>(k)]);
      out.push_back(t);
    }
  }
  return out;
}

// Strings from a pickled numpy array (object / U / S): column j of a (rows x items) view.
Result<std::shared_ptr<arrow::Array>> ObjectColumn(const Value& arr, int64_t nrows, int64_t j, bool items_first,
                                                   const std::string& what) {
  arrow::StringBuilder b;
  std::string tmp;
  int64_t d0 = arr.shape.size() >= 1 ? arr.shape[0] : 1;
  int64_t d1 = arr.shape.size() >= 2 ? arr.shape[1] : 1;
  if (arr.shape.size() == 1) {
    d0 = arr.shape[0];
    d1 = 1;
  }
  for (int64_t r = 0; r < nrows; ++r) {
    int64_t i0 = items_first ? j : r, i1 = items_first ? r : j;
    if (arr.shape.size() == 1) i0 = r, i1 = 0;
    int64_t flat = arr.fortran ? i0 + i1 * d0 : i0 * d1 + i1;
    auto ok = pickle::NdarrayText(arr, flat, &tmp);
    if (!ok.ok())
      return Status::NotImplemented(what, ": object column holds non-text values (", ok.status().message(),
                                    "); only text object columns are supported");
    if (!*ok) {
      OCTAVO_RETURN_NOT_ARROW_OK(b.AppendNull());
    } else {
      if (!ValidUtf8(tmp)) return Status::NotImplemented(what, ": bytes values are not valid UTF-8");
      OCTAVO_RETURN_NOT_ARROW_OK(b.Append(tmp));
    }
  }
  std::shared_ptr<arrow::Array> out;
  OCTAVO_RETURN_NOT_ARROW_OK(b.Finish(&out));
  return out;
}

// blockK_values -> one Arrow array per item.
Result<std::vector<std::shared_ptr<arrow::Array>>> ReadBlock(hid_t group, const std::string& node, int64_t nrows,
                                                             int64_t nitems, const Ctx& ctx) {
  std::string what = ctx.What(node);
  Hid o(H5Oopen(group, node.c_str(), H5P_DEFAULT), H5Oclose);
  if (!o.valid()) return Status::NotFound("pandas object is missing ", what, ": ", TakeErrorStack());
  OCTAVO_ASSIGN_OR_RETURN(std::string cls, AttrStr(o.get(), "CLASS"));
  OCTAVO_ASSIGN_OR_RETURN(std::string value_type, AttrStr(o.get(), "value_type"));
  OCTAVO_ASSIGN_OR_RETURN(auto transposed, ReadIntAttr(o.get(), "transposed"));
  OCTAVO_ASSIGN_OR_RETURN(std::string tz, AttrStr(o.get(), "tz"));
  OCTAVO_ASSIGN_OR_RETURN(auto shape_attr, ReadAttr(o.get(), "shape"));
  std::vector<std::shared_ptr<arrow::Array>> out;
  if (cls == "VLARRAY") {
    OCTAVO_ASSIGN_OR_RETURN(std::string pk, ReadVLArrayRow(group, node, what));
    pickle::Limits lim;
    OCTAVO_ASSIGN_OR_RETURN(auto obj, pickle::Unpickle(pk, lim));
    const Value& arr = obj.root();
    if (arr.kind != Kind::kNdarray)
      return Status::NotImplemented(what, ": pickled block is not a numpy array but ", obj.Repr(200));
    // layout: (rows, items) or (items, rows); decide by shape
    bool items_first;
    int64_t d0 = arr.shape.size() >= 1 ? arr.shape[0] : 0;
    int64_t d1 = arr.shape.size() >= 2 ? arr.shape[1] : 1;
    if (arr.shape.size() == 1) {
      items_first = false;
      if (nitems != 1 || d0 != nrows) return Status::Corruption(what, ": block shape does not match the axes");
    } else if (d0 == nrows && d1 == nitems && !(d0 == nitems && d1 == nrows)) {
      items_first = false;
    } else if (d0 == nitems && d1 == nrows && !(d0 == nrows && d1 == nitems)) {
      items_first = true;
    } else if (d0 == nrows && d1 == nitems) {
      items_first = !value_type.empty() ? true : !(transposed && *transposed);
    } else {
      return Status::Corruption(what, ": block shape does not match the axes");
    }
    for (int64_t j = 0; j < nitems; ++j) {
      OCTAVO_ASSIGN_OR_RETURN(auto a, ObjectColumn(arr, nrows, j, items_first, what));
      out.push_back(a);
    }
    return out;
  }
  OCTAVO_ASSIGN_OR_RETURN(RawArray raw, ReadArray(group, node, what));
  std::string dtype = value_type.empty() ? RawDtype(raw) : value_type;
  if (dtype == "datetime64") dtype = "datetime64[ns]";
  if (dtype == "timedelta64") dtype = "timedelta64[ns]";
  bool empty = shape_attr.has_value() || nrows == 0 || nitems == 0;
  if (empty) {
    RawArray e = raw;
    e.data.clear();
    for (int64_t j = 0; j < nitems; ++j) {
      Slice s{&e, 0, 1, 0};
      OCTAVO_ASSIGN_OR_RETURN(auto a, TypedArray(s, dtype, tz, std::nullopt, what));
      out.push_back(a);
    }
    return out;
  }
  bool tr = transposed && *transposed;
  int64_t d0 = raw.dims.size() >= 1 ? static_cast<int64_t>(raw.dims[0]) : 0;
  int64_t d1 = raw.dims.size() >= 2 ? static_cast<int64_t>(raw.dims[1]) : 1;
  if (raw.dims.size() == 1) {
    tr = true;  // a 1-d block (series values)
  }
  if (tr ? (d0 != nrows || d1 != nitems) : (d0 != nitems || d1 != nrows))
    return Status::Corruption(what, ": block shape does not match the axes");
  if (tr && nitems > 1) TransposeToColumns(&raw, nrows, nitems);
  for (int64_t j = 0; j < nitems; ++j) {
    Slice s = Slice{&raw, j * nrows, 1, nrows};
    OCTAVO_ASSIGN_OR_RETURN(auto a, TypedArray(s, dtype, tz, std::nullopt, what));
    out.push_back(a);
  }
  return out;
}

Result<Frame> ReadFixedFrame(hid_t group, const Ctx& ctx) {
  Frame f;
  OCTAVO_ASSIGN_OR_RETURN(IndexRead cols, ReadFixedIndex(group, "axis0", ctx));
  OCTAVO_ASSIGN_OR_RETURN(IndexRead rows, ReadFixedIndex(group, "axis1", ctx));
  OCTAVO_ASSIGN_OR_RETURN(auto labels, AxisLabels(cols));
  f.num_rows = rows.length;
  AddIndex(&f, rows);
  f.columns_multi = cols.levels.size() > 1;
  f.column_level_names = cols.names;
  std::vector<std::optional<OutColumn>> slots(labels.size());
  OCTAVO_ASSIGN_OR_RETURN(auto nblocks, ReadIntAttr(group, "nblocks"));
  int64_t nb = nblocks ? *nblocks : 0;
  if (nb < 0 || nb > 100000) return Status::Corruption(ctx.What("nblocks"), ": bad block count");
  for (int64_t b = 0; b < nb; ++b) {
    std::string ik = "block" + std::to_string(b) + "_items";
    std::string vk = "block" + std::to_string(b) + "_values";
    OCTAVO_ASSIGN_OR_RETURN(IndexRead items, ReadFixedIndex(group, ik, ctx));
    OCTAVO_ASSIGN_OR_RETURN(auto item_labels, AxisLabels(items));
    OCTAVO_ASSIGN_OR_RETURN(auto arrays, ReadBlock(group, vk, rows.length, items.length, ctx));
    for (size_t j = 0; j < item_labels.size(); ++j) {
      size_t pos = labels.size();
      for (size_t k = 0; k < labels.size(); ++k)
        if (!slots[k] && labels[k] == item_labels[j]) {
          pos = k;
          break;
        }
      if (pos == labels.size())
        return Status::Corruption(ctx.What(ik), ": block item ", LabelToString(item_labels[j]), " is not a column");
      OutColumn c;
      c.label = labels[pos];
      c.array = arrays[j];
      SetTypes(&c);
      slots[pos] = std::move(c);
    }
  }
  for (size_t k = 0; k < slots.size(); ++k) {
    if (!slots[k]) {
      // a column without a block (pandas writes none for all-empty frames): float64 NaN? no -> object nulls
      OutColumn c;
      c.label = labels[k];
      c.array = arrow::MakeArrayOfNull(arrow::utf8(), f.num_rows).ValueOrDie();
      SetTypes(&c, "object");
      c.pandas_type = "empty";
      slots[k] = std::move(c);
    }
    f.columns.push_back(std::move(*slots[k]));
  }
  return f;
}

Result<Frame> ReadFixedSeries(hid_t group, const Ctx& ctx) {
  Frame f;
  f.is_series = true;
  OCTAVO_ASSIGN_OR_RETURN(IndexRead rows, ReadFixedIndex(group, "index", ctx));
  f.num_rows = rows.length;
  AddIndex(&f, rows);
  OCTAVO_ASSIGN_OR_RETURN(f.series_name, AttrLabel(group, "name"));
  OCTAVO_ASSIGN_OR_RETURN(auto arrays, ReadBlock(group, "values", rows.length, 1, ctx));
  OutColumn c;
  c.label = f.series_name.is_null() ? json("0") : f.series_name;
  c.array = arrays[0];
  SetTypes(&c);
  f.columns.push_back(std::move(c));
  return f;
}

// --- table format --------------------------------------------------------------------

struct Member {
  std::string name;
  size_t offset = 0;
  RawArray raw;        // kind / itemsize / dims (data stays empty: the values are in `cols`)
  int64_t width = 1;   // elements per row (shaped fields)
  std::shared_ptr<arrow::Buffer> cols;  // column-major: width runs of nrows elements
};

// Rows [0, count) of a row-major compound buffer (row size `rowsize`), member at `offset`
// holding `width` elements -> column-major dst (element (start + r, j) at j * n + start + r),
// in row tiles so the strided reads stay in L1.
template <size_t N>
void ScatterMember(const char* src, size_t rowsize, size_t offset, int64_t count, int64_t width, char* dst,
                   int64_t n, int64_t start, size_t isz) {
  constexpr int64_t kTile = 64;
  for (int64_t r0 = 0; r0 < count; r0 += kTile) {
    const int64_t r1 = std::min(count, r0 + kTile);
    for (int64_t j = 0; j < width; ++j) {
      char* d = dst + (j * n + start) * static_cast<int64_t>(isz);
      const char* sp = src + offset + static_cast<size_t>(j) * isz;
      for (int64_t r = r0; r < r1; ++r) {
        if constexpr (N > 0) std::memcpy(d + r * static_cast<int64_t>(N), sp + static_cast<size_t>(r) * rowsize, N);
        else std::memcpy(d + r * static_cast<int64_t>(isz), sp + static_cast<size_t>(r) * rowsize, isz);
      }
    }
  }
}

Result<std::vector<Member>> ReadCompound(hid_t group, const std::string& node, const Ctx& ctx, int64_t* nrows) {
  std::string what = ctx.What(node);
  // No chunk cache: the table is read once, in whole chunks, so HDF5 can read each chunk
  // straight into our buffer instead of through cache buffers (an extra copy + allocations).
  Hid dapl(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
  H5Pset_chunk_cache(dapl.get(), 0, 0, 1.0);
  Hid d(H5Dopen2(group, node.c_str(), dapl.get()), H5Dclose);
  if (!d.valid()) return Status::NotFound("pandas table ", what, " not found: ", TakeErrorStack());
  OCTAVO_RETURN_NOT_OK(CheckFilters(d.get(), what));
  Hid ft(H5Dget_type(d.get()), H5Tclose);
  if (H5Tget_class(ft.get()) != H5T_COMPOUND) return Status::TypeError(what, " is not a compound table");
  Hid mt(H5Tget_native_type(ft.get(), H5T_DIR_ASCEND), H5Tclose);
  if (!mt.valid()) return Status::NotImplemented(what, ": unsupported column types: ", TakeErrorStack());
  Hid sp(H5Dget_space(d.get()), H5Sclose);
  if (H5Sget_simple_extent_ndims(sp.get()) != 1) return Status::Corruption(what, " is not 1-dimensional");
  hsize_t n = 0;
  H5Sget_simple_extent_dims(sp.get(), &n, nullptr);
  *nrows = static_cast<int64_t>(n);
  size_t rowsize = H5Tget_size(mt.get());
  int nm = H5Tget_nmembers(mt.get());
  std::vector<Member> members(static_cast<size_t>(std::max(nm, 0)));
  for (int k = 0; k < nm; ++k) {
    Member& m = members[static_cast<size_t>(k)];
    char* nm_c = H5Tget_member_name(mt.get(), static_cast<unsigned>(k));
    m.name = nm_c ? nm_c : "";
    if (nm_c) H5free_memory(nm_c);
    m.offset = H5Tget_member_offset(mt.get(), static_cast<unsigned>(k));
    Hid t(H5Tget_member_type(mt.get(), static_cast<unsigned>(k)), H5Tclose);
    Hid base;
    hid_t bt = t.get();
    if (H5Tget_class(t.get()) == H5T_ARRAY) {
      int ad = H5Tget_array_ndims(t.get());
      std::vector<hsize_t> adims(static_cast<size_t>(std::max(ad, 0)));
      if (ad > 0) H5Tget_array_dims2(t.get(), adims.data());
      for (auto x : adims) m.width *= static_cast<int64_t>(x);
      base = Hid(H5Tget_super(t.get()), H5Tclose);
      bt = base.get();
    }
    H5T_class_t c = H5Tget_class(bt);
    size_t sz = H5Tget_size(bt);
    switch (c) {
      case H5T_INTEGER: m.raw.kind = H5Tget_sign(bt) == H5T_SGN_NONE ? 'u' : 'i'; break;
      case H5T_FLOAT: m.raw.kind = 'f'; break;
      case H5T_BITFIELD:
      case H5T_ENUM: m.raw.kind = 'b'; break;
      case H5T_STRING:
        if (H5Tis_variable_str(bt) > 0) return Status::NotImplemented(what, ": variable-length string column '", m.name, "'");
        m.raw.kind = 'S';
        break;
      default:
        return Status::NotImplemented(what, ": column '", m.name, "' has an unsupported HDF5 type class ", static_cast<int>(c));
    }
    if (m.raw.kind == 'f' && sz != 4 && sz != 8) return Status::NotImplemented(what, ": column '", m.name, "' is a float of ", sz, " bytes");
    m.raw.itemsize = sz;
    m.raw.dims = {n, static_cast<hsize_t>(m.width)};
    if (m.width > 0 && sz > 0 && n > (uint64_t(1) << 40) / (sz * static_cast<uint64_t>(m.width)))
      return Status::Corruption(what, " is implausibly large");
  }
  // Row blocks of ~32 MB are read with the compound memory type into one reused buffer and
  // scattered straight into each member's column-major Arrow buffer (one copy; the numeric
  // columns are then zero-copy slices of it).
  // (the system allocator: for GB-sized tables Arrow's default pool (mimalloc) took twice as
  // long in page faults on this VM)
  for (auto& m : members) {
    OCTAVO_ARROW_ASSIGN_OR_RETURN(
        m.cols, arrow::AllocateBuffer(static_cast<int64_t>(n * m.raw.itemsize * static_cast<size_t>(m.width)),
                                      arrow::system_memory_pool()));
  }
  hsize_t block = std::max<hsize_t>(1, (32u << 20) / std::max<size_t>(rowsize, 1));
  thread_local std::vector<char> buf;  // reused across files: no page faults after the first
  for (hsize_t start = 0; start < n; start += block) {
    hsize_t count = std::min(block, n - start);
    if (buf.size() < count * rowsize) buf.resize(static_cast<size_t>(count * rowsize));
    Hid fsp(H5Scopy(sp.get()), H5Sclose);
    if (H5Sselect_hyperslab(fsp.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr) < 0)
      return Status::IOError(what, ": bad selection: ", TakeErrorStack());
    Hid msp(H5Screate_simple(1, &count, nullptr), H5Sclose);
    if (H5Dread(d.get(), mt.get(), msp.get(), fsp.get(), H5P_DEFAULT, buf.data()) < 0)
      return Status::Corruption("cannot read ", what, " (truncated or corrupt file?): ", TakeErrorStack());
    for (auto& m : members) {
      char* dst = reinterpret_cast<char*>(m.cols->mutable_data());
      const int64_t c = static_cast<int64_t>(count), st = static_cast<int64_t>(start), nn = static_cast<int64_t>(n);
      switch (m.raw.itemsize) {
        case 1: ScatterMember<1>(buf.data(), rowsize, m.offset, c, m.width, dst, nn, st, 1); break;
        case 2: ScatterMember<2>(buf.data(), rowsize, m.offset, c, m.width, dst, nn, st, 2); break;
        case 4: ScatterMember<4>(buf.data(), rowsize, m.offset, c, m.width, dst, nn, st, 4); break;
        case 8: ScatterMember<8>(buf.data(), rowsize, m.offset, c, m.width, dst, nn, st, 8); break;
        default: ScatterMember<0>(buf.data(), rowsize, m.offset, c, m.width, dst, nn, st, m.raw.itemsize);
      }
    }
  }
  return members;
}

bool ValueEquals(const Value* a, const Value* b) {
  if (a->kind != b->kind) {
    if ((a->kind == Kind::kList || a->kind == Kind::kTuple) && (b->kind == Kind::kList || b->kind == Kind::kTuple)) {
    } else {
      return false;
    }
  }
  switch (a->kind) {
    case Kind::kNone: return true;
    case Kind::kBool: return a->b == b->b;
    case Kind::kInt: return a->i == b->i;
    case Kind::kFloat: return a->f == b->f || (std::isnan(a->f) && std::isnan(b->f));
    case Kind::kStr:
    case Kind::kBytes: return a->str == b->str;
    case Kind::kList:
    case Kind::kTuple:
      if (a->items.size() != b->items.size()) return false;
      for (size_t k = 0; k < a->items.size(); ++k)
        if (!ValueEquals(a->items[k], b->items[k])) return false;
      return true;
    default: return a == b;
  }
}

Result<Frame> ReadTableFrame(hid_t file, hid_t group, const Ctx& ctx, const std::string& pandas_type);

// Categories stored by pandas under <key>/meta/<col>/meta (a series_table).
Result<std::shared_ptr<arrow::Array>> ReadCategories(hid_t file, hid_t group, const std::string& col, const Ctx& ctx) {
  std::string rel = "meta/" + col + "/meta";
  if (!LinkExists(group, "meta") || !LinkExists(group, "meta/" + col) || !LinkExists(group, rel))
    return std::shared_ptr<arrow::Array>();
  Hid g(H5Gopen2(group, rel.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g.valid()) return Status::Corruption(ctx.What(rel), ": cannot open: ", TakeErrorStack());
  Ctx sub{ctx.path, ctx.key + "/" + rel};
  OCTAVO_ASSIGN_OR_RETURN(Frame f, ReadTableFrame(file, g.get(), sub, "series_table"));
  if (f.columns.size() != 1) return Status::Corruption(ctx.What(rel), ": bad categories table");
  return f.columns[0].array;
}

Result<Frame> ReadTableFrame(hid_t file, hid_t group, const Ctx& ctx, const std::string& pandas_type) {
  Frame f;
  f.is_series = pandas_type == "series_table";
  OCTAVO_ASSIGN_OR_RETURN(auto non_index_axes, ReadAttr(group, "non_index_axes"));
  OCTAVO_ASSIGN_OR_RETURN(auto values_cols, ReadAttr(group, "values_cols"));
  OCTAVO_ASSIGN_OR_RETURN(auto index_cols, ReadAttr(group, "index_cols"));
  OCTAVO_ASSIGN_OR_RETURN(auto info, ReadAttr(group, "info"));
  OCTAVO_ASSIGN_OR_RETURN(auto levels_attr, ReadAttr(group, "levels"));
  OCTAVO_ASSIGN_OR_RETURN(auto nan_rep_attr, ReadAttr(group, "nan_rep"));
  OCTAVO_ASSIGN_OR_RETURN(auto dc_marker, ReadIntAttr(group, "data_col_nan_rep"));
  OCTAVO_ASSIGN_OR_RETURN(auto mi_marker, ReadIntAttr(group, "mi_level_nan_rep"));
  OCTAVO_ASSIGN_OR_RETURN(std::string encoding, AttrStr(group, "encoding"));
  if (!encoding.empty() && encoding != "UTF-8" && encoding != "utf-8" && encoding != "utf8" && encoding != "ascii")
    return Status::NotImplemented(ctx.What(""), ": string encoding '", encoding, "' is not supported");
  if (!values_cols || !values_cols->root().is_seq())
    return Status::Corruption(ctx.What(""), ": missing or unreadable 'values_cols' attribute");
  // table-wide nan_rep: pickled None (or absent) means the default "nan"
  std::optional<std::string> table_nan_rep = "nan";
  if (nan_rep_attr && nan_rep_attr->root().kind == Kind::kStr) table_nan_rep = nan_rep_attr->root().str;
  std::vector<std::string> level_names;
  if (levels_attr && levels_attr->root().kind == Kind::kList)
    for (auto* v : levels_attr->root().items)
      if (v->kind == Kind::kStr) level_names.push_back(v->str);

  int64_t nrows = 0;
  OCTAVO_ASSIGN_OR_RETURN(auto members, ReadCompound(group, "table", ctx, &nrows));
  f.num_rows = nrows;
  Hid tbl(H5Dopen2(group, "table", H5P_DEFAULT), H5Dclose);
  auto member = [&](const std::string& name) -> Member* {
    for (auto& m : members)
      if (m.name == name) return &m;
    return nullptr;
  };
  const Value* info_root = info ? &info->root() : nullptr;
  auto info_of = [&](const std::string& name) -> const Value* { return info_root ? info_root->Get(name) : nullptr; };

  // the row index
  std::string index_name_col = "index";
  if (index_cols && index_cols->root().is_seq() && !index_cols->root().items.empty()) {
    const Value* t = index_cols->root().items[0];
    if (t->is_seq() && t->items.size() == 2 && t->items[1]->kind == Kind::kStr) index_name_col = t->items[1]->str;
  }
  Member* im = member(index_name_col);
  if (!im) return Status::Corruption(ctx.What("table"), ": no index column '", index_name_col, "'");
  {
    OCTAVO_ASSIGN_OR_RETURN(std::string kind, AttrStr(tbl.get(), index_name_col + "_kind"));
    OCTAVO_ASSIGN_OR_RETURN(std::string imeta, AttrStr(tbl.get(), index_name_col + "_meta"));
    const Value* ii = info_of(index_name_col);
    json iname = nullptr;
    std::string tz;
    if (ii) {
      if (const Value* n = ii->Get("index_name")) iname = LabelFromValue(n);
      if (const Value* z = ii->Get("tz"); z && z->kind == Kind::kStr) tz = z->str;
    }
    Slice s{&im->raw, 0, 1, nrows, im->cols};
    std::string what = ctx.What("table") + " index";
    std::shared_ptr<arrow::Array> arr;
    if (kind == "string") {
      OCTAVO_ASSIGN_OR_RETURN(auto nr, ReadAttr(tbl.get(), index_name_col + "_nan_rep"));
      OCTAVO_ASSIGN_OR_RETURN(arr, StringArray(s, NanRepFrom(nr, "nan", true), what));
    } else if (kind == "integer") {
      OCTAVO_ASSIGN_OR_RETURN(arr, TypedArray(s, RawDtype(im->raw), "", std::nullopt, what));
    } else if (kind == "float") {
      OCTAVO_ASSIGN_OR_RETURN(arr, TypedArray(s, "float64", "", std::nullopt, what));
    } else if (kind == "bool") {
      OCTAVO_ASSIGN_OR_RETURN(arr, BoolArray(s));
    } else if (kind.rfind("datetime64", 0) == 0 || kind.rfind("timedelta64", 0) == 0) {
      std::string dt = kind;
      if (dt == "datetime64" || dt == "timedelta64") dt += "[ns]";
      OCTAVO_ASSIGN_OR_RETURN(arr, TypedArray(s, dt, kind[0] == 'd' ? tz : "", std::nullopt, what));
    } else {
      return Status::NotImplemented(what, ": unsupported index kind '", kind, "'");
    }
    if (imeta == "category") return Status::NotImplemented(what, ": CategoricalIndex is not supported");
    OutColumn c;
    c.label = iname;
    c.array = arr;
    SetTypes(&c);
    f.index.push_back(std::move(c));
  }

  // value columns: label -> array
  struct Candidate {
    const Value* label;
    OutColumn col;
    bool used = false;
  };
  std::vector<Candidate> cands;
  std::vector<pickle::Object> keep;  // kind attrs own the label values
  for (const Value* vcv : values_cols->root().items) {
    if (vcv->kind != Kind::kStr) return Status::Corruption(ctx.What(""), ": bad values_cols");
    const std::string& vc = vcv->str;
    Member* m = member(vc);
    if (!m) return Status::Corruption(ctx.What("table"), ": no column '", vc, "'");
    OCTAVO_ASSIGN_OR_RETURN(auto kind_attr, ReadAttr(tbl.get(), vc + "_kind"));
    OCTAVO_ASSIGN_OR_RETURN(std::string dtype, AttrStr(tbl.get(), vc + "_dtype"));
    OCTAVO_ASSIGN_OR_RETURN(std::string meta, AttrStr(tbl.get(), vc + "_meta"));
    OCTAVO_ASSIGN_OR_RETURN(auto col_nr, ReadAttr(tbl.get(), vc + "_nan_rep"));
    if (!kind_attr || !kind_attr->root().is_seq())
      return Status::Corruption(ctx.What("table"), ": missing labels attribute '", vc, "_kind'");
    const auto& labels = kind_attr->root().items;
    if (static_cast<int64_t>(labels.size()) != m->width)
      return Status::Corruption(ctx.What("table"), ": column '", vc, "' has ", m->width, " fields but ", labels.size(), " labels");
    if (dtype.empty()) dtype = RawDtype(m->raw);
    const Value* ci = info_of(vc);
    std::string tz;
    bool ordered = false;
    if (ci) {
      if (const Value* z = ci->Get("tz"); z && z->kind == Kind::kStr) tz = z->str;
      if (const Value* o = ci->Get("ordered"); o && o->kind == Kind::kBool) ordered = o->b;
    }
    bool is_level = std::find(level_names.begin(), level_names.end(), vc) != level_names.end();
    bool uses_col = (dc_marker && *dc_marker) || (is_level && mi_marker && *mi_marker);
    std::optional<std::string> nan_rep;
    if (uses_col) {
      if (col_nr && col_nr->root().kind == Kind::kStr) nan_rep = col_nr->root().str;
    } else {
      nan_rep = table_nan_rep;
    }
    std::shared_ptr<arrow::Array> categories;
    if (meta == "category") {
      OCTAVO_ASSIGN_OR_RETURN(categories, ReadCategories(file, group, vc, ctx));
    }
    for (int64_t j = 0; j < m->width; ++j) {
      Slice s{&m->raw, j * nrows, 1, nrows, m->cols};
      std::string what = ctx.What("table") + " column " + LabelToString(LabelFromValue(labels[static_cast<size_t>(j)]));
      OutColumn c;
      c.label = LabelFromValue(labels[static_cast<size_t>(j)]);
      if (meta == "category") {
        OCTAVO_ASSIGN_OR_RETURN(auto codes, TypedArray(s, RawDtype(m->raw), "", std::nullopt, what));
        OCTAVO_ASSIGN_OR_RETURN(c.array, MakeCategorical(codes, categories, ordered, what));
      } else {
        OCTAVO_ASSIGN_OR_RETURN(c.array, TypedArray(s, dtype, tz, nan_rep, what));
      }
      SetTypes(&c, meta == "str" || dtype.rfind("bytes", 0) == 0 ? "str" : "object");
      cands.push_back({labels[static_cast<size_t>(j)], std::move(c), false});
    }
    keep.push_back(std::move(*kind_attr));
  }

  // order by non_index_axes
  std::vector<const Value*> order;
  const Value* names_v = nullptr;
  bool multi = false;
  if (non_index_axes && non_index_axes->root().is_seq() && !non_index_axes->root().items.empty()) {
    const Value* ax = non_index_axes->root().items[0];
    if (ax->is_seq() && ax->items.size() == 2 && ax->items[1]->is_seq()) order = ax->items[1]->items;
  }
  if (info_root) {
    if (const Value* ax1 = info_root->GetInt(1)) {
      names_v = ax1->Get("names");
      if (const Value* t = ax1->Get("type"); t && t->kind == Kind::kStr && t->str == "MultiIndex") multi = true;
    }
  }
  std::vector<OutColumn> cols;
  if (order.empty()) {
    for (auto& c : cands) cols.push_back(std::move(c.col));
  } else {
    for (const Value* lab : order) {
      bool found = false;
      for (auto& c : cands) {
        if (!c.used && ValueEquals(c.label, lab)) {
          c.used = true;
          cols.push_back(std::move(c.col));
          found = true;
          break;
        }
      }
      if (!found) return Status::Corruption(ctx.What("table"), ": column ", LabelToString(LabelFromValue(lab)), " has no data");
    }
  }
  // MultiIndex rows (appendable_multiframe): the level columns become the index
  if (!level_names.empty()) {
    std::vector<OutColumn> idx;
    static const std::regex level_re("^level_\\d+$");
    for (const auto& ln : level_names) {
      auto it = std::find_if(cols.begin(), cols.end(), [&](const OutColumn& c) { return c.label.is_string() && c.label == ln; });
      if (it == cols.end()) return Status::Corruption(ctx.What(""), ": MultiIndex level '", ln, "' has no column");
      OutColumn c = std::move(*it);
      cols.erase(it);
      c.label = std::regex_match(ln, level_re) ? json(nullptr) : json(ln);
      idx.push_back(std::move(c));
    }
    f.index = std::move(idx);
  }
  f.columns = std::move(cols);
  f.columns_multi = multi;
  if (names_v && names_v->is_seq())
    for (auto* n : names_v->items) f.column_level_names.push_back(LabelFromValue(n));
  if (f.is_series && f.columns.size() == 1) {
    f.series_name = f.columns[0].label;
    if (f.series_name == "values") f.series_name = nullptr;
  }
  return f;
}

// --- listing ---------------------------------------------------------------------------

struct WalkState {
  std::vector<H5Object>* out;
  Status st;
};

Result<H5Object> Describe(hid_t file, const std::string& path, bool* is_pandas) {
  H5Object o;
  o.key = path;
  Hid obj(H5Oopen(file, path.c_str(), H5P_DEFAULT), H5Oclose);
  if (!obj.valid()) return Status::Corruption("cannot open HDF5 object ", path, ": ", TakeErrorStack());
  OCTAVO_ASSIGN_OR_RETURN(auto pt, ReadStrAttr(obj.get(), "pandas_type"));
  *is_pandas = pt.has_value();
  if (pt) {
    o.kind = "pandas";
    o.pandas_type = *pt;
    static const char* ok[] = {"frame_table", "series_table", "frame", "series"};
    for (auto* k : ok) o.supported = o.supported || o.pandas_type == k;
    if (!o.supported) o.note = "pandas_type '" + o.pandas_type + "' is not supported";
    return o;
  }
  H5O_info_t info;
  if (H5Oget_info2(obj.get(), &info, H5O_INFO_BASIC) < 0) return Status::Corruption("cannot inspect ", path);
  if (info.type == H5O_TYPE_GROUP) {
    o.kind = "group";
  } else if (info.type == H5O_TYPE_DATASET) {
    OCTAVO_ASSIGN_OR_RETURN(auto cls, ReadStrAttr(obj.get(), "CLASS"));
    o.kind = cls && *cls == "TABLE" ? "table" : "array";
    o.note = "not a pandas object (plain PyTables/HDF5 " + o.kind + "): not imported";
  } else {
    o.kind = "other";
    o.note = "not a pandas object";
  }
  return o;
}

Status WalkGroup(hid_t file, const std::string& path, std::vector<H5Object>* out, int depth) {
  if (depth > 64) return Status::Corruption("HDF5 hierarchy nested too deeply at ", path);
  Hid g(H5Gopen2(file, path.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g.valid()) return Status::Corruption("cannot open HDF5 group ", path, ": ", TakeErrorStack());
  std::vector<std::string> names;
  auto cb = [](hid_t, const char* name, const H5L_info_t* linfo, void* data) -> herr_t {
    if (linfo->type == H5L_TYPE_HARD) static_cast<std::vector<std::string>*>(data)->push_back(name);
    return 0;
  };
  if (H5Literate(g.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, cb, &names) < 0)
    return Status::Corruption("cannot list HDF5 group ", path, " (truncated or corrupt file?): ", TakeErrorStack());
  for (const auto& n : names) {
    std::string child = path == "/" ? "/" + n : path + "/" + n;
    if (InvalidUtf8Offset(n) != std::string::npos) {  // listed (escaped), never opened by that name
      H5Object o;
      o.key = (path == "/" ? "/" : path + "/") + Escaped(n);
      o.kind = "other";
      o.note = "the name is not valid UTF-8 (shown with \\xNN escapes): not imported";
      out->push_back(o);
      continue;
    }
    bool is_pandas = false;
    OCTAVO_ASSIGN_OR_RETURN(H5Object o, Describe(file, child, &is_pandas));
    if (is_pandas) {
      out->push_back(o);
    } else if (o.kind == "group") {
      OCTAVO_RETURN_NOT_OK(WalkGroup(file, child, out, depth + 1));
    } else {
      out->push_back(o);
    }
  }
  return Status::OK();
}


}  // namespace

Result<std::vector<H5Object>> ListObjectsIn(hid_t file, const std::string& path) {
  std::vector<H5Object> out;
  Status st = WalkGroup(file, "/", &out, 0);
  if (!st.ok()) return st.WithContext(path);
  return out;
}

Result<std::vector<H5Object>> ListObjectsLocal(const std::string& path) {
  std::lock_guard<std::recursive_mutex> lock(H5Mutex());
  InitH5();
  OCTAVO_ASSIGN_OR_RETURN(Hid f, OpenHdf5ReadOnly(path));
  return ListObjectsIn(f.get(), path);
}

Result<std::shared_ptr<::arrow::Table>> ReadPandasIn(hid_t file, const std::string& path, const std::string& key_in) {
  std::string key = key_in;
  if (key.empty()) {
    std::vector<H5Object> objs;
    Status st = WalkGroup(file, "/", &objs, 0);
    if (!st.ok()) return st;
    std::vector<std::string> keys;
    for (auto& o : objs)
      if (o.kind == "pandas") keys.push_back(o.key);
    if (keys.empty()) return Status::NotFound("no pandas object in ", path);
    if (keys.size() > 1) {
      std::string all;
      for (auto& k : keys) all += (all.empty() ? "" : ", ") + k;
      return Status::Invalid(path, " holds several pandas objects (", all, "): pass a key");
    }
    key = keys[0];
  }
  if (key.empty() || key[0] != '/') key = "/" + key;
  if (!LinkExists(file, key)) {
    // H5Lexists fails on intermediate components; check step by step
    return Status::NotFound("no object '", key, "' in ", path);
  }
  Hid g(H5Oopen(file, key.c_str(), H5P_DEFAULT), H5Oclose);
  if (!g.valid()) return Status::Corruption("cannot open '", key, "' in ", path, ": ", TakeErrorStack());
  OCTAVO_ASSIGN_OR_RETURN(auto pt, ReadStrAttr(g.get(), "pandas_type"));
  if (!pt) return Status::TypeError("'", key, "' in ", path, " is not a pandas object (no pandas_type attribute)");
  Ctx ctx{path, key};
  Frame frame;
  if (*pt == "frame_table" || *pt == "series_table") {
    OCTAVO_ASSIGN_OR_RETURN(frame, ReadTableFrame(file, g.get(), ctx, *pt));
  } else if (*pt == "frame") {
    OCTAVO_ASSIGN_OR_RETURN(frame, ReadFixedFrame(g.get(), ctx));
  } else if (*pt == "series") {
    OCTAVO_ASSIGN_OR_RETURN(frame, ReadFixedSeries(g.get(), ctx));
  } else {
    return Status::NotImplemented("'", key, "' in ", path, ": pandas_type '", *pt, "' is not supported");
  }
  return ToArrow(frame, path, key, *pt);
}

Result<std::shared_ptr<::arrow::Table>> ReadPandasLocal(const std::string& path, const std::string& key) {
  std::lock_guard<std::recursive_mutex> lock(H5Mutex());
  InitH5();
  OCTAVO_ASSIGN_OR_RETURN(Hid f, OpenHdf5ReadOnly(path));
  return ReadPandasIn(f.get(), path, key);
}

}  // namespace octavo::hdf5
