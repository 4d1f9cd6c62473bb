// HDF5 / pickle bindings of `octavo._octavo` (called from module.cc): reading pandas
// HDFStore files in C++, and the safe unpickler (exposed for tests and tools).
#include <arrow/api.h>
#include <arrow/c/abi.h>
#include <arrow/c/bridge.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <unordered_map>

#include "hdf5/unpickle.h"
#include "octavo/hdf5.h"
#include "python/binding_util.h"
#include "util/arrow_status.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace octavo {
namespace {

using py::ArrowStream;
using py::StatusError;
using py::Unwrap;

nb::object ToPython(const pickle::Value* v, std::unordered_map<const pickle::Value*, nb::object>& memo) {
  using pickle::Kind;
  auto it = memo.find(v);
  if (it != memo.end()) return it->second;
  nb::object out;
  switch (v->kind) {
    case Kind::kNone: out = nb::none(); break;
    case Kind::kBool: out = nb::bool_(v->b); break;
    case Kind::kInt: out = nb::int_(v->i); break;
    case Kind::kFloat: out = nb::float_(v->f); break;
    case Kind::kStr: {
      PyObject* s = PyUnicode_DecodeUTF8(v->str.data(), static_cast<Py_ssize_t>(v->str.size()), "surrogatepass");
      if (!s) {
        PyErr_Clear();
        throw StatusError(Status::Invalid("pickle: str is not valid UTF-8"));
      }
      out = nb::steal(s);
      break;
    }
    case Kind::kBytes: out = nb::bytes(v->str.data(), v->str.size()); break;
    case Kind::kList:
    case Kind::kSet: {
      nb::list l;
      for (auto* e : v->items) l.append(ToPython(e, memo));
      out = v->kind == Kind::kSet ? nb::object(nb::steal(PySet_New(l.ptr()))) : nb::object(l);
      break;
    }
    case Kind::kTuple: {
      nb::list l;
      for (auto* e : v->items) l.append(ToPython(e, memo));
      out = nb::tuple(l);
      break;
    }
    case Kind::kDict: {
      nb::dict d;
      for (size_t k = 0; k + 1 < v->items.size(); k += 2) d[ToPython(v->items[k], memo)] = ToPython(v->items[k + 1], memo);
      out = d;
      break;
    }
    case Kind::kNdarray: {
      nb::dict d;
      d["__ndarray__"] = v->dtype;
      nb::list shape;
      for (auto s : v->shape) shape.append(s);
      d["shape"] = nb::tuple(shape);
      d["fortran"] = v->fortran;
      if (v->dtype == "|O") {
        nb::list l;
        for (auto* e : v->items) l.append(ToPython(e, memo));
        d["values"] = l;
      } else {
        d["data"] = nb::bytes(v->data.data(), v->data.size());
      }
      out = d;
      break;
    }
    default: {
      nb::dict d;
      d["__opaque__"] = v->name;
      out = d;
    }
  }
  memo[v] = out;
  return out;
}

}  // namespace

void BindHdf5(nb::module_& m) {
  // StatusError is translated by the translator registered in module.cc.


  m.def(
      "h5_read_pandas",
      [](const std::string& path, const std::string& key) {
        std::shared_ptr<arrow::Table> t;
        {
          nb::gil_scoped_release release;
          t = Unwrap(hdf5::ReadPandas(path, key));
        }
        return ArrowStream{std::make_shared<arrow::TableBatchReader>(t)};
      },
      "path"_a, "key"_a = "");

  m.def("h5_list", [](const std::string& path) {
    std::vector<hdf5::H5Object> objs;
    {
      nb::gil_scoped_release release;
      objs = Unwrap(hdf5::ListObjects(path));
    }
    nb::list out;
    for (const auto& o : objs) {
      nb::dict d;
      d["key"] = o.key;
      d["pandas_type"] = o.pandas_type;
      d["kind"] = o.kind;
      d["supported"] = o.supported;
      d["note"] = o.note;
      out.append(d);
    }
    return out;
  });

  m.def(
      "unpickle",
      [](nb::bytes data, bool allow_opaque) {
        pickle::Limits lim;
        lim.allow_opaque = allow_opaque;
        std::string_view sv(static_cast<const char*>(data.data()), data.size());
        auto obj = Unwrap(pickle::Unpickle(sv, lim));
        std::unordered_map<const pickle::Value*, nb::object> memo;
        return ToPython(&obj.root(), memo);
      },
      "data"_a, "allow_opaque"_a = true);
}

}  // namespace octavo
