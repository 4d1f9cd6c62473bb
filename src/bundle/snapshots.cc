// Named snapshots: snapshots/<name>.json, one small JSON file per name naming a commit.
// Written atomically (temp + fsync + rename + dir fsync) by the lock holder; never part of a
// manifest, so naming a commit creates no commit. Format: docs/format.md section 3.1.
#include <algorithm>
#include <cctype>

#include "bundle/bundle_impl.h"
#include "format/sealed_json.h"
#include "util/json_util.h"
#include "util/names.h"
#include "util/time_util.h"

namespace octavo {

Status CheckRefName(const std::string& name, const char* what) {
  bool ok = !name.empty() && name.size() <= 128 && name[0] != '.';
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-');
  if (!ok) {
    // The name as printable text: it may hold a NUL or control characters.
    std::string shown;
    for (char c : name.substr(0, 140)) shown += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
    return Status::Invalid("invalid ", what, " name '", shown, name.size() > 140 ? "...'" : "'",
                           ": use 1-128 letters, digits, '.', '_' or '-', not starting with '.'");
  }
  return Status::OK();
}

namespace {

Status CheckSnapshotName(const std::string& name) { return CheckRefName(name, "snapshot"); }

std::string SnapshotFile(const std::string& name) { return std::string(kSnapshotDir) + "/" + name + ".json"; }

Result<SnapshotInfo> ParseSnapshot(const std::string& text, const std::string& file, const std::string& name) {
  bool sealed = false;
  OCTAVO_RETURN_NOT_OK(VerifySealedJson(text, "snapshot file " + file, &sealed));
  OCTAVO_ASSIGN_OR_RETURN(Json j, ParseJson(text, file));
  if (!j.is_object() || !j.contains("commit") || !j["commit"].is_number_integer() || j["commit"].get<int64_t>() < 0)
    return Status::Corruption("snapshot file ", file, " does not name a commit");
  // Commit id and manifest name say the same thing twice: a damaged digit in either shows.
  if (j.contains("manifest") &&
      (!j["manifest"].is_string() || j["manifest"].get<std::string>() != ManifestFileName(j["commit"].get<int64_t>())))
    return Status::Corruption("snapshot file ", file, " is damaged: its commit and manifest name disagree");
  SnapshotInfo s;
  s.name = name;
  s.commit = j["commit"].get<int64_t>();
  // value() throws on a wrong type: check it.
  for (const char* key : {"created_at", "message"})
    if (j.contains(key) && !j[key].is_string())
      return Status::Corruption("snapshot file ", file, " is damaged: '", key, "' is not a string");
  s.created_at = j.value("created_at", "");
  s.message = j.value("message", "");
  return s;
}

}  // namespace

Result<int64_t> BundleImpl::SnapshotCommit(const std::string& name) const {
  OCTAVO_RETURN_NOT_OK(CheckSnapshotName(name));
  const std::string rel = SnapshotFile(name);
  if (!env_->FileExists(AbsPath(rel))) {
    std::string known;
    if (auto all = ListSnapshots(); all.ok())
      for (const auto& s : *all) known += (known.empty() ? "" : ", ") + s.name;
    return Status::NotFound("bundle ", root_, " has no snapshot '", name, "' (snapshots: ",
                            known.empty() ? "none" : known, ")");
  }
  OCTAVO_ASSIGN_OR_RETURN(std::string text, env_->ReadFile(AbsPath(rel)));
  OCTAVO_ASSIGN_OR_RETURN(SnapshotInfo s, ParseSnapshot(text, AbsPath(rel), name));
  return s.commit;
}

Result<SnapshotInfo> BundleImpl::CreateSnapshot(const std::string& name, const std::string& message, int64_t commit,
                                                bool overwrite) {
  OCTAVO_RETURN_NOT_OK(CheckSnapshotName(name));
  OCTAVO_RETURN_NOT_OK(CheckUtf8(message, "snapshot message"));
  std::lock_guard<std::mutex> g(writer_mutex());
  OCTAVO_RETURN_NOT_OK(CheckWritable("create snapshot " + name));
  if (InTransaction())
    return Status::Invalid("cannot name a snapshot inside a transaction: commit the transaction first");
  const int64_t newest = snapshot()->commit;
  if (commit < 0) commit = newest;
  if (commit > newest) return Status::NotFound("bundle ", root_, " has no commit ", commit, " (newest is ", newest, ")");
  if (!env_->FileExists(AbsPath(ManifestFileName(commit))))
    return Status::NotFound("bundle ", root_, " has no commit ", commit, " (", ManifestFileName(commit),
                            " is missing)");
  const std::string rel = SnapshotFile(name);
  if (!overwrite && env_->FileExists(AbsPath(rel)))
    return Status::AlreadyExists("snapshot '", name, "' already exists; delete it first or pass overwrite");
  SnapshotInfo s;
  s.name = name;
  s.commit = commit;
  s.created_at = NowIso8601();
  s.message = message;
  Json j{{"commit", s.commit}, {"manifest", ManifestFileName(commit)}, {"created_at", s.created_at},
         {"message", s.message}};
  OCTAVO_RETURN_NOT_OK(env_->CreateDir(AbsPath(kSnapshotDir)));
  OCTAVO_RETURN_NOT_OK(env_->SyncDir(root_));
  OCTAVO_RETURN_NOT_OK(WriteFileAtomic(env_, AbsPath(rel), SealJson(j.dump(1))));
  return s;
}

Result<std::vector<SnapshotInfo>> BundleImpl::ListSnapshots() const {
  std::vector<SnapshotInfo> out;
  if (!env_->FileExists(AbsPath(kSnapshotDir))) return out;
  OCTAVO_ASSIGN_OR_RETURN(auto names, env_->ListDir(AbsPath(kSnapshotDir)));
  std::sort(names.begin(), names.end());
  for (const auto& f : names) {
    if (f.size() <= 5 || f.substr(f.size() - 5) != ".json") continue;  // temporaries of an unfinished write
    std::string name = f.substr(0, f.size() - 5);
    if (!CheckSnapshotName(name).ok()) continue;
    OCTAVO_ASSIGN_OR_RETURN(std::string text, env_->ReadFile(AbsPath(SnapshotFile(name))));
    OCTAVO_ASSIGN_OR_RETURN(SnapshotInfo s, ParseSnapshot(text, AbsPath(SnapshotFile(name)), name));
    out.push_back(std::move(s));
  }
  return out;
}

Status BundleImpl::DeleteSnapshot(const std::string& name) {
  OCTAVO_RETURN_NOT_OK(CheckSnapshotName(name));
  std::lock_guard<std::mutex> g(writer_mutex());
  OCTAVO_RETURN_NOT_OK(CheckWritable("delete snapshot " + name));
  const std::string abs = AbsPath(SnapshotFile(name));
  if (!env_->FileExists(abs)) return Status::NotFound("bundle ", root_, " has no snapshot '", name, "'");
  OCTAVO_RETURN_NOT_OK(env_->RemoveFile(abs));
  return env_->SyncDir(AbsPath(kSnapshotDir));
}

}  // namespace octavo
