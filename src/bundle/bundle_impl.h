// Internal: the bundle layer's Bundle -- nodes, attributes, commits, history. The node kinds of
// the layers above (tables, arrays, file nodes) are added by the engine's subclass in
// src/api/engine_bundle.cc, so this layer never includes table/, array/ or file/. Table, array
// and file handles reach the bundle state through this class.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "format/manifest.h"
#include "octavo/bundle.h"
#include "octavo/env.h"

namespace octavo {

class BundleImpl : public Bundle {
 public:
  BundleImpl(std::string root, OpenMode mode, Env* env);
  ~BundleImpl() override;

  // Open / create on disk; called once by Bundle::Open.
  Status Init(const OpenOptions& options);

  const std::string& path() const override { return root_; }
  bool writable() const override { return lock_ != nullptr; }
  CommitInfo commit() const override;
  const std::string& branch() const override { return branch_name_; }
  Status Close() override;
  Status Refresh() override;

  Status CreateGroup(const std::string& path, bool create_parents) override;
  bool Exists(const std::string& path) const override;
  Result<NodeInfo> GetNode(const std::string& path) const override;
  Result<std::vector<NodeInfo>> ListChildren(const std::string& path) const override;
  Result<std::vector<NodeInfo>> Walk(const std::string& path) const override;
  Status RemoveNode(const std::string& path, bool recursive) override;

  Status MoveNode(const std::string& from, const std::string& to, bool create_parents) override;
  Status CopyNode(const std::string& from, const std::string& to, bool create_parents) override;
  Status CreateSoftLink(const std::string& path, const std::string& target, bool create_parents) override;
  Result<std::string> LinkTarget(const std::string& path) const override;
  Result<std::string> ResolvePath(const std::string& path) const override;

  Status BeginTransaction() override;
  Status CommitTransaction(const std::string& message) override;
  Status AbortTransaction() override;
  bool InTransaction() const override;

  Result<std::string> GetAttrs(const std::string& path) const override;
  Status SetAttr(const std::string& path, const std::string& key, const std::string& json_value) override;
  Status DeleteAttr(const std::string& path, const std::string& key) override;

  // Tables, arrays and file nodes: NotImplemented here (a BundleImpl used only to read a
  // manifest); EngineBundle (src/api/engine_bundle.cc) overrides them.
  Result<std::shared_ptr<Table>> CreateTable(const std::string& path, const std::shared_ptr<arrow::Schema>& schema,
                                             const TableOptions& options, bool create_parents) override;
  Result<std::shared_ptr<Table>> CreateTable(const std::string& path,
                                             const std::shared_ptr<arrow::RecordBatchReader>& data,
                                             const TableOptions& options, bool create_parents) override;
  Result<std::shared_ptr<Table>> OpenTable(const std::string& path) const override;
  Result<std::shared_ptr<Array>> CreateArray(const std::string& path, const std::vector<int64_t>& shape,
                                             const std::string& dtype, const ArrayOptions& options,
                                             const void* data, int64_t data_bytes, bool create_parents) override;
  Result<std::shared_ptr<Array>> OpenArray(const std::string& path) const override;
  Result<std::unique_ptr<FileWriter>> CreateFile(const std::string& path, const FileWriteOptions& options) override;
  Result<std::shared_ptr<FileReader>> OpenFile(const std::string& path) const override;
  Result<FileNodeInfo> GetFileInfo(const std::string& path) const override;

  Result<std::vector<CommitInfo>> ListCommits() const override;
  Result<GcReport> CollectGarbage(const GcOptions& options) override;  // src/bundle/gc.cc
  Result<SnapshotInfo> CreateSnapshot(const std::string& name, const std::string& message, int64_t commit,
                                      bool overwrite) override;  // src/bundle/snapshots.cc
  Result<std::vector<SnapshotInfo>> ListSnapshots() const override;
  Status DeleteSnapshot(const std::string& name) override;
  Result<int64_t> ResolveCommit(const CommitRef& ref) const override;  // src/bundle/versions.cc
  Result<CommitInfo> Restore(const CommitRef& ref) override;
  Result<std::vector<NodeChange>> Diff(const CommitRef& a, const CommitRef& b) const override;
  // src/bundle/branches.cc
  Result<BranchInfo> CreateBranch(const std::string& name, const CommitRef& from) override;
  Result<std::vector<BranchInfo>> ListBranches() const override;
  Status DeleteBranch(const std::string& name) override;
  Result<MergeResult> Merge(const std::string& name) override;
  // The head commit of a branch ("" or "main": CURRENT's).
  Result<int64_t> BranchHead(const std::string& name) const;
  // The newest common ancestor of commits a and b (following parent and merged links), or
  // kNotFound when garbage collection removed the history joining them. `visited`, if given,
  // receives every commit the search read (all at least as new as the ancestor).
  Result<int64_t> MergeBase(int64_t a, int64_t b, std::set<int64_t>* visited = nullptr) const;
  // The manifest of commit `id` (not newer than CURRENT), with LoadCommit's errors.
  Result<std::shared_ptr<const Manifest>> ManifestAt(int64_t id) const;
  // The commit a snapshot names (used by Init for OpenOptions::snapshot).
  Result<int64_t> SnapshotCommit(const std::string& name) const;

  // --- used by tables ------------------------------------------------------
  std::shared_ptr<const Manifest> snapshot() const;
  Env* env() const { return env_; }
  std::string AbsPath(const std::string& relative) const { return root_ + "/" + relative; }
  Status CheckWritable(const std::string& what) const;

  // File writers stream outside writer_mutex(); garbage collection leaves their files alone.
  std::atomic<int>& active_file_writers() { return active_file_writers_; }

  // Serialises writers in this process; held across writing data files and committing.
  std::mutex& writer_mutex() { return writer_mu_; }
  // Copy the current manifest, let `fn` change it, write it as the next commit and
  // switch CURRENT. Caller holds writer_mutex(). On failure the in-memory state is
  // re-read from disk, so it always matches what a fresh reader would see.
  Status CommitLocked(const std::string& message, const std::function<Status(Manifest&)>& fn);
  Status Commit(const std::string& message, const std::function<Status(Manifest&)>& fn);

 private:
  // CURRENT (or a branch's head file), checked: its seal, and that it names the manifest file
  // of its commit.
  struct CurrentPointer {
    std::string text;
    std::string manifest;
    int64_t commit = -1, size = -1, crc = -1;
  };
  // The head of this handle's branch (CURRENT for main).
  Result<CurrentPointer> ReadCurrent() const { return ReadHead(branch_); }
  // The head file of `branch` ("": CURRENT): its name relative to the root, and its content.
  static std::string HeadFile(const std::string& branch);
  Result<CurrentPointer> ReadHead(const std::string& branch) const;
  // The newest commit any head or snapshot names; a new commit takes the next id (under LOCK.commit).
  Result<int64_t> NewestNamedCommit() const;
  // Mark the bundle as one with branches (kBranchesFormatVersion) in its marker file.
  Status MarkHasBranches();
  // Object stores (src/bundle/object_store.cc): the newest manifest, CURRENT as a hint; and
  // the commit point, a conditional create of the manifest (`lost_race`: another writer
  // created that commit first), then CURRENT updated as a hint.
  Result<CurrentPointer> ReadNewestManifest() const;
  Status CreateManifestObject(const Manifest& next, const std::string& text, bool* lost_race);
  // OK if this writer still holds its lock and CURRENT still names commit `base`.
  Status CheckStillAt(int64_t base) const;
  Status LoadCurrent();
  // Every file and folder under data/, as names relative to the root (src/bundle/gc.cc).
  struct DataTree {
    std::vector<std::string> files, dirs;
  };
  Result<DataTree> ListDataTree() const;
  // The record of commits gc removed (src/bundle/gc.cc).
  struct DroppedCommits {
    bool recorded = false;  // false: a bundle from before the record; any gap may be gc's
    std::vector<std::pair<int64_t, int64_t>> ranges;  // inclusive, sorted, merged
    // The first commit of [lo, hi] gc did not remove, or -1 (always -1 without a record).
    int64_t FirstNotDropped(int64_t lo, int64_t hi) const;
  };
  Result<DroppedCommits> ReadDroppedCommits() const;
  Status WriteDroppedCommits(const DroppedCommits& d);
  // A manifest of history missing without gc having removed it: damage, named.
  Status MissingManifest(int64_t commit) const;
  Status LoadCommit(int64_t commit);
  Status CreateOnDisk();
  Status WriteManifestAndSwitch(Manifest& next, bool* lost_race = nullptr);
  Result<std::shared_ptr<const Manifest>> ReadManifestFile(const std::string& rel, int64_t expect_size,
                                                           int64_t expect_crc) const;

  std::string root_;
  std::string branch_;                 // "" = main
  std::string branch_name_ = "main";  // branch_ as users name it
  OpenMode mode_;
  Env* env_;
  std::unique_ptr<FileLock> lock_;
  mutable std::mutex state_mu_;
  std::shared_ptr<const Manifest> manifest_;
  std::shared_ptr<Manifest> txn_;     // pending manifest of an open transaction
  std::vector<std::string> txn_log_;  // messages of the changes grouped in it
  std::string manifest_file_;
  std::mutex writer_mu_;
  std::atomic<int> active_file_writers_{0};
};

// kInvalid unless `name` can name a snapshot or branch: 1-128 letters, digits, '.', '_', '-',
// not starting with '.'. `what`: "snapshot", "branch".
Status CheckRefName(const std::string& name, const char* what);

// Rebase (docs/format.md 5.1): `ours` is `base` changed by this writer, `theirs` a newer commit
// another writer made from `base`. Returns `theirs` with our changes applied when no node was
// changed by both (appends to one table and attribute edits with different keys combine), else
// kConflict naming the node and what to do. `merge`: a merge of branches (Bundle::Merge), whose
// conflict messages speak of branches, not writers.
Result<Manifest> RebaseManifest(const Manifest& base, const Manifest& ours, const Manifest& theirs,
                                bool merge = false);

// Every data file `m` references (table parts and indexes, array chunks, file contents),
// relative to the bundle root (src/bundle/gc.cc).
Status AddReferencedFiles(const Manifest& m, const std::string& manifest_file, std::set<std::string>* out);

// Whether EnsureParentGroups would succeed, without changing `m`.
Status CheckParentGroups(const Manifest& m, const std::string& path, bool create_parents);
// Create missing parent groups of `path` in `m` (all must be groups).
Status EnsureParentGroups(Manifest& m, const std::string& path, bool create_parents, const std::string& now);

// Follow soft links at every component of a normalised path.
Result<std::string> ResolveLinks(const Manifest& m, const std::string& path);

// kAlreadyExists naming what holds `path` and what to do about it.
inline constexpr const char* kPathTakenFix = "remove it first or choose another name";
Status PathTaken(const std::string& path, NodeKind kind, const std::string& fix = kPathTakenFix);
// OK if no node is at `path` in `m`, else PathTaken.
Status CheckPathFree(const Manifest& m, const std::string& path, const std::string& fix = kPathTakenFix);

// Whether the newest commit of the bundle at `root` references data file `rel` (a table part
// or index file). True too when that cannot be told: callers use false to say "garbage
// collection removed it" instead of "the bundle is damaged".
bool FileReferencedByCurrentCommit(const std::string& root, const std::string& rel);

// Attributes given with a new node (CreateNodeOptions::attrs_json; "" = none) or to SetAttrs:
// a JSON object whose keys are valid attribute names. kInvalid naming `what` otherwise.
Result<Json> ParseNodeAttrs(const std::string& attrs_json, const std::string& what);
// kInvalid unless `key` can name an attribute (non-empty UTF-8 without control characters).
Status CheckAttrName(const std::string& key);
// Removes the node at `path` and everything below it (a node created with overwrite replaces
// them in the same commit).
void EraseSubtree(Manifest& m, const std::string& path);

// A node lookup with a clear error.
Result<const NodeEntry*> FindNode(const Manifest& m, const std::string& normalized_path);

}  // namespace octavo
