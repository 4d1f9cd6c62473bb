// Shared-table bindings of `octavo._octavo` (called from module.cc; octavo/share.h). Tables
// cross as Arrow C streams: publishing imports the caller's stream, attaching exports batches
// whose buffers point into the mapping, so nothing is copied on the way to pyarrow.
#include <arrow/table.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include "octavo/arrow_status.h"
#include "octavo/share.h"
#include "python/binding_util.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace octavo {

void BindShare(nb::module_& m) {
  using py::ArrowStream;
  using py::Check;
  using py::Unwrap;
  nb::class_<SharedTable>(m, "SharedSegment")
      .def_prop_ro("handle", &SharedTable::handle)
      .def_prop_ro("path", &SharedTable::path)
      .def_prop_ro("size_bytes", &SharedTable::size_bytes)
      .def_prop_ro("num_rows", &SharedTable::num_rows)
      .def("close", [](SharedTable& s) { Check(s.Close()); });
  m.def(
      "share_publish",
      [](nb::capsule stream, const std::string& directory, const std::string& bundle, const std::string& table,
         int64_t commit) {
        auto reader = py::ImportStream(stream);
        auto all = reader->ToTable();
        if (!all.ok()) Check(FromArrow(all.status()));
        ShareOptions o;
        o.directory = directory;
        o.source_bundle = bundle;
        o.source_table = table;
        o.source_commit = commit;
        nb::gil_scoped_release release;
        return Unwrap(SharedTable::Publish(**all, o));
      },
      "stream"_a, "directory"_a, "bundle"_a = "", "table"_a = "", "commit"_a = -1);
  m.def(
      "share_attach",
      [](const std::string& handle, bool verify_data, bool populate) {
        AttachOptions o;
        o.verify_data = verify_data;
        o.populate = populate;
        std::shared_ptr<arrow::Table> t;
        {
          nb::gil_scoped_release release;
          t = Unwrap(SharedTable::Attach(handle, o));
        }
        return ArrowStream{std::make_shared<arrow::TableBatchReader>(t)};
      },
      "handle"_a, "verify_data"_a = false, "populate"_a = false);
  m.def("share_collect", [](const std::string& directory) { return Unwrap(CollectStaleSharedTables(directory)); });
  m.def("share_list", [](const std::string& directory) {
    nb::list out;
    for (const auto& s : Unwrap(ListSharedTables(directory))) {
      nb::dict d;
      d["path"] = s.path;
      d["size"] = s.size_bytes;
      d["owner_pid"] = s.owner_pid;
      d["owner_alive"] = s.owner_alive;
      out.append(d);
    }
    return out;
  });
}

}  // namespace octavo
