// Table::Where / GetWhereList: conditional reads with pushdown.
//
// For each part overlapping [start, stop): the manifest's per-part statistics decide
// whether the condition can hold anywhere in the part (if not, the file is never opened);
// then each row group's Parquet statistics decide whether it is decoded; only the columns
// the condition or the projection needs are decoded, the condition's AND terms one after
// the other and every later column only at the rows still selected (late materialisation,
// WhereScanner::Execute).
//
// Files: bounds.cc (statistics -> ColumnBounds), planner.cc (WhereScanner: what to decode),
// executor.cc (WhereScanner: decoding and filtering), bits.cc (bit / gather utilities),
// scanner.h (the scanner class); here the readers and the public entry points.
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/schema.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <parquet/statistics.h>

#include <algorithm>

#include "query/condition.h"
#include "query/index_lookup.h"
#include "query/query_table.h"
#include "query/scanner.h"
#include "table/conform.h"
#include "table/parquet_io.h"
#include "table/rechunk.h"
#include "table/row_range.h"
#include "table/table_impl.h"
#include "octavo/arrow_status.h"

namespace octavo {
namespace cp = arrow::compute;
using query::ColumnBounds;
using query::NecessaryCondition;

namespace {

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

Result<std::shared_ptr<arrow::RecordBatchReader>> QueryTable::Where(const std::string& condition,
                                                                    const WhereOptions& options,
                                                                    std::shared_ptr<const QueryStats>* stats) const {
  if (options.batch_size < 0) return Status::Invalid("batch size must not be negative, got ", options.batch_size);
  auto st = std::make_shared<QueryStats>();
  OCTAVO_ASSIGN_OR_RETURN(auto plan, MakePlan(*this, condition, options, options.columns, false, st));
  if (stats) *stats = st;
  return std::shared_ptr<arrow::RecordBatchReader>(
      std::make_shared<WhereReader>(std::move(plan.scanner), plan.out_schema, options.batch_size));
}

Result<std::vector<int64_t>> QueryTable::GetWhereList(const std::string& condition, const WhereOptions& options,
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

}  // namespace octavo
