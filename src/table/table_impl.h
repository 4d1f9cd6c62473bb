#pragma once

#include <functional>
#include <memory>
#include <string>

#include "bundle/bundle_impl.h"
#include "octavo/table.h"

namespace octavo {

// The table node kind of the engine's Bundle (src/api/engine_bundle.cc); CreateTableNode
// returns b->OpenTable(path).
Result<std::shared_ptr<Table>> CreateTableNode(BundleImpl* b, const std::string& path,
                                               const std::shared_ptr<arrow::Schema>& schema,
                                               const std::shared_ptr<arrow::RecordBatchReader>& data,
                                               const TableOptions& options, const CreateNodeOptions& node);
// The resolved path of the table node at `path` (links followed), or why there is none.
Result<std::string> ResolveTableNode(const BundleImpl& b, const std::string& path);

// The table layer's Table: everything but conditions, which QueryTable (src/query/query_table.h)
// adds; Bundle::OpenTable hands out QueryTables.
class TableImpl : public Table {
 public:
  TableImpl(std::shared_ptr<BundleImpl> bundle, std::string path)
      : bundle_(std::move(bundle)), path_(std::move(path)) {}

  const std::string& path() const override { return path_; }
  Result<TableInfo> Info() const override;
  Result<std::shared_ptr<arrow::Schema>> schema() const override;
  Result<int64_t> num_rows() const override;
  Result<std::shared_ptr<arrow::Table>> Read(const ReadOptions& options) const override;
  Result<std::shared_ptr<arrow::Table>> Head(int64_t n, const std::vector<std::string>& columns) const override;
  Result<std::shared_ptr<arrow::RecordBatchReader>> Scan(const ReadOptions& options,
                                                         int64_t batch_size) const override;
  Result<std::shared_ptr<arrow::Table>> ReadCoordinates(const std::vector<int64_t>& rows,
                                                        const std::vector<std::string>& columns) const override;
  Status Append(const std::shared_ptr<arrow::RecordBatchReader>& data) override;
  Status Append(const std::shared_ptr<arrow::RecordBatchReader>& data, const AppendOptions& options) override;
  Status Append(const std::shared_ptr<arrow::Table>& data) override;
  Status Repack(const RepackOptions& options) override;
  Status CreateIndex(const std::string& column) override;
  Status CreateIndex(const std::string& column, const IndexOptions& options) override;
  Status RemoveIndex(const std::string& column) override;
  Result<std::vector<std::string>> Indexes() const override;
  Status ModifyRows(int64_t start, int64_t step, const std::shared_ptr<arrow::Table>& values) override;
  Result<int64_t> RemoveRows(int64_t start, int64_t stop, int64_t step) override;

  // The table as of the handle's bundle snapshot (errors if it was removed meanwhile).
  Result<std::shared_ptr<const TableEntry>> entry() const;
  const std::string& root() const { return bundle_->path(); }

 protected:
  // ModifyRows / RemoveRows: each part for which `touches(first_row, rows)` holds is read,
  // passed through `edit` (its rows and the table row number of its first row) and written
  // back as new parts; one commit. `keep_sorted` says whether the edit keeps the rows' order
  // by the table's sort columns.
  using PartEdit = std::function<Result<std::shared_ptr<arrow::Table>>(int64_t first,
                                                                       const std::shared_ptr<arrow::Table>& rows)>;
  Status RewriteParts(const std::string& what, const std::function<bool(int64_t, int64_t)>& touches,
                      const PartEdit& edit, bool keep_sorted);

  std::shared_ptr<BundleImpl> bundle_;
  std::string path_;
};

}  // namespace octavo
