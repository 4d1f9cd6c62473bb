// octavo's executor (include/octavo/threads.h): ParallelFor on Arrow's CPU pool, the calling
// thread taking part, and the parsers behind the default pool size.
//
// Deadlock rule: a task on the pool never waits for a task that is only queued. ParallelFor's
// caller runs items itself and waits only for helpers already running items (queued helpers
// that start after the items ran out do nothing), so it may be called from a pool task, nested
// to any depth, at any pool size. Arrow's own parallel paths (parquet use_threads) wait for
// queued tasks, so code on a pool thread asks ArrowMayUseThreads() before turning them on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "octavo/status.h"
#include "octavo/threads.h"

namespace octavo {

// Reads OCTAVO_NUM_THREADS and sizes the pool, once per process (unless SetNumThreads came
// first): that value, else the pool's size if something (pyarrow.set_cpu_count) already
// changed it from Arrow's default, else AvailableCpus(). An unusable value is an Invalid error, returned on every call (octavo::Initialize,
// hence Bundle::Open, `import octavo` and the CLI report it); the pool then has the default size.
Status InitThreads();

// Invalid unless 1 <= n <= kMaxThreads (SetNumThreads' check, for callers holding wider integers).
Status CheckNumThreads(int64_t n);

// Whether the calling thread may start Arrow's own parallel work (use_threads): not on a
// thread of the pool itself, where Arrow's blocking wait for queued tasks could deadlock.
bool ArrowMayUseThreads();

// fn(i, slot) for every i in [0, n), on up to `max_workers` threads at once: the caller (slot
// 0) and pool helpers (slots 1 .. max_workers-1; a slot is used by one thread at a time, so
// per-slot state needs no lock). Items are taken in index order by whichever thread is free.
// After an error no new item starts; the error of the lowest failing index is returned.
Status ParallelFor(size_t n, int max_workers, const std::function<Status(size_t i, int slot)>& fn);

// Tasks run in the background while the caller goes on, on one of Arrow's two pools:
// - kIo: blocking I/O (file writes and fsyncs), so that CPU work keeps its N pool threads
//   while the disk waits overlap it;
// - kCpu: CPU work that overlaps a blocking call of the caller's that itself runs on the CPU
//   pool (a write's statistics while Arrow encodes the columns). Submit kCpu tasks only where
//   ArrowMayUseThreads(): a pool thread waiting for them could hold the thread they need.
// At most `max_in_flight` tasks are queued or running: Submit waits for one to finish (memory
// stays bounded). The tasks must not wait for other tasks (they are leaves, hence no deadlock
// even when Submit is called on the pool). After a task fails, later submissions are dropped;
// Wait returns the first error. The destructor waits too: a task may refer to the caller's
// state.
enum class TaskPool { kIo, kCpu };

class BackgroundTasks {
 public:
  explicit BackgroundTasks(int max_in_flight, TaskPool pool = TaskPool::kIo);
  ~BackgroundTasks();
  BackgroundTasks(const BackgroundTasks&) = delete;
  BackgroundTasks& operator=(const BackgroundTasks&) = delete;
  void Submit(std::function<Status()> task);
  Status Wait();

  struct State;

 private:
  std::shared_ptr<State> st_;
};

namespace threads_internal {

// OCTAVO_NUM_THREADS: nullopt when unset or empty; a whole number from 1 to kMaxThreads
// (surrounding spaces allowed); anything else is Invalid, naming the value and the fix.
Result<std::optional<int>> ParseNumThreadsEnv(const char* value);

// "max 100000" -> nullopt (no limit); "150000 100000" -> 1.5 (CPUs); malformed -> nullopt.
std::optional<double> ParseCgroupV2CpuMax(std::string_view cpu_max);
// cpu.cfs_quota_us, cpu.cfs_period_us: "-1" -> nullopt; "200000", "100000" -> 2.0.
std::optional<double> ParseCgroupV1Quota(std::string_view quota_us, std::string_view period_us);

// A file's contents, or nullopt if it cannot be read (injected by the tests).
using ReadFileFn = std::function<std::optional<std::string>(const std::string& path)>;

// `cpus` capped by the cgroup CPU quota of this process (/proc/self/cgroup, then cpu.max of
// its cgroup and every parent under /sys/fs/cgroup, or the v1 cpu controller's quota), rounded
// up; at least 1.
int CapByCgroupQuota(int cpus, const ReadFileFn& read_file);

// CPUs in the calling thread's affinity mask (sched_getaffinity); hardware_concurrency if
// that fails.
int AffinityCpuCount();

}  // namespace threads_internal
}  // namespace octavo
