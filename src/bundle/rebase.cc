// Rebase of a commit onto a newer one made by another writer (docs/format.md 5.1): a
// three-way merge of node trees. A node only one side changed takes that side's version; a
// node both changed combines only where nothing can be lost (our pure append onto their table,
// attribute edits with different keys, both creating the same plain group); anything else is
// kConflict. The result must still be a tree (every parent a group).
#include <arrow/type.h>

#include <algorithm>
#include <set>

#include "bundle/bundle_impl.h"
#include "util/names.h"

namespace octavo {
namespace {

// Same entry object (the change functions copy untouched entries, never rebuild them).
bool SameShallow(const NodeEntry& a, const NodeEntry& b) {
  return a.kind == b.kind && a.attrs == b.attrs && a.created_at == b.created_at && a.modified_at == b.modified_at &&
         a.table == b.table && a.file == b.file && a.link == b.link && a.array == b.array;
}

// Same content, compared as the manifest stores it (`theirs` was parsed from disk).
Result<bool> SameDeep(const std::string& path, const NodeEntry* a, const NodeEntry* b) {
  if (!a || !b) return a == b;
  if (SameShallow(*a, *b)) return true;
  OCTAVO_ASSIGN_OR_RETURN(Json ja, NodeEntryToJson(path, *a));
  OCTAVO_ASSIGN_OR_RETURN(Json jb, NodeEntryToJson(path, *b));
  return ja == jb;
}

// The node's content apart from its attributes and times.
Result<Json> Content(const std::string& path, const NodeEntry& n) {
  OCTAVO_ASSIGN_OR_RETURN(Json j, NodeEntryToJson(path, n));
  j.erase("attrs");
  j.erase("created_at");
  j.erase("modified_at");
  return j;
}

// Set while merging a branch (RebaseManifest's `merge`): the messages name branches, not writers.
thread_local bool merging = false;

Status Conflicting(const std::string& path, const std::string& what) {
  if (merging)
    return Status::Conflict("both branches changed '", path, "' since their common ancestor (", what,
                            "); nothing was committed: make that change on one side only (restore the other "
                            "side's node, or remove it there) and merge again");
  return Status::Conflict("another writer changed '", path, "' since this change was built (", what,
                          "); nothing was committed and this handle now sees that writer's commit: "
                          "redo the change on it (re-read what it depends on first)");
}

// Three-way merge of attribute objects; kConflict if one key was set differently by both.
Result<Json> MergeAttrs(const std::string& path, const Json& base, const Json& ours, const Json& theirs) {
  Json out = theirs;
  std::set<std::string> keys;
  for (const Json* j : {&base, &ours})
    for (const auto& [k, v] : j->items()) keys.insert(k);
  for (const auto& k : keys) {
    const Json* b = base.contains(k) ? &base[k] : nullptr;
    const Json* o = ours.contains(k) ? &ours[k] : nullptr;
    const Json* t = theirs.contains(k) ? &theirs[k] : nullptr;
    auto same = [](const Json* x, const Json* y) { return (!x && !y) || (x && y && *x == *y); };
    if (same(o, b) || same(o, t)) continue;  // we did not change it, or made the same change
    if (!same(t, b)) return Conflicting(path, "both set its attribute '" + k + "'");
    if (o) out[k] = *o;
    else out.erase(k);
  }
  return out;
}

// Our change is a pure append: the base's parts first, nothing else about the table changed.
bool PureAppend(const TableEntry& base, const TableEntry& ours) {
  if (ours.parts.size() <= base.parts.size() || ours.uid != base.uid || !ours.schema->Equals(*base.schema, true) ||
      ours.sorted_by != base.sorted_by || ours.sorted_parts != base.sorted_parts ||
      ours.indexed_columns != base.indexed_columns)
    return false;
  for (size_t i = 0; i < base.parts.size(); ++i)
    if (ours.parts[i].file != base.parts[i].file) return false;
  return true;
}

// Both changed `path` (both present). The combined node, or kConflict.
Result<NodeEntry> MergeNode(const std::string& path, const NodeEntry* b, const NodeEntry& o, const NodeEntry& t) {
  const Json empty = Json::object();
  if (o.kind != t.kind) return Conflicting(path, "it is now " + std::string(NodeKindWithArticle(t.kind)));
  NodeEntry out = t;
  if (o.kind == NodeKind::kTable && b && b->kind == NodeKind::kTable && b->table && o.table && t.table &&
      b->table != o.table && PureAppend(*b->table, *o.table)) {
    // Our rows go after theirs if their table still takes them: same folder, schema and indexes.
    const TableEntry& tt = *t.table;
    if (tt.uid != o.table->uid || !tt.schema->Equals(*o.table->schema, true) ||
        tt.indexed_columns != o.table->indexed_columns)
      return Conflicting(path, "its schema, indexes or identity changed while rows were appended");
    auto merged = std::make_shared<TableEntry>(tt);
    for (size_t i = b->table->parts.size(); i < o.table->parts.size(); ++i) merged->parts.push_back(o.table->parts[i]);
    out.table = std::move(merged);
  } else {
    OCTAVO_ASSIGN_OR_RETURN(Json co, Content(path, o));
    OCTAVO_ASSIGN_OR_RETURN(Json ct, Content(path, t));
    Json cb;
    if (b) {
      OCTAVO_ASSIGN_OR_RETURN(cb, Content(path, *b));
    }
    if (co == ct) {
      // Same content on both sides (attribute edits only, or both made the same group).
    } else if (b && co == cb) {
      // We changed only attributes: their content stands.
    } else if (b && ct == cb) {
      out.table = o.table;
      out.file = o.file;
      out.link = o.link;
      out.array = o.array;
    } else {
      return Conflicting(path, b ? "both rewrote its content" : "both created it");
    }
  }
  OCTAVO_ASSIGN_OR_RETURN(out.attrs, MergeAttrs(path, b ? b->attrs : empty, o.attrs, t.attrs));
  out.modified_at = std::max(o.modified_at, t.modified_at);
  return out;
}

}  // namespace

Result<Manifest> RebaseManifest(const Manifest& base, const Manifest& ours, const Manifest& theirs, bool merge) {
  struct Wording {  // reset however this returns
    bool saved = merging;
    ~Wording() { merging = saved; }
  } wording;
  merging = merge;
  const std::string other = merge ? "the other branch" : "the other writer";
  Manifest out = theirs;
  // Bundle settings: a change of ours survives the rebase (both changing a flag means the same value).
  if (ours.delta_log != base.delta_log) out.delta_log = ours.delta_log;
  auto find = [](const Manifest& m, const std::string& p) -> const NodeEntry* {
    auto it = m.nodes.find(p);
    return it == m.nodes.end() ? nullptr : &it->second;
  };
  // Paths our change touched: present on one side only, or a different entry.
  std::set<std::string> touched;
  for (const auto& [p, n] : ours.nodes)
    if (const NodeEntry* b = find(base, p); !b || !SameShallow(*b, n)) touched.insert(p);
  for (const auto& [p, n] : base.nodes)
    if (!ours.nodes.count(p)) touched.insert(p);
  for (const auto& p : touched) {
    const NodeEntry* b = find(base, p);
    const NodeEntry* o = find(ours, p);
    const NodeEntry* t = find(theirs, p);
    OCTAVO_ASSIGN_OR_RETURN(bool theirs_untouched, SameDeep(p, b, t));
    if (theirs_untouched) {
      if (o) out.nodes[p] = *o;
      else out.nodes.erase(p);
      continue;
    }
    if (!o && !t) continue;  // both removed it
    if (!o) return Conflicting(p, (merge ? "one branch removed it, " : "this change removes it, ") + other + " changed it");
    if (!t) return Conflicting(p, other + " removed it");
    OCTAVO_ASSIGN_OR_RETURN(out.nodes[p], MergeNode(p, b, *o, *t));
  }
  // Each side kept a tree; together they must too (we add under a group they removed...).
  for (const auto& [p, n] : out.nodes) {
    if (p == "/") continue;
    const NodeEntry* parent = find(out, ParentPath(p));
    if (!parent || parent->kind != NodeKind::kGroup)
      return Conflicting(ParentPath(p), "'" + p + "' needs it as a group, and " + other + " " +
                                            (parent ? "replaced it" : "removed it"));
  }
  return out;
}

}  // namespace octavo
