// Crash safety: whatever write, fsync, rename or mkdir fails -- or wherever the process
// (or the power) dies -- a bundle opens afterwards at either its old commit or exactly the
// new one, with every committed row intact. FaultInjectionEnv (fault_env.h) fails the Nth
// mutating file-system operation; each test walks N = 0, 1, 2, ... until the operation
// under test completes without meeting the fault, so every step of it is covered.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "fault_env.h"
#include "test_util.h"

using namespace octavo;
using namespace octavo::testing;
namespace fs = std::filesystem;
using CrashKind = FaultInjectionEnv::CrashKind;

namespace {

// Every commit writes two files atomically (manifest, CURRENT) at 6 operations each, so a
// loop that ran fewer iterations than this per commit never had the env in the write path.
constexpr int64_t kMinOpsPerCommit = 12;
constexpr int64_t kMaxIterations = 2000;  // a runaway loop is a failure, not a hang

TableOptions SmallParts(int64_t row_group, int64_t part) {
  TableOptions o;
  o.row_group_size = row_group;
  o.part_max_rows = part;
  return o;
}

// The bundle every scenario starts from:
//   /t        rows 0..99 in parts of 40 rows, row groups of 16
//   /g        a group with attribute color="red"
//   /g/inner  rows 500..509
void BuildBase(const std::string& path, int64_t* commit) {
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK(b->CreateTable("/t", ReaderOf(MakeRows(0, 100)), SmallParts(16, 40)));
  ASSERT_OK(b->CreateGroup("/g"));
  ASSERT_OK(b->SetAttr("/g", "color", "\"red\""));
  ASSERT_OK(b->CreateTable("/g/inner", ReaderOf(MakeRows(500, 10))));
  *commit = b->commit().id;
  ASSERT_OK(b->Close());
}

void ExpectTable(const Bundle& b, const std::string& path, const std::shared_ptr<arrow::Table>& want) {
  auto got = ReadTable(b, path);
  ASSERT_TRUE(got.ok()) << path << ": " << got.status().ToString();
  EXPECT_TRUE(TablesEqual(**got, *want)) << path;
  ASSERT_OK_AND_ASSIGN(auto t, b.OpenTable(path));
  ASSERT_OK_AND_ASSIGN(auto info, t->Info());
  EXPECT_EQ(info.num_rows, want->num_rows()) << path << ": the manifest disagrees with the data";
}

void ExpectGroupG(const Bundle& b) {
  auto attrs = b.GetAttrs("/g");
  ASSERT_TRUE(attrs.ok()) << attrs.status().ToString();
  EXPECT_EQ(*attrs, R"({"color":"red"})");
  ExpectTable(b, "/g/inner", MakeRows(500, 10));
}

// One kind of change, and what a reader must see after `step` of its commits landed.
struct Scenario {
  std::string name;
  int commits;  // commits a complete success makes
  std::function<Status(Bundle&)> run;
  std::function<void(const Bundle&, int step)> check;
};

const std::string& FileNodeBytes() {
  static const std::string kBytes = [] {
    std::string s(2500000, '\0');
    for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>((i * 2654435761u) >> 13);
    return s;
  }();
  return kBytes;
}

// MakeRows(0, 100) with x = -1 at rows 45, 47, 49 (what the modify_rows scenario writes).
std::shared_ptr<arrow::Table> ModifiedRows() {
  auto t = MakeRows(0, 100);
  arrow::DoubleBuilder xs;
  for (int64_t i = 0; i < 100; ++i) (void)xs.Append(i == 45 || i == 47 || i == 49 ? -1.0 : static_cast<double>(i) * 0.5);
  return *t->SetColumn(1, t->schema()->field(1), std::make_shared<arrow::ChunkedArray>(*xs.Finish()));
}

// MakeRows(0, 100) without rows 30..49 (the remove_rows scenario: across two parts).
std::shared_ptr<arrow::Table> RowsWithout30To49() {
  return *arrow::ConcatenateTables({MakeRows(0, 30), MakeRows(50, 50)});
}

const std::vector<Scenario>& Scenarios() {
  static const std::vector<Scenario> kScenarios = {
      {"append", 1,
       [](Bundle& b) -> Status {
         OCTAVO_ASSIGN_OR_RETURN(auto t, b.OpenTable("/t"));
         return t->Append(MakeRows(100, 50));  // two parts: 40 + 10 rows
       },
       [](const Bundle& b, int step) {
         // Old rows intact; new rows all there or not at all.
         ExpectTable(b, "/t", MakeRows(0, step == 0 ? 100 : 150));
         ExpectGroupG(b);
       }},
      {"create_table", 1,
       [](Bundle& b) -> Status {
         return b.CreateTable("/new/t2", ReaderOf(MakeRows(1000, 30)), SmallParts(8, 16)).status();
       },
       [](const Bundle& b, int step) {
         ExpectTable(b, "/t", MakeRows(0, 100));
         ExpectGroupG(b);
         if (step == 0) {
           EXPECT_FALSE(b.Exists("/new"));  // not even the implicitly created parent
           EXPECT_FALSE(b.Exists("/new/t2"));
         } else {
           ExpectTable(b, "/new/t2", MakeRows(1000, 30));
         }
       }},
      {"group_and_attr", 2,
       [](Bundle& b) -> Status {
         OCTAVO_RETURN_NOT_OK(b.CreateGroup("/h"));
         return b.SetAttr("/h", "k", "[1,2,3]");
       },
       [](const Bundle& b, int step) {
         ExpectTable(b, "/t", MakeRows(0, 100));
         ExpectGroupG(b);
         if (step == 0) {
           EXPECT_FALSE(b.Exists("/h"));
         } else {
           auto attrs = b.GetAttrs("/h");
           ASSERT_TRUE(attrs.ok()) << attrs.status().ToString();
           EXPECT_EQ(*attrs, step == 1 ? "{}" : R"({"k":[1,2,3]})");
         }
       }},
      {"write_file", 1,
       [](Bundle& b) -> Status {
         OCTAVO_ASSIGN_OR_RETURN(auto w, b.CreateFile("/files/blob.bin"));
         const std::string data = FileNodeBytes();
         for (size_t off = 0; off < data.size(); off += 700000)  // several flushes of the 1 MiB buffer
           OCTAVO_RETURN_NOT_OK(w->Write(data.data() + off, std::min<size_t>(700000, data.size() - off)));
         return w->Close().status();
       },
       [](const Bundle& b, int step) {
         ExpectTable(b, "/t", MakeRows(0, 100));
         ExpectGroupG(b);
         if (step == 0) {
           EXPECT_FALSE(b.Exists("/files"));
         } else {
           auto r = b.OpenFile("/files/blob.bin");
           ASSERT_TRUE(r.ok()) << r.status().ToString();
           EXPECT_OK((*r)->Verify());
           std::string got(FileNodeBytes().size(), '\0');
           auto n = (*r)->ReadAt(0, static_cast<int64_t>(got.size()), got.data());
           ASSERT_TRUE(n.ok()) << n.status().ToString();
           EXPECT_TRUE(got == FileNodeBytes());
         }
       }},
      {"modify_rows", 1,
       [](Bundle& b) -> Status {
         OCTAVO_ASSIGN_OR_RETURN(auto t, b.OpenTable("/t"));
         arrow::DoubleBuilder xs;
         for (int i = 0; i < 3; ++i) (void)xs.Append(-1.0);
         auto values = arrow::Table::Make(arrow::schema({arrow::field("x", arrow::float64())}), {*xs.Finish()});
         return t->ModifyRows(45, 2, values);  // copy-on-write of the middle part only
       },
       [](const Bundle& b, int step) {
         ExpectTable(b, "/t", step == 0 ? MakeRows(0, 100) : ModifiedRows());
         ExpectGroupG(b);
       }},
      {"remove_rows", 1,
       [](Bundle& b) -> Status {
         OCTAVO_ASSIGN_OR_RETURN(auto t, b.OpenTable("/t"));
         return t->RemoveRows(30, 50, 1).status();  // rows of the first two parts
       },
       [](const Bundle& b, int step) {
         ExpectTable(b, "/t", step == 0 ? MakeRows(0, 100) : RowsWithout30To49());
         ExpectGroupG(b);
       }},
      {"remove_node", 1, [](Bundle& b) -> Status { return b.RemoveNode("/g", /*recursive=*/true); },
       [](const Bundle& b, int step) {
         ExpectTable(b, "/t", MakeRows(0, 100));
         if (step == 0) {
           ExpectGroupG(b);
         } else {
           EXPECT_FALSE(b.Exists("/g"));
           EXPECT_FALSE(b.Exists("/g/inner"));
         }
       }},
  };
  return kScenarios;
}

const Scenario& FindScenario(const std::string& name) {
  for (const auto& s : Scenarios())
    if (s.name == name) return s;
  throw std::runtime_error("no scenario " + name);
}

// Opens `path` read-only with the default env and checks it is at c0 + step for a step in
// [min_step, sc.commits], holding exactly the base plus those commits. Returns the step,
// or -1 after reporting a failure.
int64_t VerifyBundle(const std::string& path, const Scenario& sc, int64_t c0, int64_t min_step) {
  auto r = Bundle::Open(path, OpenMode::kRead);
  if (!r.ok()) {
    ADD_FAILURE() << "bundle " << path << " does not open: " << r.status().ToString();
    return -1;
  }
  const int64_t step = (*r)->commit().id - c0;
  if (step < min_step || step > sc.commits) {
    ADD_FAILURE() << "bundle " << path << " is at commit " << (*r)->commit().id << "; expected " << c0 + min_step
                  << ".." << c0 + sc.commits;
    return -1;
  }
  sc.check(**r, static_cast<int>(step));
  return step;
}

std::string Describe(const FaultInjectionEnv& env) {
  std::string s;
  for (const auto& t : env.trace()) s += "  " + t + "\n";
  return s;
}

}  // namespace

// --- the fault env itself: if it did not fail or forget things, the tests below prove nothing

TEST(FaultEnv, FailsEachStepOfAnAtomicWriteInTurn) {
  TempDir tmp;
  const std::string file = tmp.Sub("f");
  const char* kSteps[] = {"NewWritableFile", "Append", "Sync", "Close", "RenameFile", "SyncDir"};
  for (int n = 0; n < 6; ++n) {
    fs::remove(file + ".tmp");  // left by the previous round's failure (its removal is tested below)
    FaultInjectionEnv env;
    env.FailAt(n);
    Status st = WriteFileAtomic(&env, file, "data");
    EXPECT_STATUS_CODE(st, StatusCode::kIOError);
    EXPECT_TRUE(env.fault_injected());
    EXPECT_NE(st.message().find(kSteps[n]), std::string::npos) << st.ToString();
  }
  fs::remove(file + ".tmp");
  FaultInjectionEnv env;
  ASSERT_OK(WriteFileAtomic(&env, file, "data"));
  EXPECT_FALSE(env.fault_injected());
  auto trace = env.trace();
  ASSERT_EQ(trace.size(), 6u) << Describe(env);
  for (int i = 0; i < 6; ++i) EXPECT_NE(trace[i].find(kSteps[i]), std::string::npos) << trace[i];
  EXPECT_EQ(ReadBytes(file), "data");
}

// A temporary left by a crash, or a symlink planted under the temporary's name (an untrusted
// tarball, a shared directory), is removed, never followed: its target is not truncated.
TEST(AtomicWrite, StaleTemporaryOrPlantedSymlinkIsReplacedNotFollowed) {
  TempDir tmp;
  const std::string file = tmp.Sub("f");
  WriteBytes(file + ".tmp", "half-written by a crash");
  ASSERT_OK(WriteFileAtomic(Env::Default(), file, "one"));
  EXPECT_EQ(ReadBytes(file), "one");
  EXPECT_FALSE(fs::exists(file + ".tmp"));

  const std::string victim = tmp.Sub("victim");
  WriteBytes(victim, "precious");
  fs::create_symlink(victim, file + ".tmp");
  ASSERT_OK(WriteFileAtomic(Env::Default(), file, "two"));
  EXPECT_EQ(ReadBytes(file), "two");
  EXPECT_EQ(ReadBytes(victim), "precious");
  EXPECT_FALSE(fs::is_symlink(file));

  // NewWritableFile itself never follows a link nor truncates an existing file.
  fs::create_symlink(victim, tmp.Sub("link"));
  EXPECT_FALSE(Env::Default()->NewWritableFile(tmp.Sub("link")).ok());
  EXPECT_STATUS_CODE(Env::Default()->NewWritableFile(victim).status(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadBytes(victim), "precious");
}

TEST(FaultEnv, StickyFaultKeepsFailing) {
  TempDir tmp;
  FaultInjectionEnv env;
  env.FailAt(1, /*sticky=*/true);
  ASSERT_OK_AND_ASSIGN(auto f, env.NewWritableFile(tmp.Sub("f")));  // op 0 passes
  EXPECT_STATUS_CODE(f->Append("x"), StatusCode::kIOError);
  EXPECT_STATUS_CODE(f->Sync(), StatusCode::kIOError);
  EXPECT_STATUS_CODE(env.CreateDir(tmp.Sub("d")), StatusCode::kIOError);
  EXPECT_FALSE(fs::exists(tmp.Sub("d")));  // a failed operation does not happen
  env.Disarm();
  EXPECT_OK(env.CreateDir(tmp.Sub("d")));
}

TEST(FaultEnv, PowerLossSnapshotKeepsOnlyWhatWasSynced) {
  TempDir tmp;
  const std::string root = tmp.Sub("root");
  fs::create_directory(root);
  WriteBytes(root + "/target", "old");  // written before the env existed: durable
  FaultInjectionEnv env;
  // An atomic replace whose directory fsync fails: the rename happened, but only in memory.
  env.FailAt(5);
  EXPECT_FALSE(WriteFileAtomic(&env, root + "/target", "new").ok());
  // A new file never fsynced, in a directory never fsynced.
  ASSERT_OK_AND_ASSIGN(auto f, env.NewWritableFile(root + "/unsynced"));
  ASSERT_OK(f->Append("abc"));
  ASSERT_OK(f->Close());

  ASSERT_OK(env.SnapshotTo(root, tmp.Sub("crash"), CrashKind::kProcessCrash));
  EXPECT_EQ(ReadBytes(tmp.Sub("crash/target")), "new");
  EXPECT_EQ(ReadBytes(tmp.Sub("crash/unsynced")), "abc");

  ASSERT_OK(env.SnapshotTo(root, tmp.Sub("power"), CrashKind::kPowerLoss));
  EXPECT_EQ(ReadBytes(tmp.Sub("power/target")), "old");
  EXPECT_FALSE(fs::exists(tmp.Sub("power/unsynced")));
  EXPECT_FALSE(fs::exists(tmp.Sub("power/target.tmp")));

  // Once the directory is synced the names survive, but unsynced bytes still do not.
  ASSERT_OK(env.SyncDir(root));
  ASSERT_OK(env.SnapshotTo(root, tmp.Sub("power2"), CrashKind::kPowerLoss));
  EXPECT_EQ(ReadBytes(tmp.Sub("power2/target")), "new");
  EXPECT_EQ(ReadBytes(tmp.Sub("power2/unsynced")), "");
}

// Claims to fsync but does not: stands in for engine code that forgot an fsync, to show
// the power-loss model (and so the TornWrite tests) would catch it.
class SkipSyncEnv final : public Env {
 public:
  SkipSyncEnv(Env* base, bool skip_file_sync, bool skip_dir_sync)
      : base_(base), skip_file_(skip_file_sync), skip_dir_(skip_dir_sync) {}
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    OCTAVO_ASSIGN_OR_RETURN(auto f, base_->NewWritableFile(path));
    if (!skip_file_) return f;
    return std::unique_ptr<WritableFile>(new NoSyncFile(std::move(f)));
  }
  Status RenameFile(const std::string& from, const std::string& to) override { return base_->RenameFile(from, to); }
  Status SyncDir(const std::string& dir) override { return skip_dir_ ? Status::OK() : base_->SyncDir(dir); }
  Status CreateDir(const std::string& dir) override { return base_->CreateDir(dir); }
  Status RemoveFile(const std::string& path) override { return base_->RemoveFile(path); }
  Result<std::string> ReadFile(const std::string& path) override { return base_->ReadFile(path); }
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  Result<int64_t> FileSize(const std::string& path) override { return base_->FileSize(path); }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override { return base_->ListDir(dir); }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path, const std::string& holder) override {
    return base_->LockFile(path, holder);
  }

 private:
  class NoSyncFile final : public WritableFile {
   public:
    explicit NoSyncFile(std::unique_ptr<WritableFile> f) : f_(std::move(f)) {}
    Status Append(std::string_view data) override { return f_->Append(data); }
    Status Sync() override { return Status::OK(); }
    Status Close() override { return f_->Close(); }
    const std::string& path() const override { return f_->path(); }

   private:
    std::unique_ptr<WritableFile> f_;
  };
  Env* base_;
  bool skip_file_, skip_dir_;
};

TEST(FaultEnv, PowerLossModelCatchesAMissingFsync) {
  for (bool skip_dir : {false, true}) {
    SCOPED_TRACE(skip_dir ? "no directory fsync" : "no file fsync");
    TempDir tmp;
    const std::string path = tmp.Sub("b");
    int64_t c0 = 0;
    ASSERT_NO_FATAL_FAILURE(BuildBase(path, &c0));
    FaultInjectionEnv fault;
    SkipSyncEnv careless(&fault, !skip_dir, skip_dir);
    OpenOptions oo;
    oo.env = &careless;
    ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kAppend, oo));
    ASSERT_OK_AND_ASSIGN(auto t, w->OpenTable("/t"));
    ASSERT_OK(t->Append(MakeRows(100, 50)));
    ASSERT_OK(fault.SnapshotTo(path, tmp.Sub("power"), CrashKind::kPowerLoss));
    // The acknowledged append must be lost or damaged after the power cut.
    auto r = Bundle::Open(tmp.Sub("power"), OpenMode::kRead);
    bool intact = r.ok() && (*r)->commit().id == c0 + 1;
    if (intact) {
      auto rows = ReadTable(**r, "/t");
      intact = rows.ok() && (*rows)->Equals(*MakeRows(0, 150), false);
    }
    EXPECT_FALSE(intact) << "the power-loss model did not notice the missing fsync";
  }
}

// --- failed operations ------------------------------------------------------------------

class FaultLoop : public ::testing::TestWithParam<std::tuple<std::string, bool>> {};

// Fails operation N (once, or from N on when sticky) during the scenario, for every N.
// The operation must return an error or succeed, never crash; afterwards the bundle opens
// at the old or exactly the new commit, the writer's view matches the disk, and the same
// writer commits again once the disk recovers.
TEST_P(FaultLoop, EveryFailedOperationLeavesOldOrNewCommit) {
  const Scenario& sc = FindScenario(std::get<0>(GetParam()));
  const bool sticky = std::get<1>(GetParam());
  TempDir tmp;
  const std::string base = tmp.Sub("base");
  int64_t c0 = 0;
  ASSERT_NO_FATAL_FAILURE(BuildBase(base, &c0));

  int64_t n = 0;
  for (;; ++n) {
    ASSERT_LT(n, kMaxIterations) << "the operation never completed";
    SCOPED_TRACE("fault at operation " + std::to_string(n) + (sticky ? " (sticky)" : ""));
    const std::string path = tmp.Sub("run");
    fs::remove_all(path);
    fs::copy(base, path, fs::copy_options::recursive);

    FaultInjectionEnv env;
    OpenOptions oo;
    oo.env = &env;
    ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kAppend, oo));
    ASSERT_EQ(env.ops(), 0) << "opening an existing bundle must not write:\n" << Describe(env);
    env.FailAt(n, sticky);
    const Status st = sc.run(*w);
    const bool hit = env.fault_injected();
    if (!hit) {
      ASSERT_OK(st);
    } else if (!st.ok()) {
      // The caller learns the real cause.
      EXPECT_STATUS_CODE(st, StatusCode::kIOError);
      EXPECT_NE(st.message().find("injected fault"), std::string::npos) << st.ToString();
    }

    const int64_t step = VerifyBundle(path, sc, c0, st.ok() ? sc.commits : 0);
    ASSERT_GE(step, 0) << "operations:\n" << Describe(env) << "result: " << st.ToString();
    EXPECT_EQ(w->commit().id, c0 + step) << "the writer's view differs from the disk";
    // A manifest the failed commit may have left behind is not a commit.
    OpenOptions next;
    next.commit = c0 + step + 1;
    EXPECT_STATUS_CODE(Bundle::Open(path, OpenMode::kRead, next), StatusCode::kNotFound);
    EXPECT_OK(w->ListCommits());
    if (auto commits = w->ListCommits(); commits.ok()) EXPECT_EQ(commits->back().id, c0 + step);

    // The disk recovers: the same writer retries and commits again, losing nothing.
    env.Disarm();
    int64_t done = step;
    if (step == 0) {
      ASSERT_OK(sc.run(*w));
      done = sc.commits;
    }
    ASSERT_OK(w->SetAttr("/", "after_fault", "1"));
    ASSERT_OK(w->Close());
    ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
    EXPECT_EQ(r->commit().id, w->commit().id);
    sc.check(*r, static_cast<int>(done));
    if (::testing::Test::HasFailure()) return;  // one failing N tells the story
    if (!hit) break;
  }
  EXPECT_GE(n, kMinOpsPerCommit * sc.commits);
  RecordProperty("operations", static_cast<int>(n));
}

// --- crashes ----------------------------------------------------------------------------

class TornWrite : public ::testing::TestWithParam<std::string> {};

// Simulates a crash just before operation N by copying the bundle at that instant -- as a
// killed process leaves it, and as a power cut leaves it (unsynced bytes and directory
// entries lost). Both copies open at the old or the new commit (never before a commit the
// writer had already acknowledged), and a new writer can carry on from them.
TEST_P(TornWrite, CrashBeforeEveryOperationLeavesOldOrNewCommit) {
  const Scenario& sc = FindScenario(GetParam());
  TempDir tmp;
  const std::string base = tmp.Sub("base");
  int64_t c0 = 0;
  ASSERT_NO_FATAL_FAILURE(BuildBase(base, &c0));

  int64_t n = 0;
  for (;; ++n) {
    ASSERT_LT(n, kMaxIterations) << "the operation never completed";
    SCOPED_TRACE("crash at operation " + std::to_string(n));
    const std::string path = tmp.Sub("run"), crash = tmp.Sub("crash"), power = tmp.Sub("power");
    for (const auto& p : {path, crash, power}) fs::remove_all(p);
    fs::copy(base, path, fs::copy_options::recursive);

    FaultInjectionEnv env;
    OpenOptions oo;
    oo.env = &env;
    ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kAppend, oo));
    int64_t acked = -1;  // commits the writer had reported done when the crash hit
    Bundle* wp = w.get();
    env.SetFaultHook([&](const std::string&) {
      acked = wp->commit().id - c0;
      EXPECT_OK(env.SnapshotTo(path, crash, CrashKind::kProcessCrash));
      EXPECT_OK(env.SnapshotTo(path, power, CrashKind::kPowerLoss));
    });
    env.FailAt(n);
    const Status st = sc.run(*w);
    if (!env.fault_injected()) {
      ASSERT_OK(st);
      // Acknowledged means durable: a power cut right after the call keeps all of it.
      ASSERT_OK(env.SnapshotTo(path, power, CrashKind::kPowerLoss));
      EXPECT_EQ(VerifyBundle(power, sc, c0, sc.commits), sc.commits) << Describe(env);
      break;
    }
    ASSERT_GE(acked, 0);
    for (const auto& copy : {crash, power}) {
      SCOPED_TRACE(copy == crash ? "process crash" : "power loss");
      const int64_t step = VerifyBundle(copy, sc, c0, acked);
      ASSERT_GE(step, 0) << "operations:\n" << Describe(env);
      // The dead writer's lock went with it; a new writer takes over and commits.
      ASSERT_OK_AND_ASSIGN(auto w2, Bundle::Open(copy, OpenMode::kAppend));
      ASSERT_OK(w2->SetAttr("/", "after_crash", "1"));
      EXPECT_EQ(w2->commit().id, c0 + step + 1);
      ASSERT_OK(w2->Close());
      ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(copy, OpenMode::kRead));
      sc.check(*r, static_cast<int>(step));
    }
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GE(n, kMinOpsPerCommit * sc.commits);
}

INSTANTIATE_TEST_SUITE_P(Scenarios, FaultLoop,
                         ::testing::Combine(::testing::Values("append", "create_table", "group_and_attr",
                                                              "remove_node", "write_file", "modify_rows",
                                                              "remove_rows"),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return std::get<0>(info.param) + (std::get<1>(info.param) ? "_sticky" : "_once");
                         });

INSTANTIATE_TEST_SUITE_P(Scenarios, TornWrite,
                         ::testing::Values("append", "create_table", "group_and_attr", "remove_node",
                                           "write_file", "modify_rows", "remove_rows"),
                         [](const auto& info) { return info.param; });

// --- creating a bundle ------------------------------------------------------------------

// A crash or error while a bundle is being created leaves either nothing, or something a
// reader reports as "not a bundle" / an empty bundle -- and a writer can always create or
// open it afterwards (no half-made directory that is refused forever).
TEST(FaultInjection, CreatingABundleSurvivesAFaultAtEveryOperation) {
  for (bool sticky : {false, true}) {
    int64_t n = 0;
    for (;; ++n) {
      ASSERT_LT(n, kMaxIterations);
      SCOPED_TRACE("fault at operation " + std::to_string(n) + (sticky ? " (sticky)" : ""));
      TempDir tmp;
      const std::string path = tmp.Sub("new/b"), crash = tmp.Sub("crash"), power = tmp.Sub("power");
      FaultInjectionEnv env;
      env.SetFaultHook([&](const std::string&) {
        if (fs::exists(crash) || fs::exists(power)) return;  // sticky: first fault only
        EXPECT_OK(env.SnapshotTo(path, crash, CrashKind::kProcessCrash));
        EXPECT_OK(env.SnapshotTo(path, power, CrashKind::kPowerLoss));
      });
      env.FailAt(n, sticky);
      OpenOptions oo;
      oo.env = &env;
      bool opened = false;
      {
        auto w = Bundle::Open(path, OpenMode::kAppend, oo);
        opened = w.ok();
        if (!env.fault_injected()) ASSERT_OK(w);
        if (!w.ok()) EXPECT_NE(w.status().message().find("injected fault"), std::string::npos)
            << w.status().ToString();
      }  // the lock goes here
      std::vector<std::string> dirs{path};
      if (env.fault_injected()) dirs.insert(dirs.end(), {crash, power});
      for (const auto& d : dirs) {
        SCOPED_TRACE(d);
        auto r = Bundle::Open(d, OpenMode::kRead);
        if (r.ok()) {
          EXPECT_EQ((*r)->commit().id, 0);
          ASSERT_OK_AND_ASSIGN(auto nodes, (*r)->Walk("/"));
          EXPECT_EQ(nodes.size(), 1u);
        } else {
          EXPECT_STATUS_CODE(r, StatusCode::kNotFound);
          EXPECT_FALSE(opened && d == path) << "Open said OK but the bundle is not there";
        }
        auto w2 = Bundle::Open(d, OpenMode::kAppend);
        ASSERT_TRUE(w2.ok()) << "a fault while creating left a directory that cannot be opened: "
                             << w2.status().ToString() << "\noperations:\n" << Describe(env);
        ASSERT_OK((*w2)->CreateGroup("/x"));
      }
      if (!env.fault_injected()) break;
    }
    EXPECT_GE(n, kMinOpsPerCommit + 3);  // dirs + manifest + CURRENT + marker
  }
}
