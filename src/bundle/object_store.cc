// Commits on an object store (docs/format.md section 5.3): no LOCK files, no rename. A commit
// creates manifests/<N>.json with a conditional write, so of two writers racing for commit N
// exactly one creates it; the newest manifest is the bundle's state and CURRENT only a hint.
#include "bundle/bundle_impl.h"
#include "format/sealed_json.h"
#include "util/crc32.h"
#include "util/json_util.h"

namespace octavo {

Result<BundleImpl::CurrentPointer> BundleImpl::ReadNewestManifest() const {
  CurrentPointer p;
  int64_t newest = -1;
  // CURRENT names a commit at most a few behind: walk forward from it while the next exists.
  if (auto cur = env_->ReadFile(AbsPath(kCurrentFile)); cur.ok()) {
    p.text = *cur;
    auto j = ParseJson(*cur, AbsPath(kCurrentFile));
    if (j.ok() && j->is_object() && j->contains("commit") && (*j)["commit"].is_number_integer()) {
      const int64_t hint = (*j)["commit"].get<int64_t>();
      if (hint >= 0 && env_->FileExists(AbsPath(ManifestFileName(hint)))) newest = hint;
    }
  }
  if (newest >= 0) {
    while (env_->FileExists(AbsPath(ManifestFileName(newest + 1)))) ++newest;
  } else {
    // No usable hint (missing, or its manifest collected): the listing is the truth.
    OCTAVO_ASSIGN_OR_RETURN(auto names, env_->ListDir(AbsPath(kManifestDir)));
    for (const auto& n : names) {
      int64_t id = 0;
      if (ParseManifestFileName(n, &id)) newest = std::max(newest, id);
    }
    if (newest < 0) return Status::Corruption("bundle ", root_, " has no manifest (", kManifestDir, "/ is empty)");
  }
  p.commit = newest;
  p.manifest = ManifestFileName(newest);
  return p;  // size and crc unknown (-1): a manifest object is immutable once created
}

Status BundleImpl::CreateManifestObject(const Manifest& next, const std::string& text, bool* lost_race) {
  *lost_race = false;
  Status st = env_->CreateIfAbsent(AbsPath(ManifestFileName(next.commit)), text);
  if (st.code() == StatusCode::kAlreadyExists) {
    *lost_race = true;  // another writer made commit `next.commit` first
    return Status::Conflict("bundle ", root_, ": another writer committed ", next.commit, " first");
  }
  OCTAVO_RETURN_NOT_OK(st);
  // The hint for readers; the commit already stands, so failing to update it is no error.
  Json cur{{"manifest", ManifestFileName(next.commit)}, {"commit", next.commit}, {"size", text.size()},
           {"crc32", Crc32(text)}};
  (void)WriteFileAtomic(env_, AbsPath(kCurrentFile), SealJson(cur.dump()));
  return Status::OK();
}

}  // namespace octavo
