// Versioning tools over the commit history: resolve a commit reference, restore an old
// tree as a new commit (no data copied), diff two commits node by node.
#include <algorithm>
#include <cctype>

#include "bundle/bundle_impl.h"

namespace octavo {

const char* NodeChangeName(NodeChange::Change change) {
  switch (change) {
    case NodeChange::Change::kAdded: return "added";
    case NodeChange::Change::kRemoved: return "removed";
    case NodeChange::Change::kModified: return "modified";
  }
  return "unknown";
}

std::string NodeChangeToJson(const NodeChange& c) {
  auto rows = [](int64_t n) { return n < 0 ? Json(nullptr) : Json(n); };
  Json j{{"path", c.path},
         {"kind", NodeKindName(c.kind)},
         {"change", NodeChangeName(c.change)},
         {"rows_before", rows(c.rows_before)},
         {"rows_after", rows(c.rows_after)},
         {"attrs_changed", c.attrs_changed},
         {"content_changed", c.content_changed}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

CommitRef CommitRef::Parse(const std::string& ref) {
  if (ref.empty()) return CommitRef();
  if (ref.rfind("snapshot:", 0) == 0) return Snapshot(ref.substr(9));
  if (ref.rfind("branch:", 0) == 0) return Branch(ref.substr(7));
  if (ref.size() <= 18 && std::all_of(ref.begin(), ref.end(), [](unsigned char c) { return std::isdigit(c); }))
    return Id(static_cast<int64_t>(std::stoll(ref)));
  return Snapshot(ref);
}

std::string CommitRef::ToString() const {
  switch (kind) {
    case Kind::kHandle: return "";
    case Kind::kCommit: return std::to_string(id);
    case Kind::kSnapshot: return "snapshot:" + name;
    case Kind::kBranch: return "branch:" + name;
  }
  return "";
}

Result<int64_t> BundleImpl::ResolveCommit(const CommitRef& ref) const {
  switch (ref.kind) {
    case CommitRef::Kind::kHandle: return snapshot()->commit;
    case CommitRef::Kind::kCommit:
      if (ref.id < 0) return Status::Invalid("commit id ", ref.id, " is negative");
      return ref.id;
    case CommitRef::Kind::kSnapshot: return SnapshotCommit(ref.name);
    case CommitRef::Kind::kBranch: return BranchHead(ref.name);
  }
  return Status::Invalid("unknown kind of commit reference");
}

Result<std::shared_ptr<const Manifest>> BundleImpl::ManifestAt(int64_t id) const {
  const std::string rel = ManifestFileName(id);
  auto cur = ReadHead("");
  if (auto newest = NewestNamedCommit(); cur.ok() && newest.ok()) cur->commit = *newest;  // branches too
  if (cur.ok() && id > cur->commit)
    return Status::NotFound("bundle ", root_, " has no commit ", id, " (the newest commit is ", cur->commit, ")");
  if (!env_->FileExists(AbsPath(rel))) {
    if (cur.ok() && id < cur->commit)
      return Status::NotFound("commit ", id, " of bundle ", root_,
                              " was removed by garbage collection (octavo gc --keep-last); `octavo log` lists the "
                              "commits still kept");
    return Status::NotFound("bundle ", root_, " has no commit ", id, " (", rel, " is missing)");
  }
  OCTAVO_ASSIGN_OR_RETURN(auto m, ReadManifestFile(rel, -1, -1));
  if (m->commit != id) return Status::Corruption(AbsPath(rel), " holds commit ", m->commit, ", not ", id);
  return m;
}

Result<CommitInfo> BundleImpl::Restore(const CommitRef& ref) {
  std::lock_guard<std::mutex> g(writer_mutex());
  OCTAVO_RETURN_NOT_OK(CheckWritable("restore " + (ref.ToString().empty() ? "this commit" : ref.ToString())));
  if (InTransaction()) return Status::Invalid("cannot restore inside a transaction: commit or abort it first");
  OCTAVO_ASSIGN_OR_RETURN(int64_t id, ResolveCommit(ref));
  OCTAVO_ASSIGN_OR_RETURN(auto old, ManifestAt(id));
  // The new commit references the old data files: every one must still be there.
  std::set<std::string> files;
  OCTAVO_RETURN_NOT_OK(AddReferencedFiles(*old, ManifestFileName(id), &files));
  for (const auto& f : files)
    if (!env_->FileExists(AbsPath(f)))
      return Status::NotFound("commit ", id, " of bundle ", root_, " cannot be restored: its data file ", f,
                              " is gone (garbage collection with keep_last dropped it once no kept commit "
                              "referenced it); name commits with a snapshot to keep them restorable");
  const std::string what = ref.kind == CommitRef::Kind::kSnapshot || ref.kind == CommitRef::Kind::kBranch
                               ? std::string("restore ") +
                                     (ref.kind == CommitRef::Kind::kSnapshot ? "snapshot " : "branch ") + ref.name +
                                     " (commit " + std::to_string(id) + ")"
                               : "restore commit " + std::to_string(id);
  OCTAVO_RETURN_NOT_OK(CommitLocked(what, [&](Manifest& m) {
    m.nodes = old->nodes;
    return Status::OK();
  }));
  return commit();
}

Result<std::vector<NodeChange>> BundleImpl::Diff(const CommitRef& a, const CommitRef& b) const {
  OCTAVO_ASSIGN_OR_RETURN(int64_t ia, ResolveCommit(a));
  OCTAVO_ASSIGN_OR_RETURN(int64_t ib, ResolveCommit(b));
  auto here = snapshot();
  auto load = [&](int64_t id) -> Result<std::shared_ptr<const Manifest>> {
    if (id == here->commit) return here;
    return ManifestAt(id);
  };
  OCTAVO_ASSIGN_OR_RETURN(auto ma, load(ia));
  OCTAVO_ASSIGN_OR_RETURN(auto mb, load(ib));
  auto rows = [](const NodeEntry& n) -> int64_t {
    return n.kind == NodeKind::kTable && n.table ? n.table->num_rows() : -1;
  };
  std::vector<NodeChange> out;
  auto ita = ma->nodes.begin();
  auto itb = mb->nodes.begin();
  // Both maps are sorted by path: one merge pass.
  while (ita != ma->nodes.end() || itb != mb->nodes.end()) {
    NodeChange c;
    if (itb == mb->nodes.end() || (ita != ma->nodes.end() && ita->first < itb->first)) {
      c.path = ita->first;
      c.kind = ita->second.kind;
      c.change = NodeChange::Change::kRemoved;
      c.rows_before = rows(ita->second);
      out.push_back(std::move(c));
      ++ita;
      continue;
    }
    if (ita == ma->nodes.end() || itb->first < ita->first) {
      c.path = itb->first;
      c.kind = itb->second.kind;
      c.change = NodeChange::Change::kAdded;
      c.rows_after = rows(itb->second);
      out.push_back(std::move(c));
      ++itb;
      continue;
    }
    const NodeEntry& na = ita->second;
    const NodeEntry& nb = itb->second;
    OCTAVO_ASSIGN_OR_RETURN(Json ja, NodeEntryToJson(ita->first, na));
    OCTAVO_ASSIGN_OR_RETURN(Json jb, NodeEntryToJson(itb->first, nb));
    c.attrs_changed = ja["attrs"] != jb["attrs"];
    for (Json* j : {&ja, &jb})
      for (const char* key : {"attrs", "created_at", "modified_at"}) j->erase(key);
    c.content_changed = ja != jb;
    if (c.attrs_changed || c.content_changed) {
      c.path = ita->first;
      c.kind = nb.kind;
      c.change = NodeChange::Change::kModified;
      c.rows_before = rows(na);
      c.rows_after = rows(nb);
      out.push_back(std::move(c));
    }
    ++ita;
    ++itb;
  }
  return out;
}

}  // namespace octavo
