// Tree operations: parents, move/rename, copy, soft links, transactions.
#include <vector>

#include "bundle/bundle_impl.h"
#include "util/json_util.h"
#include "util/names.h"
#include "util/time_util.h"

namespace octavo {

namespace {

// The ancestors of `path` that do not exist yet (nearest first), once the nearest existing
// one is known to be a group and creating the others is allowed.
Result<std::vector<std::string>> MissingParentGroups(const Manifest& m, const std::string& path,
                                                     bool create_parents) {
  std::string parent = ParentPath(path);
  std::vector<std::string> missing;
  while (!m.nodes.count(parent)) {
    missing.push_back(parent);
    parent = ParentPath(parent);
  }
  const NodeEntry& anc = m.nodes.at(parent);
  if (anc.kind != NodeKind::kGroup)
    return Status::TypeError("cannot create '", path, "': '", parent, "' is ", NodeKindWithArticle(anc.kind),
                             ", not a group");
  if (!missing.empty() && !create_parents)
    return Status::NotFound("cannot create '", path, "': parent group '", missing.back(),
                            "' does not exist (pass create_parents=True)");
  return missing;
}

}  // namespace

Status CheckParentGroups(const Manifest& m, const std::string& path, bool create_parents) {
  return MissingParentGroups(m, path, create_parents).status();
}

Status EnsureParentGroups(Manifest& m, const std::string& path, bool create_parents, const std::string& now) {
  OCTAVO_ASSIGN_OR_RETURN(auto missing, MissingParentGroups(m, path, create_parents));
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    NodeEntry g;
    g.kind = NodeKind::kGroup;
    g.created_at = g.modified_at = now;
    m.nodes.emplace(*it, std::move(g));
  }
  return Status::OK();
}

Result<std::string> ResolveLinks(const Manifest& m, const std::string& path) {
  constexpr int kMaxHops = 40;
  std::string current = path;
  int hops = 0;
  // Walk component by component; whenever a prefix is a link, splice in its target.
  size_t pos = 0;
  while (true) {
    size_t next = current.find('/', pos + 1);
    std::string prefix = current.substr(0, next);
    auto it = m.nodes.find(prefix);
    if (it == m.nodes.end()) {
      if (prefix == current) return current;  // the final component may be missing; callers report it
      return Status::NotFound("no node '", prefix, "' on the way to '", path, "'");
    }
    if (it->second.kind == NodeKind::kLink) {
      if (++hops > kMaxHops)
        return Status::Invalid("soft links starting at '", path, "' form a loop (more than ", kMaxHops, " hops)");
      std::string target = it->second.link ? it->second.link->target : "";
      std::string rest = next == std::string::npos ? "" : current.substr(next);
      if (target.empty()) return Status::Corruption("soft link '", prefix, "' has no target");
      current = target == "/" ? (rest.empty() ? "/" : rest) : target + rest;
      pos = 0;
      if (!m.nodes.count(target))
        return Status::NotFound("soft link '", prefix, "' points to '", target, "', which does not exist (dangling link)");
      continue;
    }
    if (next == std::string::npos) return current;
    pos = next;
  }
}

Result<std::string> BundleImpl::ResolvePath(const std::string& path) const {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  if (p == "/") return p;
  auto m = snapshot();
  return ResolveLinks(*m, p);
}

Result<std::string> BundleImpl::LinkTarget(const std::string& path) const {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  auto m = snapshot();
  OCTAVO_ASSIGN_OR_RETURN(const NodeEntry* n, FindNode(*m, p));
  if (n->kind != NodeKind::kLink) return Status::TypeError("'", p, "' is ", NodeKindWithArticle(n->kind), ", not a link");
  return n->link ? n->link->target : std::string();
}

Status BundleImpl::CreateSoftLink(const std::string& path, const std::string& target, bool create_parents) {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  auto t = NormalizePath(target);
  if (!t.ok()) return t.status().WithContext("invalid link target");
  if (p == "/") return Status::Invalid("the root group cannot be a link");
  return Commit("create soft link " + p + " -> " + *t, [&](Manifest& m) -> Status {
    OCTAVO_RETURN_NOT_OK(CheckPathFree(m, p));
    std::string now = NowIso8601();
    OCTAVO_RETURN_NOT_OK(EnsureParentGroups(m, p, create_parents, now));
    NodeEntry n;
    n.kind = NodeKind::kLink;
    n.created_at = n.modified_at = now;
    n.link = std::make_shared<const LinkEntry>(LinkEntry{*t});  // may dangle: PyTables allows links to future nodes
    m.nodes.emplace(p, std::move(n));
    return Status::OK();
  });
}

// Re-key `from` and its descendants under `to`, optionally keeping the originals.
static Status RelocateSubtree(Manifest& m, const std::string& from, const std::string& to, bool keep_source,
                              bool create_parents) {
  if (!m.nodes.count(from)) return FindNode(m, from).status();
  if (from == "/") return Status::Invalid("the root group cannot be moved or copied");
  if (to == from || IsDescendant(to, from))
    return Status::Invalid("cannot move or copy '", from, "' into itself ('", to, "')");
  OCTAVO_RETURN_NOT_OK(CheckPathFree(m, to));
  std::string now = NowIso8601();
  OCTAVO_RETURN_NOT_OK(EnsureParentGroups(m, to, create_parents, now));
  std::vector<std::pair<std::string, NodeEntry>> moved;
  for (const auto& [k, v] : m.nodes)
    if (k == from || IsDescendant(k, from)) moved.emplace_back(to + k.substr(from.size()), v);
  if (!keep_source) {
    for (const auto& [k, v] : moved) m.nodes.erase(from + k.substr(to.size()));
  }
  for (auto& [k, v] : moved) {
    if (keep_source && v.kind == NodeKind::kTable && v.table) {
      // The copy shares every existing part file; its own future parts go to a new folder.
      auto t = std::make_shared<TableEntry>(*v.table);
      t->uid = RandomHex(8);
      v.table = std::move(t);
      v.created_at = now;
    }
    v.modified_at = now;
    m.nodes.emplace(k, std::move(v));
  }
  return Status::OK();
}

Status BundleImpl::MoveNode(const std::string& from, const std::string& to, bool create_parents) {
  OCTAVO_ASSIGN_OR_RETURN(std::string f, NormalizePath(from));
  OCTAVO_ASSIGN_OR_RETURN(std::string t, NormalizePath(to));
  return Commit("move " + f + " to " + t,
                [&](Manifest& m) { return RelocateSubtree(m, f, t, /*keep_source=*/false, create_parents); });
}

Status BundleImpl::CopyNode(const std::string& from, const std::string& to, bool create_parents) {
  OCTAVO_ASSIGN_OR_RETURN(std::string f, NormalizePath(from));
  OCTAVO_ASSIGN_OR_RETURN(std::string t, NormalizePath(to));
  return Commit("copy " + f + " to " + t,
                [&](Manifest& m) { return RelocateSubtree(m, f, t, /*keep_source=*/true, create_parents); });
}

// --- transactions ------------------------------------------------------------------

Status BundleImpl::BeginTransaction() {
  std::lock_guard<std::mutex> w(writer_mu_);
  OCTAVO_RETURN_NOT_OK(CheckWritable("begin a transaction"));
  std::lock_guard<std::mutex> g(state_mu_);
  if (txn_) return Status::Invalid("a transaction is already open on bundle ", root_, " (they do not nest)");
  txn_ = std::make_shared<Manifest>(*manifest_);
  txn_log_.clear();
  return Status::OK();
}

Status BundleImpl::CommitTransaction(const std::string& message) {
  std::lock_guard<std::mutex> w(writer_mu_);
  std::shared_ptr<Manifest> pending;
  std::vector<std::string> log;
  {
    std::lock_guard<std::mutex> g(state_mu_);
    if (!txn_) return Status::Invalid("no transaction is open");
    pending = std::move(txn_);
    log = std::move(txn_log_);
    txn_.reset();
  }
  if (log.empty()) return Status::OK();  // nothing changed: no commit
  std::string msg = message;
  if (msg.empty()) {
    msg = "transaction:";
    for (const auto& l : log) msg += " " + l + ";";
  }
  return CommitLocked(msg, [&](Manifest& m) {
    m.nodes = std::move(pending->nodes);
    return Status::OK();
  });
}

Status BundleImpl::AbortTransaction() {
  std::lock_guard<std::mutex> w(writer_mu_);
  std::lock_guard<std::mutex> g(state_mu_);
  if (!txn_) return Status::Invalid("no transaction is open");
  txn_.reset();
  txn_log_.clear();
  return Status::OK();
}

bool BundleImpl::InTransaction() const {
  std::lock_guard<std::mutex> g(state_mu_);
  return txn_ != nullptr;
}

}  // namespace octavo
