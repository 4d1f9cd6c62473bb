// The HDF5 worker process and the stream it writes to its parent (internal).
//
// libhdf5 is not safe on untrusted files (a malformed file can crash it), so no octavo
// process that holds user data parses HDF5 itself: every read runs in a child process,
// `octavo-h5worker` (src/hdf5/worker_main.cc), started with posix_spawn. The worker writes
// frames to fd 3; its parent replays them (into a bundle, an Arrow table, a listing). A
// worker that dies (signal, non-zero exit, truncated stream) is an octavo error naming the
// file, and whatever the parent had started from the stream is abandoned (an import's
// transaction is aborted: nothing is committed).
//
// Frame: 1 tag byte, 8-byte little-endian length, payload.
//   'J'  a JSON message {"op": ...}
//   'D'  bytes of the data stream the last 'J' opened (Arrow IPC stream, array rows, file bytes)
//   'E'  that data stream ended complete
//   'A'  that data stream was abandoned; payload: the error as JSON {"code", "message"}
// The last message of a successful worker is {"op":"ok", ...}; of a failed one
// {"op":"error","code":..,"message":..} (a Status, rebuilt with its code by the parent).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "octavo/hdf5.h"
#include "octavo/status.h"

namespace arrow {
class RecordBatchReader;
class Table;
}  // namespace arrow

namespace octavo::hdf5::wire {

using Json = nlohmann::json;

constexpr int kChannelFd = 3;  // the worker's end of the frame stream

// The whole of n bytes to / from a pipe (EINTR retried); false when the other end is gone.
bool WriteAll(int fd, const void* data, size_t n);
bool ReadAll(int fd, void* data, size_t n);

// --- worker side --------------------------------------------------------------------------

class FrameWriter {
 public:
  explicit FrameWriter(int fd) : fd_(fd) {}
  Status Message(const Json& j);
  Status Data(const void* p, size_t n);
  Status End();
  Status Abort(const Status& st);
  // a whole Arrow stream: header message `j`, then the IPC stream of `reader`, then 'E'
  // (or 'A' with the reader's error, which is also returned)
  Status Table(const Json& j, arrow::RecordBatchReader& reader);

 private:
  Status Frame(char tag, const void* p, size_t n);
  int fd_;
};

Json StatusToJson(const Status& st);
Status StatusFromJson(const Json& j);

// --- parent side --------------------------------------------------------------------------

// A running worker: spawned with posix_spawn (never fork: the caller may be a Python
// process or have threads), its frames read from a pipe. The destructor kills a worker that
// is still running and reaps it.
// Start `executable args...` with posix_spawn: stdin from `stdin_fd` (-1: /dev/null), fd 3
// the write end `channel_fd`; stdout and stderr inherited. The caller closes its copies.
Result<pid_t> Spawn(const std::string& executable, const std::vector<std::string>& args, int stdin_fd, int channel_fd);
// A pipe whose ends are close-on-exec and numbered above 3 (so that dup2 onto 3 in a child
// never meets one of them).
Status MakePipe(int fds[2]);
// Worker arguments for `o` (memory limit).
std::vector<std::string> WorkerArgs(const WorkerOptions& o, std::vector<std::string> args);

class WorkerProcess {
 public:
  // `executable` as FindWorker returns it; `args` after the program name.
  static Result<std::unique_ptr<WorkerProcess>> Start(const WorkerOptions& options, const std::vector<std::string>& args,
                                                      const std::string& file);
  ~WorkerProcess();

  // The next frame. A stream that ends (between or inside frames) before the worker's
  // final message is the worker's death: the returned error says so, naming the file.
  Status Next(char* tag, std::string* payload);
  // Next frame, which must be a 'J' message.
  Result<Json> NextMessage();
  // The data stream opened by the last message, as an arrow::io::InputStream-like reader:
  // Arrow IPC record batches (ends at 'E'; 'A' or a dead worker are errors).
  Result<std::shared_ptr<arrow::RecordBatchReader>> OpenTableStream();
  // Next 'D' payload into *data (true), or false at 'E'.
  Result<bool> NextData(std::string* data);
  // After {"op":"ok"}: the worker must exit with status 0.
  Status Wait();
  // An {"op":"error"} message, or a stream that broke: the error to return.
  Status ErrorFrom(const Json& message);
  // The worker's death (or a protocol violation) as the error the caller sees.
  Status Died(const std::string& what);

  // The error that ended the last data stream (an 'A' frame or the worker's death), if any:
  // what a consumer of OpenTableStream returns instead of Arrow's rewording of it.
  const Status& stream_error() const { return stream_error_; }
  const std::string& file() const { return file_; }
  pid_t pid() const { return pid_; }

 private:
  WorkerProcess() = default;
  Status ReadExact(void* p, size_t n, bool* eof);
  Status Named(const Status& st) const;
  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
  int wstatus_ = 0;
  std::string file_;
  Status stream_error_;
};

// Where `octavo-h5worker` is: `configured` when set; else next to the module holding this
// code (the CLI, the Python extension, a test binary; the symlink's target too), next to
// the running executable, then on PATH.
Result<std::string> FindWorker(const std::string& configured);

// How a child process ended, in words ("was killed by signal 11 (Segmentation fault)").
std::string DescribeExit(int wstatus);

// Shared JSON shapes of the public structs (worker <-> parent).
Json ItemToJson(const ImportItem& it);
ImportItem ItemFromJson(const Json& j);
Json ObjectToJson(const H5Object& o);
H5Object ObjectFromJson(const Json& j);
Json MigrateResultToJson(size_t index, const MigrateFileResult& r);
MigrateFileResult MigrateResultFromJson(const std::string& file, const Json& j);
Json MigrateOptionsToJson(const MigrateOptions& o);
MigrateOptions MigrateOptionsFromJson(const Json& j);

}  // namespace octavo::hdf5::wire
