// The Bundle that Bundle::Open returns: the bundle layer's nodes, attributes and commits
// (BundleImpl) plus the node kinds of the layers above it. Joining them here, at the top of
// the engine, keeps bundle/ free of table/, array/ and file/ (README: layers).
#include <arrow/record_batch.h>

#include <memory>
#include <string>
#include <vector>

#include "array/array_node.h"
#include "bundle/bundle_impl.h"
#include "file/file_node.h"
#include "objstore/s3_env.h"
#include "query/query_table.h"
#include "table/table_impl.h"

namespace octavo {
namespace {

class EngineBundle final : public BundleImpl {
 public:
  using BundleImpl::BundleImpl;

  Result<std::shared_ptr<Table>> CreateTable(const std::string& path, const std::shared_ptr<arrow::Schema>& schema,
                                             const TableOptions& options, bool create_parents) override {
    return CreateTableNode(this, path, schema, nullptr, options, Parents(create_parents));
  }
  Result<std::shared_ptr<Table>> CreateTable(const std::string& path,
                                             const std::shared_ptr<arrow::RecordBatchReader>& data,
                                             const TableOptions& options, bool create_parents) override {
    if (!data) return Status::Invalid("no data given for table ", path);
    return CreateTableNode(this, path, data->schema(), data, options, Parents(create_parents));
  }
  Result<std::shared_ptr<Table>> OpenTable(const std::string& path) const override {
    OCTAVO_ASSIGN_OR_RETURN(std::string p, ResolveTableNode(*this, path));
    auto self = std::static_pointer_cast<BundleImpl>(std::const_pointer_cast<Bundle>(shared_from_this()));
    return std::shared_ptr<Table>(std::make_shared<QueryTable>(std::move(self), std::move(p)));
  }

  Result<std::shared_ptr<Array>> CreateArray(const std::string& path, const std::vector<int64_t>& shape,
                                             const std::string& dtype, const ArrayOptions& options,
                                             const void* data, int64_t data_bytes, bool create_parents) override {
    return CreateArrayNode(this, path, shape, dtype, options, data, data_bytes, Parents(create_parents));
  }
  Result<std::shared_ptr<Array>> OpenArray(const std::string& path) const override {
    return OpenArrayNode(*this, path);
  }

  Result<std::unique_ptr<FileWriter>> CreateFile(const std::string& path, const FileWriteOptions& options) override {
    return CreateFileNode(this, path, options);
  }
  Result<std::shared_ptr<FileReader>> OpenFile(const std::string& path) const override {
    return OpenFileNode(*this, path);
  }
  Result<FileNodeInfo> GetFileInfo(const std::string& path) const override { return FileNodeInfoOf(*this, path); }

 private:
  static CreateNodeOptions Parents(bool create_parents) {
    CreateNodeOptions o;
    o.create_parents = create_parents;
    return o;
  }
};

}  // namespace

Result<std::shared_ptr<Bundle>> Bundle::Open(const std::string& path, OpenMode mode, const OpenOptions& options) {
  OCTAVO_RETURN_NOT_OK(Initialize());
  if (path.empty()) return Status::Invalid("empty bundle path");
  std::string root = path;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  Env* env = options.env ? options.env : Env::Default();
  if (!options.env && root.find("://") != std::string::npos) {
    if (!IsS3Address(root))
      return Status::NotImplemented("'", root, "': of the object stores octavo supports only S3 (s3://bucket/prefix)");
    OCTAVO_ASSIGN_OR_RETURN(S3Config config, S3Config::FromOptions(options.storage_options));
    OCTAVO_ASSIGN_OR_RETURN(env, S3EnvFor(root, config));
  }
  // Readers that hold only a path (a part file's) find this bundle's Env by its address.
  if (root.find("://") != std::string::npos) RegisterEnvForPrefix(root, env);
  auto b = std::make_shared<EngineBundle>(root, mode, env);
  OCTAVO_RETURN_NOT_OK(b->Init(options));
  return std::shared_ptr<Bundle>(std::move(b));
}

}  // namespace octavo
