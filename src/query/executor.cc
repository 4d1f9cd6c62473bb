// WhereScanner's executor: planned row groups decoded and filtered a wave at a time on the
// shared pool, with late materialisation (scanner.h).
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
#include <numeric>
#include <set>

#include "query/bits.h"
#include "query/bounds.h"
#include "query/scanner.h"
#include "table/conform.h"
#include "table/parquet_io.h"
#include "table/row_gather.h"
#include "table/row_group_slice.h"
#include "table/row_range.h"
#include "table/sort_util.h"
#include "table/table_impl.h"
#include "octavo/arrow_status.h"
#include "util/threads.h"

namespace octavo {
namespace cp = arrow::compute;
using query::ColumnBounds;

Result<bool> WhereScanner::Next(std::shared_ptr<arrow::RecordBatch>* batch, std::vector<int64_t>* rows) {
  while (true) {
    if (ready_pos_ < ready_.size()) {
      Output& o = ready_[ready_pos_++];
      *batch = std::move(o.batch);
      *rows = std::move(o.rows);
      return true;
    }
    ready_.clear();
    ready_pos_ = 0;
    const size_t threads = use_threads_ ? static_cast<size_t>(GetNumThreads()) : 1;
    std::vector<Item> wave;
    int64_t wave_bytes = 0;
    while (wave.size() < std::max(kWave, threads) && (wave.size() < threads || wave_bytes < kWaveBytes)) {
      Item it;
      OCTAVO_ASSIGN_OR_RETURN(bool more, PlanOne(&it));
      if (!more) break;
      wave_bytes += it.bytes;
      wave.push_back(std::move(it));
    }
    if (wave.empty()) return false;
    std::vector<Output> outs(wave.size());
    // Items are taken in order by whichever thread is free: row groups differ in cost
    // (matches, pages touched), and a fixed split left a thread idle at the end of a wave.
    const size_t workers = std::min(threads, wave.size());
    if (workers_.size() < workers) workers_.resize(workers);
    OCTAVO_RETURN_NOT_OK(ParallelFor(wave.size(), static_cast<int>(workers), [&](size_t i, int slot) {
      return Execute(wave[i], &workers_[static_cast<size_t>(slot)], &outs[i]);
    }));
    for (size_t i = 0; i < wave.size(); ++i) {
      stats_->rows_scanned += outs[i].scanned;
      stats_->rows_selected += outs[i].selected;
      stats_->bytes_read += outs[i].bytes_read;
      stats_->pages_total += outs[i].pages_total;
      stats_->pages_skipped += outs[i].pages_skipped;
      if (outs[i].batch) ready_.push_back(std::move(outs[i]));
    }
  }
}

Result<std::vector<std::shared_ptr<arrow::Array>>> WhereScanner::ReadWhole(Worker* w, const PartEntry& part, int g,
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
      // Through the offset index when there is one: the pages of the rows kept, and plain pages
      // read straight into the result (row_gather.h ReadPageRange).
      if (w->index_group != g) {
        w->index.reset();
        w->index_group = g;
        try {
          if (auto pages = w->reader->parquet_reader()->GetPageIndexReader()) w->index = pages->RowGroup(g);
        } catch (const std::exception& e) {
          return Status::Corruption("table ", table_path_, ": part file ", root_, "/", part.file,
                                    " has an unreadable page index in row group ", g, ": ", e.what());
        }
      }
      auto got = ReadPageRange(w->reader->parquet_reader(), w->source.get(), g, leaf, type, skip, keep,
                               QueryMemoryPool(), w->index.get());
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

Result<std::shared_ptr<arrow::Array>> WhereScanner::ReadAt(Worker* w, const PartEntry& part, int g, int field,
                                                           const std::vector<int64_t>& rows, int64_t skip, int64_t keep,
                                                           cp::ExecContext* ctx, Output* out) const {
  const int leaf = w->gather_leaf[field];
  if (leaf >= 0) {
    GatherStats gs;
    auto got = GatherRows(w->reader->parquet_reader(), g, leaf, entry_->schema->field(field)->type(), rows,
                          QueryMemoryPool(), &gs, w->source.get());
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

Status WhereScanner::Execute(const Item& item, Worker* w, Output* out) const {
  const PartEntry& part = entry_->parts[item.part];
  const int g = item.g;
  const int64_t skip = item.skip, keep = item.keep, base = item.base;
  if (w->part != item.part) {
    w->reader.reset();
    w->source.reset();
    w->part = SIZE_MAX;
    w->index.reset();
    w->index_group = -1;
    OCTAVO_ASSIGN_OR_RETURN(w->reader, OpenPart(root_, table_path_, part, false, true, QueryMemoryPool(), &w->source));
    // Which columns can be gathered row by row (flat, read as their declared types).
    w->gather_leaf = PageReadableLeaves(*w->reader, *entry_->schema);
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

}  // namespace octavo
