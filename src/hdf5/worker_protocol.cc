// The HDF5 worker process and its frame stream (see worker_protocol.h). No libhdf5 here:
// this is the side linked into the CLI and the Python extension.
#include "hdf5/worker_protocol.h"

#include <arrow/buffer.h>
#include <arrow/io/interfaces.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/record_batch.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "octavo/arrow_status.h"
#include "util/json_util.h"

extern char** environ;

namespace octavo::hdf5::wire {

namespace fs = std::filesystem;

bool ReadAll(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

bool WriteAll(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

namespace {

// Frames hold at most this much (a 'D' frame is a slab of at most array_slab_bytes; a JSON
// message a listing): a longer length is a broken stream, not an allocation.
constexpr uint64_t kMaxFrame = uint64_t(1) << 34;

}  // namespace

// --- worker side --------------------------------------------------------------------------

Status FrameWriter::Frame(char tag, const void* p, size_t n) {
  unsigned char head[9];
  head[0] = static_cast<unsigned char>(tag);
  uint64_t len = n;
  for (int i = 0; i < 8; ++i) head[1 + i] = static_cast<unsigned char>(len >> (8 * i));
  if (!WriteAll(fd_, head, sizeof head) || !WriteAll(fd_, p, n))
    return Status::IOError("the parent of the HDF5 worker is gone: ", std::strerror(errno));
  return Status::OK();
}

Status FrameWriter::Message(const Json& j) {
  // names from HDF5 files may be any bytes: JSON text replaces invalid UTF-8 (the parent
  // only ever sees valid UTF-8; the worker validated names that matter before)
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  return Frame('J', s.data(), s.size());
}
Status FrameWriter::Data(const void* p, size_t n) { return Frame('D', p, n); }
Status FrameWriter::End() { return Frame('E', nullptr, 0); }
Status FrameWriter::Abort(const Status& st) {
  std::string s = StatusToJson(st).dump(-1, ' ', false, Json::error_handler_t::replace);
  return Frame('A', s.data(), s.size());
}

namespace {
// An arrow OutputStream writing 'D' frames.
class FrameOutputStream : public arrow::io::OutputStream {
 public:
  explicit FrameOutputStream(FrameWriter* w) : w_(w) {}
  arrow::Status Close() override {
    closed_ = true;
    return arrow::Status::OK();
  }
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override { return pos_; }
  arrow::Status Write(const void* data, int64_t n) override {
    if (n <= 0) return arrow::Status::OK();
    Status st = w_->Data(data, static_cast<size_t>(n));
    if (!st.ok()) return arrow::Status::IOError(st.message());
    pos_ += n;
    return arrow::Status::OK();
  }

 private:
  FrameWriter* w_;
  int64_t pos_ = 0;
  bool closed_ = false;
};
}  // namespace

Status FrameWriter::Table(const Json& j, arrow::RecordBatchReader& reader) {
  OCTAVO_RETURN_NOT_OK(Message(j));
  auto body = [&]() -> Status {
    auto out = std::make_shared<FrameOutputStream>(this);
    OCTAVO_ARROW_ASSIGN_OR_RETURN(auto writer, arrow::ipc::MakeStreamWriter(out, reader.schema()));
    for (;;) {
      std::shared_ptr<arrow::RecordBatch> batch;
      OCTAVO_RETURN_NOT_ARROW_OK(reader.ReadNext(&batch));
      if (!batch) break;
      OCTAVO_RETURN_NOT_ARROW_OK(writer->WriteRecordBatch(*batch));
    }
    OCTAVO_RETURN_NOT_ARROW_OK(writer->Close());
    return Status::OK();
  };
  Status st = body();
  if (!st.ok()) {
    (void)Abort(st);
    return st;
  }
  return End();
}

Json StatusToJson(const Status& st) { return Json{{"code", static_cast<int>(st.code())}, {"message", st.message()}}; }

Status StatusFromJson(const Json& j) {
  int code = j.value("code", static_cast<int>(StatusCode::kIOError));
  if (code <= 0 || code > static_cast<int>(StatusCode::kConflict)) code = static_cast<int>(StatusCode::kIOError);
  return Status(static_cast<StatusCode>(code), j.value("message", std::string("HDF5 worker error")));
}

// --- spawning -------------------------------------------------------------------------------

Status MakePipe(int fds[2]) {
  int raw[2];
  if (::pipe2(raw, O_CLOEXEC) != 0) return Status::IOError("cannot create a pipe: ", std::strerror(errno));
  for (int k = 0; k < 2; ++k) {
    fds[k] = ::fcntl(raw[k], F_DUPFD_CLOEXEC, 10);
    ::close(raw[k]);
  }
  if (fds[0] < 0 || fds[1] < 0) {
    if (fds[0] >= 0) ::close(fds[0]);
    if (fds[1] >= 0) ::close(fds[1]);
    return Status::IOError("cannot create a pipe: ", std::strerror(errno));
  }
  return Status::OK();
}

std::vector<std::string> WorkerArgs(const WorkerOptions& o, std::vector<std::string> args) {
  if (o.memory_limit_bytes > 0) args.insert(args.begin(), {"--memory-limit", std::to_string(o.memory_limit_bytes)});
  if (o.cpu_seconds_per_file > 0) args.insert(args.begin(), {"--cpu-limit", std::to_string(o.cpu_seconds_per_file)});
  return args;
}

Result<pid_t> Spawn(const std::string& executable, const std::vector<std::string>& args, int stdin_fd, int channel_fd) {
  std::vector<std::string> argv_s;
  argv_s.push_back(executable);
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (stdin_fd >= 0) posix_spawn_file_actions_adddup2(&fa, stdin_fd, 0);
  else posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, channel_fd, kChannelFd);
  // the default signal dispositions (Python ignores SIGPIPE: a worker whose parent is gone
  // should die of it) and an empty mask
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, executable.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return Status::IOError("cannot start the HDF5 worker ", executable, ": ", std::strerror(rc));
  return pid;
}

std::string DescribeExit(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return "was killed by signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : "");
  }
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  return "stopped";
}

namespace {
void Anchor() {}

bool IsExecutable(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}
}  // namespace

Result<std::string> FindWorker(const std::string& configured) {
  static const char* kName = "octavo-h5worker";
  if (!configured.empty()) {
    if (!IsExecutable(configured)) return Status::NotFound("the HDF5 worker ", configured, " is not an executable file");
    return configured;
  }
  std::vector<fs::path> dirs;
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&Anchor), &info) && info.dli_fname && *info.dli_fname) {
    fs::path mod(info.dli_fname);
    dirs.push_back(mod.parent_path());
    std::error_code ec;
    fs::path real = fs::canonical(mod, ec);
    if (!ec) dirs.push_back(real.parent_path());
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path());
  for (const auto& d : dirs)
    if (IsExecutable(d / kName)) return (d / kName).string();
  if (const char* path = std::getenv("PATH")) {
    std::string p = path;
    size_t start = 0;
    while (start <= p.size()) {
      size_t end = p.find(':', start);
      if (end == std::string::npos) end = p.size();
      std::string d = p.substr(start, end - start);
      if (!d.empty() && IsExecutable(fs::path(d) / kName)) return (fs::path(d) / kName).string();
      start = end + 1;
    }
  }
  return Status::NotFound("the HDF5 reader ", kName,
                          " was not found next to this program or module or on PATH; reinstall octavo");
}

// --- parent side ----------------------------------------------------------------------------

Result<std::unique_ptr<WorkerProcess>> WorkerProcess::Start(const WorkerOptions& options,
                                                            const std::vector<std::string>& args,
                                                            const std::string& file) {
  OCTAVO_ASSIGN_OR_RETURN(std::string exe, FindWorker(options.executable));
  int fds[2];
  OCTAVO_RETURN_NOT_OK(MakePipe(fds));
  auto pid = Spawn(exe, WorkerArgs(options, args), -1, fds[1]);
  ::close(fds[1]);
  if (!pid.ok()) {
    ::close(fds[0]);
    return pid.status();
  }
  std::unique_ptr<WorkerProcess> w(new WorkerProcess());
  w->pid_ = *pid;
  w->fd_ = fds[0];
  w->file_ = file;
  return w;
}

WorkerProcess::~WorkerProcess() {
  if (fd_ >= 0) ::close(fd_);
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    while (::waitpid(pid_, &wstatus_, 0) < 0 && errno == EINTR) {
    }
  }
}

Status WorkerProcess::ReadExact(void* data, size_t n, bool* eof) {
  char* p = static_cast<char*>(data);
  size_t got = 0;
  *eof = false;
  while (got < n) {
    ssize_t r = ::read(fd_, p + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return Died(std::string("reading its output failed: ") + std::strerror(errno));
    if (r == 0) {
      *eof = got == 0;
      return Died("its output ended early");
    }
    got += static_cast<size_t>(r);
  }
  return Status::OK();
}

Status WorkerProcess::Next(char* tag, std::string* payload) {
  unsigned char head[9];
  bool eof = false;
  OCTAVO_RETURN_NOT_OK(ReadExact(head, sizeof head, &eof));
  uint64_t len = 0;
  for (int i = 0; i < 8; ++i) len |= uint64_t(head[1 + i]) << (8 * i);
  *tag = static_cast<char>(head[0]);
  if (len > kMaxFrame || (*tag != 'J' && *tag != 'D' && *tag != 'E' && *tag != 'A'))
    return Died("it wrote a malformed frame");
  payload->resize(static_cast<size_t>(len));
  return ReadExact(payload->data(), payload->size(), &eof);
}

Result<Json> WorkerProcess::NextMessage() {
  char tag;
  std::string payload;
  OCTAVO_RETURN_NOT_OK(Next(&tag, &payload));
  if (tag != 'J') return Died("it wrote data where a message belongs");
  auto parsed = ParseJson(payload, "worker message");  // bounded depth: the worker is not trusted
  if (!parsed.ok() || !parsed->is_object() || !parsed->contains("op") || !(*parsed)["op"].is_string())
    return Died("it wrote a malformed message");
  return Json(std::move(parsed).ValueOrDie());
}

Result<bool> WorkerProcess::NextData(std::string* data) {
  char tag;
  OCTAVO_RETURN_NOT_OK(Next(&tag, data));
  if (tag == 'D') return true;
  if (tag == 'E') return false;
  if (tag == 'A') {
    auto j = ParseJson(*data, "worker error");
    stream_error_ = j.ok() && j->is_object() ? Named(StatusFromJson(Json(*j))) : Died("it wrote a malformed error");
    return stream_error_;
  }
  stream_error_ = Died("it wrote a message inside a data stream");
  return stream_error_;
}

namespace {
// The 'D' frames of one data stream as an arrow InputStream.
class FrameInputStream : public arrow::io::InputStream {
 public:
  explicit FrameInputStream(WorkerProcess* w) : w_(w) {}
  arrow::Status Close() override {
    closed_ = true;
    return arrow::Status::OK();
  }
  bool closed() const override { return closed_; }
  arrow::Result<int64_t> Tell() const override { return pos_; }
  arrow::Result<int64_t> Read(int64_t nbytes, void* out) override {
    int64_t done = 0;
    char* p = static_cast<char*>(out);
    while (done < nbytes) {
      if (off_ == buf_.size()) {
        if (ended_) break;
        auto more = w_->NextData(&buf_);
        if (!more.ok()) return ToArrow(more.status());
        off_ = 0;
        if (!*more) {
          buf_.clear();
          ended_ = true;
          break;
        }
        continue;
      }
      size_t k = std::min(static_cast<size_t>(nbytes - done), buf_.size() - off_);
      std::memcpy(p + done, buf_.data() + off_, k);
      off_ += k;
      done += static_cast<int64_t>(k);
    }
    pos_ += done;
    return done;
  }
  arrow::Result<std::shared_ptr<arrow::Buffer>> Read(int64_t nbytes) override {
    ARROW_ASSIGN_OR_RAISE(auto buf, arrow::AllocateResizableBuffer(nbytes));
    ARROW_ASSIGN_OR_RAISE(int64_t n, Read(nbytes, buf->mutable_data()));
    ARROW_RETURN_NOT_OK(buf->Resize(n, false));
    return std::shared_ptr<arrow::Buffer>(std::move(buf));
  }
  // Everything after the IPC end-of-stream marker up to 'E': nothing may be left.
  arrow::Status Finish() {
    char c;
    ARROW_ASSIGN_OR_RAISE(int64_t n, Read(1, &c));
    if (n != 0 || !ended_) return arrow::Status::IOError("data after the end of the table stream");
    return arrow::Status::OK();
  }

 private:
  static arrow::Status ToArrow(const Status& st) {
    // carried through Arrow as an IOError; the code is restored by the reader below
    return arrow::Status::IOError(st.message());
  }
  WorkerProcess* w_;
  std::string buf_;
  size_t off_ = 0;
  int64_t pos_ = 0;
  bool ended_ = false;
  bool closed_ = false;
};

// A RecordBatchReader over the stream that also checks it ended with 'E' (a stream that
// merely stops at a message boundary would otherwise look like a shorter table).
class CheckedStreamReader : public arrow::RecordBatchReader {
 public:
  CheckedStreamReader(std::shared_ptr<FrameInputStream> in, std::shared_ptr<arrow::RecordBatchReader> r)
      : in_(std::move(in)), r_(std::move(r)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return r_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override {
    ARROW_RETURN_NOT_OK(r_->ReadNext(batch));
    // a worker whose memory a hostile file corrupted may send anything: offsets, lengths and
    // UTF-8 are checked before this process touches the values
    if (*batch) ARROW_RETURN_NOT_OK((*batch)->ValidateFull());
    if (!*batch && !finished_) {
      finished_ = true;
      ARROW_RETURN_NOT_OK(in_->Finish());
    }
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<FrameInputStream> in_;
  std::shared_ptr<arrow::RecordBatchReader> r_;
  bool finished_ = false;
};
}  // namespace

Result<std::shared_ptr<arrow::RecordBatchReader>> WorkerProcess::OpenTableStream() {
  auto in = std::make_shared<FrameInputStream>(this);
  auto r = arrow::ipc::RecordBatchStreamReader::Open(in);
  if (!r.ok()) return Status::Corruption(file_, ": reading the HDF5 worker's table stream: ", r.status().message());
  return std::shared_ptr<arrow::RecordBatchReader>(std::make_shared<CheckedStreamReader>(in, *r));
}

Status WorkerProcess::Wait() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!reaped_) {
    while (::waitpid(pid_, &wstatus_, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
  }
  if (WIFEXITED(wstatus_) && WEXITSTATUS(wstatus_) == 0) return Status::OK();
  return Status::Corruption("the HDF5 reader (octavo-h5worker) ", DescribeExit(wstatus_), " after reading ", file_,
                            ": the file is damaged or not HDF5");
}

Status WorkerProcess::Named(const Status& st) const {
  // every error about an HDF5 file names it
  return st.message().find(file_) == std::string::npos ? st.WithContext(file_) : st;
}

Status WorkerProcess::ErrorFrom(const Json& message) {
  Status st = Named(StatusFromJson(message));
  (void)Wait();
  return st;
}

Status WorkerProcess::Died(const std::string& what) {
  // the pipe broke or carried garbage: the worker is dead or misbehaving; make sure it is gone
  if (!reaped_ && pid_ > 0) {
    int ws = 0;
    pid_t r;
    while ((r = ::waitpid(pid_, &ws, WNOHANG)) < 0 && errno == EINTR) {
    }
    if (r == 0) {  // still running (a garbled stream): stop it
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, &ws, 0) < 0 && errno == EINTR) {
      }
    }
    reaped_ = true;
    wstatus_ = ws;
  }
  if (!stream_error_.ok()) return stream_error_;
  std::string how = "failed (" + what + ")";
  if (reaped_ && WIFSIGNALED(wstatus_)) how = "crashed (it " + DescribeExit(wstatus_) + ")";
  else if (reaped_ && WIFEXITED(wstatus_) && WEXITSTATUS(wstatus_) != 0) how = "failed (it " + DescribeExit(wstatus_) + ")";
  const bool out_of_cpu = reaped_ && WIFSIGNALED(wstatus_) && WTERMSIG(wstatus_) == SIGXCPU;
  stream_error_ = Status::Corruption("the HDF5 reader (octavo-h5worker) ", how, " while reading ", file_,
                                     out_of_cpu ? ": it used up its CPU time limit (--h5-cpu-limit); the file is "
                                                  "damaged, or needs a larger limit (nothing was written from it)"
                                                : ": the file is damaged or not HDF5 (nothing was written from it)");
  return stream_error_;
}

// --- JSON shapes ------------------------------------------------------------------------------

Json ItemToJson(const ImportItem& it) {
  return Json{{"h5_path", it.h5_path}, {"kind", it.h5_kind}, {"action", it.action}, {"dest", it.dest},
              {"detail", it.detail},   {"supported", it.supported}, {"reason", it.reason}, {"note", it.note}};
}

ImportItem ItemFromJson(const Json& j) {
  ImportItem it;
  it.h5_path = j.at("h5_path").get<std::string>();
  it.h5_kind = j.at("kind").get<std::string>();
  it.action = j.at("action").get<std::string>();
  it.dest = j.at("dest").get<std::string>();
  it.detail = j.at("detail").get<std::string>();
  it.supported = j.at("supported").get<bool>();
  it.reason = j.at("reason").get<std::string>();
  it.note = j.at("note").get<std::string>();
  return it;
}

Json ObjectToJson(const H5Object& o) {
  return Json{{"key", o.key}, {"pandas_type", o.pandas_type}, {"kind", o.kind}, {"supported", o.supported}, {"note", o.note}};
}

H5Object ObjectFromJson(const Json& j) {
  H5Object o;
  o.key = j.at("key").get<std::string>();
  o.pandas_type = j.at("pandas_type").get<std::string>();
  o.kind = j.at("kind").get<std::string>();
  o.supported = j.at("supported").get<bool>();
  o.note = j.at("note").get<std::string>();
  return o;
}

Json MigrateResultToJson(size_t index, const MigrateFileResult& r) {
  return Json{{"t", "done"},
              {"i", index},
              {"status", r.status},
              {"outputs", r.outputs},
              {"keys", r.keys},
              {"rows", r.rows},
              {"removed", r.removed},
              {"message", r.message},
              {"seconds", r.seconds},
              {"timing", {r.read_seconds, r.write_seconds, r.verify_seconds, r.sync_seconds}}};
}

MigrateFileResult MigrateResultFromJson(const std::string& file, const Json& j) {
  MigrateFileResult r;
  r.file = file;
  r.status = j.at("status").get<std::string>();
  r.outputs = j.at("outputs").get<std::vector<std::string>>();
  r.keys = j.at("keys").get<std::vector<std::string>>();
  r.rows = j.at("rows").get<int64_t>();
  r.removed = j.at("removed").get<bool>();
  r.message = j.at("message").get<std::string>();
  r.seconds = j.at("seconds").get<double>();
  const auto& t = j.at("timing");
  r.read_seconds = t.at(0).get<double>();
  r.write_seconds = t.at(1).get<double>();
  r.verify_seconds = t.at(2).get<double>();
  r.sync_seconds = t.at(3).get<double>();
  return r;
}

Json MigrateOptionsToJson(const MigrateOptions& o) {
  return Json{{"remove_h5", o.remove_h5}, {"dry_run", o.dry_run},         {"overwrite", o.overwrite},
              {"compression", o.compression}, {"buffered_io", o.buffered_io}};
}

MigrateOptions MigrateOptionsFromJson(const Json& j) {
  MigrateOptions o;
  o.remove_h5 = j.at("remove_h5").get<bool>();
  o.dry_run = j.at("dry_run").get<bool>();
  o.overwrite = j.at("overwrite").get<bool>();
  o.compression = j.at("compression").get<std::string>();
  o.buffered_io = j.at("buffered_io").get<bool>();
  return o;
}

}  // namespace octavo::hdf5::wire
