// HDF5 / pickle bindings of `octavo._octavo` (called from module.cc): reading pandas
// HDFStore files in C++ (in the octavo-h5worker process), and the safe unpickler (exposed for tests and tools).
#include <arrow/api.h>
#include <arrow/c/abi.h>
#include <arrow/c/bridge.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <unordered_map>

#include "hdf5/unpickle.h"
#include "octavo/bundle.h"
#include "octavo/hdf5.h"
#include "python/binding_util.h"
#include "octavo/arrow_status.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace octavo {
namespace {

using py::ArrowStream;
using py::StatusError;
using py::ToProgress;
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

// `worker`: the octavo-h5worker to run (empty: the one installed next to this module).
hdf5::WorkerOptions Worker(const std::string& executable) {
  hdf5::WorkerOptions o;
  o.executable = executable;
  return o;
}

}  // namespace

void BindHdf5(nb::module_& m) {
  // StatusError is translated by the translator registered in module.cc.


  m.def(
      "h5_read_pandas",
      [](const std::string& path, const std::string& key, const std::string& worker) {
        std::shared_ptr<arrow::Table> t;
        {
          nb::gil_scoped_release release;
          t = Unwrap(hdf5::ReadPandas(path, key, Worker(worker)));
        }
        return ArrowStream{std::make_shared<arrow::TableBatchReader>(t)};
      },
      "path"_a, "key"_a = "", "worker"_a = "");

  m.def("h5_list", [](const std::string& path, const std::string& worker) {
    std::vector<hdf5::H5Object> objs;
    {
      nb::gil_scoped_release release;
      objs = Unwrap(hdf5::ListObjects(path, Worker(worker)));
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
  }, "path"_a, "worker"_a = "");

  auto items_to_py = [](const std::vector<hdf5::ImportItem>& items) {
    nb::list out;
    for (const auto& it : items) {
      nb::dict d;
      d["h5_path"] = it.h5_path;
      d["kind"] = it.h5_kind;
      d["action"] = it.action;
      d["dest"] = it.dest;
      d["detail"] = it.detail;
      d["note"] = it.note;
      d["supported"] = it.supported;
      d["reason"] = it.reason;
      out.append(d);
    }
    return out;
  };

  m.def("h5_inspect", [items_to_py](const std::string& path, const std::string& worker) {
    hdf5::ImportReport rep;
    {
      nb::gil_scoped_release release;
      rep = Unwrap(hdf5::InspectFile(path, Worker(worker)));
    }
    return items_to_py(rep.items);
  }, "path"_a, "worker"_a = "");

  m.def(
      "h5_import",
      [items_to_py](Bundle& bundle, const std::string& path, const std::string& dest, const std::string& compression,
                    const std::string& worker, nb::handle progress) {
        hdf5::ImportReport rep;
        hdf5::ImportOptions o;
        o.table_compression = compression;
        o.worker = Worker(worker);
        o.progress = ToProgress(progress);
        {
          nb::gil_scoped_release release;
          rep = Unwrap(hdf5::ImportFile(path, bundle, dest, o));
        }
        nb::dict d;
        d["file"] = rep.file;
        d["rows"] = rep.rows;
        d["bytes"] = rep.bytes;
        d["items"] = items_to_py(rep.items);
        return d;
      },
      "bundle"_a, "path"_a, "dest"_a = "/", "compression"_a = "zstd", "worker"_a = "",
      "progress"_a = nb::none());

  m.def("h5_parquet_path", &hdf5::ParquetPathFor, "h5_path"_a, "key"_a, "num_keys"_a);
  m.def("h5_find_files", [](const std::string& root, bool recursive) {
    return Unwrap(hdf5::FindHdf5Files(root, recursive));
  });

  m.def(
      "h5_migrate",
      [](const std::vector<std::string>& files, bool remove_h5, bool dry_run, bool overwrite, int jobs,
         const std::string& compression, const std::string& into, const std::string& root, bool buffered_io,
         const std::string& worker, nb::handle progress) {
        hdf5::MigrateOptions o;
        o.on_progress = ToProgress(progress);
        o.buffered_io = buffered_io;
        o.worker = Worker(worker);
        o.remove_h5 = remove_h5;
        o.dry_run = dry_run;
        o.overwrite = overwrite;
        o.jobs = jobs;
        o.compression = compression;
        o.into = into;
        o.root = root;
        hdf5::MigrateSummary sum;
        {
          nb::gil_scoped_release release;
          sum = Unwrap(hdf5::Migrate(files, o));
        }
        nb::list out;
        for (const auto& r : sum.files) {
          nb::dict d;
          d["file"] = r.file;
          d["status"] = r.status;
          d["outputs"] = r.outputs;
          d["keys"] = r.keys;
          d["rows"] = r.rows;
          d["removed"] = r.removed;
          d["message"] = r.message;
          d["seconds"] = r.seconds;
          out.append(d);
        }
        return out;
      },
      "files"_a, "remove_h5"_a = false, "dry_run"_a = false, "overwrite"_a = false, "jobs"_a = 1,
      "compression"_a = "snappy", "into"_a = "", "root"_a = "", "buffered_io"_a = false, "worker"_a = "",
      "progress"_a = nb::none());

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
