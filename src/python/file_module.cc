// File-node bindings of `octavo._octavo` (called from module.cc). Bytes cross as flat
// uint8 buffers: writes read the caller's buffer, reads fill the caller's buffer in place
// (io.RawIOBase.readinto), so the Python file objects in octavo/files.py copy nothing.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>

#include "octavo/octavo.h"
#include "python/binding_util.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace octavo {
namespace {

using py::Check;
using py::Unwrap;

using Bytes = nb::ndarray<uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;
using RoBytes = nb::ndarray<const uint8_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

nb::dict FileInfoToDict(const FileNodeInfo& i) {
  nb::dict d;
  d["path"] = i.path;
  d["size"] = i.size;
  d["digest"] = i.digest;
  d["blob"] = i.blob;
  d["created_at"] = i.created_at;
  d["modified_at"] = i.modified_at;
  return d;
}

FileWriteOptions WriteOptions(bool overwrite, bool create_parents, bool append = false) {
  FileWriteOptions o;
  o.overwrite = overwrite;
  o.append = append;
  o.create_parents = create_parents;
  return o;
}

}  // namespace

void BindFiles(nb::module_& m) {
  nb::class_<FileWriter>(m, "FileWriter")
      .def("write",
           [](FileWriter& w, RoBytes data) {
             const void* p = data.data();
             int64_t n = static_cast<int64_t>(data.nbytes());
             nb::gil_scoped_release release;
             Check(w.Write(p, n));
             return n;
           })
      .def_prop_ro("bytes_written", &FileWriter::bytes_written)
      .def_prop_ro("closed", &FileWriter::closed)
      .def("close",
           [](FileWriter& w) {
             auto info = [&] {
               nb::gil_scoped_release release;
               return w.Close();
             }();
             return FileInfoToDict(Unwrap(std::move(info)));
           })
      .def("abort", [](FileWriter& w) { Check(w.Abort()); });

  nb::class_<FileReader>(m, "FileReader")
      .def_prop_ro("size", &FileReader::size)
      .def("info", [](const FileReader& r) { return FileInfoToDict(r.info()); })
      .def("read_into",
           [](const FileReader& r, int64_t offset, Bytes out) {
             void* p = out.data();
             int64_t n = static_cast<int64_t>(out.nbytes());
             nb::gil_scoped_release release;
             return Unwrap(r.ReadAt(offset, n, p));
           })
      .def("verify", [](const FileReader& r) {
        nb::gil_scoped_release release;
        Check(r.Verify());
      });

  m.def("create_file",
        [](Bundle& b, const std::string& path, bool overwrite, bool create_parents, bool append) {
          nb::gil_scoped_release release;
          return Unwrap(b.CreateFile(path, WriteOptions(overwrite, create_parents, append)));
        },
        "bundle"_a, "path"_a, "overwrite"_a = false, "create_parents"_a = true, "append"_a = false);
  m.def("open_file", [](const Bundle& b, const std::string& path) { return Unwrap(b.OpenFile(path)); });
  m.def("file_info", [](const Bundle& b, const std::string& path) { return FileInfoToDict(Unwrap(b.GetFileInfo(path))); });
  m.def("put_file",
        [](Bundle& b, const std::string& local, const std::string& path, bool overwrite, bool create_parents) {
          auto info = [&] {
            nb::gil_scoped_release release;
            return PutFile(b, local, path, WriteOptions(overwrite, create_parents));
          }();
          return FileInfoToDict(Unwrap(std::move(info)));
        },
        "bundle"_a, "local"_a, "path"_a, "overwrite"_a = false, "create_parents"_a = true);
  m.def("get_file", [](const Bundle& b, const std::string& path, const std::string& local) {
    nb::gil_scoped_release release;
    Check(GetFile(b, path, local));
  });
}

}  // namespace octavo
