// Thin RAII + error helpers over the HDF5 C API (internal).
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "hdf5/unpickle.h"
#include "octavo/hdf5.h"
#include "octavo/status.h"

namespace octavo {
class Env;
}

namespace octavo::hdf5 {
namespace wire {
class FrameWriter;
}

// HDF5 (serial build) is not thread-safe: every use holds this lock.
std::recursive_mutex& H5Mutex();
// Once: open the library and switch off its automatic error-stack printing.
void InitH5();
// The current HDF5 error stack as one line (and clear it).
std::string TakeErrorStack();

class Hid {
 public:
  using Closer = herr_t (*)(hid_t);
  Hid() = default;
  Hid(hid_t id, Closer c) : id_(id), close_(c) {}
  Hid(Hid&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = -1; }
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = o.id_;
      close_ = o.close_;
      o.id_ = -1;
    }
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  ~Hid() { reset(); }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = -1;
  }
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  Closer close_ = nullptr;
};

// Open an HDF5 file read-only; a missing, non-HDF5 or truncated file is a clear error.
Result<Hid> OpenHdf5ReadOnly(const std::string& path);

// Open the HDF5 file whose bytes are `image` (read whole into memory by the caller, who keeps
// the buffer alive and unchanged until the file is closed; no copy is made). `path` names it
// in errors.
Result<Hid> OpenHdf5Image(const void* image, size_t size, const std::string& path);

// Attributes ---------------------------------------------------------------------

bool HasAttr(hid_t obj, const std::string& name);
// Read an attribute the way PyTables does: strings ending in '.' are unpickled
// (safely) when they parse, numbers become int/float/bool, string arrays lists.
// nullopt if absent.
Result<std::optional<pickle::Object>> ReadAttr(hid_t obj, const std::string& name);
// Convenience: string attribute (empty optional if absent or not a string).
Result<std::optional<std::string>> ReadStrAttr(hid_t obj, const std::string& name);
Result<std::optional<int64_t>> ReadIntAttr(hid_t obj, const std::string& name);

// Datasets -----------------------------------------------------------------------

// The product of `dims` (read from a file: any values), or -1 when it does not fit int64.
template <typename D>
int64_t ElementCount(const std::vector<D>& dims) {
  int64_t n = 1;
  for (auto d : dims) {
    if (static_cast<uint64_t>(d) > static_cast<uint64_t>(INT64_MAX)) return -1;
    if (__builtin_mul_overflow(n, static_cast<int64_t>(d), &n)) return -1;
  }
  return n;
}

// A name read from an HDF5 file as it may be shown: itself when it is valid UTF-8, else
// with its bytes \xNN-escaped (octavo names, JSON and Arrow hold only UTF-8).
std::string ShownName(const std::string& name);

// Fail with a clear message when a dataset needs a filter this HDF5 lacks.
Status CheckFilters(hid_t dset, const std::string& what);

// A dataset read whole into native memory.
struct RawArray {
  char kind = 0;             // 'i' signed, 'u' unsigned, 'f' float, 'b' bool/bitfield, 'S' fixed bytes
  size_t itemsize = 0;       // bytes per element
  std::vector<hsize_t> dims;
  std::string data;
  int64_t num_elements() const { return ElementCount(dims); }
};

Result<RawArray> ReadArray(hid_t loc, const std::string& name, const std::string& what);
// A PyTables VLArray of ObjectAtom: row `row` as raw (pickled) bytes.
Result<std::string> ReadVLArrayRow(hid_t loc, const std::string& name, const std::string& what, size_t row = 0);

bool LinkExists(hid_t loc, const std::string& name);

// ListObjects / ReadPandas on a file already open (OpenHdf5ReadOnly; the caller holds
// H5Mutex()): migration opens each file once for both.
Result<std::vector<H5Object>> ListObjectsIn(hid_t file, const std::string& path);
Result<std::shared_ptr<::arrow::Table>> ReadPandasIn(hid_t file, const std::string& path, const std::string& key);

// The in-process readers behind the public functions of octavo/hdf5.h. Only the worker
// process (worker_main.cc) calls them: they run libhdf5 on untrusted bytes.
Result<std::vector<H5Object>> ListObjectsLocal(const std::string& path);
Result<std::shared_ptr<::arrow::Table>> ReadPandasLocal(const std::string& path, const std::string& key);
Result<ImportReport> InspectFileLocal(const std::string& path);
// Plans and streams an import of `path` under `dest` to `out` (the parent writes the bundle).
Result<ImportReport> ImportFileLocal(const std::string& path, const std::string& dest, const ImportOptions& options,
                                     wire::FrameWriter& out);
// One file to verified Parquet files beside it, in this process, the O_DIRECT output
// written through `env` (the worker passes Env::Default(); tests a double that damages it).
MigrateFileResult MigrateFileLocal(Env* env, const std::string& file, const MigrateOptions& options);
// The migration worker: converts the files its parent hands out on `task_fd` (see migrate.cc).
// cpu_seconds_per_file: see WorkerOptions; the budget is renewed before each file.
[[noreturn]] void MigrateWorkerMain(const MigrateOptions& options, int task_fd, int result_fd,
                                    int64_t cpu_seconds_per_file = 0);

// Lets this process spend `seconds` more CPU time from now (the soft RLIMIT_CPU: SIGXCPU,
// whose default action ends the process, when it is used up). No-op for seconds <= 0.
void LimitCpuFromNow(int64_t seconds);

}  // namespace octavo::hdf5
