// SQLite import binding of `octavo._octavo` (include/octavo/sqlite.h); python/octavo/bundle.py
// wraps it as Bundle.import_sqlite.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "octavo/bundle.h"
#include "octavo/sqlite.h"
#include "python/binding_util.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace octavo {

void BindSqlite(nb::module_& m) {
  m.def(
      "sqlite_import",
      [](Bundle& bundle, const std::vector<std::string>& paths, const std::string& dest, const std::string& table,
         const std::string& query, bool append, const std::string& since, bool keep_text_timestamps,
         int64_t batch_rows, nb::handle progress) {
        sqlite::ImportOptions o;
        o.progress = py::ToProgress(progress);
        o.table = table;
        o.query = query;
        o.append = append;
        o.since = since;
        o.keep_text_timestamps = keep_text_timestamps;
        if (batch_rows > 0) o.batch_rows = batch_rows;
        sqlite::ImportReport rep;
        {
          nb::gil_scoped_release release;
          rep = py::Unwrap(sqlite::ImportDatabases(paths, bundle, dest, o));
        }
        nb::list tables;
        for (const auto& t : rep.tables) {
          nb::dict d;
          d["source"] = t.source;
          d["path"] = t.dest;
          d["rows"] = t.rows;
          d["skipped"] = t.skipped;
          d["created"] = t.created;
          tables.append(d);
        }
        nb::dict d;
        d["files"] = rep.files;
        d["tables"] = tables;
        d["rows"] = rep.rows;
        d["commit"] = rep.commit;
        d["notes"] = rep.notes;
        return d;
      },
      "bundle"_a, "paths"_a, "dest"_a, "table"_a = "", "query"_a = "", "append"_a = false, "since"_a = "",
      "keep_text_timestamps"_a = false, "batch_rows"_a = 0, "progress"_a = nb::none());
}

}  // namespace octavo
