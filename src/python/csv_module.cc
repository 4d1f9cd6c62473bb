// CSV import binding of `octavo._octavo` (include/octavo/csv.h); python/octavo/bundle.py wraps
// it as Bundle.import_csv.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <optional>

#include "octavo/bundle.h"
#include "octavo/csv.h"
#include "python/binding_util.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace octavo {

void BindCsv(nb::module_& m) {
  m.def("csv_default_null_values", [] { return csv::DefaultNullValues(); });
  m.def(
      "csv_import",
      [](Bundle& bundle, const std::vector<std::string>& paths, const std::string& dest, bool append,
         const std::string& delimiter, bool header, const std::optional<std::vector<std::string>>& null_values,
         bool keep_text_timestamps, int64_t block_size, nb::handle progress) {
        csv::ImportOptions o;
        o.progress = py::ToProgress(progress);
        o.append = append;
        if (delimiter.size() != 1) py::Check(Status::Invalid("delimiter must be one character, got '", delimiter, "'"));
        o.delimiter = delimiter[0];
        o.header = header;
        if (null_values) o.null_values = *null_values;
        o.keep_text_timestamps = keep_text_timestamps;
        if (block_size > 0) o.block_size = block_size;
        csv::ImportReport rep;
        {
          nb::gil_scoped_release release;
          rep = py::Unwrap(csv::ImportCsv(paths, bundle, dest, o));
        }
        nb::dict d;
        d["files"] = rep.files;
        d["path"] = rep.dest;
        d["rows"] = rep.rows;
        d["created"] = rep.created;
        d["commit"] = rep.commit;
        d["columns"] = rep.columns;
        d["notes"] = rep.notes;
        return d;
      },
      "bundle"_a, "paths"_a, "dest"_a, "append"_a = false, "delimiter"_a = ",", "header"_a = true,
      "null_values"_a = nb::none(), "keep_text_timestamps"_a = false, "block_size"_a = 0, "progress"_a = nb::none());
}

}  // namespace octavo
