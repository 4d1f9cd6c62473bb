// Generic PyTables / HDF5 import: every object of an HDF5 file mapped onto bundle nodes
// (groups, tables, n-d arrays, file nodes, soft links, attributes). The mapping is
// documented in include/octavo/hdf5.h; pandas objects go through ReadPandas.
#include <arrow/api.h>

#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "hdf5/h5util.h"
#include "hdf5/worker_protocol.h"
#include "octavo/bundle.h"
#include "octavo/hdf5.h"
#include "octavo/typed_value.h"
#include "octavo/arrow_status.h"
#include "util/names.h"

namespace octavo::hdf5 {

namespace {

using json = nlohmann::ordered_json;
using pickle::Kind;
using pickle::Value;

std::string Join(const std::string& parent, const std::string& name) {
  return parent == "/" ? "/" + name : parent + "/" + name;
}

// --- attributes -------------------------------------------------------------------------

bool IsSystemAttr(const std::string& n) {
  static const char* exact[] = {"CLASS", "VERSION", "FLAVOR", "EXTDIM", "NROWS", "PSEUDOATOM", "NODE_TYPE",
                                "NODE_TYPE_VERSION", "PYTABLES_FORMAT_VERSION", "FILTERS", "AUTO_INDEX",
                                "pandas_type", "pandas_version", "CHUNKSHAPE", "BYTEORDER"};
  for (auto* e : exact)
    if (n == e) return true;
  if (n.rfind("FIELD_", 0) == 0 && (n.find("_NAME") != std::string::npos || n.find("_FILL") != std::string::npos))
    return true;
  return false;
}

// A safely unpickled value as JSON; false if it holds something JSON cannot (opaque objects).
bool PickleToJson(const Value* v, json* out, int depth = 0) {
  if (depth > 64) return false;
  switch (v->kind) {
    case Kind::kNone: *out = nullptr; return true;
    case Kind::kBool: *out = v->b; return true;
    case Kind::kInt: *out = v->i; return true;
    case Kind::kFloat: *out = v->f; return true;
    case Kind::kStr: *out = v->str; return true;
    case Kind::kBytes: *out = v->str; return true;
    case Kind::kList:
    case Kind::kTuple:
    case Kind::kSet: {
      json a = json::array();
      for (auto* e : v->items) {
        json x;
        if (!PickleToJson(e, &x, depth + 1)) return false;
        a.push_back(std::move(x));
      }
      *out = std::move(a);
      return true;
    }
    case Kind::kDict: {
      json o = json::object();
      for (size_t k = 0; k + 1 < v->items.size(); k += 2) {
        json key, val;
        if (!PickleToJson(v->items[k], &key, depth + 1) || !PickleToJson(v->items[k + 1], &val, depth + 1)) return false;
        o[key.is_string() ? key.get<std::string>() : key.dump()] = std::move(val);
      }
      *out = std::move(o);
      return true;
    }
    default: return false;
  }
}

// Nested JSON lists of `dims` from a flat vector of JSON scalars.
json Nest(const std::vector<json>& flat, const std::vector<hsize_t>& dims, size_t axis, size_t* pos) {
  if (axis == dims.size()) return flat[(*pos)++];
  json a = json::array();
  for (hsize_t i = 0; i < dims[axis]; ++i) a.push_back(Nest(flat, dims, axis + 1, pos));
  return a;
}

// One attribute as JSON text; a reason when it cannot be represented.
Result<std::optional<json>> AttrToJson(hid_t obj, const std::string& name, std::string* why) {
  Hid attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) return Status::IOError("cannot open HDF5 attribute '", name, "': ", TakeErrorStack());
  Hid type(H5Aget_type(attr.get()), H5Tclose);
  Hid space(H5Aget_space(attr.get()), H5Sclose);
  H5T_class_t cls = H5Tget_class(type.get());
  if (cls == H5T_STRING) {
    OCTAVO_ASSIGN_OR_RETURN(auto a, ReadAttr(obj, name));
    if (!a) return std::optional<json>();
    json j;
    if (!PickleToJson(&a->root(), &j)) {
      *why = "a pickled Python object of a kind JSON cannot hold";
      return std::optional<json>();
    }
    return std::optional<json>(std::move(j));
  }
  if (H5Sget_simple_extent_type(space.get()) == H5S_NULL) return std::optional<json>(json(nullptr));
  int nd = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(nd, 0)));
  if (nd > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0 || n > (1 << 22)) {
    *why = "too large for a JSON attribute";
    return std::optional<json>();
  }
  std::vector<json> flat;
  flat.reserve(static_cast<size_t>(n));
  size_t size = H5Tget_size(type.get());
  if (cls == H5T_INTEGER) {
    bool is_unsigned = H5Tget_sign(type.get()) == H5T_SGN_NONE;
    std::vector<int64_t> v(static_cast<size_t>(n));
    if (n > 0 && H5Aread(attr.get(), is_unsigned ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64, v.data()) < 0)
      return Status::Corruption("cannot read HDF5 attribute '", name, "': ", TakeErrorStack());
    for (auto x : v) flat.push_back(is_unsigned ? json(static_cast<uint64_t>(x)) : json(x));
  } else if (cls == H5T_FLOAT) {
    std::vector<double> v(static_cast<size_t>(n));
    if (n > 0 && H5Aread(attr.get(), H5T_NATIVE_DOUBLE, v.data()) < 0)
      return Status::Corruption("cannot read HDF5 attribute '", name, "': ", TakeErrorStack());
    if (!std::all_of(v.begin(), v.end(), [](double x) { return std::isfinite(x); })) {
      // NaN and infinities are not JSON numbers (they would be written as null): the typed form keeps them.
      TypedValue t;
      t.dtype = size == 4 ? "<f4" : "<f8";
      if (H5Sget_simple_extent_type(space.get()) != H5S_SCALAR) t.shape.assign(dims.begin(), dims.end());
      for (double x : v) {
        if (size == 4) {
          float f = static_cast<float>(x);
          t.bytes.append(reinterpret_cast<const char*>(&f), sizeof f);
        } else {
          t.bytes.append(reinterpret_cast<const char*>(&x), sizeof x);
        }
      }
      auto text = EncodeTypedValue(t, "HDF5 attribute '" + name + "'");
      if (!text.ok()) {
        *why = text.status().message();
        return std::optional<json>();
      }
      return std::optional<json>(json::parse(*text));
    }
    for (auto x : v) flat.push_back(x);
  } else if ((cls == H5T_BITFIELD || cls == H5T_ENUM) && size == 1) {
    std::vector<uint8_t> v(static_cast<size_t>(n));
    if (n > 0 && H5Aread(attr.get(), type.get(), v.data()) < 0)
      return Status::Corruption("cannot read HDF5 attribute '", name, "': ", TakeErrorStack());
    for (auto x : v) flat.push_back(x != 0);
  } else {
    *why = "HDF5 type class " + std::to_string(static_cast<int>(cls)) + " has no JSON form";
    return std::optional<json>();
  }
  if (H5Sget_simple_extent_type(space.get()) == H5S_SCALAR) return std::optional<json>(flat.empty() ? json() : flat[0]);
  size_t pos = 0;
  return std::optional<json>(Nest(flat, dims, 0, &pos));
}

struct AttrsOut {
  std::vector<std::pair<std::string, std::string>> set;  // key, JSON text
  std::vector<std::string> dropped;                      // "name (why)"
};

Result<AttrsOut> ReadUserAttrs(hid_t obj) {
  AttrsOut out;
  std::vector<std::string> names;
  auto cb = [](hid_t, const char* n, const H5A_info_t*, void* d) -> herr_t {
    static_cast<std::vector<std::string>*>(d)->push_back(n);
    return 0;
  };
  hsize_t idx = 0;
  if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, cb, &names) < 0)
    return Status::Corruption("cannot list HDF5 attributes: ", TakeErrorStack());
  for (const auto& n : names) {
    if (IsSystemAttr(n)) continue;
    if (InvalidUtf8Offset(n) != std::string::npos) {
      out.dropped.push_back(Escaped(n) + " (its name is not valid UTF-8)");
      continue;
    }
    std::string why;
    OCTAVO_ASSIGN_OR_RETURN(auto j, AttrToJson(obj, n, &why));
    if (!j) {
      if (!why.empty()) out.dropped.push_back(n + " (" + why + ")");
      continue;
    }
    if (n == "TITLE" && j->is_string() && j->get<std::string>().empty()) continue;
    try {
      out.set.emplace_back(n, j->dump());
    } catch (const json::exception&) {
      out.dropped.push_back(n + " (it holds text that is not valid UTF-8)");
    }
  }
  return out;
}

// --- compound / atom conversion -----------------------------------------------------------

struct Conv {
  enum K { kNum, kBool, kStr, kEnum, kList, kStruct, kVlStr, kVlNum } k = kNum;
  size_t offset = 0;  // within the parent element
  size_t size = 0;    // bytes of one element (memory type)
  std::string name;
  std::shared_ptr<arrow::DataType> type;
  // kEnum
  bool sign = true;
  std::vector<int64_t> enum_values;
  std::shared_ptr<arrow::Array> enum_names;
  // kList
  int32_t list_size = 0;
  std::vector<Conv> children;  // kList: one; kStruct: members; kVlNum: one
  // kStr: some value is not UTF-8 text (found by ScanFixedStrings): the field becomes binary
  bool binary = false;
  int64_t first_bad_row = -1;
};

std::shared_ptr<arrow::DataType> NumType(char kind, size_t size) {
  if (kind == 'f') return size == 4 ? arrow::float32() : size == 8 ? arrow::float64() : nullptr;
  bool u = kind == 'u';
  switch (size) {
    case 1: return u ? arrow::uint8() : arrow::int8();
    case 2: return u ? arrow::uint16() : arrow::int16();
    case 4: return u ? arrow::uint32() : arrow::int32();
    case 8: return u ? arrow::uint64() : arrow::int64();
    default: return nullptr;
  }
}

// Analyse a *memory* (native) type.
Status BuildConv(hid_t t, const std::string& name, Conv* c, int depth = 0) {
  if (depth > 32) return Status::NotImplemented("type of '", name, "' is nested too deeply");
  c->name = name;
  c->size = H5Tget_size(t);
  H5T_class_t cls = H5Tget_class(t);
  switch (cls) {
    case H5T_INTEGER:
      c->k = Conv::kNum;
      c->type = NumType(H5Tget_sign(t) == H5T_SGN_NONE ? 'u' : 'i', c->size);
      break;
    case H5T_FLOAT:
      c->k = Conv::kNum;
      c->type = NumType('f', c->size);
      if (!c->type) return Status::NotImplemented("field '", name, "' is a ", c->size * 8, "-bit float (only 32/64)");
      break;
    case H5T_BITFIELD:
      if (c->size != 1) return Status::NotImplemented("field '", name, "' is a ", c->size * 8, "-bit bitfield");
      c->k = Conv::kBool;
      c->type = arrow::boolean();
      break;
    case H5T_STRING:
      if (H5Tis_variable_str(t) > 0) {
        c->k = Conv::kVlStr;
      } else {
        c->k = Conv::kStr;
      }
      c->type = arrow::utf8();
      break;
    case H5T_ENUM: {
      int nm = H5Tget_nmembers(t);
      Hid base(H5Tget_super(t), H5Tclose);
      c->sign = H5Tget_sign(base.get()) != H5T_SGN_NONE;
      arrow::StringBuilder sb;
      std::vector<std::string> names;
      for (int k = 0; k < nm; ++k) {
        char* mn = H5Tget_member_name(t, static_cast<unsigned>(k));
        names.emplace_back(mn ? mn : "");
        if (mn) H5free_memory(mn);
        int64_t v = 0;
        std::string raw(c->size, '\0');
        H5Tget_member_value(t, static_cast<unsigned>(k), raw.data());
        if (c->size == 1) v = c->sign ? int64_t(int8_t(raw[0])) : int64_t(uint8_t(raw[0]));
        else if (c->size == 2) { int16_t s; uint16_t u; std::memcpy(&s, raw.data(), 2); std::memcpy(&u, raw.data(), 2); v = c->sign ? s : u; }
        else if (c->size == 4) { int32_t s; uint32_t u; std::memcpy(&s, raw.data(), 4); std::memcpy(&u, raw.data(), 4); v = c->sign ? s : u; }
        else if (c->size == 8) std::memcpy(&v, raw.data(), 8);
        else return Status::NotImplemented("enum field '", name, "' has a ", c->size, "-byte base");
        c->enum_values.push_back(v);
      }
      if (nm == 2 && names[0] == "FALSE" && names[1] == "TRUE" && c->enum_values[0] == 0 && c->enum_values[1] == 1) {
        c->k = Conv::kBool;  // h5py's bool
        c->type = arrow::boolean();
        break;
      }
      c->k = Conv::kEnum;
      for (auto& n : names) OCTAVO_RETURN_NOT_OK(FromArrow(sb.Append(n)));
      OCTAVO_RETURN_NOT_OK(FromArrow(sb.Finish(&c->enum_names)));
      c->type = arrow::dictionary(arrow::int32(), arrow::utf8());
      break;
    }
    case H5T_ARRAY: {
      int ad = H5Tget_array_ndims(t);
      if (ad <= 0 || ad > 32) return Status::NotImplemented("field '", name, "' has a bad array shape");
      std::vector<hsize_t> adims(static_cast<size_t>(ad));
      H5Tget_array_dims2(t, adims.data());
      Hid base(H5Tget_super(t), H5Tclose);
      Conv leaf;
      OCTAVO_RETURN_NOT_OK(BuildConv(base.get(), name, &leaf, depth + 1));
      if (leaf.k == Conv::kVlStr || leaf.k == Conv::kVlNum)
        return Status::NotImplemented("field '", name, "' is an array of variable-length values");
      // innermost dimension first
      Conv cur = std::move(leaf);
      for (int k = ad - 1; k >= 0; --k) {
        Conv l;
        l.k = Conv::kList;
        l.name = name;
        l.list_size = static_cast<int32_t>(adims[static_cast<size_t>(k)]);
        l.size = cur.size * adims[static_cast<size_t>(k)];
        l.type = arrow::fixed_size_list(arrow::field("item", cur.type), l.list_size);
        l.children.push_back(std::move(cur));
        cur = std::move(l);
      }
      std::string nm2 = c->name;
      *c = std::move(cur);
      c->name = nm2;
      break;
    }
    case H5T_COMPOUND: {
      int nm = H5Tget_nmembers(t);
      c->k = Conv::kStruct;
      arrow::FieldVector fields;
      for (int k = 0; k < nm; ++k) {
        char* mn = H5Tget_member_name(t, static_cast<unsigned>(k));
        std::string mname = mn ? mn : "";
        if (mn) H5free_memory(mn);
        Hid mt(H5Tget_member_type(t, static_cast<unsigned>(k)), H5Tclose);
        Conv child;
        OCTAVO_RETURN_NOT_OK(BuildConv(mt.get(), name.empty() ? mname : name + "/" + mname, &child, depth + 1));
        child.name = mname;
        child.offset = H5Tget_member_offset(t, static_cast<unsigned>(k));
        fields.push_back(arrow::field(mname, child.type));
        c->children.push_back(std::move(child));
      }
      c->type = arrow::struct_(fields);
      break;
    }
    case H5T_VLEN: {
      Hid base(H5Tget_super(t), H5Tclose);
      Conv leaf;
      OCTAVO_RETURN_NOT_OK(BuildConv(base.get(), name, &leaf, depth + 1));
      if (leaf.k != Conv::kNum && leaf.k != Conv::kBool)
        return Status::NotImplemented("field '", name, "' is a variable-length sequence of non-numeric values");
      c->k = Conv::kVlNum;
      c->type = arrow::list(leaf.type);
      c->children.push_back(std::move(leaf));
      break;
    }
    default:
      return Status::NotImplemented("field '", name, "' has HDF5 type class ", static_cast<int>(cls),
                                    " (references, opaque and time types are not supported)");
  }
  if (!c->type) return Status::NotImplemented("field '", name, "' has an unsupported ", c->size, "-byte type");
  return Status::OK();
}

bool ValidUtf8(const char* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > n) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 2) return false;
    i += len;
  }
  return true;
}

Result<std::shared_ptr<arrow::Array>> Convert(const Conv& c, const char* base, size_t stride, int64_t n);

bool HasFixedStrings(const Conv& c) {
  if (c.k == Conv::kStr) return true;
  if (c.k == Conv::kStruct || c.k == Conv::kList)
    for (const auto& ch : c.children)
      if (HasFixedStrings(ch)) return true;
  return false;
}

// Marks the fixed-string fields holding a value that is not UTF-8 text (rows row0.. of a block).
void ScanFixedStrings(Conv& c, const char* base, size_t stride, int64_t n, int64_t row0) {
  switch (c.k) {
    case Conv::kStr:
      if (c.binary) return;
      for (int64_t r = 0; r < n; ++r) {
        const char* s = base + r * stride;
        size_t len = c.size;
        while (len > 0 && s[len - 1] == '\0') --len;
        if (!ValidUtf8(s, len)) {
          c.binary = true;
          c.first_bad_row = row0 + r;
          return;
        }
      }
      return;
    case Conv::kStruct:
      for (auto& ch : c.children) ScanFixedStrings(ch, base + ch.offset, stride, n, row0);
      return;
    case Conv::kList:
      for (int64_t r = 0; r < n; ++r)
        ScanFixedStrings(c.children[0], base + r * stride, c.children[0].size, c.list_size, row0 + r);
      return;
    default:
      return;
  }
}

// After ScanFixedStrings: binary fields get arrow::binary(), their parents' types follow;
// `notes` gets one line per such field.
void RetypeFixedStrings(Conv& c, const std::string& path, std::vector<std::string>* notes) {
  switch (c.k) {
    case Conv::kStr:
      if (c.binary) {
        c.type = arrow::binary();
        notes->push_back("field '" + path + "' is not UTF-8 text (first at row " + std::to_string(c.first_bad_row) +
                         "): imported as binary (the exact bytes)");
      }
      return;
    case Conv::kStruct: {
      arrow::FieldVector fields;
      for (auto& ch : c.children) {
        RetypeFixedStrings(ch, path.empty() ? ch.name : path + "/" + ch.name, notes);
        fields.push_back(arrow::field(ch.name, ch.type));
      }
      c.type = arrow::struct_(fields);
      return;
    }
    case Conv::kList:
      RetypeFixedStrings(c.children[0], path, notes);
      c.type = arrow::fixed_size_list(arrow::field("item", c.children[0].type), c.list_size);
      return;
    default:
      return;
  }
}

Result<std::shared_ptr<arrow::Array>> ConvertNum(const Conv& c, const char* base, size_t stride, int64_t n) {
  OCTAVO_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Buffer> buf, arrow::AllocateBuffer(n * static_cast<int64_t>(c.size)));
  uint8_t* dst = buf->mutable_data();
  if (stride == c.size) {
    if (n > 0) std::memcpy(dst, base, static_cast<size_t>(n) * c.size);
  } else {
    for (int64_t r = 0; r < n; ++r) std::memcpy(dst + r * c.size, base + r * stride, c.size);
  }
  return arrow::MakeArray(arrow::ArrayData::Make(c.type, n, {nullptr, buf}));
}

Result<std::shared_ptr<arrow::Array>> Convert(const Conv& c, const char* base, size_t stride, int64_t n) {
  switch (c.k) {
    case Conv::kNum: return ConvertNum(c, base, stride, n);
    case Conv::kBool: {
      arrow::BooleanBuilder b;
      OCTAVO_RETURN_NOT_OK(FromArrow(b.Reserve(n)));
      for (int64_t r = 0; r < n; ++r) b.UnsafeAppend(base[r * stride] != 0);
      std::shared_ptr<arrow::Array> out;
      OCTAVO_RETURN_NOT_OK(FromArrow(b.Finish(&out)));
      return out;
    }
    case Conv::kStr: {
      // Fixed-size, NUL-padded. Text must be UTF-8; a field the scan found not to be is binary.
      arrow::BinaryBuilder b;
      OCTAVO_RETURN_NOT_OK(FromArrow(b.Reserve(n)));
      for (int64_t r = 0; r < n; ++r) {
        const char* s = base + r * stride;
        size_t len = c.size;
        while (len > 0 && s[len - 1] == '\0') --len;
        if (!c.binary && !ValidUtf8(s, len))
          return Status::TypeError("string field '", c.name, "' holds bytes that are not UTF-8 (row ", r,
                                   " of the block); octavo stores fixed strings as UTF-8 text");
        OCTAVO_RETURN_NOT_OK(FromArrow(b.Append(reinterpret_cast<const uint8_t*>(s), static_cast<int32_t>(len))));
      }
      std::shared_ptr<arrow::Array> out;
      OCTAVO_RETURN_NOT_OK(FromArrow(b.Finish(&out)));
      if (c.binary) return out;
      auto data = out->data()->Copy();  // same layout: relabel as utf8
      data->type = arrow::utf8();
      return arrow::MakeArray(data);
    }
    case Conv::kVlStr: {
      arrow::StringBuilder b;
      for (int64_t r = 0; r < n; ++r) {
        const char* p = *reinterpret_cast<char* const*>(base + r * stride);
        if (!p) {
          OCTAVO_RETURN_NOT_OK(FromArrow(b.AppendNull()));
          continue;
        }
        size_t len = std::strlen(p);
        if (!ValidUtf8(p, len)) return Status::TypeError("string field '", c.name, "' holds bytes that are not UTF-8");
        OCTAVO_RETURN_NOT_OK(FromArrow(b.Append(p, static_cast<int32_t>(len))));
      }
      std::shared_ptr<arrow::Array> out;
      OCTAVO_RETURN_NOT_OK(FromArrow(b.Finish(&out)));
      return out;
    }
    case Conv::kVlNum: {
      const Conv& leaf = c.children[0];
      std::string flat;
      arrow::Int32Builder offsets;
      OCTAVO_RETURN_NOT_OK(FromArrow(offsets.Append(0)));
      int64_t total = 0;
      for (int64_t r = 0; r < n; ++r) {
        const hvl_t* vl = reinterpret_cast<const hvl_t*>(base + r * stride);
        flat.append(static_cast<const char*>(vl->p), vl->len * leaf.size);
        total += static_cast<int64_t>(vl->len);
        if (total > INT32_MAX) return Status::NotImplemented("variable-length field '", c.name, "' block is too large");
        OCTAVO_RETURN_NOT_OK(FromArrow(offsets.Append(static_cast<int32_t>(total))));
      }
      OCTAVO_ASSIGN_OR_RETURN(auto values, Convert(leaf, flat.data(), leaf.size, total));
      std::shared_ptr<arrow::Array> offs;
      OCTAVO_RETURN_NOT_OK(FromArrow(offsets.Finish(&offs)));
      OCTAVO_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Array> out, arrow::ListArray::FromArrays(*offs, *values));
      return out;
    }
    case Conv::kEnum: {
      arrow::Int32Builder b;
      OCTAVO_RETURN_NOT_OK(FromArrow(b.Reserve(n)));
      for (int64_t r = 0; r < n; ++r) {
        const char* p = base + r * stride;
        int64_t v = 0;
        if (c.size == 1) v = c.sign ? int64_t(int8_t(p[0])) : int64_t(uint8_t(p[0]));
        else if (c.size == 2) { int16_t s; uint16_t u; std::memcpy(&s, p, 2); std::memcpy(&u, p, 2); v = c.sign ? s : u; }
        else if (c.size == 4) { int32_t s; uint32_t u; std::memcpy(&s, p, 4); std::memcpy(&u, p, 4); v = c.sign ? s : u; }
        else std::memcpy(&v, p, 8);
        auto it = std::find(c.enum_values.begin(), c.enum_values.end(), v);
        if (it == c.enum_values.end()) b.UnsafeAppendNull();
        else b.UnsafeAppend(static_cast<int32_t>(it - c.enum_values.begin()));
      }
      std::shared_ptr<arrow::Array> idx;
      OCTAVO_RETURN_NOT_OK(FromArrow(b.Finish(&idx)));
      OCTAVO_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Array> out,
                                    arrow::DictionaryArray::FromArrays(c.type, idx, c.enum_names));
      return out;
    }
    case Conv::kList: {
      const Conv& child = c.children[0];
      int64_t m = n * c.list_size;
      std::shared_ptr<arrow::Array> values;
      if (stride == c.size) {
        OCTAVO_ASSIGN_OR_RETURN(values, Convert(child, base, child.size, m));
      } else {
        std::string tmp(static_cast<size_t>(n) * c.size, '\0');
        for (int64_t r = 0; r < n; ++r) std::memcpy(tmp.data() + r * c.size, base + r * stride, c.size);
        OCTAVO_ASSIGN_OR_RETURN(values, Convert(child, tmp.data(), child.size, m));
      }
      OCTAVO_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Array> out,
                                    arrow::FixedSizeListArray::FromArrays(values, c.list_size));
      return out;
    }
    case Conv::kStruct: {
      arrow::ArrayVector kids;
      for (const auto& ch : c.children) {
        OCTAVO_ASSIGN_OR_RETURN(auto a, Convert(ch, base + ch.offset, stride, n));
        kids.push_back(std::move(a));
      }
      std::vector<std::string> names;
      for (const auto& ch : c.children) names.push_back(ch.name);
      if (kids.empty()) return Status::NotImplemented("compound '", c.name, "' has no fields");
      OCTAVO_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Array> out, arrow::StructArray::Make(kids, names));
      return out;
    }
  }
  return Status::NotImplemented("unknown conversion");
}

// Streams a 1-d dataset (compound rows -> columns, or one atom -> column "value") in blocks.
class DatasetReader final : public arrow::RecordBatchReader {
 public:
  static Result<std::shared_ptr<DatasetReader>> Make(hid_t dset, const std::string& what) {
    auto r = std::shared_ptr<DatasetReader>(new DatasetReader());
    r->what_ = what;
    r->dset_ = dset;
    Hid ft(H5Dget_type(dset), H5Tclose);
    r->mt_ = Hid(H5Tget_native_type(ft.get(), H5T_DIR_ASCEND), H5Tclose);
    if (!r->mt_.valid()) return Status::NotImplemented(what, ": unsupported HDF5 type: ", TakeErrorStack());
    r->space_ = Hid(H5Dget_space(dset), H5Sclose);
    if (H5Sget_simple_extent_ndims(r->space_.get()) != 1) return Status::NotImplemented(what, " is not 1-dimensional");
    H5Sget_simple_extent_dims(r->space_.get(), &r->n_, nullptr);
    r->row_size_ = H5Tget_size(r->mt_.get());
    Status st = BuildConv(r->mt_.get(), "", &r->conv_);
    if (!st.ok()) return st.WithContext(what);
    r->block_ = std::max<hsize_t>(1, (16u << 20) / std::max<size_t>(r->row_size_, 1));
    if (r->conv_.k != Conv::kStruct) r->conv_.name = "value";
    r->vlen_ = H5Tdetect_class(r->mt_.get(), H5T_VLEN) > 0 || H5Tdetect_class(r->mt_.get(), H5T_STRING) > 0;
    if (r->vlen_) r->vlen_ = H5Tdetect_class(r->mt_.get(), H5T_VLEN) > 0 || H5Tis_variable_str(r->mt_.get()) > 0 ||
                            r->conv_.k == Conv::kStruct;
    if (HasFixedStrings(r->conv_)) {
      // Fixed strings are UTF-8 text unless a value says otherwise: one pass over the rows
      // first, so such a field is binary throughout (the schema cannot change mid-stream).
      std::string buf;
      for (hsize_t pos = 0; pos < r->n_; pos += r->block_) {
        hsize_t count = std::min(r->block_, r->n_ - pos);
        OCTAVO_RETURN_NOT_OK(FromArrow(r->ReadBlock(pos, count, &buf)));
        ScanFixedStrings(r->conv_, buf.data(), r->row_size_, static_cast<int64_t>(count), static_cast<int64_t>(pos));
        Hid msp(H5Screate_simple(1, &count, nullptr), H5Sclose);
        if (r->vlen_) H5Dvlen_reclaim(r->mt_.get(), msp.get(), H5P_DEFAULT, buf.data());
      }
      RetypeFixedStrings(r->conv_, r->conv_.k == Conv::kStruct ? "" : "value", &r->notes_);
    }
    if (r->conv_.k == Conv::kStruct) {
      arrow::FieldVector fields;
      for (const auto& c : r->conv_.children) fields.push_back(arrow::field(c.name, c.type));
      r->schema_ = arrow::schema(fields);
    } else {
      r->schema_ = arrow::schema({arrow::field("value", r->conv_.type)});
    }
    return r;
  }

  // Fields imported differently than the plan said (non-UTF-8 fixed strings -> binary).
  const std::vector<std::string>& notes() const { return notes_; }

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  int64_t rows() const { return static_cast<int64_t>(n_); }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    if (pos_ >= n_) return arrow::Status::OK();
    hsize_t count = std::min(block_, n_ - pos_);
    ARROW_RETURN_NOT_OK(ReadBlock(pos_, count, &buf_));
    Hid msp(H5Screate_simple(1, &count, nullptr), H5Sclose);
    Result<std::shared_ptr<arrow::RecordBatch>> batch = Status::Invalid("unset");
    if (conv_.k == Conv::kStruct) {
      arrow::ArrayVector cols;
      Status st;
      for (const auto& c : conv_.children) {
        auto a = Convert(c, buf_.data() + c.offset, row_size_, static_cast<int64_t>(count));
        if (!a.ok()) {
          st = a.status();
          break;
        }
        cols.push_back(*a);
      }
      if (st.ok()) batch = arrow::RecordBatch::Make(schema_, static_cast<int64_t>(count), std::move(cols));
      else batch = st;
    } else {
      auto a = Convert(conv_, buf_.data(), row_size_, static_cast<int64_t>(count));
      if (a.ok()) batch = arrow::RecordBatch::Make(schema_, static_cast<int64_t>(count), {*a});
      else batch = a.status();
    }
    if (vlen_) H5Dvlen_reclaim(mt_.get(), msp.get(), H5P_DEFAULT, buf_.data());
    if (!batch.ok()) return arrow::Status::Invalid(what_, ": ", batch.status().message());
    pos_ += count;
    *out = *batch;
    return arrow::Status::OK();
  }

 private:
  DatasetReader() = default;
  arrow::Status ReadBlock(hsize_t pos, hsize_t count, std::string* buf) {
    buf->assign(static_cast<size_t>(count) * row_size_, '\0');
    Hid fsp(H5Scopy(space_.get()), H5Sclose);
    if (H5Sselect_hyperslab(fsp.get(), H5S_SELECT_SET, &pos, nullptr, &count, nullptr) < 0)
      return arrow::Status::IOError(what_, ": bad selection: ", TakeErrorStack());
    Hid msp(H5Screate_simple(1, &count, nullptr), H5Sclose);
    if (H5Dread(dset_, mt_.get(), msp.get(), fsp.get(), H5P_DEFAULT, buf->data()) < 0)
      return arrow::Status::IOError("cannot read ", what_, " (truncated or corrupt file?): ", TakeErrorStack());
    return arrow::Status::OK();
  }
  std::vector<std::string> notes_;
  std::string what_;
  hid_t dset_ = -1;
  Hid mt_, space_;
  hsize_t n_ = 0, pos_ = 0, block_ = 1;
  size_t row_size_ = 0;
  Conv conv_;
  bool vlen_ = false;
  std::shared_ptr<arrow::Schema> schema_;
  std::string buf_;
};

// VLArray of VLStringAtom / VLUnicodeAtom: rows of bytes / UCS4 -> one utf8 column "value".
class VLStringReader final : public arrow::RecordBatchReader {
 public:
  VLStringReader(hid_t dset, std::string what, bool ucs4) : dset_(dset), what_(std::move(what)), ucs4_(ucs4) {
    space_ = Hid(H5Dget_space(dset), H5Sclose);
    H5Sget_simple_extent_dims(space_.get(), &n_, nullptr);
    mt_ = Hid(H5Tvlen_create(ucs4 ? H5T_NATIVE_UINT32 : H5T_NATIVE_UINT8), H5Tclose);
    schema_ = arrow::schema({arrow::field("value", arrow::utf8())});
  }
  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    if (pos_ >= n_) return arrow::Status::OK();
    hsize_t count = std::min<hsize_t>(65536, n_ - pos_);
    std::vector<hvl_t> vl(static_cast<size_t>(count));
    Hid fsp(H5Scopy(space_.get()), H5Sclose);
    H5Sselect_hyperslab(fsp.get(), H5S_SELECT_SET, &pos_, nullptr, &count, nullptr);
    Hid msp(H5Screate_simple(1, &count, nullptr), H5Sclose);
    if (H5Dread(dset_, mt_.get(), msp.get(), fsp.get(), H5P_DEFAULT, vl.data()) < 0)
      return arrow::Status::IOError("cannot read ", what_, " (truncated or corrupt file?): ", TakeErrorStack());
    arrow::StringBuilder b;
    arrow::Status st;
    for (auto& v : vl) {
      std::string s;
      if (ucs4_) {
        const uint32_t* p = static_cast<const uint32_t*>(v.p);
        for (size_t k = 0; k < v.len; ++k) {
          uint32_t cp = p[k];
          if (cp < 0x80) s.push_back(static_cast<char>(cp));
          else if (cp < 0x800) { s.push_back(static_cast<char>(0xC0 | (cp >> 6))); s.push_back(static_cast<char>(0x80 | (cp & 0x3F))); }
          else if (cp < 0x10000) { s.push_back(static_cast<char>(0xE0 | (cp >> 12))); s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F))); s.push_back(static_cast<char>(0x80 | (cp & 0x3F))); }
          else { s.push_back(static_cast<char>(0xF0 | (cp >> 18))); s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F))); s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F))); s.push_back(static_cast<char>(0x80 | (cp & 0x3F))); }
        }
      } else {
        s.assign(static_cast<const char*>(v.p), v.len);
      }
      if (st.ok() && !ValidUtf8(s.data(), s.size()))
        st = arrow::Status::Invalid(what_, ": a vlstring row is not UTF-8 text");
      if (st.ok()) st = b.Append(s);
    }
    H5Dvlen_reclaim(mt_.get(), msp.get(), H5P_DEFAULT, vl.data());
    ARROW_RETURN_NOT_OK(st);
    std::shared_ptr<arrow::Array> a;
    ARROW_RETURN_NOT_OK(b.Finish(&a));
    *out = arrow::RecordBatch::Make(schema_, static_cast<int64_t>(count), {a});
    pos_ += count;
    return arrow::Status::OK();
  }

 private:
  hid_t dset_;
  std::string what_;
  bool ucs4_;
  Hid space_, mt_;
  hsize_t n_ = 0, pos_ = 0;
  std::shared_ptr<arrow::Schema> schema_;
};

// --- planning -------------------------------------------------------------------------------

struct Planned {
  ImportItem item;
  std::string kind;  // internal: group, pandas, table, array, vlstring, vlunicode, file, link
  std::string link_target_h5;
  std::string dtype;  // arrays
  std::vector<int64_t> shape;
};

std::string ShapeText(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  if (s.size() == 1) out += ",";
  return out + ")";
}

std::string ArrayDtype(hid_t mt) {
  H5T_class_t cls = H5Tget_class(mt);
  size_t size = H5Tget_size(mt);
  if (cls == H5T_INTEGER) {
    bool u = H5Tget_sign(mt) == H5T_SGN_NONE;
    if (size == 1 || size == 2 || size == 4 || size == 8) return std::string(u ? "uint" : "int") + std::to_string(size * 8);
  }
  if (cls == H5T_FLOAT && (size == 4 || size == 8)) return "float" + std::to_string(size * 8);
  if (cls == H5T_BITFIELD && size == 1) return "bool";
  if (cls == H5T_ENUM && size == 1 && H5Tget_nmembers(mt) == 2) return "bool";  // h5py bool (checked below)
  return "";
}

class Importer {
 public:
  // `out`: where Execute streams the bundle operations (the worker's channel to its parent,
  // which replays them into the bundle: see ImportFile in client.cc).
  Importer(std::string file, hid_t f, wire::FrameWriter* out, std::string dest, const ImportOptions& opt)
      : file_(std::move(file)), f_(f), out_(out), dest_(std::move(dest)), opt_(opt) {}

  Status Plan() {
    Planned root;
    root.kind = "group";
    root.item = {"/", "group", "group", dest_, "", true, ""};
    plan_.push_back(root);
    return WalkGroup("/", 0);
  }

  Status Execute(ImportReport* report) {
    for (auto& p : plan_) {
      if (!p.item.supported) continue;
      if (p.kind == "link") continue;  // after everything else
      Status st = ExecuteOne(p, report);
      if (!st.ok()) return st.WithContext(file_ + ": " + p.item.h5_path);
    }
    for (auto& p : plan_) {
      if (!p.item.supported || p.kind != "link") continue;
      Status st = out_->Message({{"op", "link"}, {"dest", p.item.dest}, {"target", p.link_target_h5}});
      if (!st.ok()) return st.WithContext(file_ + ": soft link " + p.item.h5_path);
    }
    return Status::OK();
  }

  std::vector<Planned>& plan() { return plan_; }

 private:
  std::string DestOf(const std::string& h5) const {
    if (h5 == "/") return dest_;
    return dest_ == "/" ? h5 : dest_ + h5;
  }

  void Unsupported(const std::string& h5, const std::string& kind, const std::string& why) {
    Planned p;
    p.kind = "skip";
    p.item = {h5, kind, "skip", "", "", false, why};
    plan_.push_back(std::move(p));
  }

  Status WalkGroup(const std::string& path, int depth) {
    if (depth > 64) return Status::Corruption("HDF5 hierarchy nested too deeply at ", path);
    Hid g(H5Gopen2(f_, path.c_str(), H5P_DEFAULT), H5Gclose);
    if (!g.valid()) return Status::Corruption("cannot open HDF5 group ", path, ": ", TakeErrorStack());
    struct L {
      std::string name;
      H5L_type_t type;
    };
    std::vector<L> links;
    auto cb = [](hid_t, const char* name, const H5L_info_t* li, void* d) -> herr_t {
      static_cast<std::vector<L>*>(d)->push_back({name, li->type});
      return 0;
    };
    if (H5Literate(g.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, cb, &links) < 0)
      return Status::Corruption("cannot list HDF5 group ", path, " (truncated or corrupt file?): ", TakeErrorStack());
    for (const auto& l : links) {
      std::string child = Join(path, l.name);
      if (Status vn = ValidateName(l.name); !vn.ok()) {  // listed (escaped), never opened by that name
        Unsupported(Join(path, ShownName(l.name)), "object", vn.message());
        continue;
      }
      if (l.type == H5L_TYPE_SOFT) {
        H5L_info_t li;
        std::string target;
        if (H5Lget_info(f_, child.c_str(), &li, H5P_DEFAULT) >= 0 && li.u.val_size > 0) {
          target.resize(li.u.val_size);
          H5Lget_val(f_, child.c_str(), target.data(), target.size(), H5P_DEFAULT);
          while (!target.empty() && target.back() == '\0') target.pop_back();
        } else {
          TakeErrorStack();
        }
        if (target.empty()) {
          Unsupported(child, "softlink", "cannot read the link's target");
          continue;
        }
        std::string abs = target[0] == '/' ? target : Join(path, target);
        auto norm = NormalizePath(abs);
        if (!norm.ok()) {
          Unsupported(child, "softlink", "target '" + ShownName(target) + "' is not a valid path");
          continue;
        }
        Planned p;
        p.kind = "link";
        p.link_target_h5 = DestOf(*norm);
        p.item = {child, "softlink", "link", DestOf(child), "-> " + ShownName(target), true, ""};
        plan_.push_back(std::move(p));
        continue;
      }
      if (l.type != H5L_TYPE_HARD) {
        Unsupported(child, l.type == H5L_TYPE_EXTERNAL ? "external link" : "user-defined link",
                    "links to other files are not followed (import the other file separately)");
        continue;
      }
      OCTAVO_RETURN_NOT_OK(PlanObject(child, depth));
    }
    return Status::OK();
  }

  Status PlanObject(const std::string& path, int depth) {
    Hid obj(H5Oopen(f_, path.c_str(), H5P_DEFAULT), H5Oclose);
    if (!obj.valid()) return Status::Corruption("cannot open HDF5 object ", path, ": ", TakeErrorStack());
    H5O_info_t info;
    if (H5Oget_info2(obj.get(), &info, H5O_INFO_BASIC) < 0)
      return Status::Corruption("cannot inspect HDF5 object ", path, ": ", TakeErrorStack());
    OCTAVO_ASSIGN_OR_RETURN(auto pt, ReadStrAttr(obj.get(), "pandas_type"));
    OCTAVO_ASSIGN_OR_RETURN(auto cls_attr, ReadStrAttr(obj.get(), "CLASS"));
    OCTAVO_ASSIGN_OR_RETURN(auto node_type, ReadStrAttr(obj.get(), "NODE_TYPE"));
    std::string cls = cls_attr ? *cls_attr : "";
    std::string lcls = cls;
    std::transform(lcls.begin(), lcls.end(), lcls.begin(), ::tolower);
    if (pt) {
      Planned p;
      p.kind = "pandas";
      p.item = {path, "pandas", "table", DestOf(path), "pandas " + *pt, true, ""};
      static const char* ok[] = {"frame_table", "series_table", "frame", "series"};
      bool supported = false;
      for (auto* k : ok) supported = supported || *pt == k;
      if (!supported) {
        p.item.supported = false;
        p.item.action = "skip";
        p.item.reason = "pandas_type '" + *pt + "' is not supported";
      }
      plan_.push_back(std::move(p));
      return Status::OK();
    }
    if (info.type == H5O_TYPE_GROUP) {
      Planned p;
      p.kind = "group";
      p.item = {path, "group", "group", DestOf(path), "", true, ""};
      plan_.push_back(std::move(p));
      return WalkGroup(path, depth + 1);
    }
    if (info.type != H5O_TYPE_DATASET) {
      Unsupported(path, "named datatype", "committed HDF5 datatypes have no octavo counterpart");
      return Status::OK();
    }
    std::string kind = lcls.empty() ? "dataset" : lcls;
    Status fst = CheckFilters(obj.get(), path + " in " + file_);
    if (!fst.ok()) {
      Unsupported(path, kind, fst.message());
      return Status::OK();
    }
    Hid ft(H5Dget_type(obj.get()), H5Tclose);
    Hid sp(H5Dget_space(obj.get()), H5Sclose);
    int nd = H5Sget_simple_extent_ndims(sp.get());
    if (nd < 0 || nd > H5S_MAX_RANK) return Status::Corruption("HDF5 dataset ", path, " has a bad rank (", nd, ")");
    std::vector<hsize_t> dims(static_cast<size_t>(nd));
    if (nd > 0 && H5Sget_simple_extent_dims(sp.get(), dims.data(), nullptr) < 0)
      return Status::Corruption("cannot read the shape of HDF5 dataset ", path, ": ", TakeErrorStack());
    const int64_t elements = ElementCount(dims);
    const size_t type_size = H5Tget_size(ft.get());
    int64_t bytes = 0;
    if (elements < 0 || type_size == 0 ||
        __builtin_mul_overflow(elements, static_cast<int64_t>(type_size), &bytes)) {
      Unsupported(path, kind, "its shape (" + std::to_string(nd) + " dimensions) holds more elements than fit in 64 bits");
      return Status::OK();
    }
    std::vector<int64_t> shape(dims.begin(), dims.end());
    H5T_class_t tcls = H5Tget_class(ft.get());
    if (node_type && *node_type == "file") {
      if (tcls != H5T_INTEGER || H5Tget_size(ft.get()) != 1) {
        Unsupported(path, "filenode", "a file node whose data is not bytes");
        return Status::OK();
      }
      Planned p;
      p.kind = "file";
      p.item = {path, "filenode", "file", DestOf(path), std::to_string(elements) + " bytes", true, ""};
      plan_.push_back(std::move(p));
      return Status::OK();
    }
    if (nd == 0) {
      Unsupported(path, kind, "scalar (0-d) datasets are not imported; store the value as an attribute");
      return Status::OK();
    }
    if (tcls == H5T_COMPOUND) {
      if (nd != 1) {
        Unsupported(path, kind, "a compound dataset with " + std::to_string(nd) + " dimensions (tables are 1-d)");
        return Status::OK();
      }
      Hid mt(H5Tget_native_type(ft.get(), H5T_DIR_ASCEND), H5Tclose);
      Conv c;
      Status st = mt.valid() ? BuildConv(mt.get(), "", &c) : Status::NotImplemented(TakeErrorStack());
      if (!st.ok()) {
        Unsupported(path, kind, st.message());
        return Status::OK();
      }
      Planned p;
      p.kind = "table";
      std::string cols;
      for (auto& ch : c.children) cols += (cols.empty() ? "" : ", ") + ch.name + ": " + ch.type->ToString();
      p.item = {path, kind == "dataset" ? "compound dataset" : kind, "table", DestOf(path),
                std::to_string(shape[0]) + " rows; " + cols, true, ""};
      plan_.push_back(std::move(p));
      return Status::OK();
    }
    OCTAVO_ASSIGN_OR_RETURN(auto pseudo, ReadStrAttr(obj.get(), "PSEUDOATOM"));
    if (tcls == H5T_VLEN || (tcls == H5T_STRING && H5Tis_variable_str(ft.get()) > 0) ||
        (tcls == H5T_STRING && nd == 1)) {
      Planned p;
      if (nd != 1) {
        Unsupported(path, kind, "a variable-length dataset with " + std::to_string(nd) + " dimensions");
        return Status::OK();
      }
      if (pseudo && *pseudo == "object") {
        Unsupported(path, kind, "a VLArray of pickled Python objects (ObjectAtom) cannot be imported safely");
        return Status::OK();
      }
      if (pseudo && (*pseudo == "vlstring" || *pseudo == "vlunicode")) {
        p.kind = *pseudo;
        p.item = {path, kind, "table", DestOf(path), std::to_string(shape[0]) + " rows; value: string (" + *pseudo + ")",
                  true, ""};
        plan_.push_back(std::move(p));
        return Status::OK();
      }
      Hid mt(H5Tget_native_type(ft.get(), H5T_DIR_ASCEND), H5Tclose);
      Conv c;
      Status st = mt.valid() ? BuildConv(mt.get(), "value", &c) : Status::NotImplemented(TakeErrorStack());
      if (!st.ok()) {
        Unsupported(path, kind, st.message());
        return Status::OK();
      }
      p.kind = "table";
      p.item = {path, kind, "table", DestOf(path), std::to_string(shape[0]) + " rows; value: " + c.type->ToString(),
                true, ""};
      plan_.push_back(std::move(p));
      return Status::OK();
    }
    Hid mt(H5Tget_native_type(ft.get(), H5T_DIR_ASCEND), H5Tclose);
    std::string dtype = mt.valid() ? ArrayDtype(mt.get()) : "";
    if (dtype == "bool" && tcls == H5T_ENUM) {
      Conv c;
      if (!BuildConv(mt.get(), "", &c).ok() || c.k != Conv::kBool) dtype = "";
    }
    if (dtype.empty()) {
      H5Eclear2(H5E_DEFAULT);
      std::string why = "element type (HDF5 class " + std::to_string(static_cast<int>(tcls)) + ", " +
                        std::to_string(H5Tget_size(ft.get())) + " bytes) has no octavo array dtype";
      if (tcls == H5T_STRING) why = "a multi-dimensional string array (only 1-d string arrays become tables)";
      if (tcls == H5T_FLOAT) why = "float" + std::to_string(H5Tget_size(ft.get()) * 8) + " has no octavo array dtype";
      Unsupported(path, kind, why);
      return Status::OK();
    }
    Planned p;
    p.kind = "array";
    p.dtype = dtype;
    p.shape = shape;
    p.item = {path, kind, "array", DestOf(path), dtype + " " + ShapeText(shape), true, ""};
    plan_.push_back(std::move(p));
    return Status::OK();
  }

  // The dataset's elements as `mem_type`, in slabs of whole rows along axis 0 (the parent
  // aligns them to its chunks); a failed read aborts the node on the other side.
  Status SendSlabs(hid_t d, hid_t mem_type, int itemsize, const char* what, ImportReport* report) {
    Hid fsp(H5Dget_space(d), H5Sclose);
    const int nd = H5Sget_simple_extent_ndims(fsp.get());
    std::vector<hsize_t> dims(static_cast<size_t>(std::max(nd, 0)));
    if (nd > 0) H5Sget_simple_extent_dims(fsp.get(), dims.data(), nullptr);
    const hsize_t n0 = dims.empty() ? 0 : dims[0];
    hsize_t inner = 1;
    for (size_t k = 1; k < dims.size(); ++k) inner *= dims[k];
    if (n0 == 0 || inner == 0) return Status::OK();
    const hsize_t row_bytes = inner * static_cast<hsize_t>(itemsize);
    const hsize_t slab = std::max<hsize_t>(1, static_cast<hsize_t>(opt_.array_slab_bytes) / row_bytes);
    std::string buf;
    for (hsize_t s = 0; s < n0; s += slab) {
      const hsize_t cnt = std::min(slab, n0 - s);
      std::vector<hsize_t> start(dims.size(), 0), count(dims);
      start[0] = s;
      count[0] = cnt;
      buf.resize(static_cast<size_t>(cnt * row_bytes));
      Status st;
      if (H5Sselect_hyperslab(fsp.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) < 0)
        st = Status::IOError("bad selection: ", TakeErrorStack());
      Hid msp(H5Screate_simple(nd, count.data(), nullptr), H5Sclose);
      if (st.ok() && H5Dread(d, mem_type, msp.get(), fsp.get(), H5P_DEFAULT, buf.data()) < 0)
        st = Status::Corruption("cannot read ", what, " (truncated or corrupt file?): ", TakeErrorStack());
      if (!st.ok()) {
        (void)out_->Abort(st);
        return st;
      }
      OCTAVO_RETURN_NOT_OK(out_->Data(buf.data(), buf.size()));
      report->bytes += static_cast<int64_t>(buf.size());
    }
    return Status::OK();
  }

  Status SetAttrs(hid_t obj, const std::string& h5, const std::string& dest) {
    OCTAVO_ASSIGN_OR_RETURN(auto attrs, ReadUserAttrs(obj));
    for (auto& [k, v] : attrs.set)
      OCTAVO_RETURN_NOT_OK(out_->Message({{"op", "attr"}, {"dest", dest}, {"key", k}, {"value", v}}));
    for (auto& d : attrs.dropped) {
      ImportItem it{h5, "attribute", "skip", "", "", false, "attribute " + d + " not imported"};
      dropped_attrs_.push_back(std::move(it));
    }
    return Status::OK();
  }

  Status ExecuteOne(Planned& p, ImportReport* report) {
    const std::string& h5 = p.item.h5_path;
    const std::string& dest = p.item.dest;
    if (p.kind == "group") {
      OCTAVO_RETURN_NOT_OK(out_->Message({{"op", "group"}, {"dest", dest}}));
      Hid g(H5Oopen(f_, h5.c_str(), H5P_DEFAULT), H5Oclose);
      if (!g.valid()) return Status::Corruption("cannot open HDF5 group: ", TakeErrorStack());
      return SetAttrs(g.get(), h5, dest);
    }
    if (p.kind == "pandas") {
      OCTAVO_ASSIGN_OR_RETURN(auto t, ReadPandasIn(f_, file_, h5));
      arrow::TableBatchReader reader(t);
      OCTAVO_RETURN_NOT_OK(out_->Table({{"op", "table"}, {"dest", dest}}, reader));
      report->rows += t->num_rows();
      // pandas' own attributes (index_cols, non_index_axes, levels, ...) are HDFStore
      // bookkeeping, carried over as the table's pandas schema metadata instead.
      return Status::OK();
    }
    Hid d(H5Dopen2(f_, h5.c_str(), H5P_DEFAULT), H5Dclose);
    if (!d.valid()) return Status::Corruption("cannot open HDF5 dataset: ", TakeErrorStack());
    if (p.kind == "table" || p.kind == "vlstring" || p.kind == "vlunicode") {
      std::shared_ptr<arrow::RecordBatchReader> reader;
      int64_t rows = 0;
      if (p.kind == "table") {
        OCTAVO_ASSIGN_OR_RETURN(auto r, DatasetReader::Make(d.get(), h5 + " in " + file_));
        rows = r->rows();
        for (const auto& note : r->notes()) p.item.note += (p.item.note.empty() ? "" : "; ") + note;
        reader = r;
      } else {
        auto r = std::make_shared<VLStringReader>(d.get(), h5 + " in " + file_, p.kind == "vlunicode");
        reader = r;
        Hid sp(H5Dget_space(d.get()), H5Sclose);
        hsize_t n = 0;
        H5Sget_simple_extent_dims(sp.get(), &n, nullptr);
        rows = static_cast<int64_t>(n);
      }
      OCTAVO_RETURN_NOT_OK(out_->Table({{"op", "table"}, {"dest", dest}}, *reader));
      report->rows += rows;
      return SetAttrs(d.get(), h5, dest);
    }
    if (p.kind == "array") {
      Hid ft(H5Dget_type(d.get()), H5Tclose);
      Hid mt(H5Tget_native_type(ft.get(), H5T_DIR_ASCEND), H5Tclose);
      const int itemsize = ArrayItemSize(p.dtype);
      OCTAVO_RETURN_NOT_OK(out_->Message({{"op", "array"}, {"dest", dest}, {"shape", p.shape}, {"dtype", p.dtype}}));
      OCTAVO_RETURN_NOT_OK(SendSlabs(d.get(), mt.get(), itemsize, "HDF5 dataset", report));
      OCTAVO_RETURN_NOT_OK(out_->End());
      return SetAttrs(d.get(), h5, dest);
    }
    if (p.kind == "file") {
      OCTAVO_RETURN_NOT_OK(out_->Message({{"op", "file"}, {"dest", dest}}));
      // PyTables file nodes: 1-d (version 2) or (n, 1) (version 1) uint8 EArrays
      OCTAVO_RETURN_NOT_OK(SendSlabs(d.get(), H5T_NATIVE_UINT8, 1, "file node", report));
      OCTAVO_RETURN_NOT_OK(out_->End());
      return SetAttrs(d.get(), h5, dest);
    }
    return Status::OK();
  }

 public:
  std::vector<ImportItem> dropped_attrs_;

 private:
  std::string file_;
  hid_t f_;
  wire::FrameWriter* out_;
  std::string dest_;
  ImportOptions opt_;
  std::vector<Planned> plan_;
};


}  // namespace

Result<ImportReport> InspectFileLocal(const std::string& path) {
  std::lock_guard<std::recursive_mutex> lock(H5Mutex());
  InitH5();
  OCTAVO_ASSIGN_OR_RETURN(Hid f, OpenHdf5ReadOnly(path));
  Importer imp(path, f.get(), nullptr, "/", ImportOptions{});
  Status st = imp.Plan();
  if (!st.ok()) return st.WithContext(path);
  ImportReport r;
  r.file = path;
  for (auto& p : imp.plan()) r.items.push_back(p.item);
  return r;
}

Result<ImportReport> ImportFileLocal(const std::string& path, const std::string& dest, const ImportOptions& options,
                                     wire::FrameWriter& out) {
  std::lock_guard<std::recursive_mutex> lock(H5Mutex());
  InitH5();
  OCTAVO_ASSIGN_OR_RETURN(Hid f, OpenHdf5ReadOnly(path));
  Importer imp(path, f.get(), &out, dest, options);
  Status st = imp.Plan();
  if (!st.ok()) return st.WithContext(path);
  ImportReport r;
  r.file = path;
  OCTAVO_RETURN_NOT_OK(imp.Execute(&r));
  for (auto& p : imp.plan()) r.items.push_back(p.item);
  for (auto& d : imp.dropped_attrs_) r.items.push_back(d);
  return r;
}

}  // namespace octavo::hdf5
