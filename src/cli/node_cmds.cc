// Node commands: put / cat (file nodes), rm, mv.
//
//   octavo put LOCAL BUNDLE:/path [--overwrite]   a local file into a file node (bundle created if missing)
//   octavo cat BUNDLE:/path > out                 a file node's bytes on stdout, checked against its digest
//   octavo rm BUNDLE:/path [-r]                   remove a node (-r: a group with its contents)
//   octavo mv BUNDLE:/from /to                    move or rename a node within the bundle
//   octavo log BUNDLE [--branch B]                commits, newest first, with snapshot names
//   octavo snapshot BUNDLE NAME [-m MSG]          name the newest (or --commit N) commit
//   octavo restore / diff                         refs in CommitRef's text form (N, NAME, snapshot:NAME, branch:NAME)
//   octavo branch BUNDLE [list|create NAME [--from REF]|delete NAME]
//   octavo merge BUNDLE BRANCH [--into TARGET]    exit 7 on a conflict, naming the node
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include "cli/cli.h"

namespace octavo::cli {

int RunPut(const PutArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.address);
  if (!a.has_node) {
    // BUNDLE alone: the file's own name at the root, like `cp file dir/`.
    std::string name = args.file.substr(args.file.find_last_of('/') + 1);
    if (name.empty()) UsageError("cannot take a node name from '" + args.file + "'; give BUNDLE:/path");
    a.node = "/" + name;
  }
  auto bundle = OpenBundle(a, OpenMode::kAppend);
  FileWriteOptions o;
  o.overwrite = args.overwrite;
  FileNodeInfo info = Unwrap(PutFile(*bundle, args.file, a.node, o), "put " + args.file);
  Check(bundle->Close());
  if (g.json) {
    PrintJson(Json{{"path", info.path}, {"size", info.size}, {"digest", info.digest},
                   {"commit", bundle->commit().id}});
  } else {
    std::cout << "stored " << args.file << " as " << a.bundle << ":" << info.path << " (" << HumanSize(info.size)
              << ", " << info.digest.substr(0, 24) << "…), commit " << bundle->commit().id << "\n";
  }
  return kExitOK;
}

int RunCat(const CatArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.address);
  if (!a.has_node) UsageError("cat needs a file node: BUNDLE:/path");
  auto bundle = OpenBundle(a, OpenMode::kRead);
  auto reader = Unwrap(bundle->OpenFile(a.node), "bundle " + a.bundle);
  Status st = reader->CopyTo([](const void* p, int64_t n) {
    if (std::fwrite(p, 1, static_cast<size_t>(n), stdout) != static_cast<size_t>(n))
      return Status::IOError("cannot write to standard output");
    return Status::OK();
  });
  std::fflush(stdout);
  // A digest mismatch is only known at the end: the bytes already written must be discarded.
  Check(st, "bundle " + a.bundle);
  return kExitOK;
}

int RunRm(const RmArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.address);
  if (!a.has_node) UsageError("rm needs a node: BUNDLE:/path (the root group cannot be removed)");
  auto bundle = OpenBundle(a, OpenMode::kAppend);
  auto node = Unwrap(bundle->GetNode(a.node), "bundle " + a.bundle);
  Status st = bundle->RemoveNode(a.node, args.recursive);
  if (!st.ok() && node.kind == NodeKind::kGroup && !args.recursive)
    Check(st, "bundle " + a.bundle + " (use -r to remove a group with its contents)");
  Check(st, "bundle " + a.bundle);
  Check(bundle->Close());
  if (g.json) {
    PrintJson(Json{{"removed", node.path}, {"kind", NodeKindName(node.kind)}, {"commit", bundle->commit().id}});
  } else {
    std::cout << "removed " << NodeKindName(node.kind) << " " << node.path << ", commit " << bundle->commit().id
              << "\n";
  }
  return kExitOK;
}

int RunMv(const MvArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.address);
  if (!a.has_node) UsageError("mv needs a node: BUNDLE:/from /to");
  std::string to = args.destination;
  // Accept the destination as a bare path or as an address (BUNDLE:/to) in the same bundle.
  if (to.find(":/") != std::string::npos) {
    Address d = ParseAddress(to);
    std::error_code e1, e2;
    if (!std::filesystem::equivalent(d.bundle, a.bundle, e1) || e1)
      UsageError("mv moves nodes within one bundle; '" + to + "' names another bundle (use copy + rm)");
    to = d.node;
  }
  if (to.empty()) UsageError("empty destination path");
  if (to[0] != '/') to = "/" + to;
  auto bundle = OpenBundle(a, OpenMode::kAppend);
  // Like `mv file dir/`: moving onto an existing group puts the node inside it.
  if (auto dest = bundle->GetNode(to); dest.ok() && dest->kind == NodeKind::kGroup) {
    std::string name = a.node.substr(a.node.find_last_of('/') + 1);
    to = (to == "/" ? "" : to) + "/" + name;
  }
  Check(bundle->MoveNode(a.node, to, args.parents), "bundle " + a.bundle);
  Check(bundle->Close());
  if (g.json) {
    PrintJson(Json{{"from", a.node}, {"to", to}, {"commit", bundle->commit().id}});
  } else {
    std::cout << "moved " << a.node << " to " << to << ", commit " << bundle->commit().id << "\n";
  }
  return kExitOK;
}

}  // namespace octavo::cli

namespace octavo::cli {

int RunLog(const LogArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.bundle);
  OpenOptions o;
  o.branch = args.branch;
  auto bundle = OpenBundle(a, OpenMode::kRead, o);
  auto commits = Unwrap(bundle->ListCommits(), "bundle " + a.bundle);
  auto snapshots = Unwrap(bundle->ListSnapshots(), "bundle " + a.bundle);
  std::map<int64_t, std::vector<std::string>> names;
  for (const auto& s : snapshots) names[s.commit].push_back(s.name);
  if (args.limit > 0 && static_cast<int64_t>(commits.size()) > args.limit)
    commits.erase(commits.begin(), commits.end() - args.limit);
  if (g.json) {
    Json out{{"commits", Json::array()}, {"snapshots", Json::array()}};
    for (auto it = commits.rbegin(); it != commits.rend(); ++it)
      out["commits"].push_back(Json{{"id", it->id}, {"parent", it->parent}, {"created_at", it->created_at},
                                    {"message", it->message}, {"snapshots", names[it->id]}});
    for (const auto& s : snapshots)
      out["snapshots"].push_back(
          Json{{"name", s.name}, {"commit", s.commit}, {"created_at", s.created_at}, {"message", s.message}});
    PrintJson(out);
    return kExitOK;
  }
  for (auto it = commits.rbegin(); it != commits.rend(); ++it) {
    std::cout << "commit " << it->id << "  " << it->created_at << "  " << Printable(it->message);
    for (const auto& n : names[it->id]) std::cout << "  [" << n << "]";
    std::cout << "\n";
  }
  return kExitOK;
}

int RunSnapshot(const SnapshotArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.bundle);
  auto bundle = OpenBundle(a, OpenMode::kAppend);
  if (args.remove) {
    Check(bundle->DeleteSnapshot(args.name), "bundle " + a.bundle);
    if (g.json)
      PrintJson(Json{{"deleted", args.name}});
    else
      std::cout << "deleted snapshot " << args.name << "\n";
    return kExitOK;
  }
  SnapshotInfo s = Unwrap(bundle->CreateSnapshot(args.name, args.message, args.commit, args.overwrite),
                          "bundle " + a.bundle);
  if (g.json) {
    PrintJson(Json{{"name", s.name}, {"commit", s.commit}, {"created_at", s.created_at}, {"message", s.message}});
  } else {
    std::cout << "snapshot " << s.name << " -> commit " << s.commit << "\n";
  }
  return kExitOK;
}

int RunGc(const GcArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.bundle);
  auto bundle = OpenBundle(a, OpenMode::kAppend);
  GcOptions o;
  o.keep_last = args.keep_last;
  o.dry_run = args.dry_run;
  o.min_age_seconds = args.min_age;
  GcReport r = Unwrap(bundle->CollectGarbage(o), "bundle " + a.bundle);
  if (g.json) {
    PrintJson(Json{{"dry_run", args.dry_run}, {"commits_removed", r.commits_removed},
                   {"files_removed", r.files_removed}, {"bytes_freed", r.bytes_freed}, {"files_kept", r.files_kept},
                   {"recent_kept", r.recent_kept}, {"removed", r.removed}});
    return kExitOK;
  }
  if (args.verbose)
    for (const auto& f : r.removed) std::cout << (args.dry_run ? "would remove " : "removed ") << f << "\n";
  std::cout << (args.dry_run ? "would free " : "freed ") << HumanSize(r.bytes_freed) << " in "
            << Plural(r.files_removed, "file", "files") << " (" << Plural(r.commits_removed, "commit", "commits")
            << " dropped); " << Plural(r.files_kept, "data file", "data files") << " still referenced";
  if (r.recent_kept > 0)
    std::cout << "; " << Plural(r.recent_kept, "file", "files")
              << " kept as younger than --min-age (a running writer's, perhaps)";
  std::cout << "\n";
  return kExitOK;
}

int RestoreCmd(const RestoreArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.bundle);
  OpenOptions o;
  o.branch = args.branch;
  auto bundle = OpenBundle(a, OpenMode::kAppend, o);
  CommitInfo c = Unwrap(bundle->Restore(CommitRef::Parse(args.commit)), "bundle " + a.bundle);
  if (g.json) {
    PrintJson(Json::parse(CommitInfoToJson(c)));
    return kExitOK;
  }
  std::cout << "commit " << c.id << ": " << Printable(c.message) << "\n";
  return kExitOK;
}

int DiffCmd(const DiffArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.bundle);
  auto bundle = OpenBundle(a, OpenMode::kRead);
  auto changes = Unwrap(bundle->Diff(CommitRef::Parse(args.a), CommitRef::Parse(args.b)), "bundle " + a.bundle);
  if (g.json) {
    Json out = Json::array();
    for (const auto& c : changes) out.push_back(Json::parse(NodeChangeToJson(c)));
    PrintJson(out);
    return kExitOK;
  }
  for (const auto& c : changes) {
    const char mark = c.change == NodeChange::Change::kAdded ? '+' : c.change == NodeChange::Change::kRemoved ? '-' : '~';
    std::cout << mark << " " << Printable(c.path) << " (" << NodeKindName(c.kind) << ")";
    if (c.rows_before >= 0 && c.rows_after >= 0 && c.rows_before != c.rows_after)
      std::cout << "  rows " << c.rows_before << " -> " << c.rows_after;
    else if (c.change == NodeChange::Change::kAdded && c.rows_after >= 0)
      std::cout << "  " << c.rows_after << " rows";
    if (c.change == NodeChange::Change::kModified) {
      if (c.attrs_changed) std::cout << "  attributes";
      if (c.content_changed && !(c.rows_before >= 0 && c.rows_after >= 0 && c.rows_before != c.rows_after))
        std::cout << "  content";
    }
    std::cout << "\n";
  }
  if (changes.empty()) std::cout << "no differences\n";
  return kExitOK;
}

int RunBranch(const BranchArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.bundle);
  if (args.action != "list" && args.name.empty()) Fail(kExitUsage, "octavo branch " + args.action + ": give a NAME");
  if (args.action != "create" && !args.from.empty()) Fail(kExitUsage, "--from applies to `octavo branch create` only");
  if (args.action == "list") {
    auto bundle = OpenBundle(a, OpenMode::kRead);
    auto branches = Unwrap(bundle->ListBranches(), "bundle " + a.bundle);
    if (g.json) {
      Json out = Json::array();
      out.push_back(Json{{"name", "main"}, {"head", bundle->commit().id}, {"created_at", nullptr}, {"from", nullptr}});
      for (const auto& b : branches) out.push_back(Json::parse(BranchInfoToJson(b)));
      PrintJson(out);
      return kExitOK;
    }
    std::cout << "main  commit " << bundle->commit().id << "\n";
    for (const auto& b : branches)
      std::cout << b.name << "  commit " << b.head << "  (from commit " << b.from << ", " << b.created_at << ")\n";
    return kExitOK;
  }
  auto bundle = OpenBundle(a, OpenMode::kAppend);
  if (args.action == "delete") {
    Check(bundle->DeleteBranch(args.name), "bundle " + a.bundle);
    if (g.json)
      PrintJson(Json{{"deleted", args.name}});
    else
      std::cout << "deleted branch " << args.name << "\n";
    return kExitOK;
  }
  BranchInfo b = Unwrap(bundle->CreateBranch(args.name, CommitRef::Parse(args.from)), "bundle " + a.bundle);
  if (g.json)
    PrintJson(Json::parse(BranchInfoToJson(b)));
  else
    std::cout << "branch " << b.name << " -> commit " << b.head << "\n";
  return kExitOK;
}

int RunMerge(const MergeArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.bundle);
  OpenOptions o;
  o.branch = args.into;
  auto bundle = OpenBundle(a, OpenMode::kAppend, o);
  MergeResult r = Unwrap(bundle->Merge(args.branch), "bundle " + a.bundle);
  if (g.json) {
    PrintJson(Json{{"base", r.base}, {"committed", r.committed}, {"commit", Json::parse(CommitInfoToJson(r.commit))}});
    return kExitOK;
  }
  if (r.committed)
    std::cout << "merged " << args.branch << " into " << args.into << ": commit " << r.commit.id << " (common ancestor: commit "
              << r.base << ")\n";
  else
    std::cout << args.into << " already has every change of " << args.branch << " (commit " << r.commit.id << ")\n";
  return kExitOK;
}

}  // namespace octavo::cli
