// FaultInjectionEnv: an Env for crash-safety tests.
//
// It forwards to a base Env (Env::Default() unless told otherwise) and
//  * counts every mutating operation (NewWritableFile, WritableFile::Append / Sync /
//    Close, RenameFile, SyncDir, CreateDir, RemoveFile), numbering them 0, 1, 2, ...;
//  * makes operation number N fail with an IOError (as ENOSPC, a failed fsync or a
//    failed rename would), either once or, "sticky", for every operation from N on
//    (a disk that stays full);
//  * can call a hook at the moment of the fault, before failing, so a test can copy the
//    bundle directory as a crash at that instant would leave it;
//  * remembers what has not been made durable yet (bytes appended since the last Sync,
//    directory entries created or renamed since the last SyncDir of their directory),
//    so SnapshotTo(..., kPowerLoss) can also model losing everything that was not
//    fsynced -- the way LevelDB's FaultInjectionTestEnv does.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "octavo/env.h"

namespace octavo::testing {

class FaultInjectionEnv final : public Env {
 public:
  explicit FaultInjectionEnv(Env* base = Env::Default()) : base_(base) {}

  // Fail mutating operation number `n` (0-based, counted from construction or Reset()).
  // n < 0 disables injection. Sticky: every operation from n on fails too.
  void FailAt(int64_t n, bool sticky = false);
  void Disarm() { FailAt(-1); }
  // Forget the operation count, the trace and the injected flag (not the durability state).
  void ResetCounter();

  int64_t ops() const;           // mutating operations seen so far
  bool fault_injected() const;   // did any operation fail because of us?
  std::vector<std::string> trace() const;  // "3 Sync /path", one entry per operation

  // Called with the description of the operation about to be failed, before it fails.
  void SetFaultHook(std::function<void(const std::string& op)> hook);

  enum class CrashKind {
    kProcessCrash,  // everything the OS accepted survives (the kernel page cache is intact)
    kPowerLoss,     // only what was fsynced survives: unsynced bytes are cut off, and
                    // unsynced creations / renames in a directory are undone
  };
  // Copies directory `root` to `dest` (which must not exist) as it would look after a
  // crash of the given kind at this instant. Paths the env saw are mapped root -> dest.
  Status SnapshotTo(const std::string& root, const std::string& dest, CrashKind kind) const;

  // --- Env -------------------------------------------------------------------------
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status SyncDir(const std::string& dir) override;
  Status CreateDir(const std::string& dir) override;
  Status RemoveFile(const std::string& path) override;
  Result<std::string> ReadFile(const std::string& path) override { return base_->ReadFile(path); }
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  Result<int64_t> FileSize(const std::string& path) override { return base_->FileSize(path); }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override { return base_->ListDir(dir); }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path, const std::string& holder) override {
    return base_->LockFile(path, holder);
  }
  Result<std::unique_ptr<FileLock>> LockFileWith(const std::string& path, const std::string& holder,
                                                 const LockOptions& options) override {
    return base_->LockFileWith(path, holder, options);
  }
  // Counted like Append (it can be failed); the bytes pass through the damage hook first.
  Status WriteAt(int fd, const std::string& path, const void* data, size_t n, int64_t offset) override;
  // Called with the bytes of every WriteAt (a copy in 4 KiB-aligned memory, as O_DIRECT
  // needs), which it may change: a disk or a bug damaging data on its way out.
  void SetWriteAtDamage(std::function<void(const std::string& path, char* bytes, size_t n, int64_t offset)> damage) {
    std::lock_guard<std::mutex> g(mu_);
    damage_ = std::move(damage);
  }

 private:
  friend class FaultWritableFile;

  // Counts one operation; returns an IOError if it is the one to fail.
  Status MaybeFail(const std::string& what, const std::string& path);

  // Durability bookkeeping (all under mu_).
  struct FileState {
    int64_t size = 0;    // bytes appended since the file was created (O_TRUNC)
    int64_t synced = 0;  // bytes covered by the last successful Sync
  };
  struct DirOp {        // a directory change not yet made durable by SyncDir(dir)
    std::string dir;
    std::string path;   // created entry, or rename target
    bool is_rename = false;
    std::string from;                      // rename source
    std::optional<std::string> old_target;  // rename target's previous content, if it existed
  };
  void NoteAppend(const std::string& path, int64_t n);
  void NoteSync(const std::string& path);

  Env* base_;
  mutable std::mutex mu_;
  int64_t fail_at_ = -1;
  bool sticky_ = false;
  int64_t count_ = 0;
  bool injected_ = false;
  std::vector<std::string> trace_;
  std::function<void(const std::string&)> hook_;
  std::function<void(const std::string&, char*, size_t, int64_t)> damage_;
  std::map<std::string, FileState> files_;
  std::vector<DirOp> dir_ops_;
};

}  // namespace octavo::testing
