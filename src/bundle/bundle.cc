#include <arrow/record_batch.h>
#include <arrow/type.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <cstdlib>

#include "bundle/bundle_impl.h"
#include "bundle/delta_log.h"
#include "format/sealed_json.h"
#include "octavo/version.h"
#include "octavo/arrow_status.h"
#include "util/crc32.h"
#include "util/json_util.h"
#include "util/lru_cache.h"
#include "util/names.h"
#include "util/time_util.h"

namespace octavo {

const char* NodeKindWithArticle(NodeKind kind) {
  return kind == NodeKind::kArray ? "an array" : kind == NodeKind::kGroup ? "a group"
       : kind == NodeKind::kTable ? "a table" : kind == NodeKind::kFile ? "a file" : kind == NodeKind::kLink ? "a link"
       : "an unknown node";
}

Status PathTaken(const std::string& path, NodeKind kind, const std::string& fix) {
  return Status::AlreadyExists("'", path, "' already exists as ", NodeKindWithArticle(kind), "; ", fix);
}

Status CheckPathFree(const Manifest& m, const std::string& path, const std::string& fix) {
  if (auto it = m.nodes.find(path); it != m.nodes.end()) return PathTaken(path, it->second.kind, fix);
  return Status::OK();
}

Result<const NodeEntry*> FindNode(const Manifest& m, const std::string& p) {
  auto it = m.nodes.find(p);
  if (it == m.nodes.end()) {
    // Name the deepest existing ancestor: "no node /a/b/c (/a has no child 'b')".
    std::string parent = ParentPath(p);
    while (parent != "/" && !m.nodes.count(parent)) parent = ParentPath(parent);
    return Status::NotFound("no node '", p, "' in the bundle (deepest existing ancestor: '", parent, "')");
  }
  return &it->second;
}

static NodeInfo MakeInfo(const std::string& path, const NodeEntry& n) {
  NodeInfo info;
  info.path = path;
  info.kind = n.kind;
  info.attrs_json = n.attrs.dump();
  info.created_at = n.created_at;
  info.modified_at = n.modified_at;
  return info;
}

BundleImpl::BundleImpl(std::string root, OpenMode mode, Env* env)
    : root_(std::move(root)), mode_(mode), env_(env) {}

BundleImpl::~BundleImpl() { (void)Close(); }

Status BundleImpl::Close() {
  std::lock_guard<std::mutex> g(writer_mu_);
  lock_.reset();
  return Status::OK();
}

CommitInfo BundleImpl::commit() const {
  auto m = snapshot();
  CommitInfo c;
  c.id = m->commit;
  c.parent = m->parent;
  c.created_at = m->created_at;
  c.message = m->message;
  std::lock_guard<std::mutex> g(state_mu_);
  c.manifest_file = manifest_file_;
  return c;
}

std::shared_ptr<const Manifest> BundleImpl::snapshot() const {
  std::lock_guard<std::mutex> g(state_mu_);
  if (txn_) return std::make_shared<const Manifest>(*txn_);  // a transaction sees its own changes
  return manifest_;
}

Status BundleImpl::CheckWritable(const std::string& what) const {
  if (!writable())
    return Status::ReadOnly("cannot ", what, ": bundle ", root_,
                            " is open read-only (or closed); open it with mode='a' to change it");
  return Status::OK();
}

// --- open / create ------------------------------------------------------------

static std::string HolderDescription() {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  return "pid " + std::to_string(getpid()) + " on host " + host + " since " + NowIso8601();
}

Status BundleImpl::Init(const OpenOptions& options) {
  bool exists = env_->FileExists(AbsPath(kMarkerFile));
  if (!options.branch.empty() && options.branch != "main") {
    OCTAVO_RETURN_NOT_OK(CheckRefName(options.branch, "branch"));
    if (options.commit >= 0 || !options.snapshot.empty())
      return Status::Invalid("give a branch, a commit or a snapshot to open, not several");
    if (mode_ == OpenMode::kCreate)
      return Status::Invalid("mode='w' replaces the whole bundle; open branch '", options.branch,
                             "' with mode='a' or 'r'");
    branch_ = branch_name_ = options.branch;
  }
  if (!branch_.empty() && !exists)
    return Status::NotFound("no bundle at '", root_, "' to open branch '", branch_, "' of (a branch is created in an "
                            "existing bundle, with create_branch)");
  if (mode_ == OpenMode::kRead || options.commit >= 0 || !options.snapshot.empty()) {
    if (!exists) {
      if (!env_->FileExists(root_)) return Status::NotFound("no bundle at '", root_, "' (the directory does not exist)");
      return Status::NotFound("'", root_, "' is not an octavo bundle (no ", kMarkerFile,
                              " file); create one with mode='a' or mode='w'");
    }
  } else {
    if (!env_->IsObjectStore() && !env_->FileExists(root_)) {
      // Like mkdir -p: create missing parent directories too.
      for (size_t pos = root_.find('/', 1); pos != std::string::npos; pos = root_.find('/', pos + 1))
        if (!env_->FileExists(root_.substr(0, pos))) OCTAVO_RETURN_NOT_OK(env_->CreateDir(root_.substr(0, pos)));
      OCTAVO_RETURN_NOT_OK(env_->CreateDir(root_));
    }
    if (!exists) {
      // A directory that holds anything but our own half-created files is not ours to take.
      auto listed = env_->ListDir(root_);
      if (!listed.ok() && env_->IsObjectStore() && listed.status().code() == StatusCode::kNotFound)
        listed = std::vector<std::string>{};  // a prefix with no objects yet
      OCTAVO_ASSIGN_OR_RETURN(auto entries, std::move(listed));
      for (const auto& e : entries) {
        if (e != kLockFile && e != kCommitLockFile && e != kManifestDir && e != kDataDir && e != kCurrentFile && e != kSnapshotDir &&
            e.rfind(std::string(kCurrentFile) + ".tmp", 0) != 0 &&
            e.rfind(std::string(kMarkerFile) + ".tmp", 0) != 0)  // a creation that failed at the marker
          return Status::AlreadyExists("directory '", root_, "' is not empty and is not an octavo bundle (found '",
                                       e, "'); choose an empty or new directory");
      }
    }
    // Shared: writers run side by side and serialise only at the commit point (LOCK.commit).
    Env::LockOptions lo;
    lo.shared = true;
    lo.wait_seconds = options.lock_wait_seconds;
    OCTAVO_ASSIGN_OR_RETURN(lock_, env_->LockFileWith(AbsPath(kLockFile), HolderDescription(), lo));
    // A writer creates files in these folders: links there could send them anywhere.
    for (const char* dir : {kManifestDir, kSnapshotDir, kBranchDir}) {
      std::error_code ec;
      if (std::filesystem::is_symlink(std::filesystem::symlink_status(AbsPath(dir), ec)))
        return Status::IOError("bundle ", root_, ": ", dir,
                               "/ is a symbolic link; octavo does not write through links inside a bundle: "
                               "replace it with the directory itself");
    }
  }
  std::unique_ptr<FileLock> creating;
  if (!exists && lock_) {
    // Writers share LOCK: two creating one bundle at once are serialised here, and the
    // second finds the first's bundle.
    Env::LockOptions lo;
    lo.wait_seconds = -1;
    OCTAVO_ASSIGN_OR_RETURN(creating, env_->LockFileWith(AbsPath(kCommitLockFile), HolderDescription(), lo));
    exists = env_->FileExists(AbsPath(kMarkerFile));
  }
  if (exists) {
    creating.reset();
    OCTAVO_ASSIGN_OR_RETURN(std::string marker, env_->ReadFile(AbsPath(kMarkerFile)));
    OCTAVO_ASSIGN_OR_RETURN(Json jm, ParseJson(marker, AbsPath(kMarkerFile)));
    // Checked before get<>: nlohmann's value() throws on a wrong type, and a float converted
    // to an integer (1e300) is undefined behaviour.
    if (!jm.is_object() || !jm.contains("format_version") || !jm["format_version"].is_number_integer())
      return Status::Corruption(AbsPath(kMarkerFile), " has no valid format_version (an integer); the file is damaged");
    const int64_t version = jm["format_version"].is_number_unsigned() && jm["format_version"].get<uint64_t>() > INT64_MAX
                                ? INT64_MAX
                                : jm["format_version"].get<int64_t>();
    if (version > kBranchesFormatVersion)
      return Status::UnsupportedVersion("bundle ", root_, " has format version ", jm["format_version"].dump(),
                                        " but this octavo (",
                                        kVersion, ") reads up to version ", kBranchesFormatVersion,
                                        "; upgrade octavo to open it");
    if (version < 1) return Status::Corruption(AbsPath(kMarkerFile), " has no valid format_version");
  } else {
    return CreateOnDisk();
  }
  if (!options.snapshot.empty()) {
    lock_.reset();
    OCTAVO_ASSIGN_OR_RETURN(int64_t commit, SnapshotCommit(options.snapshot));
    return LoadCommit(commit);
  }
  if (options.commit >= 0) {
    lock_.reset();
    return LoadCommit(options.commit);
  }
  if (!branch_.empty() && !env_->FileExists(AbsPath(HeadFile(branch_)))) {
    std::string known;
    if (auto all = ListBranches(); all.ok())
      for (const auto& b : *all) known += (known.empty() ? "" : ", ") + b.name;
    return Status::NotFound("bundle ", root_, " has no branch '", branch_, "' (branches: main",
                            known.empty() ? "" : ", " + known, "); create it with create_branch");
  }
  OCTAVO_RETURN_NOT_OK(LoadCurrent());
  if (mode_ == OpenMode::kCreate) {
    // 'w' starts an empty tree as a new commit; older commits stay readable until collected.
    std::lock_guard<std::mutex> g(writer_mu_);
    return CommitLocked("truncate (mode='w')", [](Manifest& m) {
      NodeEntry root = m.nodes.at("/");
      root.attrs = Json::object();
      m.nodes.clear();
      m.nodes.emplace("/", std::move(root));
      return Status::OK();
    });
  }
  return Status::OK();
}

Status BundleImpl::CreateOnDisk() {
  OCTAVO_RETURN_NOT_OK(env_->CreateDir(AbsPath(kManifestDir)));
  OCTAVO_RETURN_NOT_OK(env_->CreateDir(AbsPath(kDataDir)));
  Manifest m;
  m.format_version = kFormatVersion;
  m.commit = 0;
  m.parent = -1;
  m.created_at = NowIso8601();
  m.message = "create bundle";
  NodeEntry root;
  root.kind = NodeKind::kGroup;
  root.created_at = root.modified_at = m.created_at;
  m.nodes.emplace("/", std::move(root));
  OCTAVO_RETURN_NOT_OK(WriteDroppedCommits(DroppedCommits{}));  // none yet: every gap from here on is damage
  bool lost_race = false;  // object stores: another process created commit 0 of this bundle just now
  Status created = WriteManifestAndSwitch(m, &lost_race);
  if (lost_race) return LoadCurrent();
  OCTAVO_RETURN_NOT_OK(created);
  // The marker goes last: a directory without it is never mistaken for a finished bundle.
  Json marker{{"format", "octavo-bundle"}, {"format_version", kFormatVersion}, {"created_at", m.created_at},
              {"created_by", std::string("octavo ") + kVersion}};
  OCTAVO_RETURN_NOT_OK(WriteFileAtomic(env_, AbsPath(kMarkerFile), marker.dump(1) + "\n"));
  // The bundle directory's own entry must be durable too, or a power loss can lose the bundle.
  const auto slash = root_.rfind('/');
  OCTAVO_RETURN_NOT_OK(env_->SyncDir(slash == std::string::npos ? "." : slash == 0 ? "/" : root_.substr(0, slash)));
  std::lock_guard<std::mutex> g(state_mu_);
  manifest_ = std::make_shared<const Manifest>(std::move(m));
  manifest_file_ = ManifestFileName(0);
  return Status::OK();
}

namespace {

// Parsed manifests by their bytes: the same commit opened again (a script that opens the
// bundle per call, a reader refreshing to an unchanged head) is read and checked again but
// not parsed again, which was most of `open`. An entry holds the text it was parsed from and
// is used only for exactly those bytes, so it is never stale; parse errors are not kept.
struct ParsedManifest {
  std::string text;
  std::shared_ptr<const Manifest> manifest;
};

LruCache<std::shared_ptr<const ParsedManifest>>& ParsedManifests() {
  // Weighed by the text's size times 4 (the parsed form is a few times the JSON).
  static auto* cache = new LruCache<std::shared_ptr<const ParsedManifest>>(64 << 20, 256);
  return *cache;
}

Result<std::shared_ptr<const Manifest>> ParseManifestCached(const std::string& text, uint32_t crc,
                                                            const std::string& file) {
  const std::string key = std::to_string(text.size()) + ":" + std::to_string(crc);
  if (auto hit = ParsedManifests().Find(key); hit && hit->text == text) return hit->manifest;
  OCTAVO_ASSIGN_OR_RETURN(Manifest m, ParseManifest(text, file));
  auto parsed = std::make_shared<const ParsedManifest>(
      ParsedManifest{text, std::make_shared<const Manifest>(std::move(m))});
  ParsedManifests().Put(key, parsed, 4 * static_cast<int64_t>(text.size()));
  return parsed->manifest;
}

}  // namespace

Result<std::shared_ptr<const Manifest>> BundleImpl::ReadManifestFile(const std::string& rel, int64_t expect_size,
                                                                     int64_t expect_crc) const {
  auto text = env_->ReadFile(AbsPath(rel));
  if (!text.ok())
    return Status::Corruption("bundle ", root_, ": manifest ", rel, " cannot be read (", text.status().message(),
                              ")");
  if (expect_size >= 0 && static_cast<int64_t>(text->size()) != expect_size)
    return Status::Corruption("bundle ", root_, ": manifest ", rel, " is ", text->size(), " bytes but ",
                              kCurrentFile, " says ", expect_size,
                              " (truncated or overwritten); open an earlier commit with commit=N");
  const uint32_t crc = Crc32(*text);
  if (expect_crc >= 0 && crc != static_cast<uint32_t>(expect_crc))
    return Status::Corruption("bundle ", root_, ": manifest ", rel,
                              " fails its checksum (the file is corrupt); open an earlier commit with commit=N");
  return ParseManifestCached(*text, crc, AbsPath(rel));
}

std::string BundleImpl::HeadFile(const std::string& branch) {
  return branch.empty() || branch == "main" ? std::string(kCurrentFile)
                                            : std::string(kBranchDir) + "/" + branch + ".json";
}

Result<BundleImpl::CurrentPointer> BundleImpl::ReadHead(const std::string& branch) const {
  const std::string head = HeadFile(branch);
  // On an object store main's head is the newest manifest (CURRENT only a hint, docs/format.md 5.3).
  if (env_->IsObjectStore() && head == kCurrentFile) return ReadNewestManifest();
  auto cur = env_->ReadFile(AbsPath(head));
  if (!cur.ok()) {
    if (head != kCurrentFile && !env_->FileExists(AbsPath(head)))
      return Status::NotFound("bundle ", root_, " has no branch '", branch, "' (deleted?)");
    return Status::Corruption("bundle ", root_, " has no readable ", head, " file (", cur.status().message(), ")");
  }
  const std::string kCurrentFile = AbsPath(head);  // the messages below name the file read
  bool sealed = false;
  OCTAVO_RETURN_NOT_OK(VerifySealedJson(*cur, kCurrentFile, &sealed));
  OCTAVO_ASSIGN_OR_RETURN(Json j, ParseJson(*cur, kCurrentFile));
  CurrentPointer p;
  p.text = *cur;
  try {
    // get<int64_t> of a float (1e300) is undefined behaviour, not an exception: check first.
    for (const char* key : {"commit", "size", "crc32"})
      if (!j.at(key).is_number_integer()) return Status::Corruption(kCurrentFile, ": '", key, "' is not an integer");
    p.manifest = j.at("manifest").get<std::string>();
    p.commit = j.at("commit").get<int64_t>();
    p.size = j.at("size").get<int64_t>();
    p.crc = j.at("crc32").get<int64_t>();
  } catch (const std::exception& e) {
    return Status::Corruption(kCurrentFile, " is malformed: ", e.what());
  }
  if (p.commit < 0 || p.manifest != ManifestFileName(p.commit))
    return Status::Corruption(kCurrentFile, " names an invalid manifest '", p.manifest.substr(0, 200),
                              "' for commit ", p.commit);
  return p;
}

Result<int64_t> BundleImpl::NewestNamedCommit() const {
  OCTAVO_ASSIGN_OR_RETURN(CurrentPointer main, ReadHead(""));
  int64_t newest = main.commit;
  // Without branches every snapshot names a commit of main's history, none newer than CURRENT.
  if (!env_->FileExists(AbsPath(kBranchDir))) return newest;
  OCTAVO_ASSIGN_OR_RETURN(auto branches, ListBranches());
  for (const auto& b : branches) newest = std::max(newest, b.head);
  OCTAVO_ASSIGN_OR_RETURN(auto snapshots, ListSnapshots());
  for (const auto& sn : snapshots) newest = std::max(newest, sn.commit);
  // A deleted branch's commits that gc removed: their ids are never given out again.
  OCTAVO_ASSIGN_OR_RETURN(DroppedCommits dropped, ReadDroppedCommits());
  if (!dropped.ranges.empty()) newest = std::max(newest, dropped.ranges.back().second);
  return newest;
}

Status BundleImpl::LoadCurrent() {
  // A reader races garbage collection: between reading CURRENT and reading the manifest it
  // names, a writer may commit and `gc --keep-last` delete that manifest. The bundle is
  // healthy; read CURRENT again. Only a manifest missing while CURRENT stays put is damage.
  Status last;
  for (int attempt = 0; attempt < 100; ++attempt) {
    OCTAVO_ASSIGN_OR_RETURN(CurrentPointer p, ReadCurrent());
    auto m = ReadManifestFile(p.manifest, p.size, p.crc);
    if (m.ok()) {
      if ((*m)->commit != p.commit)
        return Status::Corruption("bundle ", root_, ": ", HeadFile(branch_), " names commit ", p.commit, " but ",
                                  p.manifest, " holds commit ", (*m)->commit);
      std::lock_guard<std::mutex> g(state_mu_);
      manifest_ = std::move(*m);
      manifest_file_ = p.manifest;
      return Status::OK();
    }
    last = m.status();
    auto again = env_->ReadFile(AbsPath(HeadFile(branch_)));
    if (!again.ok() || *again == p.text) return last;  // CURRENT did not move: real damage
  }
  return last;
}

Status BundleImpl::LoadCommit(int64_t commit) {
  std::string rel = ManifestFileName(commit);
  if (commit < 0) return Status::NotFound("bundle ", root_, " has no commit ", commit);
  if (!env_->FileExists(AbsPath(rel))) {
    auto cur = ReadHead("");
    if (auto newest = NewestNamedCommit(); cur.ok() && newest.ok()) cur->commit = *newest;
    if (cur.ok() && commit < cur->commit) {
      OCTAVO_ASSIGN_OR_RETURN(DroppedCommits dropped, ReadDroppedCommits());
      if (dropped.FirstNotDropped(commit, commit) >= 0) return MissingManifest(commit);
    }
    if (cur.ok() && commit < cur->commit)
      return Status::NotFound("commit ", commit, " of bundle ", root_,
                              " was removed by garbage collection (octavo gc --keep-last); the newest commit is ",
                              cur->commit, "; `octavo log` lists the commits still kept");
    return Status::NotFound("bundle ", root_, " has no commit ", commit, " (", rel, " is missing)");
  }
  // A manifest newer than CURRENT is from a commit that failed before switching CURRENT: not history.
  // (If CURRENT itself is unreadable, every manifest stays reachable for recovery.)
  if (env_->IsObjectStore()) {
    // Every manifest object is a commit (created whole, conditionally): nothing to filter.
  } else if (auto cur = env_->ReadFile(AbsPath(kCurrentFile)); cur.ok()) {
    auto j = ParseJson(*cur, AbsPath(kCurrentFile));
    if (j.ok() && j->is_object() && j->contains("commit") && (*j)["commit"].is_number_integer()) {
      int64_t newest = (*j)["commit"].get<int64_t>();
      if (auto named = NewestNamedCommit(); named.ok()) newest = std::max(newest, *named);  // branch commits
      if (commit > newest)
        return Status::NotFound("bundle ", root_, " has no commit ", commit, " (the newest commit is ", newest, ")");
    }
  }
  OCTAVO_ASSIGN_OR_RETURN(auto m, ReadManifestFile(rel, -1, -1));
  std::lock_guard<std::mutex> g(state_mu_);
  manifest_ = std::move(m);
  manifest_file_ = rel;
  return Status::OK();
}

Status BundleImpl::Refresh() {
  std::lock_guard<std::mutex> g(writer_mu_);
  if (InTransaction()) return Status::OK();  // a transaction keeps its base until it commits
  return LoadCurrent();
}

// --- commits ------------------------------------------------------------------

Status BundleImpl::CheckStillAt(int64_t base) const {
  if (lock_) OCTAVO_RETURN_NOT_OK(lock_->Verify());
  OCTAVO_ASSIGN_OR_RETURN(CurrentPointer p, ReadCurrent());
  if (p.commit != base)
    return Status::Locked("bundle ", root_, " moved to commit ", p.commit, " while this writer was committing on commit ",
                          base, ": another process committed without holding ", kCommitLockFile, " (was it deleted?). ",
                          "Nothing was committed; close this handle, reopen the bundle and retry");
  return Status::OK();
}

Status BundleImpl::WriteManifestAndSwitch(Manifest& next, bool* lost_race) {
  OCTAVO_ASSIGN_OR_RETURN(std::string text, SerializeManifest(next));
  const std::string rel = ManifestFileName(next.commit);
  if (env_->IsObjectStore()) {
    bool lost = false;
    Status st = CreateManifestObject(next, text, &lost);
    if (lost_race) *lost_race = lost;
    return st;
  }
  // 0. under the lock, the bundle must still be at the commit this change was built on
  if (next.parent >= 0) OCTAVO_RETURN_NOT_OK(CheckStillAt(next.parent));
  // 1. the manifest, durable under its final name
  OCTAVO_RETURN_NOT_OK(WriteFileAtomic(env_, AbsPath(rel), text));
  // 2. the pointer; the rename is the commit point (checked again: step 1 takes time)
  if (next.parent >= 0) OCTAVO_RETURN_NOT_OK(CheckStillAt(next.parent));
  Json cur{{"manifest", rel}, {"commit", next.commit}, {"size", text.size()}, {"crc32", Crc32(text)}};
  if (!branch_.empty()) {  // a branch head (docs/format.md 5.2): keeps when and from where it was created
    cur["branch"] = branch_;
    if (auto old = ReadHead(branch_); old.ok())
      if (auto j = ParseJson(old->text, HeadFile(branch_)); j.ok())
        for (const char* key : {"created_at", "from"})
          if (j->contains(key)) cur[key] = (*j)[key];
  }
  return WriteFileAtomic(env_, AbsPath(HeadFile(branch_)), SealJson(cur.dump()));
}

Status BundleImpl::CommitLocked(const std::string& message, const std::function<Status(Manifest&)>& fn) {
  OCTAVO_RETURN_NOT_OK(CheckUtf8(message, "commit message"));
  {
    std::lock_guard<std::mutex> g(state_mu_);
    if (txn_) {
      // Apply to a copy first so a failing change leaves the transaction as it was.
      Manifest next = *txn_;
      OCTAVO_RETURN_NOT_OK(fn(next));
      *txn_ = std::move(next);
      txn_log_.push_back(message);
      return Status::OK();
    }
  }
  auto base = snapshot();
  Manifest ours = *base;  // table entries are shared, not copied
  OCTAVO_RETURN_NOT_OK(fn(ours));
  const int64_t merged = ours.merged;
  int64_t next_id = -1;
  // The commit point is serialised across processes by LOCK.commit, held only from here to
  // the switch of CURRENT; data files were written before, outside it.
  std::unique_ptr<FileLock> commit_lock;
  std::shared_ptr<const Manifest> latest;
  Manifest next;
  // On an object store there is no LOCK.commit: a commit that lost the race for its number
  // (a conditional write, docs/format.md 5.3) is rebased onto the winner and tried again.
  const bool object_store = env_->IsObjectStore();
  Status st;
  for (int attempt = 0;; ++attempt) {
    latest.reset();
    st = [&]() -> Status {
      if (lock_) OCTAVO_RETURN_NOT_OK(lock_->Verify());
      if (!object_store) {
        Env::LockOptions lo;
        lo.wait_seconds = -1;
        OCTAVO_ASSIGN_OR_RETURN(commit_lock, env_->LockFileWith(AbsPath(kCommitLockFile), HolderDescription(), lo));
      }
      // Commit ids are one sequence over all branches (docs/format.md 5.2): the next after every named one.
      OCTAVO_ASSIGN_OR_RETURN(next_id, NewestNamedCommit());
      ++next_id;
      OCTAVO_ASSIGN_OR_RETURN(CurrentPointer p, ReadCurrent());
      if (p.commit == base->commit) {
        if (object_store) next = ours;  // kept: a lost race rebases it again
        else next = std::move(ours);
        return Status::OK();
      }
      // Another writer committed since our base: rebase our change onto its commit.
      OCTAVO_ASSIGN_OR_RETURN(latest, ReadManifestFile(p.manifest, p.size, p.crc));
      if (latest->commit != p.commit)
        return Status::Corruption("bundle ", root_, ": ", kCurrentFile, " names commit ", p.commit, " but ", p.manifest,
                                  " holds commit ", latest->commit);
      OCTAVO_ASSIGN_OR_RETURN(next, RebaseManifest(*base, ours, *latest));
      return Status::OK();
    }();
    if (st.ok()) {
      const int64_t parent = latest ? latest->commit : base->commit;
      next.format_version = kFormatVersion;
      next.parent = parent;
      next.merged = merged;
      next.commit = std::max(parent + 1, next_id);
      next.created_at = NowIso8601();
      next.message = message;
      bool lost_race = false;
      st = WriteManifestAndSwitch(next, &lost_race);
      if (lost_race && attempt < 1000) continue;
    }
    break;
  }
  if (!st.ok()) {
    commit_lock.reset();
    // Whatever happened on disk, adopt exactly what a fresh reader would see (after a conflict:
    // the other writer's commit, so a retry builds on it).
    Status reload = LoadCurrent();
    (void)reload;
    return st.WithContext("commit '" + message + "' failed; bundle " + root_ + " is at commit " +
                          std::to_string(snapshot()->commit));
  }
  std::shared_ptr<const Manifest> done = std::make_shared<const Manifest>(std::move(next));
  {
    std::lock_guard<std::mutex> g(state_mu_);
    manifest_ = done;
    manifest_file_ = ManifestFileName(manifest_->commit);
  }
  // After the commit point: the Delta logs are derived data, so a failure writing them leaves
  // the commit standing; the next commit touching the table, or RepairDeltaLogs, catches up.
  // Still under LOCK.commit, so writers in other processes never race for a log version, and
  // against the commit this one was actually built on (the rebased parent, if any).
  // Not on an object store: no LOCK.commit orders the log versions there (docs/format.md 5.3).
  // Delta logs follow main only (docs/format.md 5.2).
  if (!object_store && branch_.empty()) (void)UpdateDeltaLogs(*this, latest ? latest.get() : base.get(), *done, nullptr, nullptr);
  commit_lock.reset();
  return Status::OK();
}

Status BundleImpl::Commit(const std::string& message, const std::function<Status(Manifest&)>& fn) {
  std::lock_guard<std::mutex> g(writer_mu_);
  OCTAVO_RETURN_NOT_OK(CheckWritable(message));
  return CommitLocked(message, fn);
}

// --- nodes --------------------------------------------------------------------

Status BundleImpl::CreateGroup(const std::string& path, bool create_parents) {
  CreateNodeOptions o;
  o.create_parents = create_parents;
  return octavo::CreateGroup(*this, path, o);
}

Status CreateGroup(Bundle& bundle, const std::string& path, const CreateNodeOptions& node) {
  auto* b = dynamic_cast<BundleImpl*>(&bundle);
  if (!b) return Status::NotImplemented("CreateGroup with node options needs a bundle from Bundle::Open");
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  OCTAVO_ASSIGN_OR_RETURN(Json attrs, ParseNodeAttrs(node.attrs_json, "attributes of group " + p));
  return b->Commit("create group " + p, [&](Manifest& m) -> Status {
    if (auto it = m.nodes.find(p); it != m.nodes.end()) {
      if (node.overwrite && p != "/") {
        EraseSubtree(m, p);
      } else {
        if (it->second.kind == NodeKind::kGroup) return Status::AlreadyExists("group '", p, "' already exists");
        return PathTaken(p, it->second.kind);
      }
    }
    std::string now = NowIso8601();
    OCTAVO_RETURN_NOT_OK(EnsureParentGroups(m, p, node.create_parents, now));
    NodeEntry g;
    g.kind = NodeKind::kGroup;
    g.created_at = g.modified_at = now;
    g.attrs = std::move(attrs);
    m.nodes.emplace(p, std::move(g));
    return Status::OK();
  });
}

bool BundleImpl::Exists(const std::string& path) const {
  auto p = NormalizePath(path);
  if (!p.ok()) return false;
  return snapshot()->nodes.count(*p) > 0;
}

Result<NodeInfo> BundleImpl::GetNode(const std::string& path) const {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  auto m = snapshot();
  OCTAVO_ASSIGN_OR_RETURN(const NodeEntry* n, FindNode(*m, p));
  return MakeInfo(p, *n);
}

Result<std::vector<NodeInfo>> BundleImpl::ListChildren(const std::string& path) const {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  auto m = snapshot();
  OCTAVO_ASSIGN_OR_RETURN(const NodeEntry* n, FindNode(*m, p));
  if (n->kind != NodeKind::kGroup)
    return Status::TypeError("'", p, "' is ", NodeKindWithArticle(n->kind), ", not a group; it has no children");
  std::vector<NodeInfo> out;
  std::string prefix = p == "/" ? "/" : p + "/";
  for (auto it = m->nodes.lower_bound(prefix); it != m->nodes.end() && it->first.rfind(prefix, 0) == 0; ++it) {
    if (it->first == "/") continue;
    if (it->first.find('/', prefix.size()) == std::string::npos) out.push_back(MakeInfo(it->first, it->second));
  }
  return out;
}

Result<std::vector<NodeInfo>> BundleImpl::Walk(const std::string& path) const {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  auto m = snapshot();
  OCTAVO_ASSIGN_OR_RETURN(const NodeEntry* n, FindNode(*m, p));
  std::vector<NodeInfo> out{MakeInfo(p, *n)};
  if (n->kind != NodeKind::kGroup) return out;
  // Depth-first, children sorted by name, in one pass: map order is byte order of full
  // paths, which would put "/a/b" after "/a-x", but the descendants of `p` are one contiguous
  // range (they share the prefix "p/"), so each one is filed under its parent, then the tree
  // is walked with an explicit stack (no recursion, however deep the hierarchy).
  const std::string prefix = p == "/" ? "/" : p + "/";
  std::map<std::string_view, std::vector<std::pair<const std::string*, const NodeEntry*>>> children;
  for (auto it = m->nodes.lower_bound(prefix); it != m->nodes.end() && it->first.rfind(prefix, 0) == 0; ++it) {
    if (it->first == "/") continue;
    const std::string_view key = it->first;
    children[key.substr(0, std::max<size_t>(key.rfind('/'), 1))].emplace_back(&it->first, &it->second);
  }
  for (auto& [parent, kids] : children)
    std::sort(kids.begin(), kids.end(), [](const auto& a, const auto& b) {
      return std::string_view(*a.first).substr(a.first->rfind('/') + 1) <
             std::string_view(*b.first).substr(b.first->rfind('/') + 1);
    });
  std::vector<std::pair<const std::vector<std::pair<const std::string*, const NodeEntry*>>*, size_t>> stack;
  if (auto it = children.find(p); it != children.end()) stack.emplace_back(&it->second, 0);
  while (!stack.empty()) {
    auto& [kids, i] = stack.back();
    if (i == kids->size()) {
      stack.pop_back();
      continue;
    }
    const auto [key, entry] = (*kids)[i++];
    out.push_back(MakeInfo(*key, *entry));
    if (entry->kind == NodeKind::kGroup)
      if (auto it = children.find(*key); it != children.end()) stack.emplace_back(&it->second, 0);
  }
  return out;
}

Status BundleImpl::RemoveNode(const std::string& path, bool recursive) {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  if (p == "/") return Status::Invalid("the root group cannot be removed");
  return Commit("remove " + p, [&](Manifest& m) -> Status {
    OCTAVO_ASSIGN_OR_RETURN(const NodeEntry* n, FindNode(m, p));
    (void)n;
    std::vector<std::string> doomed;
    for (const auto& [k, v] : m.nodes)
      if (IsDescendant(k, p)) doomed.push_back(k);
    if (!doomed.empty() && !recursive)
      return Status::Invalid("group '", p, "' has ", doomed.size(), " descendants; pass recursive=True to remove it");
    for (const auto& k : doomed) m.nodes.erase(k);
    m.nodes.erase(p);
    // Data files stay on disk: older commits still reference them until collected.
    return Status::OK();
  });
}

// --- attributes -----------------------------------------------------------------

Result<std::string> BundleImpl::GetAttrs(const std::string& path) const {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  auto m = snapshot();
  OCTAVO_ASSIGN_OR_RETURN(const NodeEntry* n, FindNode(*m, p));
  return n->attrs.dump();
}

Status CheckAttrName(const std::string& key) {
  if (key.empty()) return Status::Invalid("attribute name must not be empty");
  for (unsigned char c : key)
    if (c < 0x20) return Status::Invalid("attribute name contains a control character");
  return CheckUtf8(key, "attribute name");
}

Result<Json> ParseNodeAttrs(const std::string& attrs_json, const std::string& what) {
  if (attrs_json.empty()) return Json::object();
  // Bad JSON here is the caller's argument, not a damaged file: kInvalid, not kCorruption.
  OCTAVO_ASSIGN_OR_RETURN(Json attrs, ParseJson(attrs_json, what, StatusCode::kInvalid));
  if (!attrs.is_object()) return Status::Invalid(what, " must be a JSON object");
  for (const auto& [key, value] : attrs.items()) OCTAVO_RETURN_NOT_OK(CheckAttrName(key));
  return attrs;
}

void EraseSubtree(Manifest& m, const std::string& path) {
  for (auto it = m.nodes.begin(); it != m.nodes.end();)
    it = (it->first == path || IsDescendant(it->first, path)) ? m.nodes.erase(it) : std::next(it);
}

Status BundleImpl::SetAttr(const std::string& path, const std::string& key, const std::string& json_value) {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  OCTAVO_RETURN_NOT_OK(CheckAttrName(key));
  // Bad JSON here is the caller's argument, not a damaged file: kInvalid, not kCorruption.
  OCTAVO_ASSIGN_OR_RETURN(Json value, ParseJson(json_value, "value of attribute '" + key + "'", StatusCode::kInvalid));
  return Commit("set attribute " + key + " on " + p, [&](Manifest& m) -> Status {
    auto it = m.nodes.find(p);
    if (it == m.nodes.end()) return FindNode(m, p).status();
    it->second.attrs[key] = value;
    it->second.modified_at = NowIso8601();
    return Status::OK();
  });
}

Status SetAttrs(Bundle& bundle, const std::string& path, const std::string& attrs_json) {
  auto* b = dynamic_cast<BundleImpl*>(&bundle);
  if (!b) return Status::NotImplemented("SetAttrs needs a bundle from Bundle::Open");
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  OCTAVO_ASSIGN_OR_RETURN(Json attrs, ParseNodeAttrs(attrs_json, "attributes for node " + p));
  return b->Commit("set attributes on " + p, [&](Manifest& m) -> Status {
    auto it = m.nodes.find(p);
    if (it == m.nodes.end()) return FindNode(m, p).status();
    for (const auto& [key, value] : attrs.items()) it->second.attrs[key] = value;
    it->second.modified_at = NowIso8601();
    return Status::OK();
  });
}

Status BundleImpl::DeleteAttr(const std::string& path, const std::string& key) {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  return Commit("delete attribute " + key + " on " + p, [&](Manifest& m) -> Status {
    auto it = m.nodes.find(p);
    if (it == m.nodes.end()) return FindNode(m, p).status();
    if (!it->second.attrs.contains(key))
      return Status::NotFound("node '", p, "' has no attribute '", key, "'");
    it->second.attrs.erase(key);
    it->second.modified_at = NowIso8601();
    return Status::OK();
  });
}

// --- node kinds of the layers above ---------------------------------------------------

static Status KindNotHere(const char* kind) {
  return Status::NotImplemented(kind, " need a bundle opened with Bundle::Open");
}
Result<std::shared_ptr<Table>> BundleImpl::CreateTable(const std::string&, const std::shared_ptr<arrow::Schema>&,
                                                       const TableOptions&, bool) {
  return KindNotHere("tables");
}
Result<std::shared_ptr<Table>> BundleImpl::CreateTable(const std::string&,
                                                       const std::shared_ptr<arrow::RecordBatchReader>&,
                                                       const TableOptions&, bool) {
  return KindNotHere("tables");
}
Result<std::shared_ptr<Table>> BundleImpl::OpenTable(const std::string&) const { return KindNotHere("tables"); }
Result<std::shared_ptr<Array>> BundleImpl::CreateArray(const std::string&, const std::vector<int64_t>&,
                                                       const std::string&, const ArrayOptions&, const void*, int64_t,
                                                       bool) {
  return KindNotHere("arrays");
}
Result<std::shared_ptr<Array>> BundleImpl::OpenArray(const std::string&) const { return KindNotHere("arrays"); }
Result<std::unique_ptr<FileWriter>> BundleImpl::CreateFile(const std::string&, const FileWriteOptions&) {
  return KindNotHere("file nodes");
}
Result<std::shared_ptr<FileReader>> BundleImpl::OpenFile(const std::string&) const {
  return KindNotHere("file nodes");
}
Result<FileNodeInfo> BundleImpl::GetFileInfo(const std::string&) const { return KindNotHere("file nodes"); }

Result<std::vector<CommitInfo>> BundleImpl::ListCommits() const {
  // The history of this handle's commit: its chain of parents (with branches, commit ids are
  // shared by all branches, so the manifests in the folder are not one line of history).
  auto here = snapshot();
  std::vector<CommitInfo> out;
  const int64_t newest = here->commit;
  std::shared_ptr<const Manifest> m = here;
  std::string rel;
  {
    std::lock_guard<std::mutex> g(state_mu_);
    rel = manifest_file_;
  }
  std::optional<DroppedCommits> dropped;
  std::optional<std::set<int64_t>> present;  // manifest ids on disk, listed when first needed
  while (true) {
    CommitInfo c;
    c.id = m->commit;
    c.parent = m->parent;
    c.created_at = m->created_at;
    c.message = m->message;
    c.manifest_file = rel;
    out.push_back(std::move(c));
    int64_t id = m->parent;
    int64_t lost = -1;  // a gap below `id` gc did not record
    if (id < 0) break;
    rel = ManifestFileName(id);
    // A manifest missing from history is not damage when gc --keep-last deleted it (docs/format.md
    // section 10): the record of dropped commits says so (gc records before it deletes). One that
    // is there but unreadable is: a log that silently left the commit out would misstate the
    // history, so fail like `git log` on a bad object.
    auto next = ReadManifestFile(rel, -1, -1);
    if (!next.ok() && !env_->FileExists(AbsPath(rel))) {
      if (!dropped) {
        OCTAVO_ASSIGN_OR_RETURN(DroppedCommits d, ReadDroppedCommits());
        dropped = std::move(d);
      }
      // With branches the history ends at a commit gc removed. Without, it is one line numbered
      // 0..N, so it goes on at the next older manifest still there (one a snapshot kept); gaps
      // gc did not record are damage, reported after that manifest is checked (as a listing would).
      if (env_->FileExists(AbsPath(kBranchDir))) {
        if (dropped->FirstNotDropped(id, id) >= 0) return MissingManifest(id);
        break;
      }
      if (!present) {
        OCTAVO_ASSIGN_OR_RETURN(auto names, env_->ListDir(AbsPath(kManifestDir)));
        present.emplace();
        for (const auto& n : names)
          if (int64_t k = 0; ParseManifestFileName(n, &k)) present->insert(k);
      }
      auto older = present->lower_bound(id);
      const int64_t next_id = older == present->begin() ? -1 : *std::prev(older);
      lost = dropped->FirstNotDropped(next_id + 1, id);
      if (next_id < 0) {
        if (lost >= 0) return MissingManifest(lost);
        break;
      }
      id = next_id;
      rel = ManifestFileName(id);
      next = ReadManifestFile(rel, -1, -1);
      if (!next.ok() && !env_->FileExists(AbsPath(rel))) break;  // gc running meanwhile
    }
    Status bad = next.ok() && (*next)->commit != id
                     ? Status::Corruption(AbsPath(rel), " holds commit ", (*next)->commit, ", not ", id)
                     : next.status();
    if (!bad.ok())
      return bad.WithContext("history of bundle " + root_ + ": commit " + std::to_string(id) + " is damaged (" + rel +
                             "); the other commits still open with commit=N; restore the file from a backup" +
                             (id < newest ? ", or drop commits up to " + std::to_string(id) +
                                                " with `octavo gc --keep-last " + std::to_string(out.size()) + "`"
                                          : std::string()) +
                             ". Error");
    if (lost >= 0) return MissingManifest(lost);
    m = std::move(*next);
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::string CommitInfoToJson(const CommitInfo& c) {
  Json j{{"id", c.id},
         {"parent", c.parent},
         {"created_at", c.created_at},
         {"message", c.message},
         {"manifest_file", c.manifest_file}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool FileReferencedByCurrentCommit(const std::string& root, const std::string& rel) {
  BundleImpl probe(root, OpenMode::kRead, EnvForPath(root));
  if (!probe.Refresh().ok()) return true;
  for (const auto& [path, n] : probe.snapshot()->nodes) {
    if (n.kind != NodeKind::kTable || !n.table) continue;
    for (const auto& part : n.table->parts) {
      if (part.file == rel) return true;
      for (const auto& [col, idx] : part.indexes)
        if (idx.file == rel) return true;
    }
  }
  return false;
}

Result<bool> Bundle::RunAsOneCommit(const std::function<Status()>& body, const std::string& message) {
  if (InTransaction()) {
    OCTAVO_RETURN_NOT_OK(body());
    return false;
  }
  OCTAVO_RETURN_NOT_OK(BeginTransaction());
  if (Status st = body(); !st.ok()) {
    (void)AbortTransaction();
    return st;
  }
  OCTAVO_RETURN_NOT_OK(CommitTransaction(message));
  return true;
}

}  // namespace octavo
