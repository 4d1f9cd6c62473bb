// octavo's executor: Arrow's CPU pool as the one pool (threads.h).
#include "util/threads.h"

#include <arrow/io/interfaces.h>
#include <arrow/util/thread_pool.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "octavo/arrow_status.h"

namespace octavo {
namespace threads_internal {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

std::optional<int64_t> ParseInt(std::string_view s) {
  s = Trim(s);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// The cgroup path of the first line of /proc/self/cgroup for which `want(controllers)` holds.
std::optional<std::string> CgroupPath(std::string_view self, const std::function<bool(std::string_view, std::string_view)>& want) {
  while (!self.empty()) {
    const size_t nl = self.find('\n');
    std::string_view line = self.substr(0, nl);
    self = nl == std::string_view::npos ? std::string_view() : self.substr(nl + 1);
    const size_t a = line.find(':');
    const size_t b = a == std::string_view::npos ? a : line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    if (want(line.substr(0, a), line.substr(a + 1, b - a - 1))) return std::string(Trim(line.substr(b + 1)));
  }
  return std::nullopt;
}

bool HasController(std::string_view list, std::string_view name) {
  while (true) {
    const size_t c = list.find(',');
    if (list.substr(0, c) == name) return true;
    if (c == std::string_view::npos) return false;
    list.remove_prefix(c + 1);
  }
}

// The tightest quota on `path` and its ancestors, in CPUs; nullopt if none.
std::optional<double> TightestQuota(std::string path, const std::function<std::optional<double>(const std::string&)>& at) {
  if (path.empty() || path[0] != '/' || path.find("/..") != std::string::npos) return std::nullopt;
  std::optional<double> best;
  while (true) {
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    if (auto q = at(path == "/" ? std::string() : path)) best = best ? std::min(*best, *q) : *q;
    if (path == "/") return best;
    path = path.substr(0, std::max<size_t>(1, path.rfind('/')));
  }
}

}  // namespace

Result<std::optional<int>> ParseNumThreadsEnv(const char* value) {
  if (value == nullptr || Trim(value).empty()) return std::optional<int>();
  auto v = ParseInt(value);
  if (!v || *v < 1 || *v > kMaxThreads)
    return Status::Invalid("OCTAVO_NUM_THREADS='", value, "' is not a number of threads from 1 to ", kMaxThreads,
                           "; set it to e.g. 4, or unset it to use the ", AvailableCpus(),
                           " CPUs this process may use");
  return std::optional<int>(static_cast<int>(*v));
}

std::optional<double> ParseCgroupV2CpuMax(std::string_view cpu_max) {
  cpu_max = Trim(cpu_max);
  const size_t sp = cpu_max.find(' ');
  const std::string_view quota = cpu_max.substr(0, sp);
  if (quota == "max") return std::nullopt;
  auto q = ParseInt(quota);
  auto p = sp == std::string_view::npos ? std::optional<int64_t>(100000) : ParseInt(cpu_max.substr(sp + 1));
  if (!q || !p || *q <= 0 || *p <= 0) return std::nullopt;
  return static_cast<double>(*q) / static_cast<double>(*p);
}

std::optional<double> ParseCgroupV1Quota(std::string_view quota_us, std::string_view period_us) {
  auto q = ParseInt(quota_us);
  auto p = ParseInt(period_us);
  if (!q || !p || *q <= 0 || *p <= 0) return std::nullopt;  // -1: no quota
  return static_cast<double>(*q) / static_cast<double>(*p);
}

int CapByCgroupQuota(int cpus, const ReadFileFn& read_file) {
  cpus = std::max(1, cpus);
  auto self = read_file("/proc/self/cgroup");
  if (!self) return cpus;
  std::optional<double> quota;
  // cgroup v2: the unified hierarchy's line "0::/path".
  if (auto path = CgroupPath(*self, [](std::string_view id, std::string_view ctl) { return id == "0" && ctl.empty(); })) {
    quota = TightestQuota(*path, [&](const std::string& p) -> std::optional<double> {
      auto s = read_file("/sys/fs/cgroup" + p + "/cpu.max");
      return s ? ParseCgroupV2CpuMax(*s) : std::nullopt;
    });
  }
  // cgroup v1: the cpu controller, mounted as cpu,cpuacct or cpu; inside a container its
  // root is the container's cgroup, so the mount root is tried too.
  if (!quota) {
    if (auto path = CgroupPath(*self, [](std::string_view, std::string_view ctl) { return HasController(ctl, "cpu"); })) {
      for (const char* mount : {"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"}) {
        auto at = [&](const std::string& p) -> std::optional<double> {
          auto q = read_file(mount + p + "/cpu.cfs_quota_us");
          auto per = read_file(mount + p + "/cpu.cfs_period_us");
          return q && per ? ParseCgroupV1Quota(*q, *per) : std::nullopt;
        };
        quota = TightestQuota(*path, at);
        if (quota) break;
      }
    }
  }
  if (!quota) return cpus;
  const double limit = std::ceil(*quota - 1e-9);
  return std::clamp(static_cast<int>(std::min<double>(limit, kMaxThreads)), 1, cpus);
}

int AffinityCpuCount() {
  // Masks of up to 64k CPUs; the first size that holds the kernel's mask wins.
  for (int ncpu = 1024; ncpu <= (1 << 16); ncpu *= 2) {
    cpu_set_t* set = CPU_ALLOC(ncpu);
    if (!set) break;
    const size_t size = CPU_ALLOC_SIZE(ncpu);
    CPU_ZERO_S(size, set);
    const int rc = sched_getaffinity(0, size, set);
    const int count = rc == 0 ? CPU_COUNT_S(size, set) : 0;
    const int err = errno;
    CPU_FREE(set);
    if (rc == 0) return std::max(1, count);
    if (err != EINVAL) break;
  }
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace threads_internal

namespace {

std::optional<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  std::ostringstream s;
  s << f.rdbuf();
  if (f.bad()) return std::nullopt;
  return s.str();
}

struct ThreadsState {
  std::mutex mu;
  bool initialized = false;
  Status env_error;
};

ThreadsState& State() {
  static ThreadsState* s = new ThreadsState();  // never destroyed: used until exit
  return *s;
}

// One ParallelFor call's state, shared with its helper tasks (which may start after it returned).
struct Loop {
  std::mutex mu;
  std::condition_variable cv;
  bool closed = false;  // the caller is done: helpers starting now do nothing
  int active = 0;       // helpers running items
  int next_slot = 1;
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  size_t n = 0;
  const std::function<Status(size_t, int)>* fn = nullptr;  // valid while closed is false or active > 0
  size_t error_index = SIZE_MAX;
  Status error;

  void Run(int slot) {
    for (size_t i; !failed.load(std::memory_order_relaxed) && (i = next.fetch_add(1)) < n;) {
      Status s = (*fn)(i, slot);
      if (!s.ok()) {
        std::lock_guard<std::mutex> l(mu);
        if (i < error_index) {
          error_index = i;
          error = std::move(s);
        }
        failed = true;
      }
    }
  }
};

}  // namespace

int AvailableCpus() {
  static const int cpus = threads_internal::CapByCgroupQuota(
      std::min(kMaxThreads, threads_internal::AffinityCpuCount()), ReadWholeFile);
  return cpus;
}

Status InitThreads() {
  ThreadsState& s = State();
  std::lock_guard<std::mutex> l(s.mu);
  if (!s.initialized) {
    s.initialized = true;
    auto parsed = threads_internal::ParseNumThreadsEnv(std::getenv("OCTAVO_NUM_THREADS"));
    int n = AvailableCpus();
    if (!parsed.ok()) s.env_error = parsed.status();
    else if (*parsed) n = **parsed;
    // A pool already resized (pyarrow.set_cpu_count before octavo's first use) is kept
    // unless OCTAVO_NUM_THREADS says otherwise.
    else if (arrow::GetCpuThreadPoolCapacity() != arrow::internal::ThreadPool::DefaultCapacity())
      n = arrow::GetCpuThreadPoolCapacity();
    auto st = arrow::SetCpuThreadPoolCapacity(n);
    if (!st.ok() && s.env_error.ok()) s.env_error = FromArrow(st);
  }
  return s.env_error;
}

Status CheckNumThreads(int64_t n) {
  if (n < 1 || n > kMaxThreads)
    return Status::Invalid("the number of threads must be from 1 to ", kMaxThreads, ", got ", n,
                           " (this process may use ", AvailableCpus(), " CPUs)");
  return Status::OK();
}

Status SetNumThreads(int n) {
  OCTAVO_RETURN_NOT_OK(CheckNumThreads(n));
  ThreadsState& s = State();
  std::lock_guard<std::mutex> l(s.mu);
  // An explicit size replaces OCTAVO_NUM_THREADS, including an unusable one.
  s.initialized = true;
  s.env_error = Status::OK();
  return FromArrow(arrow::SetCpuThreadPoolCapacity(n));
}

int GetNumThreads() {
  (void)InitThreads();  // an unusable OCTAVO_NUM_THREADS leaves the default size (Initialize reports it)
  return std::max(1, arrow::GetCpuThreadPoolCapacity());
}

struct BackgroundTasks::State {
  std::mutex mu;
  std::condition_variable cv;
  int in_flight = 0;
  int max_in_flight = 1;
  TaskPool pool = TaskPool::kIo;
  bool failed = false;
  Status error;

  void Done(Status s) {
    std::lock_guard<std::mutex> l(mu);
    if (!s.ok() && !failed) {
      failed = true;
      error = std::move(s);
    }
    --in_flight;
    cv.notify_all();
  }
};

BackgroundTasks::BackgroundTasks(int max_in_flight, TaskPool pool) : st_(std::make_shared<State>()) {
  st_->max_in_flight = std::max(1, max_in_flight);
  st_->pool = pool;
}

BackgroundTasks::~BackgroundTasks() { (void)Wait(); }

void BackgroundTasks::Submit(std::function<Status()> task) {
  {
    std::unique_lock<std::mutex> l(st_->mu);
    st_->cv.wait(l, [&] { return st_->in_flight < st_->max_in_flight; });
    if (st_->failed) return;
    ++st_->in_flight;
  }
  auto st = st_;
  arrow::internal::Executor* executor = st->pool == TaskPool::kCpu ? arrow::internal::GetCpuThreadPool()
                                                                     : arrow::io::default_io_context().executor();
  auto spawned = executor->Spawn([st, task] { st->Done(task()); });
  if (!spawned.ok()) st->Done(task());  // the pool is shutting down: run it here
}

Status BackgroundTasks::Wait() {
  std::unique_lock<std::mutex> l(st_->mu);
  st_->cv.wait(l, [&] { return st_->in_flight == 0; });
  return st_->error;
}

bool ArrowMayUseThreads() { return !arrow::internal::GetCpuThreadPool()->OwnsThisThread(); }

Status ParallelFor(size_t n, int max_workers, const std::function<Status(size_t, int)>& fn) {
  const size_t workers = std::min<size_t>(n, static_cast<size_t>(std::max(1, max_workers)));
  if (workers <= 1) {
    for (size_t i = 0; i < n; ++i) OCTAVO_RETURN_NOT_OK(fn(i, 0));
    return Status::OK();
  }
  auto loop = std::make_shared<Loop>();
  loop->n = n;
  loop->fn = &fn;
  auto* pool = arrow::internal::GetCpuThreadPool();
  for (size_t h = 1; h < workers; ++h) {
    // If the pool refuses (shutting down), the caller runs the items itself.
    (void)pool->Spawn([loop] {
      int slot;
      {
        std::lock_guard<std::mutex> l(loop->mu);
        if (loop->closed) return;
        slot = loop->next_slot++;
        ++loop->active;
      }
      loop->Run(slot);
      std::lock_guard<std::mutex> l(loop->mu);
      if (--loop->active == 0) loop->cv.notify_all();
    });
  }
  loop->Run(0);
  std::unique_lock<std::mutex> l(loop->mu);
  loop->closed = true;
  loop->cv.wait(l, [&] { return loop->active == 0; });
  return loop->error;
}

}  // namespace octavo
