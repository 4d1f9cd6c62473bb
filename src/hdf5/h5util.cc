#include "hdf5/h5util.h"
#include "util/names.h"

#include <hdf5_hl.h>
#include <sys/stat.h>

#include <cstring>
#include <sstream>

namespace octavo::hdf5 {

std::recursive_mutex& H5Mutex() {
  static std::recursive_mutex m;
  return m;
}

void InitH5() {
  static std::once_flag once;
  std::call_once(once, [] {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  });
  // Other code in the process (h5py, PyTables) may switch printing back on.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
}

namespace {
herr_t WalkCb(unsigned n, const H5E_error2_t* e, void* data) {
  auto* out = static_cast<std::string*>(data);
  if (n >= 4) return 0;
  if (!out->empty()) out->append("; ");
  out->append(e->desc ? e->desc : "?");
  if (e->func_name) {
    out->append(" (");
    out->append(e->func_name);
    out->append(")");
  }
  return 0;
}
}  // namespace

std::string TakeErrorStack() {
  std::string out;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, WalkCb, &out);
  H5Eclear2(H5E_DEFAULT);
  return out;
}

bool LinkExists(hid_t loc, const std::string& name) {
  htri_t r = H5Lexists(loc, name.c_str(), H5P_DEFAULT);
  if (r <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return false;
  }
  return true;
}

bool HasAttr(hid_t obj, const std::string& name) {
  htri_t r = H5Aexists(obj, name.c_str());
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

namespace {

pickle::Object Scalar(pickle::Kind k) {
  pickle::Value v;
  v.kind = k;
  return pickle::Object::FromValue(std::move(v));
}

pickle::Object StrObject(std::string s) {
  pickle::Value v;
  v.kind = pickle::Kind::kStr;
  v.str = std::move(s);
  return pickle::Object::FromValue(std::move(v));
}

pickle::Object MaybeUnpickle(std::string s) {
  // PyTables: a string attribute ending in '.' may be a pickle (protocol 0 mostly).
  if (!s.empty() && s.back() == '.' && s != "0" && s != "0.") {
    auto r = pickle::Unpickle(s);
    if (r.ok()) return std::move(r).ValueOrDie();
  }
  return StrObject(std::move(s));
}

}  // namespace

Result<std::optional<pickle::Object>> ReadAttr(hid_t obj, const std::string& name) {
  if (!HasAttr(obj, name)) return std::optional<pickle::Object>();
  Hid attr(H5Aopen(obj, name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!attr.valid()) return Status::IOError("cannot open HDF5 attribute '", name, "': ", TakeErrorStack());
  Hid type(H5Aget_type(attr.get()), H5Tclose);
  Hid space(H5Aget_space(attr.get()), H5Sclose);
  if (!type.valid() || !space.valid()) return Status::IOError("bad HDF5 attribute '", name, "'");
  H5S_class_t sclass = H5Sget_simple_extent_type(space.get());
  if (sclass == H5S_NULL) return std::optional<pickle::Object>(StrObject(""));
  hssize_t npoints = H5Sget_simple_extent_npoints(space.get());
  if (npoints < 0 || npoints > (1 << 24)) return Status::Corruption("HDF5 attribute '", name, "' is too large");
  H5T_class_t cls = H5Tget_class(type.get());
  size_t size = H5Tget_size(type.get());
  auto fail = [&]() { return Status::IOError("cannot read HDF5 attribute '", name, "': ", TakeErrorStack()); };
  if (cls == H5T_STRING) {
    std::vector<std::string> vals;
    if (H5Tis_variable_str(type.get()) > 0) {
      std::vector<char*> ptrs(static_cast<size_t>(npoints), nullptr);
      Hid mt(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(mt.get(), H5T_VARIABLE);
      H5Tset_cset(mt.get(), H5Tget_cset(type.get()));
      if (H5Aread(attr.get(), mt.get(), ptrs.data()) < 0) return fail();
      for (char* p : ptrs) {
        vals.emplace_back(p ? p : "");
        if (p) H5free_memory(p);
      }
    } else {
      if (size == 0 || size > (size_t(1) << 30)) return Status::Corruption("HDF5 attribute '", name, "' has a bad size");
      std::string buf(size * static_cast<size_t>(npoints), '\0');
      if (H5Aread(attr.get(), type.get(), buf.data()) < 0) return fail();
      for (hssize_t k = 0; k < npoints; ++k) {
        std::string s = buf.substr(static_cast<size_t>(k) * size, size);
        size_t end = s.find('\0');
        if (end != std::string::npos) s.resize(end);
        vals.push_back(std::move(s));
      }
    }
    if (sclass == H5S_SCALAR || vals.size() == 1) return std::optional<pickle::Object>(MaybeUnpickle(std::move(vals[0])));
    return std::optional<pickle::Object>(pickle::Object::StrList(vals));
  }
  if (npoints != 1) {
    // numeric arrays: not needed by pandas metadata
    return std::optional<pickle::Object>(Scalar(pickle::Kind::kOpaque));
  }
  if (cls == H5T_INTEGER || cls == H5T_BITFIELD || cls == H5T_ENUM) {
    int64_t v = 0;
    hid_t mt = H5Tget_sign(type.get()) == H5T_SGN_NONE ? H5T_NATIVE_UINT64 : H5T_NATIVE_INT64;
    if (cls == H5T_BITFIELD || cls == H5T_ENUM) {
      uint8_t b = 0;
      if (size != 1) return Status::NotImplemented("HDF5 attribute '", name, "' has an unsupported type");
      if (H5Aread(attr.get(), type.get(), &b) < 0) return fail();  // bitfields do not convert to ints
      pickle::Value val;
      val.kind = pickle::Kind::kBool;
      val.b = b != 0;
      return std::optional<pickle::Object>(pickle::Object::FromValue(std::move(val)));
    }
    if (H5Aread(attr.get(), mt, &v) < 0) return fail();
    pickle::Value val;
    val.kind = pickle::Kind::kInt;
    val.i = v;
    return std::optional<pickle::Object>(pickle::Object::FromValue(std::move(val)));
  }
  if (cls == H5T_FLOAT) {
    double d = 0;
    if (H5Aread(attr.get(), H5T_NATIVE_DOUBLE, &d) < 0) return fail();
    pickle::Value val;
    val.kind = pickle::Kind::kFloat;
    val.f = d;
    return std::optional<pickle::Object>(pickle::Object::FromValue(std::move(val)));
  }
  return std::optional<pickle::Object>(Scalar(pickle::Kind::kOpaque));
}

Result<std::optional<std::string>> ReadStrAttr(hid_t obj, const std::string& name) {
  OCTAVO_ASSIGN_OR_RETURN(auto a, ReadAttr(obj, name));
  if (!a || a->root().kind != pickle::Kind::kStr) return std::optional<std::string>();
  return std::optional<std::string>(a->root().str);
}

Result<std::optional<int64_t>> ReadIntAttr(hid_t obj, const std::string& name) {
  OCTAVO_ASSIGN_OR_RETURN(auto a, ReadAttr(obj, name));
  if (!a) return std::optional<int64_t>();
  if (a->root().kind == pickle::Kind::kInt) return std::optional<int64_t>(a->root().i);
  if (a->root().kind == pickle::Kind::kBool) return std::optional<int64_t>(a->root().b ? 1 : 0);
  return std::optional<int64_t>();
}

Status CheckFilters(hid_t dset, const std::string& what) {
  Hid dcpl(H5Dget_create_plist(dset), H5Pclose);
  if (!dcpl.valid()) return Status::OK();
  int n = H5Pget_nfilters(dcpl.get());
  for (int k = 0; k < n; ++k) {
    unsigned flags = 0;
    size_t nelmts = 0;
    unsigned cd[16];
    nelmts = 16;
    char fname[256] = {0};
    unsigned config = 0;
    H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(k), &flags, &nelmts, cd, sizeof fname, fname, &config);
    if (id < 0) continue;
    if (H5Zfilter_avail(id) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      std::string name = fname[0] ? fname : "";
      if (name.empty()) {
        switch (id) {
          case 32001: name = "blosc"; break;
          case 32026: name = "blosc2"; break;
          case 305: name = "lzo"; break;
          case 307: name = "bzip2"; break;
          case 32004: name = "lz4"; break;
          case 32015: name = "zstd"; break;
          default: name = "unknown";
        }
      }
      return Status::NotImplemented("HDF5 filter '", name, "' (id ", id, ") needed by ", what,
                                    " is not available to octavo's HDF5 library; re-save the file with "
                                    "complib='zlib' (or no compression) or install the HDF5 filter plugin "
                                    "and set HDF5_PLUGIN_PATH");
    }
  }
  return Status::OK();
}

std::string ShownName(const std::string& name) {
  return InvalidUtf8Offset(name) == std::string::npos ? name : Escaped(name);
}

Result<RawArray> ReadArray(hid_t loc, const std::string& name, const std::string& what) {
  Hid d(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.valid()) return Status::NotFound("HDF5 dataset ", what, " not found: ", TakeErrorStack());
  OCTAVO_RETURN_NOT_OK(CheckFilters(d.get(), what));
  Hid ft(H5Dget_type(d.get()), H5Tclose);
  Hid sp(H5Dget_space(d.get()), H5Sclose);
  RawArray out;
  int nd = H5Sget_simple_extent_ndims(sp.get());
  if (nd < 0 || nd > 32) return Status::Corruption("HDF5 dataset ", what, " has a bad shape");
  out.dims.resize(static_cast<size_t>(nd));
  if (nd > 0) H5Sget_simple_extent_dims(sp.get(), out.dims.data(), nullptr);
  H5T_class_t cls = H5Tget_class(ft.get());
  size_t size = H5Tget_size(ft.get());
  Hid mt;
  switch (cls) {
    case H5T_INTEGER:
      out.kind = H5Tget_sign(ft.get()) == H5T_SGN_NONE ? 'u' : 'i';
      out.itemsize = size;
      mt = Hid(H5Tget_native_type(ft.get(), H5T_DIR_ASCEND), H5Tclose);
      break;
    case H5T_BITFIELD:
    case H5T_ENUM:
      if (size != 1) return Status::NotImplemented("HDF5 dataset ", what, ": unsupported bitfield/enum type");
      out.kind = 'b';
      out.itemsize = 1;
      mt = Hid(H5Tcopy(ft.get()), H5Tclose);  // bitfields do not convert to ints
      break;
    case H5T_FLOAT:
      if (size != 4 && size != 8) return Status::NotImplemented("HDF5 dataset ", what, ": unsupported float size ", size);
      out.kind = 'f';
      out.itemsize = size;
      mt = Hid(H5Tcopy(size == 4 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE), H5Tclose);
      break;
    case H5T_STRING:
      if (H5Tis_variable_str(ft.get()) > 0)
        return Status::NotImplemented("HDF5 dataset ", what, ": variable-length strings are not supported");
      out.kind = 'S';
      out.itemsize = size;
      mt = Hid(H5Tcopy(ft.get()), H5Tclose);
      break;
    default:
      return Status::NotImplemented("HDF5 dataset ", what, ": unsupported HDF5 type class ", static_cast<int>(cls));
  }
  int64_t n = out.num_elements();
  if (n < 0 || (out.itemsize && n > (int64_t(1) << 40) / static_cast<int64_t>(out.itemsize)))
    return Status::Corruption("HDF5 dataset ", what, " is implausibly large");
  out.data.resize(static_cast<size_t>(n) * out.itemsize);
  if (n > 0 && H5Dread(d.get(), mt.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data.data()) < 0)
    return Status::Corruption("cannot read HDF5 dataset ", what, " (truncated or corrupt file?): ", TakeErrorStack());
  return out;
}

Result<std::string> ReadVLArrayRow(hid_t loc, const std::string& name, const std::string& what, size_t row) {
  Hid d(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!d.valid()) return Status::NotFound("HDF5 dataset ", what, " not found: ", TakeErrorStack());
  OCTAVO_RETURN_NOT_OK(CheckFilters(d.get(), what));
  Hid ft(H5Dget_type(d.get()), H5Tclose);
  if (H5Tget_class(ft.get()) != H5T_VLEN) return Status::TypeError("HDF5 dataset ", what, " is not a VLArray");
  Hid sp(H5Dget_space(d.get()), H5Sclose);
  hssize_t n = H5Sget_simple_extent_npoints(sp.get());
  if (n <= static_cast<hssize_t>(row)) return Status::Corruption("VLArray ", what, " has no row ", row);
  Hid mt(H5Tvlen_create(H5T_NATIVE_UINT8), H5Tclose);
  hsize_t start = row, count = 1;
  if (H5Sselect_hyperslab(sp.get(), H5S_SELECT_SET, &start, nullptr, &count, nullptr) < 0)
    return Status::IOError("bad VLArray selection: ", TakeErrorStack());
  Hid msp(H5Screate_simple(1, &count, nullptr), H5Sclose);
  hvl_t vl{0, nullptr};
  if (H5Dread(d.get(), mt.get(), msp.get(), sp.get(), H5P_DEFAULT, &vl) < 0)
    return Status::Corruption("cannot read HDF5 VLArray ", what, " (truncated or corrupt file?): ", TakeErrorStack());
  std::string out(static_cast<const char*>(vl.p), vl.len);
  H5Dvlen_reclaim(mt.get(), msp.get(), H5P_DEFAULT, &vl);
  return out;
}

Result<Hid> OpenHdf5ReadOnly(const std::string& path) {
  struct stat stt;
  if (::stat(path.c_str(), &stt) != 0) return Status::NotFound("no such file: ", path);
  htri_t is = H5Fis_hdf5(path.c_str());
  if (is <= 0) {
    std::string es = TakeErrorStack();
    return Status::Corruption(path, " is not an HDF5 file (or is truncated/corrupt)", es.empty() ? "" : ": " + es);
  }
  Hid fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG);
  Hid f(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!f.valid()) return Status::Corruption("cannot open HDF5 file ", path, " (truncated or corrupt?): ", TakeErrorStack());
  return f;
}

Result<Hid> OpenHdf5Image(const void* image, size_t size, const std::string& path) {
  // read-only, no copy, the buffer stays ours (H5LT passes it to the core driver)
  hid_t f = H5LTopen_file_image(const_cast<void*>(image), size,
                                H5LT_FILE_IMAGE_DONT_COPY | H5LT_FILE_IMAGE_DONT_RELEASE);
  if (f < 0) return Status::Corruption("cannot open HDF5 file ", path, " (truncated or corrupt?): ", TakeErrorStack());
  return Hid(f, H5Fclose);
}

}  // namespace octavo::hdf5
