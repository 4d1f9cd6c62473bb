#include "octavo/env.h"

#include <arrow/io/file.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>
#include <cstring>
#include <map>
#include <mutex>

#include "octavo/arrow_status.h"

namespace octavo {
namespace {

Status PosixError(const std::string& what, const std::string& path, int err) {
  std::string msg = what + " '" + path + "': " + std::strerror(err);
  if (err == ENOSPC) msg += " (the disk is full: free space and retry; the bundle is still at its last commit)";
  if (err == ENOENT) return Status::NotFound(msg);
  if (err == EEXIST) return Status::AlreadyExists(msg);
  return Status::IOError(msg);
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Append(std::string_view data) override {
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError("cannot write", path_, errno);
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    written_ += static_cast<int64_t>(data.size());
    StartWriteback();
    return Status::OK();
  }
  Status Sync() override {
    if (::fdatasync(fd_) != 0) return PosixError("cannot fsync", path_, errno);
    return Status::OK();
  }
  Status Close() override {
    if (fd_ < 0) return Status::OK();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return PosixError("cannot close", path_, errno);
    return Status::OK();
  }
  const std::string& path() const override { return path_; }

 private:
  // Every file is synced before it counts (Sync), so the kernel is asked to start writing each
  // 8 MiB as soon as it is appended (as RocksDB's bytes_per_sync does): the disk works while
  // the writer encodes, and the final fdatasync waits for the last few MiB only. A hint: a
  // failure here is ignored, fdatasync reports what matters.
  void StartWriteback() {
#ifdef SYNC_FILE_RANGE_WRITE
    constexpr int64_t kWritebackBytes = int64_t(8) << 20;
    if (written_ - hinted_ < kWritebackBytes) return;
    (void)::sync_file_range(fd_, hinted_, written_ - hinted_, SYNC_FILE_RANGE_WRITE);
    hinted_ = written_;
#endif
  }

  std::string path_;
  int fd_;
  int64_t written_ = 0;  // bytes appended
  int64_t hinted_ = 0;   // bytes handed to StartWriteback's sync_file_range
};

// Who holds a lock, as its holder wrote it into the lock file.
std::string LockHolder(int fd) {
  char buf[512];
  ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

Status LockedBy(int fd, bool shared) {
  std::string who = LockHolder(fd);
  if (shared)
    return Status::Locked("bundle is locked exclusively (by garbage collection, or a writer of an older octavo): ", who.empty() ? "another process" : who,
                          "; retry when it is done, or open with wait=SECONDS to wait for it");
  return Status::Locked("bundle is open for writing by another process (the last to open it: ",
                        who.empty() ? "unknown" : who, "); this needs the bundle to itself: close the other writers and retry");
}

// flock, retried until the deadline; EWOULDBLOCK is returned as is.
int FlockWait(int fd, int op, double wait_seconds) {
  if (wait_seconds < 0) {
    while (::flock(fd, op) != 0)
      if (errno != EINTR) return errno;
    return 0;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(wait_seconds);
  auto pause = std::chrono::milliseconds(1);
  while (::flock(fd, op | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK && errno != EINTR) return errno;
    if (std::chrono::steady_clock::now() >= deadline) return EWOULDBLOCK;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  return 0;
}

void RecordHolder(int fd, const std::string& holder) {
  // Best effort: the flock itself is the lock.
  if (::ftruncate(fd, 0) == 0) {
    ssize_t ignored = ::pwrite(fd, holder.data(), holder.size(), 0);
    (void)ignored;
  }
}

class PosixFileLock final : public FileLock {
 public:
  PosixFileLock(std::string path, int fd, std::string holder)
      : path_(std::move(path)), fd_(fd), holder_(std::move(holder)) {}
  ~PosixFileLock() override {
    ::flock(fd_, LOCK_UN);
    ::close(fd_);
  }
  Status Verify() const override {
    struct stat held, now;
    if (::fstat(fd_, &held) != 0) return PosixError("cannot stat lock", path_, errno);
    if (::lstat(path_.c_str(), &now) != 0 || now.st_dev != held.st_dev || now.st_ino != held.st_ino)
      return Status::Locked("the lock file ", path_,
                            " was deleted or replaced while this writer held it, so another writer may have "
                            "committed meanwhile; nothing more is committed through this handle: close it and "
                            "reopen the bundle");
    return Status::OK();
  }
  Status Upgrade() override {
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
      RecordHolder(fd_, holder_);
      return Status::OK();
    }
    const int err = errno;
    // Linux drops the shared lock when a conversion fails: take it back (an exclusive holder
    // that got in meanwhile is waited for; it is short).
    Status st = err == EWOULDBLOCK ? LockedBy(fd_, false) : PosixError("cannot lock", path_, err);
    if (int e = FlockWait(fd_, LOCK_SH, -1); e != 0) return PosixError("cannot lock", path_, e);
    return st;
  }
  Status Downgrade() override {
    if (::flock(fd_, LOCK_SH) != 0) return PosixError("cannot lock", path_, errno);
    return Status::OK();
  }

 private:
  std::string path_;
  int fd_;
  std::string holder_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) return PosixError("cannot create", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return PosixError("cannot rename to '" + to + "'", from, errno);
    return Status::OK();
  }
  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return PosixError("cannot open directory", dir, errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return PosixError("cannot fsync directory", dir, err);
    return Status::OK();
  }
  Status CreateDir(const std::string& dir) override {
    if (::mkdir(dir.c_str(), 0755) == 0) return Status::OK();
    if (errno != EEXIST) return PosixError("cannot create directory", dir, errno);
    // Files are about to be created in it: it must be a directory, not a link to one (a
    // link planted in an untrusted tarball would send new data files anywhere).
    struct stat st;
    if (::lstat(dir.c_str(), &st) != 0) return PosixError("cannot stat directory", dir, errno);
    if (S_ISLNK(st.st_mode))
      return Status::IOError("'", dir, "' is a symbolic link; octavo does not write through links inside a bundle ",
                             "(a symlinked data/ folder is fine): replace it with the directory itself");
    if (!S_ISDIR(st.st_mode)) return Status::IOError("'", dir, "' exists and is not a directory");
    return Status::OK();
  }
  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError("cannot remove", path, errno);
    return Status::OK();
  }
  Result<std::string> ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError("cannot open", path, errno);
    std::string out;
    char buf[1 << 16];
    while (true) {
      ssize_t n = ::read(fd, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        int err = errno;
        ::close(fd);
        return PosixError("cannot read", path, err);
      }
      if (n == 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
  }
  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }
  Result<int64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return PosixError("cannot stat", path, errno);
    return static_cast<int64_t>(st.st_size);
  }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (!d) return PosixError("cannot list directory", dir, errno);
    std::vector<std::string> out;
    while (auto* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") out.push_back(name);
    }
    ::closedir(d);
    return out;
  }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path, const std::string& holder) override {
    return LockFileWith(path, holder, LockOptions{});
  }
  Result<std::unique_ptr<FileLock>> LockFileWith(const std::string& path, const std::string& holder,
                                                 const LockOptions& options) override {
    // O_NOFOLLOW: a symlink planted as LOCK must not get its target truncated below.
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0) {
      if (errno == ELOOP)
        return Status::IOError("lock file ", path, " is a symbolic link; octavo does not follow it (remove it)");
      return PosixError("cannot open lock file", path, errno);
    }
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      return Status::IOError("lock file ", path, " is not a regular file (remove it)");
    }
    if (int err = FlockWait(fd, options.shared ? LOCK_SH : LOCK_EX, options.wait_seconds); err != 0) {
      Status locked = err == EWOULDBLOCK ? LockedBy(fd, options.shared) : PosixError("cannot lock", path, err);
      ::close(fd);
      return locked;
    }
    // The last holder to get in: an exclusive one stays named until it is done.
    RecordHolder(fd, holder);
    return std::unique_ptr<FileLock>(new PosixFileLock(path, fd, holder));
  }
};

}  // namespace

Status Env::WriteAt(int fd, const std::string& path, const void* data, size_t n, int64_t offset) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(offset));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Status::IOError(std::strerror(errno));
    if (w == 0) return Status::IOError(std::strerror(EIO));
    p += w;
    n -= static_cast<size_t>(w);
    offset += w;
  }
  return Status::OK();
}

Result<std::shared_ptr<arrow::io::RandomAccessFile>> Env::OpenRandomAccess(const std::string& path) {
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto f, arrow::io::ReadableFile::Open(path));
  return std::shared_ptr<arrow::io::RandomAccessFile>(std::move(f));
}

Status Env::CreateIfAbsent(const std::string& path, std::string_view) {
  return Status::NotImplemented("conditional writes (", path, ") need an object store Env");
}

Result<std::vector<std::string>> Env::ListFilesUnder(const std::string& dir) {
  return Status::NotImplemented("listing every file under ", dir, " needs an object store Env");
}

Result<int64_t> Env::ModifiedTimeNanos(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return PosixError("cannot stat", path, errno);
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
}

int64_t Env::NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

namespace {
std::mutex& EnvRegistryMutex() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, Env*>& EnvRegistry() {
  static auto* registry = new std::map<std::string, Env*>();  // never destroyed: readers may outlive statics
  return *registry;
}
}  // namespace

void RegisterEnvForPrefix(const std::string& prefix, Env* env) {
  std::lock_guard<std::mutex> g(EnvRegistryMutex());
  if (env) EnvRegistry()[prefix] = env;
  else EnvRegistry().erase(prefix);
}

Env* EnvForPath(const std::string& path) {
  if (path.find("://") == std::string::npos) return Env::Default();  // local paths: no lookup
  std::lock_guard<std::mutex> g(EnvRegistryMutex());
  Env* best = Env::Default();
  size_t best_len = 0;
  for (const auto& [prefix, env] : EnvRegistry())
    if (prefix.size() >= best_len && path.compare(0, prefix.size(), prefix) == 0 &&
        (path.size() == prefix.size() || path[prefix.size()] == '/' || prefix.back() == '/')) {
      best = env;
      best_len = prefix.size();
    }
  return best;
}

Env* Env::Default() {
  static PosixEnv env;
  return &env;
}

Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data) {
  if (env->IsObjectStore()) {
    // An object appears whole when its upload completes: no temp file, no rename.
    OCTAVO_ASSIGN_OR_RETURN(auto file, env->NewWritableFile(path));
    OCTAVO_RETURN_NOT_OK(file->Append(data));
    return file->Close();
  }
  std::string tmp = path + ".tmp";
  auto created = env->NewWritableFile(tmp);
  if (created.status().code() == StatusCode::kAlreadyExists) {
    // One left by a crash (or planted): unlink removes a symlink itself, never its target.
    OCTAVO_RETURN_NOT_OK(env->RemoveFile(tmp));
    created = env->NewWritableFile(tmp);
  }
  OCTAVO_ASSIGN_OR_RETURN(auto file, std::move(created));
  OCTAVO_RETURN_NOT_OK(file->Append(data));
  OCTAVO_RETURN_NOT_OK(file->Sync());
  OCTAVO_RETURN_NOT_OK(file->Close());
  OCTAVO_RETURN_NOT_OK(env->RenameFile(tmp, path));
  auto slash = path.rfind('/');
  return env->SyncDir(slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash));
}

}  // namespace octavo
