// The one thread pool (octavo/threads.h, src/util/threads.cc): its size, the parsers behind
// its default, ParallelFor (nested use included), and every parallel path giving the same
// results at every pool size without starting threads of its own.
#include <arrow/api.h>
#include <arrow/io/interfaces.h>
#include <arrow/util/thread_pool.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <numeric>
#include <set>
#include <thread>

#include "octavo/array.h"
#include "test_util.h"
#include "util/threads.h"

namespace octavo {
namespace {

using testing::MakeRows;
using testing::ReaderOf;
using testing::TablesEqual;
using testing::TempDir;
namespace ti = threads_internal;

// Restores the pool's size after each test.
class ThreadsTest : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = GetNumThreads(); }
  void TearDown() override { ASSERT_OK(SetNumThreads(saved_)); }
  int saved_ = 1;
};

TEST(ThreadsParse, EnvValue) {
  auto ok = [](const char* v) {
    auto r = ti::ParseNumThreadsEnv(v);
    EXPECT_TRUE(r.ok()) << v << ": " << r.status().ToString();
    return r.ok() ? *r : std::optional<int>(-99);
  };
  EXPECT_EQ(ok(nullptr), std::nullopt);
  EXPECT_EQ(ok(""), std::nullopt);
  EXPECT_EQ(ok("  "), std::nullopt);
  EXPECT_EQ(ok("4"), 4);
  EXPECT_EQ(ok(" 8\n"), 8);
  EXPECT_EQ(ok("1"), 1);
  EXPECT_EQ(ok("1024"), 1024);
  for (const char* bad : {"0", "-1", "1025", "abc", "4x", "4 4", "2.5", "0x10", "+3",
                          "99999999999999999999999", "\xff\xfe"}) {
    auto r = ti::ParseNumThreadsEnv(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
    EXPECT_TRUE(testing::Contains(r.status().message(), "OCTAVO_NUM_THREADS")) << r.status().message();
    EXPECT_TRUE(testing::Contains(r.status().message(), "from 1 to 1024")) << r.status().message();
  }
}

TEST(ThreadsParse, CgroupFiles) {
  EXPECT_EQ(ti::ParseCgroupV2CpuMax("max 100000\n"), std::nullopt);
  EXPECT_EQ(ti::ParseCgroupV2CpuMax("150000 100000\n"), 1.5);
  EXPECT_EQ(ti::ParseCgroupV2CpuMax("200000"), 2.0);  // period defaults to 100000
  for (const char* bad : {"", "garbage", "0 100000", "-5 100000", "100000 0", "100000 x", "max"})
    EXPECT_EQ(ti::ParseCgroupV2CpuMax(bad), std::nullopt) << bad;
  EXPECT_EQ(ti::ParseCgroupV1Quota("-1\n", "100000\n"), std::nullopt);
  EXPECT_EQ(ti::ParseCgroupV1Quota("400000\n", "100000\n"), 4.0);
  EXPECT_EQ(ti::ParseCgroupV1Quota("x", "100000"), std::nullopt);
  EXPECT_EQ(ti::ParseCgroupV1Quota("100000", "0"), std::nullopt);
}

// CapByCgroupQuota over injected file contents.
int Cap(int cpus, std::map<std::string, std::string> files) {
  return ti::CapByCgroupQuota(cpus, [files](const std::string& p) -> std::optional<std::string> {
    auto it = files.find(p);
    if (it == files.end()) return std::nullopt;
    return it->second;
  });
}

TEST(ThreadsParse, CgroupQuotaCapsAffinity) {
  EXPECT_EQ(Cap(8, {}), 8);  // no /proc/self/cgroup: the affinity count
  // cgroup v2 in a container (namespace root).
  EXPECT_EQ(Cap(8, {{"/proc/self/cgroup", "0::/\n"}, {"/sys/fs/cgroup/cpu.max", "200000 100000\n"}}), 2);
  EXPECT_EQ(Cap(8, {{"/proc/self/cgroup", "0::/\n"}, {"/sys/fs/cgroup/cpu.max", "max 100000\n"}}), 8);
  // A fractional quota rounds up; below one CPU is one.
  EXPECT_EQ(Cap(8, {{"/proc/self/cgroup", "0::/\n"}, {"/sys/fs/cgroup/cpu.max", "250000 100000\n"}}), 3);
  EXPECT_EQ(Cap(8, {{"/proc/self/cgroup", "0::/\n"}, {"/sys/fs/cgroup/cpu.max", "10000 100000\n"}}), 1);
  // The quota never raises the affinity count.
  EXPECT_EQ(Cap(2, {{"/proc/self/cgroup", "0::/\n"}, {"/sys/fs/cgroup/cpu.max", "1600000 100000\n"}}), 2);
  // A nested cgroup: the tightest quota of it and its parents.
  EXPECT_EQ(Cap(16, {{"/proc/self/cgroup", "0::/kubepods/pod1/c1\n"},
                     {"/sys/fs/cgroup/kubepods/pod1/c1/cpu.max", "max 100000\n"},
                     {"/sys/fs/cgroup/kubepods/pod1/cpu.max", "300000 100000\n"},
                     {"/sys/fs/cgroup/kubepods/cpu.max", "800000 100000\n"}}),
            3);
  // Garbage and path tricks are ignored.
  EXPECT_EQ(Cap(8, {{"/proc/self/cgroup", "0::/\n"}, {"/sys/fs/cgroup/cpu.max", "\xff\x00zz"}}), 8);
  EXPECT_EQ(Cap(8, {{"/proc/self/cgroup", "0::/../../etc\n"}, {"/sys/fs/cgroup/../../etc/cpu.max", "100000"}}), 8);
  EXPECT_EQ(Cap(8, {{"/proc/self/cgroup", "no colons here\n\n::\n"}}), 8);
  // cgroup v1: the cpu controller's quota, at its path or (inside a container) the mount root.
  EXPECT_EQ(Cap(8, {{"/proc/self/cgroup", "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n"},
                    {"/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "150000\n"},
                    {"/sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n"}}),
            2);
  EXPECT_EQ(Cap(8, {{"/proc/self/cgroup", "4:cpuacct,cpu:/docker/abc\n"},
                    {"/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "300000\n"},
                    {"/sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n"}}),
            3);
  EXPECT_EQ(Cap(8, {{"/proc/self/cgroup", "4:cpu,cpuacct:/\n"},
                    {"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n"},
                    {"/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n"}}),
            8);
  // "cpuset" is not the cpu controller.
  EXPECT_EQ(Cap(8, {{"/proc/self/cgroup", "3:cpuset:/x\n"},
                    {"/sys/fs/cgroup/cpu/x/cpu.cfs_quota_us", "100000\n"},
                    {"/sys/fs/cgroup/cpu/x/cpu.cfs_period_us", "100000\n"}}),
            8);
}

TEST(ThreadsParse, AffinityMask) {
  // A thread pinned to one CPU counts one.
  int pinned = 0;
  std::thread t([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
    if (sched_setaffinity(0, sizeof(one), &one) == 0) pinned = ti::AffinityCpuCount();
    else pinned = 1;
  });
  t.join();
  EXPECT_EQ(pinned, 1);
  EXPECT_GE(ti::AffinityCpuCount(), 1);
  EXPECT_GE(AvailableCpus(), 1);
  EXPECT_LE(AvailableCpus(), ti::AffinityCpuCount());
}

TEST_F(ThreadsTest, SetNumThreadsValidates) {
  for (int bad : {0, -1, -1000, kMaxThreads + 1}) {
    Status s = SetNumThreads(bad);
    EXPECT_EQ(s.code(), StatusCode::kInvalid) << bad;
    EXPECT_TRUE(testing::Contains(s.message(), "from 1 to 1024, got " + std::to_string(bad))) << s.message();
  }
  EXPECT_EQ(CheckNumThreads(int64_t(1) << 40).code(), StatusCode::kInvalid);
  ASSERT_OK(SetNumThreads(3));
  EXPECT_EQ(GetNumThreads(), 3);
  // The pool is Arrow's: Arrow's parallel paths follow the same size.
  EXPECT_EQ(arrow::GetCpuThreadPoolCapacity(), 3);
  ASSERT_OK(SetNumThreads(1));
  EXPECT_EQ(GetNumThreads(), 1);
}

TEST_F(ThreadsTest, ParallelForRunsEachItemOnceOnDistinctSlots) {
  for (int n : {1, 2, 3, 8}) {
    ASSERT_OK(SetNumThreads(n));
    for (size_t items : {0, 1, 5, 200}) {
      std::vector<std::atomic<int>> runs(items);
      std::vector<std::atomic<int>> in_slot(static_cast<size_t>(n));
      std::atomic<bool> shared_slot{false}, bad_slot{false};
      ASSERT_OK(ParallelFor(items, n, [&](size_t i, int slot) {
        if (slot < 0 || slot >= n) {
          bad_slot = true;
          return Status::OK();
        }
        if (in_slot[slot]++ != 0) shared_slot = true;  // two threads on one slot at once
        runs[i]++;
        std::this_thread::yield();
        in_slot[slot]--;
        return Status::OK();
      }));
      for (size_t i = 0; i < items; ++i) EXPECT_EQ(runs[i].load(), 1) << i;
      EXPECT_FALSE(shared_slot);
      EXPECT_FALSE(bad_slot);
    }
  }
}

TEST_F(ThreadsTest, ParallelForReturnsTheFirstErrorAndStops) {
  ASSERT_OK(SetNumThreads(3));
  std::atomic<int> ran{0};
  Status s = ParallelFor(1000, 3, [&](size_t i, int) {
    ran++;
    return i >= 10 ? Status::IOError("item ", i) : Status::OK();
  });
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_LT(ran.load(), 1000);
  // One worker: exactly the first failing item.
  s = ParallelFor(1000, 1, [&](size_t i, int) { return i >= 10 ? Status::IOError("item ", i) : Status::OK(); });
  EXPECT_EQ(s.message(), "item 10");
}

// Runs `fn` as a task of the pool and waits for it; a hang (a deadlock) fails the test.
void RunOnPool(const std::function<void()>& fn) {
  std::promise<void> done;
  auto fut = done.get_future();
  ASSERT_TRUE(arrow::internal::GetCpuThreadPool()->Spawn([&] {
    EXPECT_FALSE(ArrowMayUseThreads());
    fn();
    done.set_value();
  }).ok());
  if (fut.wait_for(std::chrono::minutes(5)) != std::future_status::ready) {
    ADD_FAILURE() << "a task on the pool did not finish: deadlock";
    std::abort();  // the task still refers to this frame
  }
}

TEST_F(ThreadsTest, NestedParallelForOnOneThreadDoesNotDeadlock) {
  ASSERT_OK(SetNumThreads(1));
  std::atomic<int> leaves{0};
  auto nested = [&] {
    EXPECT_OK(ParallelFor(4, 4, [&](size_t, int) {
      return ParallelFor(5, 4, [&](size_t, int) {
        return ParallelFor(3, 8, [&](size_t, int) {
          leaves++;
          return Status::OK();
        });
      });
    }));
  };
  RunOnPool(nested);  // the only pool thread is busy: every level runs on its caller
  EXPECT_EQ(leaves.load(), 60);
  ASSERT_OK(SetNumThreads(2));
  RunOnPool(nested);
  EXPECT_EQ(leaves.load(), 120);
  nested();
  EXPECT_EQ(leaves.load(), 180);
}

TEST_F(ThreadsTest, BackgroundTasksBoundInFlightAndReportTheFirstError) {
  std::atomic<int> running{0}, peak{0}, ran{0};
  {
    BackgroundTasks io(3);
    for (int i = 0; i < 40; ++i)
      io.Submit([&] {
        const int now = ++running;
        peak = std::max(peak.load(), now);
        std::this_thread::yield();
        --running;
        ran++;
        return Status::OK();
      });
    EXPECT_OK(io.Wait());
  }
  EXPECT_EQ(ran.load(), 40);
  EXPECT_LE(peak.load(), 3);
  BackgroundTasks io(2);
  for (int i = 0; i < 10; ++i) io.Submit([i] { return i == 4 ? Status::IOError("disk full") : Status::OK(); });
  EXPECT_EQ(io.Wait().message(), "disk full");
  // kCpu tasks run on the CPU pool (a write's statistics), kIo ones never do.
  std::atomic<int> on_cpu_pool{0}, off_cpu_pool{0};
  {
    BackgroundTasks cpu(4, TaskPool::kCpu), disk(4, TaskPool::kIo);
    for (int i = 0; i < 8; ++i) {
      cpu.Submit([&] {
        (ArrowMayUseThreads() ? off_cpu_pool : on_cpu_pool)++;
        return Status::OK();
      });
      disk.Submit([&] {
        (ArrowMayUseThreads() ? off_cpu_pool : on_cpu_pool) += 100;
        return Status::OK();
      });
    }
    EXPECT_OK(cpu.Wait());
    EXPECT_OK(disk.Wait());
  }
  EXPECT_EQ(on_cpu_pool.load(), 8);
  EXPECT_EQ(off_cpu_pool.load(), 800);
  // From a task of a one-thread pool, as array writes do.
  ASSERT_OK(SetNumThreads(1));
  RunOnPool([] {
    BackgroundTasks inner(1);
    for (int i = 0; i < 5; ++i) inner.Submit([] { return Status::OK(); });
    EXPECT_OK(inner.Wait());
  });
}

// A table of three parts of small row groups (many read units and Where waves), an index on
// `id`, and a 3-d array.
class ThreadsEngineTest : public ThreadsTest {
 protected:
  void SetUp() override {
    ThreadsTest::SetUp();
    ASSERT_OK_AND_ASSIGN(b_, Bundle::Open(tmp_.Sub("b"), OpenMode::kCreate));
    TableOptions o;
    o.row_group_size = 700;
    ASSERT_OK_AND_ASSIGN(t_, b_->CreateTable("/t", ReaderOf(MakeRows(0, 9000)), o));
    ASSERT_OK(t_->Append(MakeRows(9000, 7000)));
    ASSERT_OK(t_->Append(MakeRows(16000, 5000)));
    ASSERT_OK(t_->CreateIndex("id"));
    std::vector<double> data(30 * 20 * 25);
    std::iota(data.begin(), data.end(), 0.0);
    ArrayOptions ao;
    ao.chunks = {7, 6, 5};
    ASSERT_OK_AND_ASSIGN(a_, b_->CreateArray("/a", {30, 20, 25}, "float64", ao, data.data(),
                                             static_cast<int64_t>(data.size() * sizeof(double))));
  }

  std::shared_ptr<arrow::Table> WhereAll(const std::string& cond, bool use_index) {
    WhereOptions wo;
    wo.use_index = use_index;
    wo.batch_size = 0;
    auto r = t_->Where(cond, wo);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) return nullptr;
    auto t = (*r)->ToTable();
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    return t.ok() ? *t : nullptr;
  }

  // Everything the parallel paths return, at the current pool size.
  struct Results {
    std::vector<std::shared_ptr<arrow::Table>> tables;
    std::vector<std::vector<int64_t>> rows;
    std::vector<std::vector<double>> cubes;
  };
  Results RunAll() {
    Results r;
    auto read = [&](ReadOptions o) {
      auto t = t_->Read(o);
      EXPECT_TRUE(t.ok()) << t.status().ToString();
      r.tables.push_back(t.ok() ? *t : nullptr);
    };
    read({});
    read({{"x", "id"}, 0, -1, true});
    read({{"name"}, 1234, 15001, true});
    read({{}, 5, 6, true});
    read({{}, 0, -1, false});
    for (bool idx : {true, false}) {
      r.tables.push_back(WhereAll("(id > 500) & (x < 8000)", idx));
      r.tables.push_back(WhereAll("id IN (3, 700, 701, 9000, 15999, 20999, 99999)", idx));
      r.tables.push_back(WhereAll("name IN ('r5', 'r77', 'r16001')", idx));
      r.tables.push_back(WhereAll("x >= 0", idx));
      r.tables.push_back(WhereAll("id < 0", idx));
      WhereOptions wo;
      wo.use_index = idx;
      for (const char* cond : {"(id % 3 == 0) & (id > 100)", "id IN (1, 2, 20000)", "(x > 10) & (x < 5000.5)"}) {
        auto rows = t_->GetWhereList(cond, wo);
        EXPECT_TRUE(rows.ok()) << rows.status().ToString();
        r.rows.push_back(rows.ok() ? *rows : std::vector<int64_t>{});
      }
    }
    for (const auto& sel : std::vector<std::vector<ArrayRange>>{
             {{0, 30, 1}, {0, 20, 1}, {0, 25, 1}}, {{3, 29, 2}, {1, 19, 1}, {2, 24, 3}}, {{5, 6, 1}, {0, 20, 1}, {0, 25, 1}}}) {
      int64_t n = 1;
      for (const auto& s : sel) n *= (s.stop - s.start + s.step - 1) / s.step;
      std::vector<double> out(static_cast<size_t>(n));
      EXPECT_OK(a_->Read(sel, out.data(), n * 8));
      r.cubes.push_back(std::move(out));
    }
    return r;
  }

  TempDir tmp_;
  std::shared_ptr<Bundle> b_;
  std::shared_ptr<Table> t_;
  std::shared_ptr<Array> a_;
};

TEST_F(ThreadsEngineTest, SameResultsForEveryThreadCount) {
  ASSERT_OK(SetNumThreads(1));
  const Results want = RunAll();
  ASSERT_EQ(want.tables.size(), 15u);
  EXPECT_EQ(want.tables[0]->num_rows(), 21000);
  EXPECT_EQ(want.tables[3]->num_rows(), 1);
  EXPECT_EQ(want.tables[6]->num_rows(), 6);  // the IN list's rows that exist
  for (int n : {2, 3, 8}) {
    ASSERT_OK(SetNumThreads(n));
    const Results got = RunAll();
    ASSERT_EQ(got.tables.size(), want.tables.size());
    for (size_t i = 0; i < want.tables.size(); ++i) {
      ASSERT_TRUE(got.tables[i] && want.tables[i]);
      EXPECT_TRUE(TablesEqual(*got.tables[i], *want.tables[i])) << "threads " << n << " result " << i;
    }
    EXPECT_EQ(got.rows, want.rows) << "threads " << n;
    EXPECT_EQ(got.cubes, want.cubes) << "threads " << n;
  }
}

TEST_F(ThreadsEngineTest, ArrayWritesAreTheSameForEveryThreadCount) {
  std::vector<double> patch(20 * 20 * 20);
  std::iota(patch.begin(), patch.end(), 0.25);
  std::vector<std::vector<double>> seen;
  for (int n : {1, 2, 3, 8}) {
    ASSERT_OK(SetNumThreads(n));
    std::vector<double> zero(30 * 20 * 25, 0.0);
    ASSERT_OK(a_->Write({{0, 30, 1}, {0, 20, 1}, {0, 25, 1}}, zero.data(), static_cast<int64_t>(zero.size() * 8)));
    ASSERT_OK(a_->Write({{3, 23, 1}, {0, 20, 1}, {4, 24, 1}}, patch.data(), static_cast<int64_t>(patch.size() * 8)));
    std::vector<double> out(30 * 20 * 25);
    ASSERT_OK(a_->Read({{0, 30, 1}, {0, 20, 1}, {0, 25, 1}}, out.data(), static_cast<int64_t>(out.size() * 8)));
    seen.push_back(std::move(out));
  }
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_EQ(seen[i], seen[0]) << i;
}

// Read, Where, GetWhereList, array reads and writes, and appends called from a task of a
// one-thread pool: nothing may wait for tasks queued behind the caller.
TEST_F(ThreadsEngineTest, NestedCallsOnOneThreadDoNotDeadlock) {
  ASSERT_OK(SetNumThreads(1));
  const Results want = RunAll();
  RunOnPool([&] {
    const Results got = RunAll();
    ASSERT_EQ(got.tables.size(), want.tables.size());
    for (size_t i = 0; i < want.tables.size(); ++i) EXPECT_TRUE(TablesEqual(*got.tables[i], *want.tables[i])) << i;
    EXPECT_EQ(got.rows, want.rows);
    EXPECT_EQ(got.cubes, want.cubes);
    EXPECT_OK(t_->Append(MakeRows(21000, 3000)));
  });
  ASSERT_OK_AND_ASSIGN(auto n, t_->num_rows());
  EXPECT_EQ(n, 24000);
  ASSERT_OK(SetNumThreads(2));
  // From inside a ParallelFor item, with the pool's other thread busy too.
  EXPECT_OK(ParallelFor(2, 2, [&](size_t, int) {
    auto t = t_->Read({});
    return t.ok() ? Status::OK() : t.status();
  }));
}

int CountThreads() {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
  return n;
}

// Starts every thread of a pool: `n` tasks that wait until all of them run.
void FillPool(arrow::internal::Executor* pool, int n) {
  auto started = std::make_shared<std::atomic<int>>(0);
  std::vector<arrow::Future<>> done;
  for (int i = 0; i < n; ++i) {
    auto f = pool->Submit([started, n] {
      ++*started;
      while (started->load() < n) std::this_thread::yield();
    });
    ASSERT_TRUE(f.ok());
    done.push_back(*f);
  }
  for (auto& f : done) f.Wait();
}

// Calls start no threads of their own: the live thread count, sampled all along, never
// exceeds what the pools hold once all their threads run, and many scanners open at once
// hold no thread each.
TEST_F(ThreadsEngineTest, CallsStartNoThreads) {
  ASSERT_OK(SetNumThreads(2));
  RunAll();
  FillPool(arrow::internal::GetCpuThreadPool(), 2);
  FillPool(arrow::io::default_io_context().executor(), arrow::io::GetIOThreadPoolCapacity());
  std::atomic<bool> stop{false};
  std::atomic<int> peak{0};
  std::thread sampler([&] {
    while (!stop) {
      peak = std::max(peak.load(), CountThreads());
      std::this_thread::yield();
    }
  });
  while (peak.load() == 0) std::this_thread::yield();
  const int before = CountThreads();
  for (int i = 0; i < 10; ++i) RunAll();
  std::vector<std::shared_ptr<arrow::RecordBatchReader>> open;
  for (int i = 0; i < 20; ++i) {
    WhereOptions wo;
    wo.batch_size = 100;
    ASSERT_OK_AND_ASSIGN(auto r, t_->Where("x >= 0", wo));
    std::shared_ptr<arrow::RecordBatch> b;
    ASSERT_TRUE(r->ReadNext(&b).ok());
    open.push_back(r);
  }
  const int with_open = CountThreads();
  stop = true;
  sampler.join();
  EXPECT_EQ(with_open, before);
  EXPECT_LE(peak.load(), before);
}

}  // namespace
}  // namespace octavo
