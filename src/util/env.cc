#include "octavo/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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
  std::string path_;
  int fd_;
};

class PosixFileLock final : public FileLock {
 public:
  PosixFileLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
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

 private:
  std::string path_;
  int fd_;
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
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      std::string who;
      char buf[512];
      ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
      if (n > 0) who.assign(buf, static_cast<size_t>(n));
      ::close(fd);
      if (err == EWOULDBLOCK)
        return Status::Locked("bundle is locked for writing by ", who.empty() ? "another process" : who,
                              "; open it read-only (mode='r') or wait for that writer to close");
      return PosixError("cannot lock", path, err);
    }
    // Record who holds it (best effort: the flock itself is the lock).
    if (::ftruncate(fd, 0) == 0) {
      ssize_t ignored = ::pwrite(fd, holder.data(), holder.size(), 0);
      (void)ignored;
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(path, fd));
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

Env* Env::Default() {
  static PosixEnv env;
  return &env;
}

Status WriteFileAtomic(Env* env, const std::string& path, std::string_view data) {
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
