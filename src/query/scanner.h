// The scanner behind Table::Where / GetWhereList (where.cc): the planner (planner.cc) walks
// parts and row groups and rules out what statistics and indexes allow; the executor
// (executor.cc) decodes and filters the planned row groups a wave at a time on the shared pool
// (util/threads.h), one Worker per thread.
#pragma once

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <parquet/arrow/reader.h>
#include <parquet/page_index.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "octavo/query.h"
#include "query/condition.h"
#include "table/row_range.h"
#include "table/table_impl.h"

namespace octavo {

class ChecksummedFile;

// Streams the selected rows of one row group at a time.
class WhereScanner {
 public:
  WhereScanner(std::string root, std::string table_path, std::shared_ptr<const TableEntry> entry,
               std::vector<PartSlice> slices, query::CompiledCondition cond, std::vector<int> out_fields,
               std::shared_ptr<arrow::Schema> out_schema, bool use_threads,
               std::shared_ptr<QueryStats> stats, int index_field, std::optional<arrow::compute::Expression> necessary)
      : root_(std::move(root)), table_path_(std::move(table_path)), entry_(std::move(entry)),
        slices_(std::move(slices)), cond_(std::move(cond)), out_fields_(std::move(out_fields)),
        out_schema_(std::move(out_schema)), use_threads_(use_threads),
        stats_(std::move(stats)), index_field_(index_field), necessary_(std::move(necessary)) {}

  // Table row numbers of the selected rows (GetWhereList) besides the batches.
  void set_want_rows(bool want) { want_rows_ = want; }

  // Orders the condition's AND terms and fills the stats' totals (planner.cc).
  Status Init();

  struct Conjunct {
    arrow::compute::Expression expr;  // bound to `schema`
    std::vector<int> fields;  // table field indices it reads, ascending
    std::shared_ptr<arrow::Schema> schema;
    int cost = 0;
  };

  static void SplitConjunction(const arrow::compute::Expression& e, std::vector<arrow::compute::Expression>* out) {
    const auto* call = e.call();
    if (call && (call->function_name == "and_kleene" || call->function_name == "and")) {
      for (const auto& a : call->arguments) SplitConjunction(a, out);
      return;
    }
    out->push_back(e);
  }

  // Rough relative cost of decoding every row of a column: variable-width and nested
  // columns build per-value offsets and copies, fixed-width ones are a memcpy.
  static int DecodeCost(const arrow::DataType& t) {
    if (arrow::is_fixed_width(t.id()) && t.id() != arrow::Type::DICTIONARY) return 1;
    return 4;
  }

  // One row group to decode and filter (planned sequentially, executed in parallel).
  struct Item {
    size_t part = 0;
    int g = 0;
    int64_t skip = 0, keep = 0, base = 0;
    std::shared_ptr<arrow::Array> cand_idx;  // index mode: candidate rows within [skip, skip + keep)
    bool whole = false;                      // statistics prove every row matches
    int64_t bytes = 0;                       // decoded size of the rows, at most (Parquet metadata)
  };
  struct Output {
    std::shared_ptr<arrow::RecordBatch> batch;  // null: no row selected
    std::vector<int64_t> rows;  // table row numbers, if the caller wants them (want_rows_)
    int64_t scanned = 0, selected = 0;
    int64_t bytes_read = 0, pages_total = 0, pages_skipped = 0;
  };
  // A decoding thread's own reader of the current part (FileReader is not shared across
  // threads); kept across waves, one per ParallelFor slot.
  struct Worker {
    size_t part = SIZE_MAX;
    std::unique_ptr<parquet::arrow::FileReader> reader;
    std::shared_ptr<ChecksummedFile> source;  // the checked file `reader` reads (OpenPart)
    std::vector<int> gather_leaf;  // per table field: its Parquet leaf if GatherRows can read it, else -1
    int index_group = -1;          // the row group `index` is of
    std::shared_ptr<parquet::RowGroupPageIndexReader> index;  // its offset indexes, read once for all columns
  };

  // The selected rows of the next row group that has any: batch (projected) and table row
  // numbers. false at the end. Row groups are decoded a wave at a time on up to
  // GetNumThreads() threads (the caller's included).
  Result<bool> Next(std::shared_ptr<arrow::RecordBatch>* batch, std::vector<int64_t>* rows);

  // The next row group to decode, after part pruning (manifest statistics), the index lookup
  // and row-group pruning (Parquet statistics); false at the end (planner.cc).
  Result<bool> PlanOne(Item* item);

  // The declared-type columns `fields` (ascending table field indices) of rows
  // [skip, skip + keep) of row group g, decoded whole.
  Result<std::vector<std::shared_ptr<arrow::Array>>> ReadWhole(Worker* w, const PartEntry& part, int g,
                                                               const std::vector<int>& fields, int64_t skip,
                                                               int64_t keep, Output* out) const;

  // Late materialisation: the condition columns are decoded first; the other projected
  // columns only when some row matched, and then (where the column allows) only the pages
  // and values of the matching rows (GatherRows).
  // The values of `field` at `rows` (ascending, counted from the row group's first row):
  // gathered page by page where the column allows, else decoded whole and taken from.
  Result<std::shared_ptr<arrow::Array>> ReadAt(Worker* w, const PartEntry& part, int g, int field,
                                               const std::vector<int64_t>& rows, int64_t skip, int64_t keep,
                                               arrow::compute::ExecContext* ctx, Output* out) const;

  // Late materialisation: the cheapest AND term's columns are decoded first and the term
  // evaluated; each further term's columns are then read only at the rows still selected,
  // and so are the projected columns at the end -- page by page, skipping pages without
  // any of those rows (GatherRows), where the column allows.
  Status Execute(const Item& item, Worker* w, Output* out) const;

 private:
  std::string root_, table_path_;
  std::shared_ptr<const TableEntry> entry_;  // pins the snapshot
  std::vector<PartSlice> slices_;
  query::CompiledCondition cond_;
  std::vector<int> out_fields_;   // projection: table field index per output column
  std::vector<int> out_unique_;   // the projected fields, ascending, distinct
  std::vector<int> late_fields_;  // projected fields that are not condition columns, ascending
  std::shared_ptr<arrow::Schema> out_schema_;
  std::vector<Conjunct> conjuncts_;  // cheapest first
  bool use_threads_;
  std::shared_ptr<QueryStats> stats_;
  std::vector<query::ColumnBounds> bounds_;
  std::vector<int> cond_leaf_;

  size_t slice_ = 0, rg_ = 0;
  int64_t covered_ = 0, rg_first_row_ = 0;
  std::unique_ptr<parquet::arrow::FileReader> reader_;
  int index_field_ = -1;
  std::optional<arrow::compute::Expression> necessary_;
  bool use_index_ = false;
  bool want_rows_ = true;
  std::vector<int64_t> candidates_;  // part-relative, ascending
  size_t cand_pos_ = 0;
  std::vector<int64_t> rg_part_start_;
  // Row groups decoded per round: more per round leaves a thread idle at the round's end less
  // often (0.01% on 50M rows, 2 threads: 8 -> 32 took 147 -> 136 ms), but a round's results are
  // all held until read, hence the cap on their (uncompressed) size -- which gives way to one
  // row group per thread, so memory grows with the thread count only by in-flight row groups.
  static constexpr size_t kWave = 32;
  static constexpr int64_t kWaveBytes = 64 << 20;
  std::vector<Worker> workers_;  // one per thread of a wave (ParallelFor slot)
  std::vector<Output> ready_;
  size_t ready_pos_ = 0;
};

}  // namespace octavo
