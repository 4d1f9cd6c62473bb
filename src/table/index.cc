// Secondary indexes: per part, an immutable Parquet file of (value, row) pairs sorted by
// value (nulls last), in small row groups whose statistics are tight because the values are
// sorted. Building them lives here; lookups, which take a query's condition, in
// src/query/index_lookup.cc. Format: docs/format.md "Sorted tables and secondary indexes".
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <parquet/arrow/reader.h>

#include <algorithm>
#include <cmath>

#include "table/index.h"

#include "table/conform.h"
#include "table/parquet_io.h"
#include "table/row_range.h"
#include "table/sort_util.h"
#include "table/table_impl.h"
#include "octavo/arrow_status.h"
#include "util/time_util.h"

namespace octavo {
namespace cp = arrow::compute;

namespace {

constexpr int64_t kIndexRowGroupRows = 16 * 1024;

class OneBatch final : public arrow::RecordBatchReader {
 public:
  explicit OneBatch(std::shared_ptr<arrow::RecordBatch> b) : schema_(b->schema()), b_(std::move(b)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = std::move(b_);
    b_ = nullptr;
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<arrow::RecordBatch> b_;
};

Result<int> IndexableField(const TableEntry& t, const std::string& column, const std::string& table_path) {
  OCTAVO_ASSIGN_OR_RETURN(auto fields, ResolveColumns(*t.schema, {column}, table_path));
  const auto& f = t.schema->field(fields[0]);
  OCTAVO_RETURN_NOT_OK(
      MakeCellComparator(*f->type(), "create_index: table " + table_path + " column '" + column + "'").status());
  return fields[0];
}


}  // namespace

std::shared_ptr<arrow::Schema> IndexSchema(const arrow::Field& field, const std::string& column,
                                           const std::string& part_file) {
  auto md = arrow::key_value_metadata({kIndexMetaColumn, kIndexMetaPart}, {column, part_file});
  return arrow::schema({arrow::field("value", field.type()), arrow::field("row", arrow::int64(), false)}, md);
}

Status BuildPartIndex(Env* env, const std::string& root, const std::string& table_path, const TableEntry& table,
                      const std::string& column, PartEntry* part) {
  OCTAVO_ASSIGN_OR_RETURN(int field, IndexableField(table, column, table_path));
  const auto& f = table.schema->field(field);
  const std::string ctx = "create_index: table " + table_path + " column '" + column + "'";
  // One part's column in memory (parts hold at most part_max_rows rows).
  OCTAVO_ASSIGN_OR_RETURN(auto reader, OpenPart(root, table_path, *part, true, true));
  OCTAVO_ASSIGN_OR_RETURN(auto leaves, LeafIndices(*reader, {field}));
  std::vector<int> rgs(reader->num_row_groups());
  for (size_t i = 0; i < rgs.size(); ++i) rgs[i] = static_cast<int>(i);
  auto tr = reader->ReadRowGroups(rgs, leaves);
  if (!tr.ok())
    return Status::Corruption("table ", table_path, ": part file ", root, "/", part->file,
                              " cannot be decoded: ", tr.status().message());
  OCTAVO_ASSIGN_OR_RETURN(auto col, CastToDeclaredType((*tr)->column(0), f->type(), ctx));
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto values, arrow::Concatenate(col->chunks()));
  cp::ArraySortOptions so(cp::SortOrder::Ascending, cp::NullPlacement::AtEnd);
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto idx, cp::SortIndices(*values, so));
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto sorted, cp::Take(values, idx));
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto rows, cp::Cast(*idx, arrow::int64()));
  auto schema = IndexSchema(*f, column, part->file);
  auto batch = arrow::RecordBatch::Make(schema, values->length(), {sorted.make_array(), rows});
  TableOptions o;
  o.compression = "zstd";
  o.compression_level = 1;
  o.row_group_size = kIndexRowGroupRows;
  o.part_max_rows = INT64_MAX;
  o.write_page_index = false;
  OneBatch one(batch);
  OCTAVO_ASSIGN_OR_RETURN(auto written, WriteParts(env, root, table.uid, schema, &one, o));
  if (written.size() != 1) return Status::IOError(ctx, ": the index file of part ", part->file, " was not written");
  PartEntry::IndexFile file;
  file.file = written[0].file;
  file.size_bytes = written[0].size_bytes;
  file.footer_size = written[0].footer_size;
  file.footer_crc32 = written[0].footer_crc32;
  part->indexes[column] = file;
  return Status::OK();
}

// --- TableImpl -------------------------------------------------------------------------------

Status TableImpl::CreateIndex(const std::string& column) { return CreateIndex(column, IndexOptions{}); }

Status TableImpl::CreateIndex(const std::string& column, const IndexOptions& options) {
  std::lock_guard<std::mutex> g(bundle_->writer_mutex());
  OCTAVO_RETURN_NOT_OK(bundle_->CheckWritable("create an index on table " + path_));
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  OCTAVO_RETURN_NOT_OK(IndexableField(*e, column, path_).status());
  if (std::find(e->indexed_columns.begin(), e->indexed_columns.end(), column) != e->indexed_columns.end())
    return Status::AlreadyExists("table ", path_, " already has an index on column '", column,
                                 "'; remove_index('", column, "') first to rebuild it");
  std::vector<PartEntry> parts = e->parts;
  int64_t indexed = 0;
  for (auto& p : parts) {
    p.indexes.erase(column);
    OCTAVO_RETURN_NOT_OK(BuildPartIndex(bundle_->env(), bundle_->path(), path_, *e, column, &p));
    indexed += p.num_rows;
    if (options.progress) options.progress({"rows", indexed, e->num_rows(), p.file});
  }
  return bundle_->CommitLocked("create index on " + path_ + " column " + column, [&](Manifest& m) -> Status {
    auto it = m.nodes.find(path_);
    if (it == m.nodes.end() || it->second.table != e)
      return Status::Invalid("table ", path_, " changed while its index was built; retry");
    auto next = std::make_shared<TableEntry>(*e);
    next->parts = parts;
    next->indexed_columns.push_back(column);
    it->second.table = std::move(next);
    return Status::OK();
  });
}

Status TableImpl::RemoveIndex(const std::string& column) {
  std::lock_guard<std::mutex> g(bundle_->writer_mutex());
  OCTAVO_RETURN_NOT_OK(bundle_->CheckWritable("remove an index of table " + path_));
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  auto pos = std::find(e->indexed_columns.begin(), e->indexed_columns.end(), column);
  bool any_file = false;
  for (const auto& p : e->parts) any_file = any_file || p.indexes.count(column);
  if (pos == e->indexed_columns.end() && !any_file) {
    std::string have;
    for (const auto& c : e->indexed_columns) have += (have.empty() ? "" : ", ") + c;
    return Status::NotFound("table ", path_, " has no index on column '", column, "'",
                            have.empty() ? std::string("; it has no index") : "; its indexes: " + have);
  }
  // Index files stay on disk: older commits still refer to them.
  return bundle_->CommitLocked("remove index of " + path_ + " column " + column, [&](Manifest& m) -> Status {
    auto it = m.nodes.find(path_);
    if (it == m.nodes.end() || it->second.table != e)
      return Status::Invalid("table ", path_, " changed during remove_index; retry");
    auto next = std::make_shared<TableEntry>(*e);
    for (auto& p : next->parts) p.indexes.erase(column);
    next->indexed_columns.erase(std::remove(next->indexed_columns.begin(), next->indexed_columns.end(), column),
                                next->indexed_columns.end());
    it->second.table = std::move(next);
    return Status::OK();
  });
}

Result<std::vector<std::string>> TableImpl::Indexes() const {
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  return e->indexed_columns;
}

}  // namespace octavo
