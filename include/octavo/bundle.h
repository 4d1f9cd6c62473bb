// A bundle: a directory holding a tree of groups, tables, (later) arrays and files,
// versioned by atomic manifest commits. See docs/format.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octavo/options.h"
#include "octavo/status.h"
#include "octavo/table.h"
#include "octavo/type_fwd.h"

namespace octavo {

enum class NodeKind { kGroup, kTable, kArray, kFile, kLink };
const char* NodeKindName(NodeKind kind);

struct NodeInfo {
  std::string path;
  NodeKind kind = NodeKind::kGroup;
  std::string attrs_json;   // JSON object text
  std::string created_at;
  std::string modified_at;
};

struct CommitInfo {
  int64_t id = 0;
  int64_t parent = -1;
  std::string created_at;
  std::string message;
  std::string manifest_file;  // relative to the bundle root
};

class Bundle : public std::enable_shared_from_this<Bundle> {
 public:
  static Result<std::shared_ptr<Bundle>> Open(const std::string& path, OpenMode mode = OpenMode::kRead,
                                              const OpenOptions& options = {});
  virtual ~Bundle() = default;

  virtual const std::string& path() const = 0;
  virtual bool writable() const = 0;
  virtual CommitInfo commit() const = 0;      // the snapshot this handle sees
  virtual Status Close() = 0;                 // releases the writer lock; idempotent
  virtual Status Refresh() = 0;               // reader: move to the newest commit

  // --- nodes -------------------------------------------------------------
  virtual Status CreateGroup(const std::string& path, bool create_parents = true) = 0;
  virtual bool Exists(const std::string& path) const = 0;
  virtual Result<NodeInfo> GetNode(const std::string& path) const = 0;
  virtual Result<std::vector<NodeInfo>> ListChildren(const std::string& path) const = 0;
  // Every node under `path` (inclusive), parents before children, names sorted.
  virtual Result<std::vector<NodeInfo>> Walk(const std::string& path = "/") const = 0;
  virtual Status RemoveNode(const std::string& path, bool recursive = false) = 0;

  // --- attributes (JSON values) ----------------------------------------------
  virtual Result<std::string> GetAttrs(const std::string& path) const = 0;  // JSON object
  virtual Status SetAttr(const std::string& path, const std::string& key, const std::string& json_value) = 0;
  virtual Status DeleteAttr(const std::string& path, const std::string& key) = 0;

  // --- tables --------------------------------------------------------------
  virtual Result<std::shared_ptr<Table>> CreateTable(const std::string& path,
                                                     const std::shared_ptr<arrow::Schema>& schema,
                                                     const TableOptions& options = {},
                                                     bool create_parents = true) = 0;
  // Create and fill in one commit.
  virtual Result<std::shared_ptr<Table>> CreateTable(const std::string& path,
                                                     const std::shared_ptr<arrow::RecordBatchReader>& data,
                                                     const TableOptions& options = {},
                                                     bool create_parents = true) = 0;
  virtual Result<std::shared_ptr<Table>> OpenTable(const std::string& path) const = 0;

  // --- history -------------------------------------------------------------
  virtual Result<std::vector<CommitInfo>> ListCommits() const = 0;
};

// Arrow's compute kernels and dataset factories must be registered once per
// process before use; octavo's entry points call this, standalone programs may too.
Status Initialize();

}  // namespace octavo
