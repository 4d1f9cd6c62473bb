// Env: every file-system side effect a commit makes goes through this interface
// (LevelDB's Env idea), so tests can fail each write, fsync and rename in turn.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "octavo/status.h"

namespace arrow::io {
class RandomAccessFile;
}

namespace octavo {

class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::string_view data) = 0;
  virtual Status Sync() = 0;   // fsync: data is durable when this returns OK
  virtual Status Close() = 0;
  virtual const std::string& path() const = 0;
};

// An advisory lock (flock), exclusive or shared, held for the lifetime of the object.
class FileLock {
 public:
  virtual ~FileLock() = default;
  // A shared lock made exclusive without waiting (kLocked naming the holder if other holders
  // remain, and then the lock is shared again), and back. Garbage collection runs exclusive.
  virtual Status Upgrade() { return Status::OK(); }
  virtual Status Downgrade() { return Status::OK(); }
  // OK while the lock file at its path is still the file this lock holds. A lock file
  // deleted or replaced under a live writer (rm LOCK) lets a second writer in: the holder
  // must find out before it commits, not trust a lock nobody else can see.
  virtual Status Verify() const { return Status::OK(); }
};

class Env {
 public:
  virtual ~Env() = default;

  // The process-wide POSIX environment.
  static Env* Default();

  // Creates a new file; fails if `path` exists (O_EXCL) and never follows a symlink there
  // (O_NOFOLLOW), so a link planted in the bundle cannot redirect a write elsewhere.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  virtual Status SyncDir(const std::string& dir) = 0;
  // OK if it exists as a directory; an existing symlink (or non-directory) there is an error.
  virtual Status CreateDir(const std::string& dir) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  virtual Result<std::string> ReadFile(const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  virtual Result<int64_t> FileSize(const std::string& path) = 0;
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;

  // Writes `n` bytes at `offset` of `fd`, a file open at `path` (pwrite, repeated until all
  // is written). The HDF5 migration's O_DIRECT output goes through here (its aligned
  // buffers cannot take a WritableFile's path), so tests can fail or damage it. An error's
  // message is exactly strerror(errno) (the caller tells EINVAL, "no O_DIRECT", apart).
  virtual Status WriteAt(int fd, const std::string& path, const void* data, size_t n, int64_t offset);

  // Take the writer lock; on conflict returns kLocked with the holder's description.
  // `holder` is written into the lock file so a second writer can say who holds it.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path,
                                                     const std::string& holder) = 0;

  struct LockOptions {
    bool shared = false;        // many shared holders, or one exclusive
    double wait_seconds = 0;    // 0: try once; > 0: retry until then; < 0: wait as long as it takes
  };
  // LockFile with a mode and a wait. The default takes LockFile's exclusive lock (one try).
  virtual Result<std::unique_ptr<FileLock>> LockFileWith(const std::string& path, const std::string& holder,
                                                         const LockOptions& options) {
    return LockFile(path, holder);
  }

  // Random access to an existing file (Parquet parts, file node contents): a local file, or
  // ranged GETs on an object store.
  virtual Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenRandomAccess(const std::string& path);

  // --- object stores (docs/format.md section 5.3) ---
  // True for an object store: no rename, no locks; a write is atomic when its object appears,
  // and commits are made with CreateIfAbsent instead of LOCK.commit and a rename.
  virtual bool IsObjectStore() const { return false; }
  // Creates the object `path` holding `data` if no object is there, atomically (a conditional
  // write): kAlreadyExists if one is. kNotImplemented where the Env has no such write.
  virtual Status CreateIfAbsent(const std::string& path, std::string_view data);
  // Every object under the prefix `dir`, as paths relative to it (an object store has no
  // folders to walk). kNotImplemented where the Env has no such listing (local: walk ListDir).
  virtual Result<std::vector<std::string>> ListFilesUnder(const std::string& dir);

  // --- time (garbage collection's minimum age, GcOptions::min_age_seconds) ---
  // When `path` was last written, in nanoseconds since the Unix epoch (lstat's mtime on a
  // disk, never following a link; an object's Last-Modified on an object store).
  virtual Result<int64_t> ModifiedTimeNanos(const std::string& path);
  // Now, on the clock ModifiedTimeNanos is compared with.
  virtual int64_t NowNanos();
};

// The Env for the files under `path`: the one registered for the longest prefix of it
// (Bundle::Open registers an object store's Env for the bundle's address), else Default().
// Code that holds only a path (a part file's reader) finds the Env here.
Env* EnvForPath(const std::string& path);
void RegisterEnvForPrefix(const std::string& prefix, Env* env);  // nullptr: forget `prefix`

// Write `data` to `path` durably and atomically (on an object store: one PUT): temp file (`path`.tmp, a stale one from a
// crash, or a symlink planted there, removed first, never followed), fsync, rename, fsync dir.
Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data);

}  // namespace octavo
