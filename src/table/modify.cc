// Copy-on-write edits of a table's rows (PyTables' modify_rows / modify_column / remove_rows):
// the parts holding affected rows are read, edited with Arrow kernels and written as new
// immutable parts; one commit swaps them in. Untouched parts keep their files.
#include <arrow/api.h>
#include <arrow/compute/api.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <set>

#include "octavo/arrow_status.h"
#include "table/conform.h"
#include "table/index.h"
#include "table/parquet_io.h"
#include "table/row_range.h"
#include "table/table_impl.h"
#include "util/time_util.h"

namespace octavo {

Status TableImpl::RewriteParts(const std::string& what, const std::function<bool(int64_t, int64_t)>& touches,
                               const PartEdit& edit, bool keep_sorted) {
  std::lock_guard<std::mutex> g(bundle_->writer_mutex());
  OCTAVO_RETURN_NOT_OK(bundle_->CheckWritable(what));
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  std::vector<PartEntry> parts;
  std::map<std::string, std::vector<std::string>> replaced;  // old part file -> its new files
  int64_t first = 0;
  for (const PartEntry& part : e->parts) {
    const int64_t n = part.num_rows;
    if (!touches(first, n)) {
      parts.push_back(part);
      first += n;
      continue;
    }
    ReadOptions ro;
    ro.start = first;
    ro.stop = first + n;
    OCTAVO_ASSIGN_OR_RETURN(auto rows, Read(ro));
    OCTAVO_ASSIGN_OR_RETURN(auto edited, edit(first, rows));
    arrow::TableBatchReader reader(edited);
    auto written = WriteParts(bundle_->env(), bundle_->path(), e->uid, e->schema, &reader, e->options);
    if (!written.ok()) return written.status().WithContext(what);
    auto& files = replaced[part.file];
    for (auto& p : *written) {
      for (const auto& col : e->indexed_columns)
        OCTAVO_RETURN_NOT_OK(BuildPartIndex(bundle_->env(), bundle_->path(), path_, *e, col, &p));
      files.push_back(p.file);
      parts.push_back(std::move(p));
    }
    first += n;
  }
  if (replaced.empty()) return Status::OK();  // no row affected: nothing to commit
  auto next = std::make_shared<TableEntry>(*e);
  next->parts = std::move(parts);
  if (keep_sorted) {  // the sorted run continues through the replacement files
    std::vector<std::string> sorted;
    for (const auto& f : e->sorted_parts) {
      auto it = replaced.find(f);
      if (it == replaced.end()) sorted.push_back(f);
      else sorted.insert(sorted.end(), it->second.begin(), it->second.end());
    }
    next->sorted_parts = std::move(sorted);
  } else {
    next->sorted_by.clear();
    next->sorted_parts.clear();
  }
  return bundle_->CommitLocked(what, [&](Manifest& m) -> Status {
    auto it = m.nodes.find(path_);
    if (it == m.nodes.end() || it->second.table != e)
      return Status::Invalid("table ", path_, " changed during the edit; retry");
    it->second.table = next;
    it->second.modified_at = NowIso8601();
    return Status::OK();
  });
}

Status TableImpl::ModifyRows(int64_t start, int64_t step, const std::shared_ptr<arrow::Table>& values) {
  const std::string what = "modify rows of table " + path_;
  if (!values) return Status::Invalid(what, ": no values given");
  if (step < 1) return Status::Invalid(what, ": step must be >= 1, got ", step);
  if (start < 0) return Status::Invalid(what, ": start must be >= 0, got ", start);
  const int64_t n = values->num_rows();
  if (n == 0) return Status::OK();
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  const int64_t total = e->num_rows();
  if (start >= total || (n - 1) > (total - 1 - start) / step)
    return Status::IndexError(what, ": ", n, " rows from row ", start, " with step ", step,
                              " go past the table's end (", total, " rows)");
  // The values, converted to the columns' types before anything is written.
  std::vector<int> fields;
  for (const auto& f : values->schema()->fields()) {
    int i = e->schema->GetFieldIndex(f->name());
    if (i < 0) {
      std::string names;
      for (const auto& tf : e->schema->fields()) names += (names.empty() ? "" : ", ") + tf->name();
      return Status::NotFound("table ", path_, " has no column '", f->name(), "'; its columns are: ", names);
    }
    fields.push_back(i);
  }
  std::set<int> distinct(fields.begin(), fields.end());
  if (distinct.size() != fields.size()) return Status::Invalid(what, ": a column is given twice");
  auto target = ProjectSchema(*e->schema, fields);
  OCTAVO_ASSIGN_OR_RETURN(auto conformed,
                          ConformToSchema(std::make_shared<arrow::TableBatchReader>(values), target, path_));
  std::shared_ptr<arrow::Table> vals;
  OCTAVO_ARROW_ASSIGN_OR_RETURN(vals, conformed->ToTable());
  OCTAVO_ARROW_ASSIGN_OR_RETURN(vals, vals->CombineChunks());
  bool touches_sort = false;
  for (int i : fields)
    for (const auto& s : e->sorted_by) touches_sort |= e->schema->field(i)->name() == s;

  const int64_t last = start + (n - 1) * step;
  auto touches = [&](int64_t first, int64_t rows) {
    if (rows == 0 || first > last || first + rows <= start) return false;
    // a row start + k * step in [first, first + rows)?
    const int64_t k = first <= start ? 0 : (first - start + step - 1) / step;
    return start + k * step < first + rows;
  };
  auto edit = [&](int64_t first, const std::shared_ptr<arrow::Table>& rows) -> Result<std::shared_ptr<arrow::Table>> {
    const int64_t len = rows->num_rows();
    const int64_t k0 = first <= start ? 0 : (first - start + step - 1) / step;
    const int64_t k1 = std::min(n - 1, (first + len - 1 - start) / step);  // last k in this part
    // Take indices over [old column ++ new values k0..k1]: row i keeps i unless replaced.
    std::vector<int64_t> take(static_cast<size_t>(len));
    std::iota(take.begin(), take.end(), int64_t{0});
    for (int64_t k = k0; k <= k1; ++k) take[static_cast<size_t>(start + k * step - first)] = len + (k - k0);
    arrow::Int64Builder idx;
    OCTAVO_RETURN_NOT_ARROW_OK(idx.AppendValues(take));
    std::shared_ptr<arrow::Int64Array> base;
    OCTAVO_RETURN_NOT_ARROW_OK(idx.Finish(&base));
    auto out = rows;
    for (size_t c = 0; c < fields.size(); ++c) {
      auto old_col = rows->column(fields[c]);
      arrow::ArrayVector pieces = old_col->chunks();
      pieces.push_back(vals->column(static_cast<int>(c))->chunk(0)->Slice(k0, k1 - k0 + 1));
      std::shared_ptr<arrow::Array> joined;
      OCTAVO_ARROW_ASSIGN_OR_RETURN(joined, arrow::Concatenate(pieces));
      arrow::Datum taken;
      OCTAVO_ARROW_ASSIGN_OR_RETURN(taken, arrow::compute::Take(joined, base));
      OCTAVO_ARROW_ASSIGN_OR_RETURN(out, out->SetColumn(fields[c], rows->schema()->field(fields[c]),
                                              std::make_shared<arrow::ChunkedArray>(taken.make_array())));
    }
    return out;
  };
  return RewriteParts("modify " + std::to_string(n) + " rows of " + path_, touches, edit, !touches_sort);
}

Result<int64_t> TableImpl::RemoveRows(int64_t start, int64_t stop, int64_t step) {
  const std::string what = "remove rows of table " + path_;
  if (step < 1) return Status::Invalid(what, ": step must be >= 1, got ", step);
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  const int64_t total = e->num_rows();
  if (start < 0 || stop > total || start > stop)
    return Status::IndexError(what, ": the range [", start, ", ", stop, ") is not within the table's ", total,
                              " rows");
  const int64_t removed = (stop - start + step - 1) / step;
  if (removed == 0) return 0;
  auto hit = [&](int64_t first, int64_t rows) {  // first removed row at or after `first`, or -1
    if (first >= stop || first + rows <= start) return int64_t{-1};
    const int64_t k = first <= start ? 0 : (first - start + step - 1) / step;
    const int64_t r = start + k * step;
    return r < std::min(stop, first + rows) ? r : int64_t{-1};
  };
  auto touches = [&](int64_t first, int64_t rows) { return hit(first, rows) >= 0; };
  auto edit = [&](int64_t first, const std::shared_ptr<arrow::Table>& rows) -> Result<std::shared_ptr<arrow::Table>> {
    const int64_t len = rows->num_rows();
    arrow::BooleanBuilder keep;
    OCTAVO_RETURN_NOT_ARROW_OK(keep.Resize(len));
    for (int64_t i = 0; i < len; ++i) {
      const int64_t r = first + i;
      keep.UnsafeAppend(!(r >= start && r < stop && (r - start) % step == 0));
    }
    std::shared_ptr<arrow::BooleanArray> mask;
    OCTAVO_RETURN_NOT_ARROW_OK(keep.Finish(&mask));
    arrow::Datum kept;
    OCTAVO_ARROW_ASSIGN_OR_RETURN(kept, arrow::compute::Filter(rows, mask));
    return kept.table();
  };
  OCTAVO_RETURN_NOT_OK(RewriteParts("remove " + std::to_string(removed) + " rows of " + path_, touches, edit, true));
  return removed;
}

}  // namespace octavo
