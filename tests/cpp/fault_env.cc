#include "fault_env.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace octavo::testing {
namespace fs = std::filesystem;

namespace {

std::string DirOf(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

// Forwards to the base file, counting (and possibly failing) each call.
class FaultWritableFile final : public WritableFile {
 public:
  FaultWritableFile(FaultInjectionEnv* env, std::unique_ptr<WritableFile> base)
      : env_(env), base_(std::move(base)) {}
  Status Append(std::string_view data) override {
    OCTAVO_RETURN_NOT_OK(env_->MaybeFail("Append", path()));
    OCTAVO_RETURN_NOT_OK(base_->Append(data));
    env_->NoteAppend(path(), static_cast<int64_t>(data.size()));
    return Status::OK();
  }
  Status Sync() override {
    OCTAVO_RETURN_NOT_OK(env_->MaybeFail("Sync", path()));
    OCTAVO_RETURN_NOT_OK(base_->Sync());
    env_->NoteSync(path());
    return Status::OK();
  }
  Status Close() override {
    OCTAVO_RETURN_NOT_OK(env_->MaybeFail("Close", path()));
    return base_->Close();
  }
  const std::string& path() const override { return base_->path(); }

 private:
  FaultInjectionEnv* env_;
  std::unique_ptr<WritableFile> base_;
};

void FaultInjectionEnv::FailAt(int64_t n, bool sticky) {
  std::lock_guard<std::mutex> g(mu_);
  fail_at_ = n;
  sticky_ = sticky;
}

void FaultInjectionEnv::ResetCounter() {
  std::lock_guard<std::mutex> g(mu_);
  count_ = 0;
  injected_ = false;
  trace_.clear();
}

int64_t FaultInjectionEnv::ops() const {
  std::lock_guard<std::mutex> g(mu_);
  return count_;
}

bool FaultInjectionEnv::fault_injected() const {
  std::lock_guard<std::mutex> g(mu_);
  return injected_;
}

std::vector<std::string> FaultInjectionEnv::trace() const {
  std::lock_guard<std::mutex> g(mu_);
  return trace_;
}

void FaultInjectionEnv::SetFaultHook(std::function<void(const std::string&)> hook) {
  std::lock_guard<std::mutex> g(mu_);
  hook_ = std::move(hook);
}

Status FaultInjectionEnv::MaybeFail(const std::string& what, const std::string& path) {
  std::function<void(const std::string&)> hook;
  std::string desc;
  {
    std::lock_guard<std::mutex> g(mu_);
    const int64_t n = count_++;
    desc = std::to_string(n) + " " + what + " " + path;
    trace_.push_back(desc);
    const bool fail = fail_at_ >= 0 && (n == fail_at_ || (sticky_ && n > fail_at_));
    if (!fail) return Status::OK();
    injected_ = true;
    hook = hook_;
  }
  // Outside the lock: the hook may snapshot, which reads our bookkeeping.
  if (hook) hook(desc);
  return Status::IOError("injected fault at operation ", desc, " (simulated ENOSPC / EIO)");
}

void FaultInjectionEnv::NoteAppend(const std::string& path, int64_t n) {
  std::lock_guard<std::mutex> g(mu_);
  files_[path].size += n;
}

void FaultInjectionEnv::NoteSync(const std::string& path) {
  std::lock_guard<std::mutex> g(mu_);
  auto& f = files_[path];
  f.synced = f.size;
}

Result<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewWritableFile(const std::string& path) {
  OCTAVO_RETURN_NOT_OK(MaybeFail("NewWritableFile", path));
  const bool existed = base_->FileExists(path);
  OCTAVO_ASSIGN_OR_RETURN(auto file, base_->NewWritableFile(path));
  {
    std::lock_guard<std::mutex> g(mu_);
    files_[path] = FileState{};  // O_TRUNC: nothing of it is durable yet
    if (!existed) dir_ops_.push_back(DirOp{DirOf(path), path, false, {}, {}});
  }
  return std::unique_ptr<WritableFile>(new FaultWritableFile(this, std::move(file)));
}

Status FaultInjectionEnv::WriteAt(int fd, const std::string& path, const void* data, size_t n, int64_t offset) {
  OCTAVO_RETURN_NOT_OK(MaybeFail("WriteAt", path));
  std::function<void(const std::string&, char*, size_t, int64_t)> damage;
  {
    std::lock_guard<std::mutex> g(mu_);
    damage = damage_;
  }
  if (!damage) return base_->WriteAt(fd, path, data, n, offset);
  void* copy = nullptr;
  if (::posix_memalign(&copy, 4096, std::max<size_t>(n, 1)) != 0) return Status::IOError("out of memory");
  std::unique_ptr<void, decltype(&std::free)> own(copy, &std::free);
  std::memcpy(copy, data, n);
  damage(path, static_cast<char*>(copy), n, offset);
  return base_->WriteAt(fd, path, copy, n, offset);
}

Status FaultInjectionEnv::RenameFile(const std::string& from, const std::string& to) {
  OCTAVO_RETURN_NOT_OK(MaybeFail("RenameFile", from + " -> " + to));
  std::optional<std::string> old_target;
  if (base_->FileExists(to)) {
    auto old = base_->ReadFile(to);
    if (old.ok()) old_target = *old;
  }
  OCTAVO_RETURN_NOT_OK(base_->RenameFile(from, to));
  std::lock_guard<std::mutex> g(mu_);
  if (auto it = files_.find(from); it != files_.end()) {
    files_[to] = it->second;
    files_.erase(from);
  } else {
    files_.erase(to);  // the source was durable already
  }
  DirOp op{DirOf(to), to, false, {}, {}};
  op.is_rename = true;
  op.from = from;
  op.old_target = std::move(old_target);
  dir_ops_.push_back(std::move(op));
  return Status::OK();
}

Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  OCTAVO_RETURN_NOT_OK(MaybeFail("SyncDir", dir));
  OCTAVO_RETURN_NOT_OK(base_->SyncDir(dir));
  std::lock_guard<std::mutex> g(mu_);
  dir_ops_.erase(std::remove_if(dir_ops_.begin(), dir_ops_.end(), [&](const DirOp& op) { return op.dir == dir; }),
                 dir_ops_.end());
  return Status::OK();
}

Status FaultInjectionEnv::CreateDir(const std::string& dir) {
  OCTAVO_RETURN_NOT_OK(MaybeFail("CreateDir", dir));
  const bool existed = base_->FileExists(dir);
  OCTAVO_RETURN_NOT_OK(base_->CreateDir(dir));
  if (!existed) {
    std::lock_guard<std::mutex> g(mu_);
    dir_ops_.push_back(DirOp{DirOf(dir), dir, false, {}, {}});
  }
  return Status::OK();
}

Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  OCTAVO_RETURN_NOT_OK(MaybeFail("RemoveFile", path));
  OCTAVO_RETURN_NOT_OK(base_->RemoveFile(path));
  std::lock_guard<std::mutex> g(mu_);
  files_.erase(path);
  return Status::OK();
}

Status FaultInjectionEnv::SnapshotTo(const std::string& root, const std::string& dest, CrashKind kind) const {
  std::map<std::string, FileState> files;
  std::vector<DirOp> dir_ops;
  {
    std::lock_guard<std::mutex> g(mu_);
    files = files_;
    dir_ops = dir_ops_;
  }
  std::error_code ec;
  if (fs::exists(dest)) return Status::AlreadyExists("snapshot destination ", dest, " exists");
  if (fs::exists(root)) {
    fs::copy(root, dest, fs::copy_options::recursive, ec);
    if (ec) return Status::IOError("cannot copy ", root, " to ", dest, ": ", ec.message());
  }
  if (kind == CrashKind::kProcessCrash) return Status::OK();

  // Paths the env saw, as they are in the copy; nullopt for paths outside `root`.
  auto map = [&](const std::string& p) -> std::optional<std::string> {
    if (p == root) return dest;
    if (p.size() > root.size() && p.compare(0, root.size(), root) == 0 && p[root.size()] == '/')
      return dest + p.substr(root.size());
    return std::nullopt;
  };
  // 1. Bytes appended after the last fsync never reached the disk.
  for (const auto& [path, st] : files) {
    auto m = map(path);
    if (m && st.size > st.synced && fs::is_regular_file(*m, ec)) fs::resize_file(*m, st.synced, ec);
  }
  // 2. Directory changes not followed by an fsync of that directory are undone, newest first.
  for (auto it = dir_ops.rbegin(); it != dir_ops.rend(); ++it) {
    auto target = map(it->path);
    if (!target) continue;
    if (!it->is_rename) {
      fs::remove_all(*target, ec);
      continue;
    }
    auto source = map(it->from);
    if (source && fs::exists(*target, ec)) fs::rename(*target, *source, ec);
    else fs::remove_all(*target, ec);
    if (it->old_target) {
      std::ofstream out(*target, std::ios::binary | std::ios::trunc);
      out << *it->old_target;
    }
  }
  return Status::OK();
}

}  // namespace octavo::testing
