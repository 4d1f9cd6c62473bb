// A bundle: a directory holding a tree of groups, tables, (later) arrays and files,
// versioned by atomic manifest commits. See docs/format.md.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "octavo/array.h"
#include "octavo/file.h"
#include "octavo/options.h"
#include "octavo/status.h"
#include "octavo/table.h"
#include "octavo/type_fwd.h"

namespace octavo {

enum class NodeKind { kGroup, kTable, kArray, kFile, kLink };
const char* NodeKindName(NodeKind kind);
// "a group", "an array", ...: for messages ("'/x' is an array, not a table").
const char* NodeKindWithArticle(NodeKind kind);

struct NodeInfo {
  std::string path;
  NodeKind kind = NodeKind::kGroup;
  std::string attrs_json;   // JSON object text
  std::string created_at;
  std::string modified_at;
};

// A name for a commit ("v1.0", "before-cleanup"): opens with OpenOptions::snapshot.
struct SnapshotInfo {
  std::string name;
  int64_t commit = 0;
  std::string created_at;
  std::string message;
};

// Garbage collection: delete data files no kept commit references.
struct GcOptions {
  // Keep the newest N commits (plus every commit a snapshot names); older manifests are
  // deleted and their commits can no longer be opened. -1 keeps all history, so only files
  // no commit ever referenced (left by failed writes, aborts, crashes) are deleted.
  int64_t keep_last = -1;
  bool dry_run = false;  // report what would be deleted, delete nothing
  ProgressCallback progress;  // once per data file examined (unit "files")
  // Files and manifests younger than this are never deleted: on an object store (no LOCK)
  // they may be a running writer's uploads that its commit has not yet referenced
  // (docs/format.md 10). Negative: the default, 3600 on an object store and 0 on a disk,
  // where LOCK keeps writers out while gc runs.
  double min_age_seconds = -1;
};

struct GcReport {
  int64_t commits_removed = 0;
  int64_t files_removed = 0;
  int64_t bytes_freed = 0;
  int64_t files_kept = 0;                  // data files still referenced
  int64_t recent_kept = 0;                 // unreferenced, but younger than min_age_seconds: kept
  std::vector<std::string> removed;        // relative paths (manifests and data files)
};

// One node that differs between two commits (Bundle::Diff).
struct NodeChange {
  enum class Change { kAdded, kRemoved, kModified };
  std::string path;
  NodeKind kind = NodeKind::kGroup;  // in the newer commit (the older one if removed)
  Change change = Change::kModified;
  int64_t rows_before = -1, rows_after = -1;  // tables: row counts (-1: absent or not a table)
  bool attrs_changed = false;                 // modified: its attributes differ
  bool content_changed = false;               // modified: its data, schema, target or kind differ
};
const char* NodeChangeName(NodeChange::Change change);  // "added", "removed", "modified"
// {"path", "kind", "change", "rows_before", "rows_after" (null when not a table or absent),
// "attrs_changed", "content_changed"} as JSON object text: shared by the bindings and the CLI.
std::string NodeChangeToJson(const NodeChange& change);

// A commit by reference, typed so that no name is mistaken for an id (a snapshot called
// "2024" is CommitRef::Snapshot("2024"), commit 2024 is CommitRef::Id(2024)).
struct CommitRef {
  enum class Kind { kHandle, kCommit, kSnapshot, kBranch };
  Kind kind = Kind::kHandle;  // kHandle: the commit this handle sees
  int64_t id = -1;            // kCommit
  std::string name;           // kSnapshot, kBranch ("main" is the bundle's main line)
  static CommitRef Id(int64_t id) { return {Kind::kCommit, id, ""}; }
  static CommitRef Snapshot(std::string name) { return {Kind::kSnapshot, -1, std::move(name)}; }
  static CommitRef Branch(std::string name) { return {Kind::kBranch, -1, std::move(name)}; }
  // Text form (CLI, bindings): "" = this handle's; "snapshot:NAME"; "branch:NAME"; all
  // digits = a commit id; anything else a snapshot name. Never fails: a bad name fails when resolved.
  static CommitRef Parse(const std::string& text);
  CommitRef() = default;
  CommitRef(const std::string& text) : CommitRef(Parse(text)) {}  // NOLINT: implicit, as the text form
  CommitRef(const char* text) : CommitRef(Parse(text)) {}         // NOLINT
  std::string ToString() const;  // the text form ("snapshot:2024", "12", "branch:dev")

 private:
  CommitRef(Kind k, int64_t i, std::string n) : kind(k), id(i), name(std::move(n)) {}
};

// A branch (docs/format.md 5.2): a named line of commits beside main. Open it with
// OpenOptions::branch; its commits leave main (CURRENT) unchanged.
struct BranchInfo {
  std::string name;
  int64_t head = 0;        // its newest commit
  std::string created_at;  // when the branch was created
  int64_t from = -1;       // the commit it was created from
};

struct CommitInfo {
  int64_t id = 0;
  int64_t parent = -1;
  std::string created_at;
  std::string message;
  std::string manifest_file;  // relative to the bundle root
};

// {"id", "parent", "created_at", "message", "manifest_file"} as JSON object text: the one
// serializer the bindings and the CLI share.
std::string CommitInfoToJson(const CommitInfo& commit);

// The result of Bundle::Merge.
struct MergeResult {
  int64_t base = -1;        // the common ancestor the merge was computed against
  bool committed = false;   // false: nothing to merge (the target already has the branch's changes)
  CommitInfo commit;        // the new commit on the target (its head when nothing was merged)
};
// {"name", "head", "created_at", "from"} as JSON object text (bindings and CLI).
std::string BranchInfoToJson(const BranchInfo& branch);

class Bundle : public std::enable_shared_from_this<Bundle> {
 public:
  static Result<std::shared_ptr<Bundle>> Open(const std::string& path, OpenMode mode = OpenMode::kRead,
                                              const OpenOptions& options = {});
  virtual ~Bundle() = default;

  virtual const std::string& path() const = 0;
  virtual bool writable() const = 0;
  virtual CommitInfo commit() const = 0;      // the snapshot this handle sees
  virtual const std::string& branch() const = 0;  // the branch this handle follows ("main" by default)
  virtual Status Close() = 0;                 // releases the writer lock; idempotent
  virtual Status Refresh() = 0;               // move to the newest commit (a writer too, outside a transaction)

  // --- nodes -------------------------------------------------------------
  virtual Status CreateGroup(const std::string& path, bool create_parents = true) = 0;
  virtual bool Exists(const std::string& path) const = 0;
  virtual Result<NodeInfo> GetNode(const std::string& path) const = 0;
  virtual Result<std::vector<NodeInfo>> ListChildren(const std::string& path) const = 0;
  // Every node under `path` (inclusive), parents before children, names sorted.
  virtual Result<std::vector<NodeInfo>> Walk(const std::string& path = "/") const = 0;
  virtual Status RemoveNode(const std::string& path, bool recursive = false) = 0;

  // Move (or rename) a node and everything below it. Data files are not touched.
  virtual Status MoveNode(const std::string& from, const std::string& to, bool create_parents = true) = 0;
  // Copy a node (recursively for groups). Only metadata is copied: tables share the
  // source's immutable data files, so a copy costs no disk space until it diverges.
  virtual Status CopyNode(const std::string& from, const std::string& to, bool create_parents = true) = 0;
  // A soft link: a node that stands for another path, resolved on access.
  virtual Status CreateSoftLink(const std::string& path, const std::string& target, bool create_parents = true) = 0;
  virtual Result<std::string> LinkTarget(const std::string& path) const = 0;
  // The path a (possibly linked) path finally names: links are followed at every
  // component; a dangling link or a loop is a clear error.
  virtual Result<std::string> ResolvePath(const std::string& path) const = 0;

  // --- transactions --------------------------------------------------------
  // Between Begin and Commit every change lands in one pending manifest; Commit writes
  // it as a single commit, Abort drops it (parts written meanwhile become orphans).
  virtual Status BeginTransaction() = 0;
  virtual Status CommitTransaction(const std::string& message = "") = 0;
  virtual Status AbortTransaction() = 0;
  virtual bool InTransaction() const = 0;
  // Runs `body` as a step of the open transaction or, when none is open, as one commit of
  // its own with `message`: committed once `body` succeeds, aborted when it fails (so an
  // import is one commit, or one step of the caller's). True when it made that commit.
  Result<bool> RunAsOneCommit(const std::function<Status()>& body, const std::string& message);

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

  // --- n-d arrays (include/octavo/array.h) -----------------------------------
  // Create an array; with `data` (C order, `shape`, `dtype`, `data_bytes` long) it is
  // created and filled in one commit.
  virtual Result<std::shared_ptr<Array>> CreateArray(const std::string& path, const std::vector<int64_t>& shape,
                                                     const std::string& dtype, const ArrayOptions& options = {},
                                                     const void* data = nullptr, int64_t data_bytes = 0,
                                                     bool create_parents = true) = 0;
  virtual Result<std::shared_ptr<Array>> OpenArray(const std::string& path) const = 0;

  // --- file nodes (include/octavo/file.h) -----------------------------------
  // A writer whose Close() commits the node; nothing is visible before.
  virtual Result<std::unique_ptr<FileWriter>> CreateFile(const std::string& path,
                                                         const FileWriteOptions& options = {}) = 0;
  virtual Result<std::shared_ptr<FileReader>> OpenFile(const std::string& path) const = 0;
  virtual Result<FileNodeInfo> GetFileInfo(const std::string& path) const = 0;  // without opening the content

  // --- history -------------------------------------------------------------
  // Commits up to this handle's, oldest first; those garbage collection dropped are absent.
  // A manifest that is present but unreadable is kCorruption naming it (never left out).
  virtual Result<std::vector<CommitInfo>> ListCommits() const = 0;
  // Name a commit (-1: the newest). Names: letters, digits, '.', '_', '-' (not leading '.').
  // An existing name is an error unless `overwrite`. Needs a writable bundle.
  virtual Result<SnapshotInfo> CreateSnapshot(const std::string& name, const std::string& message = "",
                                              int64_t commit = -1, bool overwrite = false) = 0;
  virtual Result<std::vector<SnapshotInfo>> ListSnapshots() const = 0;  // sorted by name
  virtual Status DeleteSnapshot(const std::string& name) = 0;
  // The commit a reference names (a branch: its head).
  virtual Result<int64_t> ResolveCommit(const CommitRef& ref) const = 0;
  // A new commit (on this handle's branch) whose tree equals that of commit `ref` (nothing is
  // copied: it references the old data files, which must still exist; gc'd ones are a clear
  // kNotFound). Returns it.
  virtual Result<CommitInfo> Restore(const CommitRef& ref) = 0;
  // Nodes added, removed or modified from commit `a` to commit `b`, sorted by path.
  virtual Result<std::vector<NodeChange>> Diff(const CommitRef& a, const CommitRef& b = {}) const = 0;

  // --- branches (docs/format.md 5.2) -------------------------------------------
  // A new branch whose head is `from` (default: this handle's commit). Names as snapshots'
  // ("main" is taken). Needs a writable bundle; creates no commit.
  virtual Result<BranchInfo> CreateBranch(const std::string& name, const CommitRef& from = {}) = 0;
  virtual Result<std::vector<BranchInfo>> ListBranches() const = 0;  // sorted by name, without main
  // Forget a branch; its commits stay until gc finds no other branch or snapshot needs them.
  virtual Status DeleteBranch(const std::string& name) = 0;
  // Merge branch `name` ("main" too) into this handle's branch: a three-way merge against
  // their common ancestor, as a rebase (docs/format.md 5.1) combines concurrent writers.
  // Changes only one side made, appends to one table from both sides and new nodes combine
  // into one new commit; a node both changed otherwise is kConflict naming it, and nothing
  // is committed.
  virtual Result<MergeResult> Merge(const std::string& name) = 0;
  // Delete unreferenced files (and, with keep_last, old history). Needs the writer lock.
  // Readers in other processes still on a commit that keep_last removes lose its data.
  virtual Result<GcReport> CollectGarbage(const GcOptions& options = {}) = 0;
};

// How a node is created, beyond its kind-specific options.
struct CreateNodeOptions {
  bool create_parents = true;
  // Replace whatever node is at the path (a group with everything below it) in the same
  // commit that adds the new one: readers see the old node or the new one, never neither.
  bool overwrite = false;
  // Attributes (a JSON object, e.g. {"TITLE": "..."}) stored with the node in that commit.
  std::string attrs_json;
};

// Create a table (empty with `schema`, or filled from `data`, whose schema it takes) as one
// commit. Data files are written first; a failure while reading `data` leaves the bundle as
// it was (an existing node at the path included).
Result<std::shared_ptr<Table>> CreateTable(Bundle& bundle, const std::string& path,
                                           const std::shared_ptr<arrow::Schema>& schema,
                                           const std::shared_ptr<arrow::RecordBatchReader>& data,
                                           const TableOptions& options, const CreateNodeOptions& node_options);

// Create a group with its attributes (`node_options.attrs_json`) as one commit.
Status CreateGroup(Bundle& bundle, const std::string& path, const CreateNodeOptions& node_options);

// Create an array (see Bundle::CreateArray) with its attributes as one commit; with
// `node_options.overwrite` the node at `path` is replaced in that commit.
Result<std::shared_ptr<Array>> CreateArray(Bundle& bundle, const std::string& path, const std::vector<int64_t>& shape,
                                           const std::string& dtype, const ArrayOptions& options, const void* data,
                                           int64_t data_bytes, const CreateNodeOptions& node_options);

// Set several attributes of a node (`attrs_json`: a JSON object of name -> value) as one
// commit: all of them or none.
Status SetAttrs(Bundle& bundle, const std::string& path, const std::string& attrs_json);

// Arrow's compute kernels and dataset factories must be registered once per
// process before use; octavo's entry points call this, standalone programs may too. It also
// sizes the thread pool (octavo/threads.h): an unusable OCTAVO_NUM_THREADS is its error.
Status Initialize();

}  // namespace octavo
