// Table::Where / GetWhereList / ReadCoordinates: conditional reads with pushdown.
//
// For each part overlapping [start, stop): the manifest's per-part statistics decide
// whether the condition can hold anywhere in the part (if not, the file is never opened);
// then each row group's Parquet statistics decide whether it is decoded; only the columns
// the condition or the projection needs are decoded, the condition's AND terms one after
// the other and every later column only at the rows still selected (late materialisation,
// WhereScanner::Execute).
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/util/bitmap_ops.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/statistics.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "query/bits.h"
#include "query/bounds.h"
#include "query/condition.h"
#include "table/conform.h"
#include "table/parquet_io.h"
#include "table/rechunk.h"
#include "table/row_gather.h"
#include "table/row_range.h"
#include "table/sort_util.h"
#include "table/table_impl.h"
#include "util/arrow_status.h"

namespace octavo {
namespace cp = arrow::compute;
using query::ColumnBounds;

namespace {

// One thread kept for a scanner's lifetime that runs a job per wave. A fresh thread per wave
// would get a fresh malloc arena each time, and the system allocator keeps every arena's
// freed row-group buffers: peak memory grew with the number of waves.
class HelperThread {
 public:
  ~HelperThread() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> l(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void Run(std::function<void()> job) {
    if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
    {
      std::lock_guard<std::mutex> l(mu_);
      job_ = std::move(job);
      busy_ = true;
    }
    cv_.notify_all();
  }
  void Wait() {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [this] { return !busy_; });
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    while (true) {
      cv_.wait(l, [this] { return stop_ || (busy_ && job_); });
      if (stop_) return;
      auto job = std::move(job_);
      job_ = nullptr;
      l.unlock();
      job();
      l.lock();
      busy_ = false;
      cv_.notify_all();
    }
  }
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;
  bool busy_ = false, stop_ = false;
};

// Streams the selected rows of one row group at a time.
class WhereScanner {
 public:
  WhereScanner(std::string root, std::string table_path, std::shared_ptr<const TableEntry> entry,
               std::vector<PartSlice> slices, query::CompiledCondition cond, std::vector<int> out_fields,
               std::shared_ptr<arrow::Schema> out_schema, bool use_threads,
               std::shared_ptr<QueryStats> stats, int index_field, std::optional<cp::Expression> necessary)
      : root_(std::move(root)), table_path_(std::move(table_path)), entry_(std::move(entry)),
        slices_(std::move(slices)), cond_(std::move(cond)), out_fields_(std::move(out_fields)),
        out_schema_(std::move(out_schema)), use_threads_(use_threads),
        stats_(std::move(stats)), index_field_(index_field), necessary_(std::move(necessary)) {}

  // Table row numbers of the selected rows (GetWhereList) besides the batches.
  void set_want_rows(bool want) { want_rows_ = want; }

  Status Init() {
    // The condition's top-level AND terms, cheapest first: each later term is evaluated (and
    // its columns decoded) only at the rows every earlier one selected.
    std::vector<cp::Expression> terms;
    SplitConjunction(cond_.filter, &terms);
    for (auto& t : terms) {
      Conjunct c;
      std::set<int> fields;
      for (const auto& ref : cp::FieldsInExpression(t)) {
        const int f = ref.name() ? entry_->schema->GetFieldIndex(*ref.name()) : -1;
        if (f < 0) return Status::Invalid("condition ", cond_.text, " refers to an unknown column");
        fields.insert(f);
      }
      c.fields.assign(fields.begin(), fields.end());
      c.schema = ProjectSchema(*entry_->schema, c.fields);
      auto bound = t.Bind(*c.schema);
      if (!bound.ok()) return FromArrow(bound.status()).WithContext("condition " + cond_.text);
      c.expr = *bound;
      for (int f : c.fields) c.cost += DecodeCost(*entry_->schema->field(f)->type());
      conjuncts_.push_back(std::move(c));
    }
    std::stable_sort(conjuncts_.begin(), conjuncts_.end(),
                     [](const Conjunct& a, const Conjunct& b) { return a.cost < b.cost; });
    std::set<int> out_set(out_fields_.begin(), out_fields_.end());
    out_unique_.assign(out_set.begin(), out_set.end());
    std::set_difference(out_unique_.begin(), out_unique_.end(), cond_.columns.begin(), cond_.columns.end(),
                        std::back_inserter(late_fields_));
    stats_->parts_total = static_cast<int64_t>(slices_.size());
    for (const auto& s : slices_) stats_->row_groups_total += static_cast<int64_t>(s.row_groups.size());
    std::set<int> read(out_set);
    read.insert(cond_.columns.begin(), cond_.columns.end());
    for (int i : read) stats_->columns_read.push_back(entry_->schema->field(i)->name());
    bounds_.assign(entry_->schema->num_fields(), ColumnBounds{});
    const size_t sorted = entry_->SortedPrefix();
    for (const auto& s : slices_) stats_->parts_sorted += s.part < sorted ? 1 : 0;
    if (index_field_ >= 0) stats_->index_column = entry_->schema->field(index_field_)->name();
    return Status::OK();
  }

  struct Conjunct {
    cp::Expression expr;  // bound to `schema`
    std::vector<int> fields;  // table field indices it reads, ascending
    std::shared_ptr<arrow::Schema> schema;
    int cost = 0;
  };

  static void SplitConjunction(const cp::Expression& e, std::vector<cp::Expression>* out) {
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
  // A decoding thread's own reader of the current part (FileReader is not shared across threads).
  struct Worker {
    size_t part = SIZE_MAX;
    std::unique_ptr<parquet::arrow::FileReader> reader;
    std::vector<int> gather_leaf;  // per table field: its Parquet leaf if GatherRows can read it, else -1
  };

  // The selected rows of the next row group that has any: batch (projected) and table row
  // numbers. false at the end. Row groups are decoded a wave at a time on two threads.
  Result<bool> Next(std::shared_ptr<arrow::RecordBatch>* batch, std::vector<int64_t>* rows) {
    while (true) {
      if (ready_pos_ < ready_.size()) {
        Output& o = ready_[ready_pos_++];
        *batch = std::move(o.batch);
        *rows = std::move(o.rows);
        return true;
      }
      ready_.clear();
      ready_pos_ = 0;
      std::vector<Item> wave;
      int64_t wave_bytes = 0;
      while (wave.size() < kWave && wave_bytes < kWaveBytes) {
        Item it;
        OCTAVO_ASSIGN_OR_RETURN(bool more, PlanOne(&it));
        if (!more) break;
        wave_bytes += it.bytes;
        wave.push_back(std::move(it));
      }
      if (wave.empty()) return false;
      std::vector<Output> outs(wave.size());
      std::vector<Status> errors(wave.size());
      // Items are taken in order by whichever thread is free: row groups differ in cost
      // (matches, pages touched), and a fixed split left one thread idle at the end of a wave.
      std::atomic<size_t> next{0};
      std::atomic<bool> failed{false};
      auto work = [&](size_t t) {
        for (size_t i = next++; i < wave.size() && !failed; i = next++) {
          errors[i] = Execute(wave[i], &workers_[t], &outs[i]);
          if (!errors[i].ok()) failed = true;
        }
      };
      if (use_threads_ && wave.size() > 1) {
        helper_.Run([&] { work(1); });
        work(0);
        helper_.Wait();
      } else {
        work(0);
      }
      for (size_t i = 0; i < wave.size(); ++i) {
        OCTAVO_RETURN_NOT_OK(errors[i]);
        stats_->rows_scanned += outs[i].scanned;
        stats_->rows_selected += outs[i].selected;
        stats_->bytes_read += outs[i].bytes_read;
        stats_->pages_total += outs[i].pages_total;
        stats_->pages_skipped += outs[i].pages_skipped;
        if (outs[i].batch) ready_.push_back(std::move(outs[i]));
      }
    }
  }

  Result<bool> PlanOne(Item* item) {
    while (slice_ < slices_.size()) {
      const PartSlice& s = slices_[slice_];
      const PartEntry& part = entry_->parts[s.part];
      if (!reader_) {
        // Part-level pruning from the manifest: the file is not even opened.
        for (int i : cond_.columns) bounds_[i] = PartColumnBounds(part, *entry_->schema->field(i));
        if (!query::Evaluate(*cond_.prune, bounds_).may_true) {
          stats_->parts_skipped++;
          stats_->row_groups_skipped += static_cast<int64_t>(s.row_groups.size());
          ++slice_;
          continue;
        }
        // A secondary index on a condition column gives the candidate rows.
        use_index_ = false;
        if (index_field_ >= 0 && necessary_) {
          OCTAVO_ASSIGN_OR_RETURN(auto lookup, LookupIndex(root_, table_path_, *entry_, part, index_field_,
                                                           *cond_.prune, *necessary_));
          if (lookup.stale) stats_->parts_index_stale++;
          if (lookup.too_wide) stats_->parts_index_too_wide++;
          if (lookup.used) {
            use_index_ = true;
            stats_->parts_indexed++;
            stats_->bytes_read += lookup.bytes_read;
            candidates_ = std::move(lookup.rows);
            cand_pos_ = 0;
            if (candidates_.empty()) {
              stats_->row_groups_skipped += static_cast<int64_t>(s.row_groups.size());
              ++slice_;
              continue;
            }
          }
        }
        OCTAVO_ASSIGN_OR_RETURN(reader_, OpenPart(root_, table_path_, part, use_threads_, true));
        rg_part_start_.assign(part.row_group_rows.size() + 1, 0);
        for (size_t g = 0; g < part.row_group_rows.size(); ++g)
          rg_part_start_[g + 1] = rg_part_start_[g] + part.row_group_rows[g];
        // One leaf per condition column (nested columns have no usable statistics).
        const auto& mf = reader_->manifest();
        cond_leaf_.assign(entry_->schema->num_fields(), -1);
        for (int i : cond_.columns) {
          if (i < static_cast<int>(mf.schema_fields.size()) && mf.schema_fields[i].is_leaf())
            cond_leaf_[i] = mf.schema_fields[i].column_index;
        }
        rg_ = 0;
        covered_ = 0;
        rg_first_row_ = s.first_row;
      }
      if (rg_ >= s.row_groups.size()) {
        reader_.reset();
        ++slice_;
        continue;
      }
      const int g = s.row_groups[rg_];
      const int64_t rg_rows = part.row_group_rows[g];
      const int64_t skip = rg_ == 0 ? s.offset : 0;
      const int64_t keep = std::min(rg_rows - skip, s.length - covered_);
      const int64_t base = rg_first_row_ + skip;
      covered_ += keep;
      rg_first_row_ += rg_rows;
      ++rg_;
      if (keep <= 0) continue;

      // Index mode: the candidate rows inside [skip, skip + keep) of this row group.
      std::shared_ptr<arrow::Array> cand_idx;
      if (use_index_) {
        const int64_t lo = rg_part_start_[g] + skip, hi = lo + keep;
        while (cand_pos_ < candidates_.size() && candidates_[cand_pos_] < lo) ++cand_pos_;
        arrow::UInt64Builder ib;
        while (cand_pos_ < candidates_.size() && candidates_[cand_pos_] < hi) {
          OCTAVO_RETURN_NOT_ARROW_OK(ib.Append(static_cast<uint64_t>(candidates_[cand_pos_] - lo)));
          ++cand_pos_;
        }
        if (ib.length() == 0) {
          stats_->row_groups_skipped++;
          continue;
        }
        // Dense candidates: filtering the whole row group is cheaper than gathering them.
        if (ib.length() * 4 <= keep) OCTAVO_RETURN_NOT_ARROW_OK(ib.Finish(&cand_idx));
      }
      auto md = reader_->parquet_reader()->metadata();
      auto rg_md = md->RowGroup(g);
      for (int i : cond_.columns) bounds_[i] = RowGroupColumnBounds(*rg_md, cond_leaf_[i], *entry_->schema->field(i));
      const query::Possible possible = query::Evaluate(*cond_.prune, bounds_);
      if (!possible.may_true) {
        stats_->row_groups_skipped++;
        continue;
      }
      // Statistics prove every row matches: no filter to run.
      const bool whole = !possible.may_false && !cand_idx;
      if (whole) stats_->row_groups_matched++;
      item->part = s.part;
      item->g = g;
      item->skip = skip;
      item->keep = keep;
      item->base = base;
      item->cand_idx = std::move(cand_idx);
      item->whole = whole;
      item->bytes = rg_rows > 0 ? DecodedBytes(*rg_md) / rg_rows * keep : 0;
      return true;
    }
    return false;
  }

  // The declared-type columns `fields` (ascending table field indices) of rows
  // [skip, skip + keep) of row group g, decoded whole.
  Result<std::vector<std::shared_ptr<arrow::Array>>> ReadWhole(Worker* w, const PartEntry& part, int g,
                                                               const std::vector<int>& fields, int64_t skip,
                                                               int64_t keep, Output* out) const {
    std::vector<std::shared_ptr<arrow::Array>> cols(fields.size());
    if (fields.empty()) return cols;
    auto rg_md = w->reader->parquet_reader()->metadata()->RowGroup(g);
    // Flat columns (not boolean) by ReadRowRange, straight into their result buffers; the rest
    // (nested, boolean, types stored differently) via parquet::arrow.
    std::vector<int> rest;
    std::vector<size_t> rest_pos;
    for (size_t c = 0; c < fields.size(); ++c) {
      const int leaf = w->gather_leaf[fields[c]];
      const auto& type = entry_->schema->field(fields[c])->type();
      if (leaf >= 0 && type->id() != arrow::Type::BOOL) {
        auto got = ReadRowRange(w->reader->parquet_reader(), g, leaf, type, skip, keep, QueryMemoryPool());
        if (got.ok()) {
          cols[c] = *got;
          out->bytes_read += rg_md->ColumnChunk(leaf)->total_compressed_size();
          continue;
        }
        if (got.status().code() != StatusCode::kNotImplemented)
          return Status::Corruption("table ", table_path_, ": part file ", root_, "/", part.file, " column '",
                                    entry_->schema->field(fields[c])->name(),
                                    "' cannot be decoded: ", got.status().message());
      }
      rest.push_back(fields[c]);
      rest_pos.push_back(c);
    }
    if (rest.empty()) return cols;
    OCTAVO_ASSIGN_OR_RETURN(auto leaves, LeafIndices(*w->reader, rest));
    for (int leaf : leaves) out->bytes_read += rg_md->ColumnChunk(leaf)->total_compressed_size();
    auto tr = w->reader->ReadRowGroup(g, leaves);
    if (!tr.ok())
      return Status::Corruption("table ", table_path_, ": part file ", root_, "/", part.file,
                                " cannot be decoded: ", tr.status().message());
    auto t = (*tr)->Slice(skip, keep);
    for (size_t c = 0; c < rest.size(); ++c) {
      const auto& field = entry_->schema->field(rest[c]);
      OCTAVO_ASSIGN_OR_RETURN(auto col, CastToDeclaredType(t->column(static_cast<int>(c)), field->type(),
                                                           "table " + table_path_ + " column '" + field->name() + "'"));
      if (col->num_chunks() == 1) {
        cols[rest_pos[c]] = col->chunk(0);
      } else {
        OCTAVO_ARROW_ASSIGN_OR_RETURN(auto a, arrow::Concatenate(col->chunks(), QueryMemoryPool()));
        cols[rest_pos[c]] = a;
      }
    }
    return cols;
  }

  // Late materialisation: the condition columns are decoded first; the other projected
  // columns only when some row matched, and then (where the column allows) only the pages
  // and values of the matching rows (GatherRows).
  // The values of `field` at `rows` (ascending, counted from the row group's first row):
  // gathered page by page where the column allows, else decoded whole and taken from.
  Result<std::shared_ptr<arrow::Array>> ReadAt(Worker* w, const PartEntry& part, int g, int field,
                                               const std::vector<int64_t>& rows, int64_t skip, int64_t keep,
                                               cp::ExecContext* ctx, Output* out) const {
    const int leaf = w->gather_leaf[field];
    if (leaf >= 0) {
      GatherStats gs;
      auto got = GatherRows(w->reader->parquet_reader(), g, leaf, entry_->schema->field(field)->type(), rows,
                            QueryMemoryPool(), &gs);
      if (!got.ok())
        return Status::Corruption("table ", table_path_, ": part file ", root_, "/", part.file, " column '",
                                  entry_->schema->field(field)->name(), "' cannot be decoded: ", got.status().message());
      out->bytes_read += gs.bytes_read;
      out->pages_total += gs.pages_total;
      out->pages_skipped += gs.pages_skipped;
      return *got;
    }
    OCTAVO_ASSIGN_OR_RETURN(auto cols, ReadWhole(w, part, g, {field}, skip, keep, out));
    arrow::UInt64Builder ib(QueryMemoryPool());
    OCTAVO_RETURN_NOT_ARROW_OK(ib.Reserve(static_cast<int64_t>(rows.size())));
    for (int64_t r : rows) ib.UnsafeAppend(static_cast<uint64_t>(r - skip));
    std::shared_ptr<arrow::Array> idx;
    OCTAVO_RETURN_NOT_ARROW_OK(ib.Finish(&idx));
    OCTAVO_ARROW_ASSIGN_OR_RETURN(auto t, cp::Take(cols[0], idx, cp::TakeOptions::Defaults(), ctx));
    return t.make_array();
  }

  // Late materialisation: the cheapest AND term's columns are decoded first and the term
  // evaluated; each further term's columns are then read only at the rows still selected,
  // and so are the projected columns at the end -- page by page, skipping pages without
  // any of those rows (GatherRows), where the column allows.
  Status Execute(const Item& item, Worker* w, Output* out) const {
    const PartEntry& part = entry_->parts[item.part];
    const int g = item.g;
    const int64_t skip = item.skip, keep = item.keep, base = item.base;
    if (w->part != item.part) {
      w->reader.reset();
      w->part = SIZE_MAX;
      OCTAVO_ASSIGN_OR_RETURN(w->reader, OpenPart(root_, table_path_, part, false, true, QueryMemoryPool()));
      // Which columns can be gathered row by row (flat, same layout as parquet::arrow's).
      const auto& mf = w->reader->manifest();
      auto* file_schema = w->reader->parquet_reader()->metadata()->schema();
      w->gather_leaf.assign(entry_->schema->num_fields(), -1);
      for (int f = 0; f < entry_->schema->num_fields() && f < static_cast<int>(mf.schema_fields.size()); ++f) {
        const auto& sf = mf.schema_fields[f];
        if (sf.is_leaf() && sf.field->type()->Equals(*entry_->schema->field(f)->type()) &&
            CanGatherRows(*file_schema->Column(sf.column_index), *sf.field->type()))
          w->gather_leaf[f] = sf.column_index;
      }
      w->part = item.part;
    }
    std::vector<std::shared_ptr<arrow::Array>> out_cols(out_fields_.size());
    cp::ExecContext ctx(QueryMemoryPool());

    // Rows that match every row statistics allow: no condition to evaluate.
    if (item.whole) {
      OCTAVO_ASSIGN_OR_RETURN(auto cols, ReadWhole(w, part, g, out_unique_, skip, keep, out));
      for (size_t j = 0; j < out_fields_.size(); ++j)
        out_cols[j] = cols[std::lower_bound(out_unique_.begin(), out_unique_.end(), out_fields_[j]) - out_unique_.begin()];
      out->scanned = keep;
      out->selected = keep;
      if (want_rows_) {
        out->rows.resize(static_cast<size_t>(keep));
        std::iota(out->rows.begin(), out->rows.end(), base);
      }
      out->batch = arrow::RecordBatch::Make(out_schema_, keep, out_cols);
      return Status::OK();
    }

    // `rows`: the rows still selected (counted from the row group's first row, ascending),
    // not materialised while they are all of [skip, skip + keep) (`contiguous`);
    // `held`: the columns decoded so far, aligned with the selected rows. The row vectors are
    // kept per thread: fresh ones of up to 1 MiB per row group were page-faulted every time.
    thread_local std::vector<int64_t> rows_buf, kept_buf, local_buf;
    std::vector<int64_t>& rows = rows_buf;
    rows.clear();
    std::vector<std::shared_ptr<arrow::Array>> held(entry_->schema->num_fields());
    bool contiguous = true;
    int64_t n = keep;  // rows selected so far
    {
      const Conjunct& first = conjuncts_.front();
      OCTAVO_ASSIGN_OR_RETURN(auto cols, ReadWhole(w, part, g, first.fields, skip, keep, out));
      for (size_t c = 0; c < cols.size(); ++c) held[first.fields[c]] = cols[c];
      if (item.cand_idx) {  // index mode: only the candidate rows are tested
        const auto& local = static_cast<const arrow::UInt64Array&>(*item.cand_idx);
        for (int64_t k = 0; k < local.length(); ++k) rows.push_back(skip + static_cast<int64_t>(local.Value(k)));
        for (int f : first.fields) {
          OCTAVO_ARROW_ASSIGN_OR_RETURN(auto t, cp::Take(held[f], item.cand_idx, cp::TakeOptions::Defaults(), &ctx));
          held[f] = t.make_array();
        }
        contiguous = false;
        n = static_cast<int64_t>(rows.size());
      }
    }
    out->scanned = n;
    for (size_t ci = 0; ci < conjuncts_.size(); ++ci) {
      const Conjunct& c = conjuncts_[ci];
      std::vector<std::shared_ptr<arrow::Array>> args;
      for (int f : c.fields) {
        if (!held[f]) {
          if (contiguous) {
            OCTAVO_ASSIGN_OR_RETURN(auto cols, ReadWhole(w, part, g, {f}, skip, keep, out));
            held[f] = cols[0];
          } else {
            OCTAVO_ASSIGN_OR_RETURN(held[f], ReadAt(w, part, g, f, rows, skip, keep, &ctx, out));
          }
        }
        args.push_back(held[f]);
      }
      auto rb = arrow::RecordBatch::Make(c.schema, n, args);
      OCTAVO_ARROW_ASSIGN_OR_RETURN(auto exec, cp::MakeExecBatch(*c.schema, rb));
      OCTAVO_ARROW_ASSIGN_OR_RETURN(auto mask, cp::ExecuteScalarExpression(c.expr, exec, &ctx));
      if (mask.is_scalar()) {
        const auto& sc = mask.scalar_as<arrow::BooleanScalar>();
        if (!sc.is_valid || !sc.value) return Status::OK();
        continue;  // every row passes this term
      }
      // The selected positions (null counts as false), a 64-bit word at a time; the held
      // columns are compacted by Arrow's filter kernel straight from the mask.
      const auto& bits = *mask.array();
      std::shared_ptr<arrow::Buffer> anded;  // data AND validity, when the mask has nulls
      const uint8_t* data = bits.buffers[1]->data();
      int64_t data_offset = bits.offset;
      if (bits.GetNullCount() > 0) {
        OCTAVO_ARROW_ASSIGN_OR_RETURN(anded, arrow::internal::BitmapAnd(QueryMemoryPool(), data, data_offset,
                                                                        bits.buffers[0]->data(), bits.offset, n, 0));
        data = anded->data();
        data_offset = 0;
      }
      const int64_t selected = arrow::internal::CountSetBits(data, data_offset, n);
      if (selected == 0) return Status::OK();
      if (selected == n) continue;
      std::vector<int64_t>& local = local_buf;  // positions among the n rows held so far
      local.resize(static_cast<size_t>(selected));
      SetPositions(data, data_offset, n, local.data());
      std::vector<int64_t>& kept = kept_buf;
      kept.resize(local.size());
      for (size_t k = 0; k < local.size(); ++k) kept[k] = contiguous ? skip + local[k] : rows[static_cast<size_t>(local[k])];
      rows.swap(kept);
      n = selected;
      for (auto& h : held) {
        if (!h) continue;
        OCTAVO_ASSIGN_OR_RETURN(h, TakePositions(h, local, &ctx));
      }
      contiguous = false;
    }
    out->selected = n;
    if (want_rows_) {
      out->rows.resize(static_cast<size_t>(n));
      for (int64_t k = 0; k < n; ++k) out->rows[k] = base + (contiguous ? k : rows[k] - skip);
    }

    // The projected columns at the selected rows.
    if (contiguous) {  // every row of [skip, skip + keep) matched: decode the rest whole
      std::vector<int> rest;
      for (int f : late_fields_)
        if (!held[f]) rest.push_back(f);
      OCTAVO_ASSIGN_OR_RETURN(auto cols, ReadWhole(w, part, g, rest, skip, keep, out));
      for (size_t c = 0; c < rest.size(); ++c) held[rest[c]] = cols[c];
    } else {
      for (int f : late_fields_) {
        if (!held[f]) {
          OCTAVO_ASSIGN_OR_RETURN(held[f], ReadAt(w, part, g, f, rows, skip, keep, &ctx, out));
        }
      }
    }
    for (size_t j = 0; j < out_fields_.size(); ++j) out_cols[j] = held[out_fields_[j]];
    out->batch = arrow::RecordBatch::Make(out_schema_, n, out_cols);
    return Status::OK();
  }

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
  std::vector<ColumnBounds> bounds_;
  std::vector<int> cond_leaf_;

  size_t slice_ = 0, rg_ = 0;
  int64_t covered_ = 0, rg_first_row_ = 0;
  std::unique_ptr<parquet::arrow::FileReader> reader_;
  int index_field_ = -1;
  std::optional<cp::Expression> necessary_;
  bool use_index_ = false;
  bool want_rows_ = true;
  std::vector<int64_t> candidates_;  // part-relative, ascending
  size_t cand_pos_ = 0;
  std::vector<int64_t> rg_part_start_;
  // Row groups decoded per round by the two threads: more per round leaves a thread idle at
  // the round's end less often (0.01% on 50M rows: 8 -> 32 took 147 -> 136 ms), but a round's
  // results are all held until read, hence the cap on their (uncompressed) size.
  static constexpr size_t kWave = 32;
  static constexpr int64_t kWaveBytes = 64 << 20;
  Worker workers_[2];
  HelperThread helper_;  // declared after workers_: joined before they are destroyed
  std::vector<Output> ready_;
  size_t ready_pos_ = 0;
};

class WhereReader final : public arrow::RecordBatchReader {
 public:
  WhereReader(std::unique_ptr<WhereScanner> scanner, std::shared_ptr<arrow::Schema> schema, int64_t batch_size)
      : scanner_(std::move(scanner)), schema_(std::move(schema)), batch_size_(batch_size) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    while (!done_ && !rechunker_.full()) {
      std::shared_ptr<arrow::RecordBatch> b;
      std::vector<int64_t> rows;
      auto more = scanner_->Next(&b, &rows);
      if (!more.ok()) return ToArrow(more.status());
      if (!*more) {
        done_ = true;
        break;
      }
      rechunker_.Push(std::move(b));
    }
    ARROW_ASSIGN_OR_RAISE(*out, rechunker_.Pop());
    return arrow::Status::OK();
  }

 private:
  std::unique_ptr<WhereScanner> scanner_;
  std::shared_ptr<arrow::Schema> schema_;
  int64_t batch_size_;
  bool done_ = false;
  BatchRechunker rechunker_{batch_size_};
};

struct Plan {
  std::unique_ptr<WhereScanner> scanner;
  std::shared_ptr<arrow::Schema> out_schema;
};

Result<Plan> MakePlan(const TableImpl& t, const std::string& condition, const WhereOptions& options,
                      const std::vector<std::string>& columns, bool project_none,
                      std::shared_ptr<QueryStats> stats) {
  OCTAVO_ASSIGN_OR_RETURN(auto e, t.entry());
  std::vector<int> out_fields;
  if (!project_none) {
    OCTAVO_ASSIGN_OR_RETURN(out_fields, ResolveColumns(*e->schema, columns, t.path()));
  }
  OCTAVO_ASSIGN_OR_RETURN(auto cond, query::Compile(condition, *e->schema, options.condvars, t.path()));
  auto out_schema = ProjectSchema(*e->schema, out_fields);
  OCTAVO_ASSIGN_OR_RETURN(auto slices, ResolveRowRange(*e, options.start, options.stop));
  // The first indexed condition column that the condition restricts (==, IN, ranges).
  int index_field = -1;
  std::optional<cp::Expression> necessary;
  if (options.use_index) {
    for (const auto& col : e->indexed_columns) {
      int f = e->schema->GetFieldIndex(col);
      if (f < 0 || !std::binary_search(cond.columns.begin(), cond.columns.end(), f)) continue;
      necessary = NecessaryCondition(*cond.prune, f);
      if (necessary) {
        index_field = f;
        break;
      }
    }
  }
  Plan p;
  p.out_schema = out_schema;
  p.scanner = std::make_unique<WhereScanner>(t.root(), t.path(), e, std::move(slices), std::move(cond),
                                             std::move(out_fields), out_schema,
                                             options.use_threads, std::move(stats), index_field, std::move(necessary));
  p.scanner->set_want_rows(project_none);
  OCTAVO_RETURN_NOT_OK(p.scanner->Init());
  return p;
}

}  // namespace

Result<std::shared_ptr<arrow::RecordBatchReader>> TableImpl::Where(const std::string& condition,
                                                                   const WhereOptions& options,
                                                                   std::shared_ptr<const QueryStats>* stats) const {
  if (options.batch_size < 0) return Status::Invalid("batch size must not be negative, got ", options.batch_size);
  auto st = std::make_shared<QueryStats>();
  OCTAVO_ASSIGN_OR_RETURN(auto plan, MakePlan(*this, condition, options, options.columns, false, st));
  if (stats) *stats = st;
  return std::shared_ptr<arrow::RecordBatchReader>(
      std::make_shared<WhereReader>(std::move(plan.scanner), plan.out_schema, options.batch_size));
}

Result<std::vector<int64_t>> TableImpl::GetWhereList(const std::string& condition, const WhereOptions& options,
                                                     QueryStats* stats) const {
  auto st = std::make_shared<QueryStats>();
  OCTAVO_ASSIGN_OR_RETURN(auto plan, MakePlan(*this, condition, options, {}, true, st));
  std::vector<int64_t> out, rows;
  std::shared_ptr<arrow::RecordBatch> b;
  while (true) {
    OCTAVO_ASSIGN_OR_RETURN(bool more, plan.scanner->Next(&b, &rows));
    if (!more) break;
    out.insert(out.end(), rows.begin(), rows.end());
  }
  if (stats) *stats = *st;
  return out;
}

Result<std::shared_ptr<arrow::Table>> TableImpl::ReadCoordinates(const std::vector<int64_t>& rows,
                                                                 const std::vector<std::string>& columns) const {
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  OCTAVO_ASSIGN_OR_RETURN(auto fields, ResolveColumns(*e->schema, columns, path_));
  auto out_schema = ProjectSchema(*e->schema, fields);
  const int64_t n = e->num_rows();
  for (int64_t r : rows)
    if (r < 0 || r >= n)
      return Status::IndexError("row ", r, " is out of range for table ", path_, " (", n, " rows)");
  // Sorted distinct rows, and where each requested row lands among them.
  std::vector<int64_t> uniq(rows);
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());

  std::vector<arrow::ArrayVector> chunks(fields.size());
  size_t k = 0;
  int64_t part_first = 0;
  for (size_t pi = 0; pi < e->parts.size() && k < uniq.size(); ++pi) {
    const PartEntry& part = e->parts[pi];
    const int64_t part_end = part_first + part.num_rows;
    if (uniq[k] >= part_end) {
      part_first = part_end;
      continue;
    }
    OCTAVO_ASSIGN_OR_RETURN(auto reader, OpenPart(bundle_->path(), path_, part, true, true));
    OCTAVO_ASSIGN_OR_RETURN(auto leaves, LeafIndices(*reader, fields));
    int64_t rg_first = part_first;
    for (size_t g = 0; g < part.row_group_rows.size() && k < uniq.size() && uniq[k] < part_end; ++g) {
      const int64_t rg_end = rg_first + part.row_group_rows[g];
      arrow::UInt64Builder ib;
      while (k < uniq.size() && uniq[k] < rg_end) {
        OCTAVO_RETURN_NOT_ARROW_OK(ib.Append(static_cast<uint64_t>(uniq[k] - rg_first)));
        ++k;
      }
      if (ib.length() > 0) {
        std::shared_ptr<arrow::Array> idx;
        OCTAVO_RETURN_NOT_ARROW_OK(ib.Finish(&idx));
        auto tr = reader->ReadRowGroup(static_cast<int>(g), leaves);
        if (!tr.ok())
          return Status::Corruption("table ", path_, ": part file ", bundle_->AbsPath(part.file),
                                    " cannot be decoded: ", tr.status().message());
        auto t = *tr;
        for (size_t c = 0; c < fields.size(); ++c) {
          const auto& field = out_schema->field(static_cast<int>(c));
          OCTAVO_ASSIGN_OR_RETURN(auto col, CastToDeclaredType(t->column(static_cast<int>(c)), field->type(),
                                                               "table " + path_ + " column '" + field->name() + "'"));
          OCTAVO_ARROW_ASSIGN_OR_RETURN(auto taken, cp::Take(col, idx));
          for (const auto& ch : taken.chunked_array()->chunks()) chunks[c].push_back(ch);
        }
      }
      rg_first = rg_end;
    }
    part_first = part_end;
  }
  std::vector<std::shared_ptr<arrow::ChunkedArray>> cols;
  for (size_t c = 0; c < fields.size(); ++c)
    cols.push_back(std::make_shared<arrow::ChunkedArray>(chunks[c], out_schema->field(static_cast<int>(c))->type()));
  auto sorted = arrow::Table::Make(out_schema, cols, static_cast<int64_t>(uniq.size()));
  if (rows.size() == uniq.size() && std::is_sorted(rows.begin(), rows.end())) return sorted;
  arrow::UInt64Builder pb;
  for (int64_t r : rows)
    OCTAVO_RETURN_NOT_ARROW_OK(
        pb.Append(static_cast<uint64_t>(std::lower_bound(uniq.begin(), uniq.end(), r) - uniq.begin())));
  std::shared_ptr<arrow::Array> perm;
  OCTAVO_RETURN_NOT_ARROW_OK(pb.Finish(&perm));
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto out, cp::Take(sorted, perm));
  return out.table();
}

}  // namespace octavo
