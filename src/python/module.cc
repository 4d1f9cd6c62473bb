// The nanobind extension `octavo._octavo`: a thin binding of the C++ API.
// Tables cross the boundary only as Arrow C streams / schemas (PyCapsules), zero-copy.
#include <arrow/api.h>
#include <arrow/c/abi.h>
#include <arrow/c/bridge.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#include <cstring>

#include "octavo/delta.h"
#include "octavo/octavo.h"
#include "octavo/typed_value.h"
#include "python/binding_util.h"
#include "util/threads.h"
#include "octavo/arrow_status.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace octavo {
namespace {

using py::ArrowStream;
using py::ImportStream;
using py::Check;
using py::StatusError;
using py::ToProgress;
using py::Unwrap;

// --- Arrow C data interface ----------------------------------------------------

nb::capsule ExportSchema(const std::shared_ptr<arrow::Schema>& schema) {
  auto* c = new ArrowSchema;
  auto st = arrow::ExportSchema(*schema, c);
  if (!st.ok()) {
    delete c;
    Check(FromArrow(st));
  }
  return nb::capsule(c, "arrow_schema", [](void* p) noexcept {
    auto* s = static_cast<ArrowSchema*>(p);
    if (s->release) s->release(s);
    delete s;
  });
}

std::shared_ptr<arrow::Schema> ImportSchema(nb::capsule cap) {
  if (std::string(cap.name()) != "arrow_schema") throw nb::type_error("expected an 'arrow_schema' PyCapsule");
  auto r = arrow::ImportSchema(static_cast<ArrowSchema*>(cap.data()));
  if (!r.ok()) Check(FromArrow(r.status()));
  return *r;
}

ArrowStream TableStream(const std::shared_ptr<arrow::Table>& t) {
  return ArrowStream{std::make_shared<arrow::TableBatchReader>(t)};
}

// A read's table for pa.table(): one ArrowBatch when every column is one chunk, else a stream.
nb::object TableResult(const std::shared_ptr<arrow::Table>& t) {
  std::vector<std::shared_ptr<arrow::Array>> columns;
  for (const auto& c : t->columns()) {
    if (c->num_chunks() != 1) return nb::cast(TableStream(t));
    columns.push_back(c->chunk(0));
  }
  return nb::cast(py::ArrowBatch{arrow::RecordBatch::Make(t->schema(), t->num_rows(), std::move(columns))});
}

// Structs cross to Python as dicts through their one JSON codec (include/octavo/*.h).
nb::object JsonToPython(const std::string& text) { return nb::module_::import_("json").attr("loads")(text); }
std::string PythonToJson(const nb::handle& value) {
  return nb::cast<std::string>(nb::module_::import_("json").attr("dumps")(value));
}

TableOptions OptionsFromDict(nb::dict d) { return Unwrap(TableOptionsFromJson(PythonToJson(d))); }
nb::dict OptionsToDict(const TableOptions& o) { return nb::cast<nb::dict>(JsonToPython(TableOptionsToJson(o))); }

nb::dict NodeToDict(const NodeInfo& n) {
  nb::dict d;
  d["path"] = n.path;
  d["kind"] = std::string(NodeKindName(n.kind));
  d["attrs_json"] = n.attrs_json;
  d["created_at"] = n.created_at;
  d["modified_at"] = n.modified_at;
  return d;
}

nb::dict SnapshotToDict(const SnapshotInfo& s) {
  nb::dict d;
  d["name"] = s.name;
  d["commit"] = s.commit;
  d["created_at"] = s.created_at;
  d["message"] = s.message;
  return d;
}

nb::dict CommitToDict(const CommitInfo& c) { return nb::cast<nb::dict>(JsonToPython(CommitInfoToJson(c))); }

// condvars: {name: bool | int | float | str | bytes | None}; numpy scalars are converted
// to Python values by the Python layer.
CondVars CondVarsFromDict(nb::handle d) {
  CondVars out;
  if (d.is_none()) return out;
  for (auto [k, v] : nb::cast<nb::dict>(d)) {
    std::string name = nb::cast<std::string>(nb::str(k));
    if (v.is_none()) out[name] = QueryValue::Null();
    else if (nb::isinstance<nb::bool_>(v)) out[name] = QueryValue::Bool(nb::cast<bool>(v));
    else if (nb::isinstance<nb::int_>(v)) out[name] = QueryValue::Int(nb::cast<int64_t>(v));
    else if (nb::isinstance<nb::float_>(v)) out[name] = QueryValue::Float(nb::cast<double>(v));
    else if (nb::isinstance<nb::str>(v)) out[name] = QueryValue::String(nb::cast<std::string>(v));
    else if (nb::isinstance<nb::bytes>(v)) {
      nb::bytes b = nb::borrow<nb::bytes>(v);
      out[name] = QueryValue::Bytes(std::string(b.c_str(), b.size()));
    } else {
      throw StatusError(Status::TypeError("condvar '", name, "' has unsupported type ",
                                          nb::cast<std::string>(nb::str(v.type())),
                                          "; use bool, int, float, str, bytes or None"));
    }
  }
  return out;
}

nb::dict StatsToDict(const QueryStats& s) { return nb::cast<nb::dict>(JsonToPython(QueryStatsToJson(s))); }

// A live view of a query's statistics (complete once its stream is exhausted).
struct QueryStatsHandle {
  std::shared_ptr<const QueryStats> stats;
  nb::dict ToDict() const { return stats ? StatsToDict(*stats) : StatsToDict(QueryStats{}); }
};

// Both create_table bindings: a table from a schema (reader null) or from a stream (schema null).
std::shared_ptr<Table> CreateTableFrom(Bundle& b, const std::string& path, std::shared_ptr<arrow::Schema> schema,
                                       std::shared_ptr<arrow::RecordBatchReader> reader, nb::dict options, bool parents,
                                       bool overwrite, const std::string& attrs_json) {
  auto o = OptionsFromDict(options);
  CreateNodeOptions n{parents, overwrite, attrs_json};
  nb::gil_scoped_release release;
  return Unwrap(CreateTable(b, path, schema, reader, o, n));
}

OpenMode ModeFromString(const std::string& m) {
  if (m == "r") return OpenMode::kRead;
  if (m == "a" || m == "r+") return OpenMode::kAppend;
  if (m == "w") return OpenMode::kCreate;
  throw StatusError(Status::Invalid("mode must be 'r', 'a' or 'w', got '", m, "'"));
}

}  // namespace
void BindArrays(nb::module_& m);  // array_module.cc
void BindHdf5(nb::module_& m);    // hdf5_module.cc
void BindFiles(nb::module_& m);   // file_module.cc
void BindShare(nb::module_& m);   // share_module.cc
void BindSqlite(nb::module_& m);  // sqlite_module.cc
void BindCsv(nb::module_& m);     // csv_module.cc

}  // namespace octavo

NB_MODULE(_octavo, m) {
  using namespace octavo;
  m.attr("__version__") = kVersion;
  // The newest bundle format this octavo reads (a bundle with branches says 3; manifests stay at 2).
  m.attr("FORMAT_VERSION") = kBranchesFormatVersion;

  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const StatusError& e) {
      nb::object errors = nb::module_::import_("octavo.errors");
      nb::object cls = errors.attr("error_class")(StatusCodeName(e.st.code()));
      // Decoded leniently: a stray byte must never turn an octavo error into UnicodeDecodeError
      // (Status escapes them already; this is the binding's own guarantee). Length-based, so a
      // NUL in a message does not cut it short.
      const std::string& msg = e.st.message();
      nb::object text = nb::steal(PyUnicode_DecodeUTF8(msg.data(), static_cast<Py_ssize_t>(msg.size()), "backslashreplace"));
      if (!text.is_valid()) return;  // MemoryError is set
      PyErr_SetObject(cls.ptr(), text.ptr());
    }
  });

  m.def("set_block_cache_size", [](int64_t bytes) { SetTableBlockCacheSize(bytes); }, "bytes"_a);
  m.def("block_cache_size", []() { return TableBlockCacheSize(); });

  // The one thread pool (octavo/threads.h); Arrow's CPU pool, so pyarrow.cpu_count() agrees.
  m.def("set_num_threads", [](int64_t n) {
    Check(CheckNumThreads(n));
    Check(SetNumThreads(static_cast<int>(n)));
  }, "n"_a);
  m.def("get_num_threads", [] {
    Check(InitThreads());  // an unusable OCTAVO_NUM_THREADS is an error here too
    return GetNumThreads();
  });
  m.def("available_cpus", &AvailableCpus);

  nb::class_<ArrowStream>(m, "ArrowStream")
      .def("__arrow_c_stream__", &ArrowStream::Export, "requested_schema"_a = nb::none());
  nb::class_<py::ArrowBatch>(m, "ArrowBatch")
      .def("__arrow_c_array__", &py::ArrowBatch::Export, "requested_schema"_a = nb::none());

  m.def(
      "scan_parquet_files",
      [](std::vector<std::string> paths, const std::string& condition, std::vector<std::string> columns,
         nb::handle condvars, int64_t batch_size) {
        WhereOptions o;
        o.columns = std::move(columns);
        o.condvars = CondVarsFromDict(condvars);
        o.batch_size = batch_size;
        std::shared_ptr<arrow::RecordBatchReader> reader;
        {
          nb::gil_scoped_release release;
          reader = Unwrap(ScanParquetFiles(paths, condition, o));
        }
        return ArrowStream{reader};
      },
      "paths"_a, "condition"_a = "", "columns"_a = std::vector<std::string>{}, "condvars"_a = nb::none(),
      "batch_size"_a = 65536);

  // The typed attribute codec (octavo/typed_value.h): numpy values in and out as (dtype.str, shape, bytes).
  m.def(
      "encode_typed_value",
      [](const std::string& dtype, std::vector<int64_t> shape, nb::bytes data, const std::string& where) {
        TypedValue v{dtype, std::move(shape), std::string(static_cast<const char*>(data.data()), data.size())};
        return Unwrap(EncodeTypedValue(v, where));
      },
      "dtype"_a, "shape"_a, "data"_a, "where"_a);
  m.def(
      "decode_typed_value",
      [](const std::string& text, const std::string& where) {
        TypedValue v = Unwrap(DecodeTypedValue(text, where));
        return nb::make_tuple(v.dtype, v.shape, nb::bytes(v.bytes.data(), v.bytes.size()));
      },
      "text"_a, "where"_a);

  m.def("schema_capsule_roundtrip", [](nb::capsule c) { return ExportSchema(ImportSchema(c)); });

  nb::class_<QueryStatsHandle>(m, "QueryStats").def("to_dict", &QueryStatsHandle::ToDict);

  nb::class_<Table>(m, "Table")
      .def_prop_ro("path", &Table::path)
      .def("num_rows", [](const Table& t) { return Unwrap(t.num_rows()); })
      .def("schema", [](const Table& t) { return ExportSchema(Unwrap(t.schema())); })
      .def("info", [](const Table& t) {
        TableInfo i = Unwrap(t.Info());
        nb::dict d;
        d["path"] = i.path;
        d["num_rows"] = i.num_rows;
        d["num_columns"] = i.num_columns;
        d["size_bytes"] = i.size_bytes;
        d["num_parts"] = i.num_parts;
        d["column_names"] = i.column_names;
        d["column_types"] = i.column_types;
        d["schema"] = ExportSchema(i.schema);
        d["created_at"] = i.created_at;
        d["modified_at"] = i.modified_at;
        d["part_files"] = i.part_files;
        d["options"] = OptionsToDict(i.options);
        d["sorted_by"] = i.sorted_by;
        d["sorted_rows"] = i.sorted_rows;
        d["indexes"] = i.indexes;
        return d;
      })
      .def("read",
           [](const Table& t, std::vector<std::string> columns, int64_t start, int64_t stop, bool use_threads,
              const std::string& drop_metadata_key) {
             ReadOptions o{std::move(columns), start, stop, use_threads};
             std::shared_ptr<arrow::Table> out;
             {
               nb::gil_scoped_release release;
               out = Unwrap(t.Read(o));
               // A schema metadata key the caller hides from its result (the Python package's
               // own bookkeeping): dropped here, not by a second pass in Python.
               const auto& meta = out->schema()->metadata();
               if (!drop_metadata_key.empty() && meta && meta->FindKey(drop_metadata_key) >= 0) {
                 auto kept = meta->Copy();
                 Check(FromArrow(kept->Delete(drop_metadata_key)));
                 out = out->ReplaceSchemaMetadata(kept->size() ? kept : nullptr);
               }
             }
             return TableResult(out);
           },
           "columns"_a = std::vector<std::string>{}, "start"_a = 0, "stop"_a = -1, "use_threads"_a = true,
           "drop_metadata_key"_a = std::string())
      .def("scan",
           [](const Table& t, int64_t batch_size, std::vector<std::string> columns, int64_t start, int64_t stop) {
             ReadOptions o{std::move(columns), start, stop, true};
             return ArrowStream{Unwrap(t.Scan(o, batch_size))};
           },
           "batch_size"_a, "columns"_a = std::vector<std::string>{}, "start"_a = 0, "stop"_a = -1)
      .def("where",
           [](const Table& t, const std::string& cond, std::vector<std::string> columns, int64_t start, int64_t stop,
              nb::handle condvars, int64_t batch_size, bool use_index) {
             WhereOptions o;
             o.use_index = use_index;
             o.columns = std::move(columns);
             o.start = start;
             o.stop = stop;
             o.condvars = CondVarsFromDict(condvars);
             o.batch_size = batch_size;
             std::shared_ptr<const QueryStats> stats;
             auto reader = Unwrap(t.Where(cond, o, &stats));
             return nb::make_tuple(ArrowStream{reader}, QueryStatsHandle{stats});
           },
           "condition"_a, "columns"_a = std::vector<std::string>{}, "start"_a = 0, "stop"_a = -1,
           "condvars"_a = nb::none(), "batch_size"_a = 65536, "use_index"_a = true)
      .def("get_where_list",
           [](const Table& t, const std::string& cond, int64_t start, int64_t stop, nb::handle condvars,
              bool use_index) {
             WhereOptions o;
             o.use_index = use_index;
             o.start = start;
             o.stop = stop;
             o.condvars = CondVarsFromDict(condvars);
             auto stats = std::make_shared<QueryStats>();
             std::vector<int64_t> rows;
             {
               nb::gil_scoped_release release;
               rows = Unwrap(t.GetWhereList(cond, o, stats.get()));
             }
             // Hand the rows over as raw int64 bytes; Python wraps them with numpy.frombuffer.
             nb::bytes raw(reinterpret_cast<const char*>(rows.data()), rows.size() * sizeof(int64_t));
             return nb::make_tuple(raw, QueryStatsHandle{stats});
           },
           "condition"_a, "start"_a = 0, "stop"_a = -1, "condvars"_a = nb::none(), "use_index"_a = true)
      .def("read_coordinates",
           [](const Table& t, nb::bytes rows_raw, std::vector<std::string> columns) {
             std::vector<int64_t> rows(rows_raw.size() / sizeof(int64_t));
             std::memcpy(rows.data(), rows_raw.c_str(), rows.size() * sizeof(int64_t));
             std::shared_ptr<arrow::Table> out;
             {
               nb::gil_scoped_release release;
               out = Unwrap(t.ReadCoordinates(rows, columns));
             }
             return TableResult(out);
           },
           "rows"_a, "columns"_a = std::vector<std::string>{})
      .def("append", [](Table& t, nb::capsule stream, bool add_columns, nb::handle progress, int64_t expected_rows) {
        auto reader = ImportStream(stream);
        AppendOptions o;
        o.add_columns = add_columns;
        o.progress = ToProgress(progress);
        o.expected_rows = expected_rows;
        nb::gil_scoped_release release;
        Check(t.Append(reader, o));
      }, "stream"_a, "add_columns"_a = false, "progress"_a = nb::none(), "expected_rows"_a = 0)
      .def("modify_rows", [](Table& t, int64_t start, int64_t step, nb::capsule stream) {
        auto reader = ImportStream(stream);
        nb::gil_scoped_release release;
        auto values = reader->ToTable();
        if (!values.ok()) Check(FromArrow(values.status()));
        Check(t.ModifyRows(start, step, *values));
      }, "start"_a, "step"_a, "stream"_a,
      "Copy-on-write: rows start, start+step, ... take the stream's columns; one commit.")
      .def("remove_rows", [](Table& t, int64_t start, int64_t stop, int64_t step) {
        nb::gil_scoped_release release;
        return Unwrap(t.RemoveRows(start, stop, step));
      }, "start"_a, "stop"_a, "step"_a,
      "Copy-on-write: removes rows start, start+step, ... below stop; one commit. Returns how many.")
      .def("repack",
           [](Table& t, std::vector<std::string> sort_by, int64_t row_group_size, int64_t run_rows,
              nb::handle progress) {
             RepackOptions o;
             o.progress = ToProgress(progress);
             o.sort_by = std::move(sort_by);
             o.row_group_size = row_group_size;
             if (run_rows > 0) o.run_rows = run_rows;
             nb::gil_scoped_release release;
             Check(t.Repack(o));
           },
           "sort_by"_a = std::vector<std::string>{}, "row_group_size"_a = 0, "run_rows"_a = 0,
           "progress"_a = nb::none())
      .def("create_index", [](Table& t, const std::string& c, nb::handle progress) {
        IndexOptions o;
        o.progress = ToProgress(progress);
        nb::gil_scoped_release release;
        Check(t.CreateIndex(c, o));
      }, "column"_a, "progress"_a = nb::none())
      .def("remove_index", [](Table& t, const std::string& c) { Check(t.RemoveIndex(c)); })
      .def("indexes", [](const Table& t) { return Unwrap(t.Indexes()); });

  nb::class_<Bundle>(m, "Bundle")
      .def_static("open",
                  [](const std::string& path, const std::string& mode, int64_t commit, const std::string& snapshot,
                     double wait, const std::string& branch,
                     const std::map<std::string, std::string>& storage_options) {
                    OpenOptions o;
                    o.commit = commit;
                    o.snapshot = snapshot;
                    o.branch = branch;
                    o.lock_wait_seconds = wait;
                    o.storage_options = storage_options;
                    OpenMode md = ModeFromString(mode);
                    nb::gil_scoped_release release;
                    return Unwrap(Bundle::Open(path, md, o));
                  },
                  "path"_a, "mode"_a = "r", "commit"_a = -1, "snapshot"_a = "", "wait"_a = 0.0, "branch"_a = "",
                  "storage_options"_a = std::map<std::string, std::string>{})
      .def_prop_ro("path", &Bundle::path)
      .def_prop_ro("writable", &Bundle::writable)
      .def_prop_ro("branch", &Bundle::branch)
      .def("commit_info", [](const Bundle& b) { return CommitToDict(b.commit()); })
      .def("close", [](Bundle& b) { Check(b.Close()); })
      .def("refresh", [](Bundle& b) { Check(b.Refresh()); })
      .def("create_group",
           [](Bundle& b, const std::string& p, bool parents, const std::string& attrs_json) {
             Check(CreateGroup(b, p, CreateNodeOptions{parents, false, attrs_json}));
           },
           "path"_a, "create_parents"_a = true, "attrs_json"_a = "")
      .def("exists", &Bundle::Exists)
      .def("get_node", [](const Bundle& b, const std::string& p) { return NodeToDict(Unwrap(b.GetNode(p))); })
      .def("list_children",
           [](const Bundle& b, const std::string& p) {
             nb::list out;
             for (const auto& n : Unwrap(b.ListChildren(p))) out.append(NodeToDict(n));
             return out;
           })
      .def("walk",
           [](const Bundle& b, const std::string& p) {
             nb::list out;
             for (const auto& n : Unwrap(b.Walk(p))) out.append(NodeToDict(n));
             return out;
           },
           "path"_a = "/")
      .def("remove_node", [](Bundle& b, const std::string& p, bool rec) { Check(b.RemoveNode(p, rec)); },
           "path"_a, "recursive"_a = false)
      .def("move_node", [](Bundle& b, const std::string& f, const std::string& t, bool parents) {
        Check(b.MoveNode(f, t, parents));
      }, "src"_a, "dst"_a, "create_parents"_a = true)
      .def("copy_node", [](Bundle& b, const std::string& f, const std::string& t, bool parents) {
        Check(b.CopyNode(f, t, parents));
      }, "src"_a, "dst"_a, "create_parents"_a = true)
      .def("create_soft_link", [](Bundle& b, const std::string& p, const std::string& t, bool parents) {
        Check(b.CreateSoftLink(p, t, parents));
      }, "path"_a, "target"_a, "create_parents"_a = true)
      .def("link_target", [](const Bundle& b, const std::string& p) { return Unwrap(b.LinkTarget(p)); })
      .def("resolve_path", [](const Bundle& b, const std::string& p) { return Unwrap(b.ResolvePath(p)); })
      .def("begin_transaction", [](Bundle& b) { Check(b.BeginTransaction()); })
      .def("commit_transaction", [](Bundle& b, const std::string& msg) { Check(b.CommitTransaction(msg)); },
           "message"_a = "")
      .def("abort_transaction", [](Bundle& b) { Check(b.AbortTransaction()); })
      .def("in_transaction", &Bundle::InTransaction)
      .def("get_attrs", [](const Bundle& b, const std::string& p) { return Unwrap(b.GetAttrs(p)); })
      .def("set_attr", [](Bundle& b, const std::string& p, const std::string& k, const std::string& v) {
        Check(b.SetAttr(p, k, v));
      })
      .def("set_attrs", [](Bundle& b, const std::string& p, const std::string& attrs_json) {
        Check(SetAttrs(b, p, attrs_json));
      })
      .def("delete_attr", [](Bundle& b, const std::string& p, const std::string& k) { Check(b.DeleteAttr(p, k)); })
      .def("create_table_from_schema",
           [](Bundle& b, const std::string& p, nb::capsule schema, nb::dict options, bool parents, bool overwrite,
              const std::string& attrs_json) {
             return CreateTableFrom(b, p, ImportSchema(schema), nullptr, options, parents, overwrite, attrs_json);
           },
           "path"_a, "schema"_a, "options"_a = nb::dict(), "create_parents"_a = true, "overwrite"_a = false,
           "attrs_json"_a = "")
      .def("create_table_from_stream",
           [](Bundle& b, const std::string& p, nb::capsule stream, nb::dict options, bool parents, bool overwrite,
              const std::string& attrs_json) {
             return CreateTableFrom(b, p, nullptr, ImportStream(stream), options, parents, overwrite, attrs_json);
           },
           "path"_a, "stream"_a, "options"_a = nb::dict(), "create_parents"_a = true, "overwrite"_a = false,
           "attrs_json"_a = "")
      .def("open_table", [](const Bundle& b, const std::string& p) { return Unwrap(b.OpenTable(p)); })
      .def("create_snapshot",
           [](Bundle& b, const std::string& name, const std::string& message, int64_t commit, bool overwrite) {
             return SnapshotToDict(Unwrap(b.CreateSnapshot(name, message, commit, overwrite)));
           },
           "name"_a, "message"_a = "", "commit"_a = -1, "overwrite"_a = false)
      .def("list_snapshots",
           [](const Bundle& b) {
             nb::list out;
             for (const auto& s : Unwrap(b.ListSnapshots())) out.append(SnapshotToDict(s));
             return out;
           })
      .def("delete_snapshot", [](Bundle& b, const std::string& name) { Check(b.DeleteSnapshot(name)); })
      .def("set_delta_log",
           [](Bundle& b, bool enabled) {
             nb::gil_scoped_release release;
             Check(SetDeltaLog(b, enabled));
           },
           "enabled"_a)
      .def("delta_log_enabled", [](const Bundle& b) { return DeltaLogEnabled(b); })
      .def("get_delta_path", [](const Bundle& b, const std::string& p) { return Unwrap(GetDeltaPath(b, p)); },
           "path"_a)
      .def("delta_version",
           [](const Bundle& b, const std::string& p, int64_t commit) {
             nb::gil_scoped_release release;
             return Unwrap(DeltaVersion(b, p, commit));
           },
           "path"_a, "commit"_a = -1)
      .def("repair_delta_logs",
           [](Bundle& b) {
             auto r = [&] {
               nb::gil_scoped_release release;
               return RepairDeltaLogs(b);
             }();
             DeltaRepairReport rep = Unwrap(std::move(r));
             nb::dict d;
             d["versions_written"] = rep.versions_written;
             d["errors"] = rep.errors;
             return d;
           })
      .def("collect_garbage",
           [](Bundle& b, int64_t keep_last, bool dry_run, nb::handle progress, double min_age_seconds) {
             GcOptions o;
             o.progress = ToProgress(progress);
             o.keep_last = keep_last;
             o.dry_run = dry_run;
             o.min_age_seconds = min_age_seconds;
             auto r = [&] {
               nb::gil_scoped_release release;
               return b.CollectGarbage(o);
             }();
             GcReport rep = Unwrap(std::move(r));
             nb::dict d;
             d["commits_removed"] = rep.commits_removed;
             d["files_removed"] = rep.files_removed;
             d["bytes_freed"] = rep.bytes_freed;
             d["files_kept"] = rep.files_kept;
             d["recent_kept"] = rep.recent_kept;
             nb::list removed;
             for (const auto& f : rep.removed) removed.append(f);
             d["removed"] = removed;
             return d;
           },
           "keep_last"_a = -1, "dry_run"_a = false, "progress"_a = nb::none(), "min_age_seconds"_a = -1.0)
      .def("restore",
           [](Bundle& b, const std::string& ref) {
             auto r = [&] {
               nb::gil_scoped_release release;
               return b.Restore(ref);
             }();
             return CommitToDict(Unwrap(std::move(r)));
           },
           "ref"_a)
      .def("diff",
           [](const Bundle& b, const std::string& a, const std::string& c) {
             auto r = [&] {
               nb::gil_scoped_release release;
               return b.Diff(a, c);
             }();
             nb::list out;
             for (const auto& ch : Unwrap(std::move(r))) out.append(JsonToPython(NodeChangeToJson(ch)));
             return out;
           },
           "a"_a, "b"_a = "")
      .def("create_branch",
           [](Bundle& b, const std::string& name, const std::string& from) {
             return nb::cast<nb::dict>(JsonToPython(BranchInfoToJson(Unwrap(b.CreateBranch(name, CommitRef::Parse(from))))));
           },
           "name"_a, "from_ref"_a = "")
      .def("list_branches",
           [](const Bundle& b) {
             nb::list out;
             for (const auto& br : Unwrap(b.ListBranches())) out.append(JsonToPython(BranchInfoToJson(br)));
             return out;
           })
      .def("delete_branch", [](Bundle& b, const std::string& name) { Check(b.DeleteBranch(name)); }, "name"_a)
      .def("merge",
           [](Bundle& b, const std::string& name) {
             auto r = [&] {
               nb::gil_scoped_release release;
               return b.Merge(name);
             }();
             MergeResult m = Unwrap(std::move(r));
             nb::dict d;
             d["base"] = m.base;
             d["committed"] = m.committed;
             d["commit"] = CommitToDict(m.commit);
             return d;
           },
           "name"_a)
      .def("list_commits", [](const Bundle& b) {
        nb::list out;
        for (const auto& c : Unwrap(b.ListCommits())) out.append(CommitToDict(c));
        return out;
      });

  BindArrays(m);
  BindHdf5(m);
  BindFiles(m);
  BindShare(m);
  BindSqlite(m);
  BindCsv(m);
}
