// Table::Repack: rewrite a table's parts, optionally sorted by one or more columns.
//
// Sorting is external: the table is streamed in runs of RepackOptions::run_rows rows; each
// run is sorted in memory (Arrow's stable sort_indices + take) and, when there is more than
// one, spilled as a temporary Parquet file next to the parts. The runs are then k-way merged
// one row group per run at a time: the smallest "last key" among the runs' current row
// groups bounds what can be emitted, every run contributes its rows up to that key (found by
// binary search), and those rows are sorted together and written. Memory is one run while
// sorting, then one row group per run while merging, whatever the table's size.
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <parquet/arrow/reader.h>

#include <cmath>
#include <string_view>

#include "table/conform.h"
#include "table/parquet_io.h"
#include "table/progress_reader.h"
#include "table/row_range.h"
#include "table/table_impl.h"
#include "table/index.h"
#include "table/sort_util.h"
#include "octavo/arrow_status.h"
#include "util/time_util.h"

namespace octavo {
namespace cp = arrow::compute;

// --- comparing cells -----------------------------------------------------------------------

namespace {

// 0 = a number/value, 1 = NaN, 2 = null: Arrow's order with nulls at the end.
template <typename ArrayT>
int Rank(const ArrayT& a, int64_t i) {
  if (a.IsNull(i)) return 2;
  if constexpr (std::is_floating_point_v<decltype(a.Value(0))>) {
    if (std::isnan(a.Value(i))) return 1;
  }
  return 0;
}

template <typename ArrayT>
int CompareTyped(const arrow::Array& x, int64_t i, const arrow::Array& y, int64_t j) {
  const auto& a = static_cast<const ArrayT&>(x);
  const auto& b = static_cast<const ArrayT&>(y);
  const int ra = Rank(a, i), rb = Rank(b, j);
  if (ra != rb || ra != 0) return ra < rb ? -1 : (ra > rb ? 1 : 0);
  if constexpr (std::is_same_v<ArrayT, arrow::BooleanArray>) {
    return static_cast<int>(a.Value(i)) - static_cast<int>(b.Value(j));
  } else {
    const auto va = a.GetView(i);
    const auto vb = b.GetView(j);
    return va < vb ? -1 : (vb < va ? 1 : 0);
  }
}

}  // namespace

Result<CellComparator> MakeCellComparator(const arrow::DataType& type, const std::string& what) {
  using T = arrow::Type;
  switch (type.id()) {
    case T::BOOL: return &CompareTyped<arrow::BooleanArray>;
    case T::INT8: return &CompareTyped<arrow::Int8Array>;
    case T::INT16: return &CompareTyped<arrow::Int16Array>;
    case T::INT32: case T::DATE32: case T::TIME32: return &CompareTyped<arrow::Int32Array>;
    case T::INT64: case T::DATE64: case T::TIME64: case T::TIMESTAMP: case T::DURATION:
      return &CompareTyped<arrow::Int64Array>;
    case T::UINT8: return &CompareTyped<arrow::UInt8Array>;
    case T::UINT16: return &CompareTyped<arrow::UInt16Array>;
    case T::UINT32: return &CompareTyped<arrow::UInt32Array>;
    case T::UINT64: return &CompareTyped<arrow::UInt64Array>;
    case T::FLOAT: return &CompareTyped<arrow::FloatArray>;
    case T::DOUBLE: return &CompareTyped<arrow::DoubleArray>;
    case T::STRING: return &CompareTyped<arrow::StringArray>;
    case T::LARGE_STRING: return &CompareTyped<arrow::LargeStringArray>;
    case T::BINARY: return &CompareTyped<arrow::BinaryArray>;
    case T::LARGE_BINARY: return &CompareTyped<arrow::LargeBinaryArray>;
    default:
      return Status::TypeError(what, " has type ", type.ToString(),
                               ", which cannot be sorted or indexed here; use a number, boolean, string, binary, "
                               "date, time or timestamp column");
  }
}

// Temporal arrays compare through their integer storage: view them as such.
std::shared_ptr<arrow::Array> StorageView(const std::shared_ptr<arrow::Array>& a) {
  using T = arrow::Type;
  switch (a->type_id()) {
    case T::DATE32: case T::TIME32:
      return a->View(arrow::int32()).ValueOr(a);
    case T::DATE64: case T::TIME64: case T::TIMESTAMP: case T::DURATION:
      return a->View(arrow::int64()).ValueOr(a);
    default:
      return a;
  }
}

namespace {

struct SortKeys {
  std::vector<int> fields;  // table field indices
  std::vector<CellComparator> cmp;
  cp::SortOptions options;
};

Result<SortKeys> ResolveSortKeys(const arrow::Schema& schema, const std::vector<std::string>& columns,
                                 const std::string& table_path) {
  SortKeys k;
  OCTAVO_ASSIGN_OR_RETURN(k.fields, ResolveColumns(schema, columns, table_path));
  std::vector<cp::SortKey> sk;
  for (size_t i = 0; i < k.fields.size(); ++i) {
    const auto& f = schema.field(k.fields[i]);
    OCTAVO_ASSIGN_OR_RETURN(auto c, MakeCellComparator(*f->type(), "sort_by: table " + table_path + " column '" +
                                                                        f->name() + "'"));
    k.cmp.push_back(c);
    sk.emplace_back(arrow::FieldRef(f->name()), cp::SortOrder::Ascending, cp::NullPlacement::AtEnd);
  }
  k.options = cp::SortOptions(sk);
  return k;
}

Result<std::shared_ptr<arrow::RecordBatch>> SortBatch(const std::shared_ptr<arrow::RecordBatch>& b,
                                                      const SortKeys& k) {
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto idx, cp::SortIndices(arrow::Datum(b), k.options));
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto taken, cp::Take(b, idx));
  return taken.record_batch();
}

// Lexicographic comparison of row i of `a` with row j of `b` on the key columns.
int CompareRows(const SortKeys& k, const std::vector<std::shared_ptr<arrow::Array>>& a, int64_t i,
                const std::vector<std::shared_ptr<arrow::Array>>& b, int64_t j) {
  for (size_t c = 0; c < k.cmp.size(); ++c) {
    int r = k.cmp[c](*a[c], i, *b[c], j);
    if (r != 0) return r;
  }
  return 0;
}

// One spilled sorted run, read one row group at a time.
struct Run {
  std::unique_ptr<parquet::arrow::FileReader> reader;
  int num_row_groups = 0;
  int next_rg = 0;
  std::shared_ptr<arrow::RecordBatch> batch;
  std::vector<std::shared_ptr<arrow::Array>> keys;  // storage views of the key columns
  int64_t pos = 0;
  bool done() const { return !batch; }
};

class MergeReader final : public arrow::RecordBatchReader {
 public:
  MergeReader(std::shared_ptr<arrow::Schema> schema, SortKeys keys, std::vector<Run> runs, std::string ctx)
      : schema_(std::move(schema)), keys_(std::move(keys)), runs_(std::move(runs)), ctx_(std::move(ctx)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status Init() {
    for (auto& r : runs_) ARROW_RETURN_NOT_OK(Load(r));
    return arrow::Status::OK();
  }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    // The run whose current row group ends lowest bounds what can be emitted now.
    Run* bound = nullptr;
    for (auto& r : runs_) {
      if (r.done()) continue;
      if (!bound || CompareRows(keys_, r.keys, r.batch->num_rows() - 1, bound->keys, bound->batch->num_rows() - 1) < 0)
        bound = &r;
    }
    if (!bound) return arrow::Status::OK();
    const auto bound_keys = bound->keys;
    const int64_t bound_row = bound->batch->num_rows() - 1;
    arrow::RecordBatchVector pieces;
    for (auto& r : runs_) {
      if (r.done()) continue;
      // First row > bound (rows [pos, n) are sorted).
      int64_t lo = r.pos, hi = r.batch->num_rows();
      while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (CompareRows(keys_, r.keys, mid, bound_keys, bound_row) <= 0)
          lo = mid + 1;
        else
          hi = mid;
      }
      if (lo > r.pos) pieces.push_back(r.batch->Slice(r.pos, lo - r.pos));
      r.pos = lo;
      if (r.pos >= r.batch->num_rows()) ARROW_RETURN_NOT_OK(Load(r));
    }
    ARROW_ASSIGN_OR_RAISE(auto merged, pieces.size() == 1 ? arrow::Result<std::shared_ptr<arrow::RecordBatch>>(pieces[0])
                                                          : arrow::ConcatenateRecordBatches(pieces));
    auto sorted = SortBatch(merged, keys_);
    if (!sorted.ok()) return ToArrow(sorted.status());
    *out = *sorted;
    return arrow::Status::OK();
  }

 private:
  arrow::Status Load(Run& r) {
    r.batch = nullptr;
    r.keys.clear();
    r.pos = 0;
    while (r.next_rg < r.num_row_groups) {
      ARROW_ASSIGN_OR_RAISE(auto t, r.reader->ReadRowGroup(r.next_rg++));
      if (t->num_rows() == 0) continue;
      ARROW_ASSIGN_OR_RAISE(auto combined, t->CombineChunksToBatch());
      // Spilled runs come back with Parquet's types (e.g. dictionary-free); keep the table's.
      arrow::ArrayVector cols;
      for (int c = 0; c < combined->num_columns(); ++c) {
        auto col = CastToDeclaredType(std::make_shared<arrow::ChunkedArray>(combined->column(c)),
                                      schema_->field(c)->type(), ctx_);
        if (!col.ok()) return ToArrow(col.status());
        ARROW_ASSIGN_OR_RAISE(auto a, arrow::Concatenate((*col)->chunks()));
        cols.push_back(a);
      }
      r.batch = arrow::RecordBatch::Make(schema_, combined->num_rows(), cols);
      for (int f : keys_.fields) r.keys.push_back(StorageView(r.batch->column(f)));
      return arrow::Status::OK();
    }
    return arrow::Status::OK();
  }

  std::shared_ptr<arrow::Schema> schema_;
  SortKeys keys_;
  std::vector<Run> runs_;
  std::string ctx_;
};

// Sorted runs of `run_rows` rows each, read from `source`.
class RunSorter final : public arrow::RecordBatchReader {
 public:
  RunSorter(std::shared_ptr<arrow::RecordBatchReader> source, const SortKeys& keys)
      : source_(std::move(source)), keys_(keys) {}
  std::shared_ptr<arrow::Schema> schema() const override { return source_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    std::shared_ptr<arrow::RecordBatch> b;
    ARROW_RETURN_NOT_OK(source_->ReadNext(&b));
    if (!b) {
      *out = nullptr;
      return arrow::Status::OK();
    }
    auto sorted = SortBatch(b, keys_);
    if (!sorted.ok()) return ToArrow(sorted.status());
    *out = *sorted;
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::RecordBatchReader> source_;
  const SortKeys& keys_;
};

// Reads one batch (one run) of the source at a time and writes it as one spilled part.
class OneBatchReader final : public arrow::RecordBatchReader {
 public:
  explicit OneBatchReader(std::shared_ptr<arrow::RecordBatch> b) : b_(std::move(b)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return b_ ? b_->schema() : nullptr; }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = std::move(b_);
    b_ = nullptr;
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::RecordBatch> b_;
};


}  // namespace

Status TableImpl::Repack(const RepackOptions& options) {
  if (options.run_rows <= 0) return Status::Invalid("repack: run_rows must be positive, got ", options.run_rows);
  if (options.row_group_size < 0)
    return Status::Invalid("repack: row_group_size must be positive (or 0 to keep), got ", options.row_group_size);
  std::lock_guard<std::mutex> g(bundle_->writer_mutex());
  OCTAVO_RETURN_NOT_OK(bundle_->CheckWritable("repack table " + path_));
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  const std::string ctx = "repack table " + path_;
  TableOptions topt = e->options;
  if (options.row_group_size > 0) topt.row_group_size = options.row_group_size;

  std::vector<PartEntry> spilled;
  auto remove_spilled = [&] {
    for (const auto& p : spilled) (void)bundle_->env()->RemoveFile(bundle_->AbsPath(p.file));
  };
  std::vector<PartEntry> parts;
  SortKeys keys;
  // A spilled sort passes every row twice (runs, then the merge).
  const bool spills = !options.sort_by.empty() && e->num_rows() > options.run_rows;
  const int64_t progress_total = e->num_rows() * (spills ? 2 : 1);
  int64_t progress_done = 0;
  if (options.sort_by.empty()) {
    ReadOptions ro;
    OCTAVO_ASSIGN_OR_RETURN(auto scan, Scan(ro, 64 * 1024));
    ProgressReader counted(scan.get(), options.progress, progress_total, &progress_done, path_);
    OCTAVO_ASSIGN_OR_RETURN(parts, WriteParts(bundle_->env(), bundle_->path(), e->uid, e->schema, &counted, topt));
  } else {
    OCTAVO_ASSIGN_OR_RETURN(keys, ResolveSortKeys(*e->schema, options.sort_by, path_));
    ReadOptions ro;
    OCTAVO_ASSIGN_OR_RETURN(auto scan, Scan(ro, options.run_rows));
    auto runs = std::make_shared<RunSorter>(scan, keys);
    ProgressReader counted_runs(runs.get(), options.progress, progress_total, &progress_done, path_);
    if (!spills) {
      // One run: sorted in memory and written directly.
      OCTAVO_ASSIGN_OR_RETURN(parts,
                              WriteParts(bundle_->env(), bundle_->path(), e->uid, e->schema, &counted_runs, topt));
    } else {
      // Spill each sorted run as one temporary Parquet file (fast codec, small row groups).
      TableOptions spill = topt;
      spill.compression = "lz4";
      spill.compression_level = 0;
      spill.row_group_size = 64 * 1024;
      spill.part_max_rows = INT64_MAX;
      spill.write_page_index = false;
      spill.write_statistics = false;
      spill.dictionary = false;
      while (true) {
        std::shared_ptr<arrow::RecordBatch> b;
        auto st = counted_runs.ReadNext(&b);
        if (!st.ok()) {
          remove_spilled();
          return FromArrow(st).WithContext(ctx);
        }
        if (!b) break;
        OneBatchReader one(b);
        auto written = WriteParts(bundle_->env(), bundle_->path(), e->uid, e->schema, &one, spill);
        if (!written.ok()) {
          remove_spilled();
          return written.status().WithContext(ctx + " (writing a sorted run)");
        }
        for (auto& p : *written) spilled.push_back(std::move(p));
      }
      std::vector<Run> merge_runs;
      for (const auto& p : spilled) {
        Run r;
        auto reader = OpenPart(bundle_->path(), path_, p, false, false);
        if (!reader.ok()) {
          remove_spilled();
          return reader.status();
        }
        r.reader = std::move(*reader);
        r.num_row_groups = r.reader->num_row_groups();
        merge_runs.push_back(std::move(r));
      }
      auto merge = std::make_shared<MergeReader>(e->schema, keys, std::move(merge_runs), ctx);
      auto st = merge->Init();
      if (!st.ok()) {
        remove_spilled();
        return FromArrow(st).WithContext(ctx);
      }
      ProgressReader counted_merge(merge.get(), options.progress, progress_total, &progress_done, path_);
      auto written = WriteParts(bundle_->env(), bundle_->path(), e->uid, e->schema, &counted_merge, topt);
      merge.reset();
      remove_spilled();
      if (!written.ok()) return written.status().WithContext(ctx);
      parts = std::move(*written);
    }
  }
  // Secondary indexes follow the rows: the new parts get theirs before the commit.
  for (const auto& col : e->indexed_columns) {
    for (auto& p : parts) OCTAVO_RETURN_NOT_OK(BuildPartIndex(bundle_->env(), bundle_->path(), path_, *e, col, &p));
  }
  return bundle_->CommitLocked(
      (options.sort_by.empty() ? "repack " : "sort ") + path_, [&](Manifest& m) -> Status {
        auto it = m.nodes.find(path_);
        if (it == m.nodes.end() || it->second.table != e)
          return Status::Invalid("table ", path_, " changed during the repack; retry");
        auto next = std::make_shared<TableEntry>(*e);
        next->parts = parts;
        next->options = topt;
        next->sorted_by = options.sort_by;
        next->sorted_parts.clear();
        if (!options.sort_by.empty())
          for (const auto& p : parts) next->sorted_parts.push_back(p.file);
        it->second.table = std::move(next);
        it->second.modified_at = NowIso8601();
        return Status::OK();
      });
}

}  // namespace octavo
