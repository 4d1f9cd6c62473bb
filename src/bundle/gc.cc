// Garbage collection: data files are immutable and commits never delete them (older commits
// may still need them), so disk is reclaimed here, explicitly, by the writer-lock holder.
//
// 1. Choose the commits to keep (every branch's history, or the newest N of each branch + what
//    keeps it mergeable with main, + every snapshot's commit).
// 2. Read every kept manifest and collect the files it references; if any kept manifest
//    cannot be read, stop without deleting anything (never delete on partial knowledge).
// 3. Delete the manifests of dropped commits and of failed commits (newer than CURRENT),
//    then every file under data/ that no kept manifest references.
// Manifests go first: a crash in between leaves only unreferenced files, which the next
// run deletes. Format: docs/format.md section 10.
#include <algorithm>
#include <cmath>
#include <limits>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>

#include "bundle/bundle_impl.h"
#include "bundle/delta_log.h"
#include "format/filename.h"
#include "format/sealed_json.h"
#include "util/json_util.h"

namespace octavo {
namespace fs = std::filesystem;

// Every data file `m` references, relative to the bundle root.
Status AddReferencedFiles(const Manifest& m, const std::string& manifest_file, std::set<std::string>* out) {
  for (const auto& [path, n] : m.nodes) {
    switch (n.kind) {
      case NodeKind::kGroup:
      case NodeKind::kLink:
        break;
      case NodeKind::kTable:
        if (!n.table) return Status::Corruption(manifest_file, ": table ", path, " has no table entry");
        for (const auto& part : n.table->parts) {
          out->insert(part.file);
          for (const auto& [col, idx] : part.indexes) out->insert(idx.file);
        }
        break;
      case NodeKind::kArray:
        if (!n.array) return Status::Corruption(manifest_file, ": array ", path, " has no array entry");
        for (const auto& [key, c] : n.array->chunks) out->insert(c.file);  // names checked when read
        break;
      case NodeKind::kFile:
        if (!n.file) return Status::Corruption(manifest_file, ": file node ", path, " has no file entry");
        out->insert(BlobFileName(n.file->digest));  // the digest was validated when the manifest was read
        break;
    }
  }
  return Status::OK();
}

namespace {

// Sorted, with overlapping and adjacent ranges joined.
std::vector<std::pair<int64_t, int64_t>> MergeRanges(std::vector<std::pair<int64_t, int64_t>> r) {
  std::sort(r.begin(), r.end());
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& x : r) {
    if (!out.empty() && x.first <= out.back().second + 1)
      out.back().second = std::max(out.back().second, x.second);
    else
      out.push_back(x);
  }
  return out;
}

}  // namespace

// --- the record of dropped commits (docs/format.md section 10.1) ----------------------------

int64_t BundleImpl::DroppedCommits::FirstNotDropped(int64_t lo, int64_t hi) const {
  if (!recorded) return -1;
  int64_t x = lo;
  for (const auto& [a, b] : ranges) {  // sorted and merged
    if (b < x) continue;
    if (a > x) break;
    x = b + 1;
  }
  return x <= hi ? x : -1;
}

Result<BundleImpl::DroppedCommits> BundleImpl::ReadDroppedCommits() const {
  DroppedCommits d;
  const std::string path = AbsPath(kDroppedCommitsFile);
  if (!env_->FileExists(path)) return d;
  OCTAVO_ASSIGN_OR_RETURN(std::string text, env_->ReadFile(path));
  bool sealed = false;
  OCTAVO_RETURN_NOT_OK(VerifySealedJson(text, path, &sealed));
  if (!sealed) return Status::Corruption(path, " has no checksum; the file is damaged");
  OCTAVO_ASSIGN_OR_RETURN(Json j, ParseJson(text, path));
  if (!j.is_object() || !j.contains("dropped") || !j["dropped"].is_array())
    return Status::Corruption(path, " is damaged: no 'dropped' list");
  for (const auto& r : j["dropped"]) {
    if (!r.is_array() || r.size() != 2 || !r[0].is_number_integer() || !r[1].is_number_integer() ||
        r[0].get<int64_t>() < 0 || r[1].get<int64_t>() < r[0].get<int64_t>())
      return Status::Corruption(path, " is damaged: each entry must be [first, last] commit ids");
    d.ranges.emplace_back(r[0].get<int64_t>(), r[1].get<int64_t>());
  }
  d.ranges = MergeRanges(std::move(d.ranges));
  d.recorded = true;
  return d;
}

Status BundleImpl::WriteDroppedCommits(const DroppedCommits& d) {
  Json ranges = Json::array();
  for (const auto& [a, b] : d.ranges) ranges.push_back(Json::array({a, b}));
  Json j{{"dropped", std::move(ranges)}};
  return WriteFileAtomic(env_, AbsPath(kDroppedCommitsFile), SealJson(j.dump()));
}

Status BundleImpl::MissingManifest(int64_t commit) const {
  return Status::Corruption("bundle ", root_, ": commit ", commit, "'s manifest ", ManifestFileName(commit),
                            " is missing, and garbage collection never removed it (", kDroppedCommitsFile,
                            " does not list it): it was deleted by hand or lost; restore it from a backup "
                            "(the other commits still open with commit=N)");
}

Result<BundleImpl::DataTree> BundleImpl::ListDataTree() const {
  DataTree out;
  if (env_->IsObjectStore()) {  // objects, no folders (docs/format.md 5.2)
    OCTAVO_ASSIGN_OR_RETURN(auto files, env_->ListFilesUnder(AbsPath(kDataDir)));
    for (auto& f : files) out.files.push_back(std::string(kDataDir) + "/" + f);
    return out;
  }
  // Iterative walk with lstat semantics (symlink_status): names relative to the bundle root
  // are built lexically, so nothing here resolves a link.
  std::vector<std::string> pending{kDataDir};
  std::error_code ec;
  while (!pending.empty()) {
    const std::string dir = std::move(pending.back());
    pending.pop_back();
    for (auto it = fs::directory_iterator(AbsPath(dir), ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
      const std::string rel = dir + "/" + it->path().filename().string();
      const auto st = it->symlink_status(ec);
      if (ec) break;
      if (fs::is_directory(st)) {
        out.dirs.push_back(rel);
        pending.push_back(rel);
      } else if (fs::is_symlink(st) && fs::is_directory(fs::status(AbsPath(rel), ec))) {
        return Status::Invalid("garbage collection refused: ", AbsPath(rel),
                               " is a symbolic link to a directory, and gc never deletes through links; "
                               "replace it with the directory itself (a symlinked data/ folder is fine)");
      } else {
        ec.clear();
        out.files.push_back(rel);
      }
    }
    if (ec) return Status::IOError("cannot list ", AbsPath(dir), ": ", ec.message());
  }
  return out;
}

Result<GcReport> BundleImpl::CollectGarbage(const GcOptions& options) {
  std::lock_guard<std::mutex> g(writer_mutex());
  OCTAVO_RETURN_NOT_OK(CheckWritable("collect garbage"));
  if (InTransaction()) return Status::Invalid("cannot collect garbage inside a transaction");
  if (options.keep_last == 0) return Status::Invalid("keep_last must be at least 1 (the newest commit), or -1 for all");
  if (std::isnan(options.min_age_seconds))
    return Status::Invalid("min_age_seconds must be a number of seconds (or negative for the default)");
  // On an object store nothing keeps writers out while gc runs (no LOCK): their uploads are
  // unreferenced until they commit, so only what is older than any running commit is deleted.
  const double min_age_s = options.min_age_seconds >= 0 ? options.min_age_seconds
                           : env_->IsObjectStore()       ? 3600.0
                                                         : 0.0;
  const int64_t min_age_ns = min_age_s >= 1e9 ? std::numeric_limits<int64_t>::max()
                                               : static_cast<int64_t>(min_age_s * 1e9);
  const int64_t now_ns = env_->NowNanos();
  // Young: modified less than min_age ago. A file that vanished meanwhile is "young" too
  // (nothing to delete); any other error stops gc before it deletes on a guess.
  auto young = [&](const std::string& rel) -> Result<bool> {
    if (min_age_ns <= 0) return false;
    auto t = env_->ModifiedTimeNanos(AbsPath(rel));
    if (!t.ok()) {
      if (t.status().code() == StatusCode::kNotFound) return true;
      return t.status().WithContext("garbage collection stopped");
    }
    return min_age_ns == std::numeric_limits<int64_t>::max() || now_ns - *t < min_age_ns;
  };
  // Other writers' data files are unreferenced until they commit: gc runs with LOCK to itself.
  if (lock_) {
    Status excl = lock_->Upgrade();
    if (!excl.ok()) return excl.WithContext("garbage collection of bundle " + root_);
  }
  struct Shared {  // back to sharing LOCK however gc ends
    FileLock* lock;
    ~Shared() {
      if (lock) (void)lock->Downgrade();
    }
  } shared{lock_.get()};
  OCTAVO_RETURN_NOT_OK(LoadCurrent());  // others may have committed since this handle's commit

  // 1. Commits to keep (docs/format.md 10): those of every branch head's history (main's is
  //    CURRENT's), the newest keep_last of each with keep_last, and every snapshot's commit.
  OCTAVO_ASSIGN_OR_RETURN(CurrentPointer main_head, ReadHead(""));
  std::vector<std::pair<std::string, int64_t>> heads{{"main", main_head.commit}};
  OCTAVO_ASSIGN_OR_RETURN(auto branches, ListBranches());
  for (const auto& b : branches) heads.emplace_back(b.name, b.head);
  int64_t newest_head = main_head.commit;
  for (const auto& b : branches) newest_head = std::max(newest_head, b.head);
  OCTAVO_ASSIGN_OR_RETURN(auto names, env_->ListDir(AbsPath(kManifestDir)));
  OCTAVO_ASSIGN_OR_RETURN(int64_t newest, NewestNamedCommit());
  // With branches, a deleted branch's commits may be the newest ids: every manifest no head
  // reaches is a dropped commit (docs/format.md 10), a failed commit's included.
  if (env_->FileExists(AbsPath(kBranchDir)))
    for (const auto& n : names)
      if (int64_t id = 0; ParseManifestFileName(n, &id)) newest = std::max(newest, id);
  std::set<int64_t> keep;
  OCTAVO_ASSIGN_OR_RETURN(auto snapshots, ListSnapshots());
  for (const auto& s : snapshots) keep.insert(s.commit);
  std::vector<std::pair<int64_t, std::string>> manifests;
  std::set<int64_t> present;
  for (const auto& n : names) {
    int64_t id = 0;
    if (ParseManifestFileName(n, &id)) {
      manifests.emplace_back(id, n);
      present.insert(id);
    }
  }
  std::sort(manifests.begin(), manifests.end());
  std::map<int64_t, std::shared_ptr<const Manifest>> kept_manifests;
  // A kept commit's manifest, read once; if any cannot be read, stop without deleting anything.
  auto read_kept = [&](int64_t id) -> Result<std::shared_ptr<const Manifest>> {
    if (auto it = kept_manifests.find(id); it != kept_manifests.end()) return it->second;
    const std::string rel = ManifestFileName(id);
    auto m = ReadManifestFile(rel, -1, -1);
    if (!m.ok())
      return m.status().WithContext("garbage collection stopped, nothing deleted (kept commit " + std::to_string(id) +
                                    " is unreadable)");
    kept_manifests.emplace(id, *m);
    return *m;
  };
  int64_t main_oldest = -1;  // the oldest commit of main's newest-N window
  for (const auto& [name, head] : heads) {
    // keep_last < 0: the whole history (parents and merged branches); else the newest N of the
    // branch's own line (first parents).
    std::vector<int64_t> todo{head};
    int64_t taken = 0;
    while (!todo.empty()) {
      const int64_t id = todo.back();
      todo.pop_back();
      if (!present.count(id) || (options.keep_last >= 0 && taken == options.keep_last)) continue;
      if (options.keep_last < 0 && keep.count(id) && kept_manifests.count(id)) continue;  // walked already
      keep.insert(id);
      ++taken;
      if (name == "main") main_oldest = id;
      OCTAVO_ASSIGN_OR_RETURN(auto m, read_kept(id));
      if (m->parent >= 0) todo.push_back(m->parent);
      if (options.keep_last < 0 && m->merged >= 0) todo.push_back(m->merged);
    }
  }
  if (options.keep_last >= 0) {
    // A branch stays mergeable: the commits between it and main back to their common ancestor stay.
    for (size_t i = 1; i < heads.size(); ++i) {
      std::set<int64_t> visited;
      auto base = MergeBase(heads[i].second, main_head.commit, &visited);
      if (!base.ok() && base.status().code() != StatusCode::kNotFound) return base.status();
      if (base.ok())
        for (int64_t id : visited)
          if (id >= *base && present.count(id)) keep.insert(id);
    }
  }

  GcReport report;
  // On an object store every manifest is a commit (5.3): one newer than the heads read above
  // landed while gc ran, and one younger than min_age may be a writer's base. Both stay,
  // with their files.
  for (const auto& [id, n] : manifests) {
    if (keep.count(id)) continue;
    if (env_->IsObjectStore() && id > newest_head) {
      keep.insert(id);
      continue;
    }
    OCTAVO_ASSIGN_OR_RETURN(bool is_young, young(std::string(kManifestDir) + "/" + n));
    if (is_young) {
      keep.insert(id);
      ++report.recent_kept;
    }
  }

  // 2. Files the kept commits reference.
  std::set<std::string> referenced;
  std::vector<std::string> drop_manifests;
  for (const auto& [id, n] : manifests) {
    const std::string rel = std::string(kManifestDir) + "/" + n;
    if (keep.count(id)) {
      OCTAVO_ASSIGN_OR_RETURN(auto m, read_kept(id));
      OCTAVO_RETURN_NOT_OK(AddReferencedFiles(*m, rel, &referenced));
    } else {
      drop_manifests.push_back(rel);
      if (id <= newest) ++report.commits_removed;  // newer ones are failed commits, never history
    }
  }
  for (const auto& s : snapshots)
    if (!present.count(s.commit))
      return Status::Corruption("snapshot '", s.name, "' names commit ", s.commit,
                                " whose manifest is missing; garbage collection stopped, nothing deleted");

  // 3. Delete: manifests first, then unreferenced data files. The data tree is listed before
  //    anything is deleted, so a tree gc refuses to walk costs nothing.
  OCTAVO_RETURN_NOT_OK(ListDataTree().status());
  // The dropped commits are recorded before their manifests go, so a reader that finds one
  // missing always finds it recorded. A bundle without a record gets one seeded with the
  // gaps its history already has (an older gc's work).
  if (!options.dry_run && report.commits_removed > 0) {
    OCTAVO_ASSIGN_OR_RETURN(DroppedCommits d, ReadDroppedCommits());
    std::vector<std::pair<int64_t, int64_t>> add = d.ranges;
    int64_t next_expected = 0;
    for (const auto& [id, n] : manifests) {
      if (id > newest) break;
      if (!d.recorded && id > next_expected) add.emplace_back(next_expected, id - 1);
      if (!keep.count(id)) add.emplace_back(id, id);
      next_expected = id + 1;
    }
    d.ranges = MergeRanges(std::move(add));
    d.recorded = true;
    OCTAVO_RETURN_NOT_OK(WriteDroppedCommits(d));
  }
  auto remove = [&](const std::string& rel) -> Status {
    auto size = env_->FileSize(AbsPath(rel));
    report.removed.push_back(rel);
    ++report.files_removed;
    if (size.ok()) report.bytes_freed += *size;
    return options.dry_run ? Status::OK() : env_->RemoveFile(AbsPath(rel));
  };
  for (const auto& rel : drop_manifests) OCTAVO_RETURN_NOT_OK(remove(rel));
  if (!drop_manifests.empty() && !options.dry_run) OCTAVO_RETURN_NOT_OK(env_->SyncDir(AbsPath(kManifestDir)));

  // Delta logs (docs/format.md 12): truncated to the versions from the oldest commit of the
  // newest-N window on (a checkpoint there), so no retained version names a file deleted
  // below; commits kept only by a snapshot stay readable through octavo, not through Delta.
  if (!options.dry_run) {
    // They follow main only (docs/format.md 5.2).
    const int64_t oldest = options.keep_last < 0 ? -1 : main_oldest;
    if (auto main_m = kept_manifests.find(main_head.commit); oldest > 0 && main_m != kept_manifests.end()) {
      std::vector<std::string> log_removed;
      Status st = TruncateDeltaLogs(*this, *main_m->second, oldest, kept_manifests, &log_removed);
      for (auto& r : log_removed) report.removed.push_back(std::move(r));
      report.files_removed += static_cast<int64_t>(log_removed.size());
      OCTAVO_RETURN_NOT_OK(st);
    }
  }
  // A file writer of this handle streams outside the writer mutex: while one is open its
  // temporary and its just-renamed content file are not yet referenced. Leave data/files alone.
  const bool files_busy = active_file_writers().load() > 0;
  // Paths are compared as names, never resolved: data/ may be a symlink to another disk (its
  // files are the bundle's), a file symlink is unlinked (never its target), and a directory
  // symlink inside data/ is refused, since deleting through it could reach anything.
  OCTAVO_ASSIGN_OR_RETURN(auto listing, ListDataTree());
  int64_t examined = 0;
  for (const auto& rel : listing.files) {
    if (options.progress) options.progress({"files", ++examined, static_cast<int64_t>(listing.files.size()), rel});
    if (files_busy && rel.rfind(std::string(kFilesDir) + "/", 0) == 0) continue;
    if (IsDeltaLogFile(rel)) continue;  // handled above
    if (referenced.count(rel)) {
      ++report.files_kept;
      continue;
    }
    if (!IsValidDataFileName(rel)) continue;  // not a name octavo writes: not ours to delete
    OCTAVO_ASSIGN_OR_RETURN(bool is_young, young(rel));
    if (is_young) {
      ++report.recent_kept;
      continue;
    }
    OCTAVO_RETURN_NOT_OK(remove(rel));
  }
  if (!options.dry_run) {
    // Empty folders of deleted tables and arrays (deepest first; non-empty ones stay).
    std::error_code ec;
    std::sort(listing.dirs.rbegin(), listing.dirs.rend());
    for (const auto& d : listing.dirs)
      if (d != std::string(kFilesDir) && d != std::string(kFilesDir) + "/tmp") fs::remove(AbsPath(d), ec);
  }
  return report;
}

}  // namespace octavo
