// Array bindings of `octavo._octavo` (called from module.cc). numpy buffers cross the
// boundary as flat uint8 views (nanobind ndarray), so reads fill the caller's numpy array
// in place and writes read the caller's buffer: no extra copies.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include "octavo/octavo.h"
#include "python/binding_util.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace octavo {
namespace {

using py::Check;
using py::StatusError;
using py::Unwrap;

using Bytes = nb::ndarray<uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using RoBytes = nb::ndarray<const uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

std::vector<ArrayRange> Ranges(const std::vector<int64_t>& starts, const std::vector<int64_t>& stops,
                               const std::vector<int64_t>& steps) {
  if (starts.size() != stops.size() || starts.size() != steps.size())
    throw StatusError(Status::Invalid("starts, stops and steps differ in length"));
  std::vector<ArrayRange> out;
  for (size_t i = 0; i < starts.size(); ++i) out.push_back(ArrayRange{starts[i], stops[i], steps[i]});
  return out;
}

// A Python value as a FillValue, by its Python type only: the engine checks it against the
// data type (numpy scalars arrive as Python values through .item()).
FillValue ToFillValue(nb::handle v) {
  FillValue f;
  PyObject* o = v.ptr();
  if (v.is_none()) return f;
  if (PyBool_Check(o)) {
    f.kind = FillValue::Kind::kBool;
    f.boolean = o == Py_True;
  } else if (PyLong_Check(o)) {
    int overflow = 0;
    long long i = PyLong_AsLongLongAndOverflow(o, &overflow);
    if (overflow == 0) {
      f.kind = FillValue::Kind::kInt;
      f.int_value = i;
    } else {
      unsigned long long u = overflow > 0 ? PyLong_AsUnsignedLongLong(o) : 0;
      if (overflow < 0 || PyErr_Occurred()) {
        PyErr_Clear();
        throw StatusError(Status::Invalid("fill_value ", nb::str(v).c_str(), " is out of range for every data type"));
      }
      f.kind = FillValue::Kind::kUInt;
      f.uint_value = u;
    }
  } else if (PyFloat_Check(o)) {
    f.kind = FillValue::Kind::kFloat;
    f.real = PyFloat_AS_DOUBLE(o);
  } else if (PyComplex_Check(o)) {
    f.kind = FillValue::Kind::kComplex;
    f.real = PyComplex_RealAsDouble(o);
    f.imag = PyComplex_ImagAsDouble(o);
  } else if (PyUnicode_Check(o)) {
    Py_ssize_t n = 0;
    const char* s = PyUnicode_AsUTF8AndSize(o, &n);
    if (!s) {
      PyErr_Clear();
      throw StatusError(Status::Invalid("fill_value is not valid Unicode text (lone surrogates?)"));
    }
    f.kind = FillValue::Kind::kText;
    f.data.assign(s, static_cast<size_t>(n));
  } else if (PyBytes_Check(o)) {
    f.kind = FillValue::Kind::kBytes;
    f.data.assign(PyBytes_AS_STRING(o), static_cast<size_t>(PyBytes_GET_SIZE(o)));
  } else {
    throw StatusError(Status::Invalid("fill_value ", nb::repr(v).c_str(), " of type ",
                                      nb::type_name(v.type()).c_str(), " is not valid (use a bool, number, str or bytes)"));
  }
  return f;
}

nb::dict InfoToDict(const ArrayInfo& i) {
  nb::dict d;
  d["path"] = i.path;
  d["shape"] = i.shape;
  d["chunks"] = i.chunks;
  d["dtype"] = i.dtype;
  d["itemsize"] = i.itemsize;
  d["fill_value"] = i.fill_value;
  d["fill_element"] = nb::bytes(i.fill_element.data(), i.fill_element.size());
  d["compressor"] = i.compressor;
  d["compression_level"] = i.compression_level;
  d["shuffle"] = i.shuffle;
  d["bitshuffle"] = i.bitshuffle;
  d["codecs"] = i.codecs;
  d["logical_bytes"] = i.logical_bytes;
  d["zarr_json"] = i.zarr_json;
  d["num_chunks_stored"] = i.num_chunks_stored;
  d["size_bytes"] = i.size_bytes;
  d["created_at"] = i.created_at;
  d["modified_at"] = i.modified_at;
  return d;
}

}  // namespace

void BindArrays(nb::module_& m) {
  // StatusError is translated by the translator registered in module.cc.

  m.def("auto_chunks", [](const std::vector<int64_t>& shape, int itemsize) { return AutoChunks(shape, itemsize); });

  nb::class_<Array>(m, "Array")
      .def_prop_ro("path", &Array::path)
      .def("info", [](const Array& a) { return InfoToDict(Unwrap(a.Info())); })
      .def("shape", [](const Array& a) { return Unwrap(a.shape()); })
      .def("dtype", [](const Array& a) { return Unwrap(a.dtype()); })
      .def("chunk_refs",
           [](const Array& a) {
             nb::list out;
             for (const auto& r : Unwrap(a.ChunkRefs())) out.append(nb::make_tuple(r.key, r.file, r.size, r.crc32));
             return out;
           })
      .def("read_stored_chunk",
           [](const Array& a, const std::string& key) {
             std::string data;
             {
               nb::gil_scoped_release release;
               data = Unwrap(a.ReadStoredChunk(key));
             }
             return nb::bytes(data.data(), data.size());
           }, "key"_a,
           "The stored (encoded) bytes of chunk `key` ('0.1.2'), checked against the manifest's size and CRC.")
      .def("read",
           [](const Array& a, const std::vector<int64_t>& starts, const std::vector<int64_t>& stops,
              const std::vector<int64_t>& steps, Bytes out) {
             auto ranges = Ranges(starts, stops, steps);
             void* p = out.data();
             int64_t n = static_cast<int64_t>(out.nbytes());
             nb::gil_scoped_release release;
             Check(a.Read(ranges, p, n));
           })
      .def("write",
           [](Array& a, const std::vector<int64_t>& starts, const std::vector<int64_t>& stops,
              const std::vector<int64_t>& steps, RoBytes data) {
             auto ranges = Ranges(starts, stops, steps);
             const void* p = data.data();
             int64_t n = static_cast<int64_t>(data.nbytes());
             nb::gil_scoped_release release;
             Check(a.Write(ranges, p, n));
           })
      .def("append",
           [](Array& a, RoBytes data, const std::vector<int64_t>& shape, int axis) {
             const void* p = data.data();
             int64_t n = static_cast<int64_t>(data.nbytes());
             nb::gil_scoped_release release;
             Check(a.Append(p, n, shape, axis));
           },
           "data"_a, "shape"_a, "axis"_a = 0)
      .def("resize", [](Array& a, const std::vector<int64_t>& shape) {
        nb::gil_scoped_release release;
        Check(a.Resize(shape));
      });

  m.def("create_array",
        [](Bundle& b, const std::string& path, const std::vector<int64_t>& shape, const std::string& dtype,
           std::optional<std::vector<int64_t>> chunks, const std::string& compressor, int level, bool shuffle,
           nb::handle fill_value, std::optional<RoBytes> data, bool create_parents, bool bitshuffle,
           int64_t blocksize, const std::string& attrs_json) {
          ArrayOptions o;
          if (chunks) o.chunks = *chunks;
          o.compressor = compressor;
          o.compression_level = level;
          o.shuffle = shuffle;
          o.bitshuffle = bitshuffle;
          o.blocksize = blocksize;
          o.fill_value = Unwrap(FillValueJson(ToFillValue(fill_value), dtype));
          const void* p = data ? data->data() : nullptr;
          int64_t n = data ? static_cast<int64_t>(data->nbytes()) : 0;
          nb::gil_scoped_release release;
          return Unwrap(CreateArray(b, path, shape, dtype, o, p, n, CreateNodeOptions{create_parents, false, attrs_json}));
        },
        "bundle"_a, "path"_a, "shape"_a, "dtype"_a, "chunks"_a = nb::none(), "compressor"_a = "zstd",
        "level"_a = -1, "shuffle"_a = false, "fill_value"_a = nb::none(), "data"_a = nb::none(), "create_parents"_a = true,
        "bitshuffle"_a = false, "blocksize"_a = 0, "attrs_json"_a = "");
  m.def("import_zarr_array",
        [](Bundle& b, const std::string& zarr_dir, const std::string& path, bool create_parents) {
          nb::gil_scoped_release release;
          return Unwrap(ImportZarrArray(b, zarr_dir, path, create_parents));
        },
        "bundle"_a, "zarr_dir"_a, "path"_a, "create_parents"_a = true);
  m.def("set_chunk_cache_size", [](int64_t bytes) { SetArrayChunkCacheSize(bytes); }, "bytes"_a);
  m.def("chunk_cache_size", []() { return ArrayChunkCacheSize(); });
  m.def("open_array", [](const Bundle& b, const std::string& path) { return Unwrap(b.OpenArray(path)); });
}

}  // namespace octavo
