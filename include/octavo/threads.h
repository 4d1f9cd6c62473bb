// The one thread pool every parallel path of octavo runs on: Arrow's CPU thread pool, shared
// with Arrow's own parallel decoding and encoding (pyarrow.cpu_count() reports the same
// number). Its size is set here, by OCTAVO_NUM_THREADS, or defaults to the CPUs this process
// may use (its affinity mask, capped by a cgroup CPU quota).
#pragma once

#include "octavo/status.h"

namespace octavo {

// The most threads SetNumThreads / OCTAVO_NUM_THREADS accept.
inline constexpr int kMaxThreads = 1024;

// Sizes the pool to n threads (1 <= n <= kMaxThreads, else Invalid). A query, read or array
// operation started afterwards uses up to n threads (the calling thread among them).
Status SetNumThreads(int n);

// The pool's size: SetNumThreads' value, else OCTAVO_NUM_THREADS, else the size the pool was
// given before octavo first used it (pyarrow.set_cpu_count), else AvailableCpus(). Later
// resizes of Arrow's pool (pyarrow.set_cpu_count) show here too: it is one pool.
int GetNumThreads();

// The CPUs this process may run on: the affinity mask's count, capped by the cgroup CPU
// quota (v2 cpu.max, v1 cpu.cfs_quota_us) rounded up; at least 1. The default pool size.
int AvailableCpus();

}  // namespace octavo
