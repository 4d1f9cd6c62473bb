// WhereScanner's planner: the condition's AND terms, then part by part and row group by row
// group what statistics and secondary indexes rule out (scanner.h).
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
#include "query/index_lookup.h"
#include "query/scanner.h"
#include "table/conform.h"
#include "table/parquet_io.h"
#include "table/row_gather.h"
#include "table/row_range.h"
#include "table/sort_util.h"
#include "table/table_impl.h"
#include "octavo/arrow_status.h"

namespace octavo {
namespace cp = arrow::compute;
using query::ColumnBounds;
using query::LookupIndex;
using query::RowGroupColumnBounds;

Status WhereScanner::Init() {
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

Result<bool> WhereScanner::PlanOne(Item* item) {
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

}  // namespace octavo
