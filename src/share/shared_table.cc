// Shared tables (octavo/share.h): publish = write an Arrow IPC file through the Env under a
// temporary name, rename it into place; attach = memory-map it and check it against the handle.
// Format of the segment and the handle: docs/format.md, "Shared table segments".
#include "octavo/share.h"

#include <arrow/buffer.h>
#include <arrow/io/file.h>
#include <arrow/io/interfaces.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <arrow/util/byte_size.h>
#include <arrow/util/endian.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "octavo/arrow_status.h"
#include "octavo/env.h"
#include "util/crc32.h"

namespace octavo {
namespace {

using Json = nlohmann::json;

constexpr const char* kFormat = "octavo-shared-table";
constexpr int kVersion = 1;
constexpr const char* kPrefix = "octavo-share-";
constexpr size_t kMaxHandle = 64 * 1024;
constexpr int64_t kTrailer = 10;  // int32 footer length + "ARROW1"

std::string ReadSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

std::string BootId() { return ReadSmallFile("/proc/sys/kernel/random/boot_id"); }

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof(buf) - 1) != 0) return "";
  return buf;
}

// Field 22 of /proc/PID/stat (start time in clock ticks since boot): with the pid it names one
// process, so a pid reused by a later process does not keep a dead owner's segment alive.
// -1 when the process does not exist.
int64_t ProcessStartTime(long pid) {
  std::string stat = ReadSmallFile("/proc/" + std::to_string(pid) + "/stat");
  auto close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(stat.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22 && rest >> field; ++i) {
    if (i == 22) {
      try {
        return std::stoll(field);
      } catch (...) {
        return -1;
      }
    }
  }
  return -1;
}

struct SegmentName {
  long pid = 0;
  int64_t start = 0;
  bool temporary = false;
};

// octavo-share-<pid>-<start>-<16 hex>.arrow, or .tmp while being written.
bool ParseSegmentName(const std::string& name, SegmentName* out) {
  if (name.rfind(kPrefix, 0) != 0) return false;
  std::string rest = name.substr(std::strlen(kPrefix));
  bool tmp = false;
  if (rest.size() > 6 && rest.compare(rest.size() - 6, 6, ".arrow") == 0) {
    rest.resize(rest.size() - 6);
  } else if (rest.size() > 4 && rest.compare(rest.size() - 4, 4, ".tmp") == 0) {
    rest.resize(rest.size() - 4);
    tmp = true;
  } else {
    return false;
  }
  auto d1 = rest.find('-');
  auto d2 = d1 == std::string::npos ? d1 : rest.find('-', d1 + 1);
  if (d2 == std::string::npos || rest.find('-', d2 + 1) != std::string::npos) return false;
  std::string p = rest.substr(0, d1), s = rest.substr(d1 + 1, d2 - d1 - 1), r = rest.substr(d2 + 1);
  auto digits = [](const std::string& x, const char* set) {
    return !x.empty() && x.size() <= 20 && x.find_first_not_of(set) == std::string::npos;
  };
  if (!digits(p, "0123456789") || !digits(s, "0123456789") || r.size() != 16 || !digits(r, "0123456789abcdef"))
    return false;
  try {
    out->pid = std::stol(p);
    out->start = std::stoll(s);
  } catch (...) {
    return false;
  }
  out->temporary = tmp;
  return true;
}

bool OwnerAlive(const SegmentName& n) { return ProcessStartTime(n.pid) == n.start; }

std::string RandomHex() {
  std::random_device rd;
  uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string JoinPath(const std::string& dir, const std::string& name) {
  return (!dir.empty() && dir.back() == '/') ? dir + name : dir + "/" + name;
}

// An arrow OutputStream over an octavo WritableFile, so the write goes through the Env (and its
// fault injection); keeps the CRC-32 of everything written.
class EnvOutputStream final : public arrow::io::OutputStream {
 public:
  explicit EnvOutputStream(WritableFile* file) : file_(file) {}
  arrow::Status Write(const void* data, int64_t n) override {
    Status st = file_->Append(std::string_view(static_cast<const char*>(data), static_cast<size_t>(n)));
    if (!st.ok()) {
      error_ = st;
      return arrow::Status::IOError(st.message());
    }
    crc_ = Crc32(crc_, data, static_cast<size_t>(n));
    pos_ += n;
    return arrow::Status::OK();
  }
  arrow::Status Close() override {
    closed_ = true;
    return arrow::Status::OK();
  }
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override { return pos_; }

  const Status& error() const { return error_; }
  uint32_t crc() const { return crc_; }

 private:
  WritableFile* file_;
  Status error_;
  uint32_t crc_ = 0;
  int64_t pos_ = 0;
  bool closed_ = false;
};

struct Identity {
  // File timestamps tick with the kernel's clock (a few ms): a rewrite within the same tick can
  // keep them, so the mode (0400 as published; a writer must chmod first) is compared too.
  int64_t dev = 0, ino = 0, size = 0, mtime_ns = 0, ctime_ns = 0, mode = 0;
  bool operator==(const Identity&) const = default;
};

Result<Identity> StatIdentity(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT)
      return Status::NotFound("shared table segment '", path,
                              "' no longer exists: its publisher closed it or exited, or it was collected "
                              "(octavo share --gc); publish the table again");
    return Status::IOError("cannot stat shared table segment '", path, "': ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode))
    return Status::Corruption("shared table segment '", path, "' is not a regular file (replaced after publishing?)");
  Identity id;
  id.dev = static_cast<int64_t>(st.st_dev);
  id.ino = static_cast<int64_t>(st.st_ino);
  id.size = static_cast<int64_t>(st.st_size);
  id.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  id.ctime_ns = static_cast<int64_t>(st.st_ctim.tv_sec) * 1000000000 + st.st_ctim.tv_nsec;
  id.mode = static_cast<int64_t>(st.st_mode & 07777);
  return id;
}

// CRC-32 of the IPC footer (flatbuffer, its length and the closing magic) of a file of `size`
// bytes whose last `size` bytes start at `data`.
Result<uint32_t> FooterCrc(const uint8_t* data, int64_t size, const std::string& path) {
  if (size < 2 * kTrailer || std::memcmp(data + size - 6, "ARROW1", 6) != 0 || std::memcmp(data, "ARROW1", 6) != 0)
    return Status::Corruption("shared table segment '", path, "' is not a complete Arrow IPC file (truncated?)");
  int32_t footer_len;
  std::memcpy(&footer_len, data + size - kTrailer, 4);
  footer_len = arrow::bit_util::FromLittleEndian(footer_len);
  if (footer_len <= 0 || footer_len > size - 2 * kTrailer)
    return Status::Corruption("shared table segment '", path, "' has an impossible footer length ", footer_len);
  int64_t n = footer_len + kTrailer;
  return Crc32(0, data + size - n, static_cast<size_t>(n));
}

// Maps the pages of [data, data + n) now; a hint only (an old kernel without
// MADV_POPULATE_READ gets a read of one byte per page instead).
void Populate(const uint8_t* data, int64_t n) {
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  uintptr_t lo = reinterpret_cast<uintptr_t>(data) & ~(page - 1);
  uintptr_t hi = reinterpret_cast<uintptr_t>(data) + static_cast<uintptr_t>(n);
#ifdef MADV_POPULATE_READ
  if (::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_POPULATE_READ) == 0) return;
#endif
  volatile uint8_t sink = 0;
  for (uintptr_t p = reinterpret_cast<uintptr_t>(data); p < hi; p += page) sink = sink + *reinterpret_cast<const uint8_t*>(p);
  (void)sink;
}

Status Damaged(const std::string& path, const std::string& what) {
  return Status::Corruption("shared table segment '", path, "' is damaged or was modified after publishing (", what,
                            "); publish the table again");
}

template <typename T>
Result<T> Field(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return Status::Invalid("shared table handle has no '", key, "' field");
  try {
    return it->get<T>();
  } catch (const std::exception&) {
    return Status::Invalid("shared table handle field '", key, "' has the wrong type");
  }
}

}  // namespace

Result<std::unique_ptr<SharedTable>> SharedTable::Publish(const arrow::Table& table, const ShareOptions& options) {
  Env* env = options.env ? options.env : Env::Default();
  const std::string& dir = options.directory;
  if (dir.empty() || dir[0] != '/')
    return Status::Invalid("shared table directory must be an absolute path, got '", dir, "'");
  struct stat dst;
  if (::stat(dir.c_str(), &dst) != 0 || !S_ISDIR(dst.st_mode))
    return Status::NotFound("shared table directory '", dir, "' does not exist (create it, or choose another)");
  // Best effort: a failure to collect others' segments must not stop this publish.
  (void)CollectStaleSharedTables(dir, env);

  // One batch: every column is then a single contiguous buffer (numpy views need that).
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto batch, table.CombineChunksToBatch());

  long pid = static_cast<long>(::getpid());
  int64_t start = ProcessStartTime(pid);
  if (start < 0) return Status::IOError("cannot read /proc/", pid, "/stat: shared tables need Linux's /proc");
  std::string stem = kPrefix + std::to_string(pid) + "-" + std::to_string(start) + "-" + RandomHex();
  std::string tmp = JoinPath(dir, stem + ".tmp"), path = JoinPath(dir, stem + ".arrow");

  auto fail = [&](const Status& st) -> Status {
    (void)env->RemoveFile(tmp);  // never leave a half-written segment
    std::string msg = st.message();
    if (msg.find(std::strerror(ENOSPC)) != std::string::npos)
      return Status::IOError("cannot publish a shared table in '", dir, "': it is full (", table.num_rows(),
                             " rows need about ", batch ? arrow::util::TotalBufferSize(*batch) : 0,
                             " bytes); free space there or publish to another directory (ShareOptions::directory, "
                             "octavo.share(..., directory=...)); nothing was published");
    return Status(st.code(), "cannot publish a shared table in '" + dir + "': " + msg + "; nothing was published");
  };

  auto created = env->NewWritableFile(tmp);
  if (!created.ok()) return fail(created.status());
  std::unique_ptr<WritableFile> file = std::move(created).ValueOrDie();
  EnvOutputStream sink(file.get());
  auto ipc = arrow::ipc::IpcWriteOptions::Defaults();
  // Buffers land 8-byte aligned in the mapping (the IPC format's rule; enough for numpy views).
  // Not 64: Arrow C++'s writer pads body buffers to 8 bytes and truncates numeric buffers to
  // their length rounded to 8, whatever IpcWriteOptions::alignment says (that pads messages).
  ipc.codec = nullptr;
  auto written = [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeFileWriter(&sink, batch->schema(), ipc));
    ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
    return writer->Close();
  }();
  if (!written.ok()) return fail(sink.error().ok() ? FromArrow(written) : sink.error());
  if (Status st = file->Close(); !st.ok()) return fail(st);
  // Read-only: a later write needs a chmod first, which changes the ctime the handle records.
  if (::chmod(tmp.c_str(), 0400) != 0) return fail(Status::IOError("cannot chmod '", tmp, "': ", std::strerror(errno)));
  if (Status st = env->RenameFile(tmp, path); !st.ok()) return fail(st);

  auto cleanup = [&](const Status& st) -> Status {
    (void)env->RemoveFile(path);
    return st;
  };
  auto id = StatIdentity(path);
  if (!id.ok()) return cleanup(id.status());
  // The footer CRC, from the file as it now is (the writer's last bytes).
  std::string tail;
  {
    auto mapped = arrow::io::MemoryMappedFile::Open(path, arrow::io::FileMode::READ);
    if (!mapped.ok()) return cleanup(FromArrow(mapped.status()));
    auto buf = (*mapped)->ReadAt(0, id->size);
    if (!buf.ok()) return cleanup(FromArrow(buf.status()));
    auto crc = FooterCrc((*buf)->data(), (*buf)->size(), path);
    if (!crc.ok()) return cleanup(crc.status());
    tail = std::to_string(*crc);
  }

  Json h;
  h["format"] = kFormat;
  h["version"] = kVersion;
  h["path"] = path;
  h["size"] = id->size;
  h["num_rows"] = table.num_rows();
  h["owner_pid"] = pid;
  h["host"] = HostName();
  h["boot_id"] = BootId();
  h["dev"] = id->dev;
  h["ino"] = id->ino;
  h["mtime_ns"] = id->mtime_ns;
  h["ctime_ns"] = id->ctime_ns;
  h["mode"] = id->mode;
  h["footer_crc32"] = std::stoul(tail);
  h["data_crc32"] = sink.crc();
  h["source"] = {{"bundle", options.source_bundle},
                 {"table", options.source_table},
                 {"commit", options.source_commit}};

  std::unique_ptr<SharedTable> out(new SharedTable());
  out->env_ = env;
  out->handle_ = h.dump();
  out->path_ = path;
  out->size_ = id->size;
  out->num_rows_ = table.num_rows();
  out->owner_pid_ = pid;
  return out;
}

SharedTable::~SharedTable() { (void)Close(); }

Status SharedTable::Close() {
  if (closed_) return Status::OK();
  closed_ = true;
  if (static_cast<long>(::getpid()) != owner_pid_) return Status::OK();  // a forked child: not ours
  Status st = env_->RemoveFile(path_);
  if (st.code() == StatusCode::kNotFound) return Status::OK();
  return st;
}

Result<std::shared_ptr<arrow::Table>> SharedTable::Attach(const std::string& handle, const AttachOptions& options) {
  if (handle.size() > kMaxHandle) return Status::Invalid("shared table handle is ", handle.size(), " bytes: not a handle");
  Json h = Json::parse(handle, nullptr, /*allow_exceptions=*/false);
  if (!h.is_object()) return Status::Invalid("not a shared table handle (expected the JSON object handle() returns)");
  OCTAVO_ASSIGN_OR_RETURN(auto format, Field<std::string>(h, "format"));
  if (format != kFormat) return Status::Invalid("not a shared table handle (format '", format, "')");
  OCTAVO_ASSIGN_OR_RETURN(auto version, Field<int64_t>(h, "version"));
  if (version != kVersion)
    return Status::UnsupportedVersion("shared table handle has format version ", version, "; this octavo reads version ",
                                      kVersion, ": publish and attach with the same octavo version");
  OCTAVO_ASSIGN_OR_RETURN(auto host, Field<std::string>(h, "host"));
  OCTAVO_ASSIGN_OR_RETURN(auto boot, Field<std::string>(h, "boot_id"));
  if (host != HostName() || boot != BootId())
    return Status::Invalid("shared table handle comes from host '", host, "' (boot ", boot, "), this is host '",
                           HostName(), "' (boot ", BootId(),
                           "): shared tables live in one machine's memory; publish the table on this host");
  OCTAVO_ASSIGN_OR_RETURN(auto path, Field<std::string>(h, "path"));
  SegmentName name;
  auto slash = path.rfind('/');
  if (path.empty() || path[0] != '/' || slash == std::string::npos || !ParseSegmentName(path.substr(slash + 1), &name) ||
      name.temporary)
    return Status::Invalid("shared table handle names '", path, "', which is not a shared table segment");
  Identity want;
  OCTAVO_ASSIGN_OR_RETURN(want.size, Field<int64_t>(h, "size"));
  OCTAVO_ASSIGN_OR_RETURN(want.dev, Field<int64_t>(h, "dev"));
  OCTAVO_ASSIGN_OR_RETURN(want.ino, Field<int64_t>(h, "ino"));
  OCTAVO_ASSIGN_OR_RETURN(want.mtime_ns, Field<int64_t>(h, "mtime_ns"));
  OCTAVO_ASSIGN_OR_RETURN(want.ctime_ns, Field<int64_t>(h, "ctime_ns"));
  OCTAVO_ASSIGN_OR_RETURN(want.mode, Field<int64_t>(h, "mode"));
  OCTAVO_ASSIGN_OR_RETURN(auto footer_crc, Field<uint32_t>(h, "footer_crc32"));
  OCTAVO_ASSIGN_OR_RETURN(auto data_crc, Field<uint32_t>(h, "data_crc32"));
  OCTAVO_ASSIGN_OR_RETURN(auto num_rows, Field<int64_t>(h, "num_rows"));

  // Stat before mapping (a clear NotFound), map, then stat again: the mapping is of the inode
  // the handle names, unmodified since publishing (any write changes mtime, a chmod ctime).
  OCTAVO_RETURN_NOT_OK(StatIdentity(path).status());
  auto mapped = arrow::io::MemoryMappedFile::Open(path, arrow::io::FileMode::READ);
  if (!mapped.ok()) {
    OCTAVO_RETURN_NOT_OK(StatIdentity(path).status());  // removed meanwhile: NotFound
    return Status::IOError("cannot map shared table segment '", path, "': ", mapped.status().message());
  }
  std::shared_ptr<arrow::io::MemoryMappedFile> file = *mapped;
  OCTAVO_ASSIGN_OR_RETURN(auto have, StatIdentity(path));
  if (have.size != want.size) return Damaged(path, "size " + std::to_string(have.size) + ", published " +
                                                       std::to_string(want.size) + " bytes");
  if (!(have == want)) return Damaged(path, "not the file published: inode, mode, modification or change time differ");
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto size, file->GetSize());
  if (size != want.size) return Damaged(path, "mapped size differs");
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto whole, file->ReadAt(0, size));  // zero-copy: a view of the mapping
  OCTAVO_ASSIGN_OR_RETURN(auto crc, FooterCrc(whole->data(), whole->size(), path));
  if (crc != footer_crc) return Damaged(path, "footer checksum mismatch");
  if (options.verify_data && Crc32(0, whole->data(), static_cast<size_t>(whole->size())) != data_crc)
    return Damaged(path, "data checksum mismatch");

  auto reader = arrow::ipc::RecordBatchFileReader::Open(file);
  if (!reader.ok()) return Damaged(path, reader.status().message());
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t rows = 0;
  for (int i = 0; i < (*reader)->num_record_batches(); ++i) {
    auto batch = (*reader)->ReadRecordBatch(i);
    if (!batch.ok()) return Damaged(path, batch.status().message());
    // Full validation (offsets, UTF-8, null counts): a hostile file cannot make a reader crash.
    if (auto st = (*batch)->ValidateFull(); !st.ok()) return Damaged(path, st.message());
    rows += (*batch)->num_rows();
    batches.push_back(*batch);
  }
  if (rows != num_rows) return Damaged(path, std::to_string(rows) + " rows, published " + std::to_string(num_rows));
  auto table = arrow::Table::FromRecordBatches((*reader)->schema(), batches);
  if (!table.ok()) return Damaged(path, table.status().message());
  if (options.populate) Populate(whole->data(), whole->size());
  return *table;
}

Result<std::vector<SharedSegmentInfo>> ListSharedTables(const std::string& directory) {
  OCTAVO_ASSIGN_OR_RETURN(auto names, Env::Default()->ListDir(directory));
  std::vector<SharedSegmentInfo> out;
  for (const auto& n : names) {
    SegmentName seg;
    if (!ParseSegmentName(n, &seg)) continue;
    SharedSegmentInfo info;
    info.path = JoinPath(directory, n);
    struct stat st;
    if (::lstat(info.path.c_str(), &st) == 0) info.size_bytes = static_cast<int64_t>(st.st_size);
    info.owner_pid = seg.pid;
    info.owner_alive = OwnerAlive(seg);
    out.push_back(std::move(info));
  }
  return out;
}

Result<std::vector<std::string>> CollectStaleSharedTables(const std::string& directory, Env* env) {
  if (!env) env = Env::Default();
  OCTAVO_ASSIGN_OR_RETURN(auto names, env->ListDir(directory));
  std::vector<std::string> removed;
  for (const auto& n : names) {
    SegmentName seg;
    if (!ParseSegmentName(n, &seg) || OwnerAlive(seg)) continue;
    std::string path = JoinPath(directory, n);
    struct stat st;
    if (::lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // never through a link
    Status rm = env->RemoveFile(path);
    if (rm.ok()) removed.push_back(path);
    else if (rm.code() != StatusCode::kNotFound) return rm;
  }
  return removed;
}

}  // namespace octavo
