// Branches (docs/format.md 5.2): branches/<name>.json names a branch's head commit, as CURRENT
// names main's. Commit ids are one sequence over all branches; a commit on a branch moves only
// its head file. Merging is the rebase's three-way merge (rebase.cc) against the newest common
// ancestor, found by following parent and merged links.
#include <algorithm>
#include <map>

#include "bundle/bundle_impl.h"
#include "format/sealed_json.h"
#include "octavo/version.h"
#include "util/crc32.h"
#include "util/json_util.h"
#include "util/time_util.h"

namespace octavo {

std::string BranchInfoToJson(const BranchInfo& b) {
  Json j{{"name", b.name},
         {"head", b.head},
         {"created_at", b.created_at},
         {"from", b.from < 0 ? Json(nullptr) : Json(b.from)}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

namespace {

// "" for main, else the name (checked).
Result<std::string> BranchKey(const std::string& name) {
  if (name == "main") return std::string();
  OCTAVO_RETURN_NOT_OK(CheckRefName(name, "branch"));
  return name;
}

}  // namespace

Result<int64_t> BundleImpl::BranchHead(const std::string& name) const {
  OCTAVO_ASSIGN_OR_RETURN(std::string key, BranchKey(name));
  OCTAVO_ASSIGN_OR_RETURN(CurrentPointer p, ReadHead(key));
  return p.commit;
}

Result<std::vector<BranchInfo>> BundleImpl::ListBranches() const {
  std::vector<BranchInfo> out;
  if (!env_->FileExists(AbsPath(kBranchDir))) return out;
  OCTAVO_ASSIGN_OR_RETURN(auto names, env_->ListDir(AbsPath(kBranchDir)));
  std::sort(names.begin(), names.end());
  for (const auto& f : names) {
    if (f.size() <= 5 || f.substr(f.size() - 5) != ".json") continue;  // temporaries of an unfinished write
    const std::string name = f.substr(0, f.size() - 5);
    if (name == "main" || !CheckRefName(name, "branch").ok()) continue;
    auto p = ReadHead(name);
    if (!p.ok() && p.status().code() == StatusCode::kNotFound) continue;  // deleted meanwhile
    OCTAVO_RETURN_NOT_OK(p.status());
    BranchInfo b;
    b.name = name;
    b.head = p->commit;
    OCTAVO_ASSIGN_OR_RETURN(Json j, ParseJson(p->text, AbsPath(HeadFile(name))));
    if (j.contains("created_at") && j["created_at"].is_string()) b.created_at = j["created_at"].get<std::string>();
    if (j.contains("from") && j["from"].is_number_integer()) b.from = j["from"].get<int64_t>();
    out.push_back(std::move(b));
  }
  return out;
}

Status BundleImpl::MarkHasBranches() {
  const std::string path = AbsPath(kMarkerFile);
  OCTAVO_ASSIGN_OR_RETURN(std::string text, env_->ReadFile(path));
  OCTAVO_ASSIGN_OR_RETURN(Json j, ParseJson(text, path));
  if (!j.is_object() || !j.contains("format_version") || !j["format_version"].is_number_integer())
    return Status::Corruption(path, " has no valid format_version (an integer); the file is damaged");
  if (j["format_version"].get<int64_t>() >= kBranchesFormatVersion) return Status::OK();
  j["format_version"] = kBranchesFormatVersion;
  j["features"] = Json::array({"branches"});
  return WriteFileAtomic(env_, path, j.dump(1) + "\n");
}

Result<BranchInfo> BundleImpl::CreateBranch(const std::string& name, const CommitRef& from) {
  OCTAVO_RETURN_NOT_OK(CheckRefName(name, "branch"));
  if (name == "main") return Status::AlreadyExists("branch 'main' is the bundle's main line; choose another name");
  std::lock_guard<std::mutex> g(writer_mutex());
  OCTAVO_RETURN_NOT_OK(CheckWritable("create branch " + name));
  if (InTransaction()) return Status::Invalid("cannot create a branch inside a transaction: commit it first");
  OCTAVO_ASSIGN_OR_RETURN(int64_t id, ResolveCommit(from));
  OCTAVO_ASSIGN_OR_RETURN(auto m, ManifestAt(id));
  (void)m;
  const std::string rel = ManifestFileName(id);
  OCTAVO_ASSIGN_OR_RETURN(std::string text, env_->ReadFile(AbsPath(rel)));
  // Under LOCK.commit: a commit choosing its id sees every head, this one included.
  Env::LockOptions lo;
  lo.wait_seconds = -1;
  OCTAVO_ASSIGN_OR_RETURN(auto commit_lock, env_->LockFileWith(AbsPath(kCommitLockFile), "create branch " + name, lo));
  const std::string head = HeadFile(name);
  if (env_->FileExists(AbsPath(head)))
    return Status::AlreadyExists("branch '", name, "' already exists; delete it first or choose another name");
  // The marker first: an older octavo must never see a bundle with a branch.
  OCTAVO_RETURN_NOT_OK(MarkHasBranches());
  BranchInfo b;
  b.name = name;
  b.head = id;
  b.from = id;
  b.created_at = NowIso8601();
  Json j{{"manifest", rel}, {"commit", id},           {"size", text.size()},
         {"crc32", Crc32(text)}, {"branch", name}, {"created_at", b.created_at}, {"from", id}};
  OCTAVO_RETURN_NOT_OK(env_->CreateDir(AbsPath(kBranchDir)));
  OCTAVO_RETURN_NOT_OK(env_->SyncDir(root_));
  OCTAVO_RETURN_NOT_OK(WriteFileAtomic(env_, AbsPath(head), SealJson(j.dump())));
  return b;
}

Status BundleImpl::DeleteBranch(const std::string& name) {
  OCTAVO_RETURN_NOT_OK(CheckRefName(name, "branch"));
  if (name == "main") return Status::Invalid("branch 'main' is the bundle's main line and cannot be deleted");
  std::lock_guard<std::mutex> g(writer_mutex());
  OCTAVO_RETURN_NOT_OK(CheckWritable("delete branch " + name));
  Env::LockOptions lo;
  lo.wait_seconds = -1;
  OCTAVO_ASSIGN_OR_RETURN(auto commit_lock, env_->LockFileWith(AbsPath(kCommitLockFile), "delete branch " + name, lo));
  const std::string abs = AbsPath(HeadFile(name));
  if (!env_->FileExists(abs)) return Status::NotFound("bundle ", root_, " has no branch '", name, "'");
  OCTAVO_RETURN_NOT_OK(env_->RemoveFile(abs));
  return env_->SyncDir(AbsPath(kBranchDir));
}

Result<int64_t> BundleImpl::MergeBase(int64_t a, int64_t b, std::set<int64_t>* visited) const {
  // Walk both histories newest first (a commit's ancestors have smaller ids): the first commit
  // reached from both is their newest common ancestor.
  std::map<int64_t, int> pending{{a, 1}};
  pending[b] |= 2;
  while (!pending.empty()) {
    auto it = std::prev(pending.end());
    const int64_t id = it->first;
    const int from = it->second;
    pending.erase(it);
    if (visited) visited->insert(id);
    if (from == 3) return id;
    const std::string rel = ManifestFileName(id);
    auto m = ReadManifestFile(rel, -1, -1);
    if (!m.ok()) {
      if (!env_->FileExists(AbsPath(rel))) continue;  // collected: this line of history ends here
      return m.status();
    }
    if ((*m)->commit != id) return Status::Corruption(AbsPath(rel), " holds commit ", (*m)->commit, ", not ", id);
    if ((*m)->parent >= 0) pending[(*m)->parent] |= from;
    if ((*m)->merged >= 0) pending[(*m)->merged] |= from;
  }
  return Status::NotFound("commits ", a, " and ", b, " of bundle ", root_,
                          " have no common ancestor left (garbage collection removed the history joining them)");
}

Result<MergeResult> BundleImpl::Merge(const std::string& name) {
  OCTAVO_ASSIGN_OR_RETURN(std::string source, BranchKey(name));
  std::lock_guard<std::mutex> g(writer_mutex());
  const std::string what = "merge branch " + name + " into " + branch_name_;
  OCTAVO_RETURN_NOT_OK(CheckWritable(what));
  if (InTransaction()) return Status::Invalid("cannot merge inside a transaction: commit or abort it first");
  if (source == branch_) return Status::Invalid("cannot merge branch '", name, "' into itself");
  OCTAVO_RETURN_NOT_OK(LoadCurrent());  // the target's newest commit
  auto target = snapshot();
  OCTAVO_ASSIGN_OR_RETURN(CurrentPointer src, ReadHead(source));
  OCTAVO_ASSIGN_OR_RETURN(auto theirs, ReadManifestFile(src.manifest, src.size, src.crc));
  MergeResult r;
  auto base_id = MergeBase(target->commit, src.commit);
  if (!base_id.ok()) return base_id.status().WithContext("cannot " + what);
  r.base = *base_id;
  if (r.base == src.commit) {  // the target already holds every change of the branch
    r.commit = commit();
    return r;
  }
  OCTAVO_ASSIGN_OR_RETURN(auto base, ManifestAt(r.base));
  // The branch's changes since the common ancestor, applied onto the target's head.
  auto merged = RebaseManifest(*base, *theirs, *target, /*merge=*/true);
  if (!merged.ok()) return merged.status().WithContext(what);
  OCTAVO_RETURN_NOT_OK(CommitLocked(what, [&](Manifest& m) {
    m.nodes = merged->nodes;
    m.delta_log = merged->delta_log;
    m.merged = src.commit;
    return Status::OK();
  }));
  r.committed = true;
  r.commit = commit();
  return r;
}

}  // namespace octavo
