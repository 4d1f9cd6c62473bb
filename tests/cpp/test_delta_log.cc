// The Delta Lake log of each table (include/octavo/delta.h, docs/format.md 12): versions
// follow the commits that change a table, files are never overwritten, a failure after the
// commit point leaves the commit standing and is caught up later, and a damaged log never
// stops octavo reading the table.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fault_env.h"
#include "octavo/delta.h"
#include "test_util.h"

namespace octavo::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string VersionFile(const std::string& dir, int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020lld.json", static_cast<long long>(v));
  return dir + "/_delta_log/" + buf;
}

// The actions of one version file, one JSON object a line.
std::vector<Json> Actions(const std::string& file) {
  std::vector<Json> out;
  std::istringstream in(ReadBytes(file));
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(Json::parse(line));
  return out;
}

int Count(const std::vector<Json>& actions, const std::string& kind) {
  int n = 0;
  for (const auto& a : actions) n += a.contains(kind);
  return n;
}

std::vector<std::string> Versions(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir + "/_delta_log"))
    if (e.path().extension() == ".json") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(DeltaLog, OneVersionPerCommitThatChangesTheTable) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(MakeRows(0, 10)), {}, true));
  const int64_t c_create = b->commit().id;
  ASSERT_OK(b->SetAttr("/t", "note", "1"));  // no change to parts or schema: no version
  ASSERT_OK(t->Append(MakeRows(10, 5)));
  const int64_t c_append = b->commit().id;
  RepackOptions ro;
  ro.sort_by = {"name"};
  ASSERT_OK(t->Repack(ro));
  ASSERT_OK_AND_ASSIGN(std::string dir, GetDeltaPath(*b, "/t"));
  EXPECT_EQ(Versions(dir).size(), 3u);

  auto v0 = Actions(VersionFile(dir, 0));
  ASSERT_TRUE(v0[0].contains("commitInfo"));
  EXPECT_EQ(v0[0]["commitInfo"]["octavoCommit"], c_create);
  EXPECT_EQ(Count(v0, "protocol"), 1);
  EXPECT_EQ(Count(v0, "metaData"), 1);
  EXPECT_EQ(Count(v0, "add"), 1);
  for (const auto& a : v0)
    if (a.contains("add")) {
      EXPECT_TRUE(fs::exists(dir + "/" + a["add"]["path"].get<std::string>()));
      Json stats = Json::parse(a["add"]["stats"].get<std::string>());
      EXPECT_EQ(stats["numRecords"], 10);
      EXPECT_EQ(stats["minValues"]["id"], 0);
      EXPECT_EQ(stats["maxValues"]["id"], 9);
    }
  auto v1 = Actions(VersionFile(dir, 1));
  EXPECT_EQ(Count(v1, "metaData"), 0);
  EXPECT_EQ(Count(v1, "remove"), 0);
  EXPECT_EQ(Count(v1, "add"), 1);
  auto v2 = Actions(VersionFile(dir, 2));
  EXPECT_EQ(Count(v2, "remove"), 2);  // the sort rewrote both parts
  EXPECT_GE(Count(v2, "add"), 1);

  EXPECT_EQ(*DeltaVersion(*b, "/t", c_create), 0);
  EXPECT_EQ(*DeltaVersion(*b, "/t", c_create + 1), 0);  // the attribute commit
  EXPECT_EQ(*DeltaVersion(*b, "/t", c_append), 1);
  EXPECT_EQ(*DeltaVersion(*b, "/t"), 2);
  EXPECT_STATUS_CODE(DeltaVersion(*b, "/t", c_create - 1), StatusCode::kNotFound);
}

TEST(DeltaLog, VersionFilesAreNeverOverwritten) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(MakeRows(0, 10)), {}, true));
  ASSERT_OK_AND_ASSIGN(std::string dir, GetDeltaPath(*b, "/t"));
  // Someone else's version 1 is there first: octavo's commit stands, the file is kept.
  WriteBytes(VersionFile(dir, 1), "{\"commitInfo\":{\"octavoCommit\":999}}\n");
  ASSERT_OK(t->Append(MakeRows(10, 5)));
  EXPECT_EQ(ReadBytes(VersionFile(dir, 1)), "{\"commitInfo\":{\"octavoCommit\":999}}\n");
  ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*b, "/t"));
  EXPECT_EQ(rows->num_rows(), 15);
}

TEST(DeltaLog, FailureAfterCommitPointIsCaughtUp) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  FaultInjectionEnv env;
  OpenOptions oo;
  oo.env = &env;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend, oo));
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(MakeRows(0, 10)), {}, true));
  ASSERT_OK_AND_ASSIGN(std::string dir, GetDeltaPath(*b, "/t"));
  // Find where an append's first Delta log write comes (after CURRENT is switched), then
  // fail every operation from there on in the next append: its log writes, and only them.
  env.ResetCounter();
  ASSERT_OK(t->Append(MakeRows(10, 5)));
  int64_t first_log_op = -1;
  auto trace = env.trace();
  for (size_t i = 0; i < trace.size(); ++i)
    if (Contains(trace[i], "_delta_log")) {
      first_log_op = static_cast<int64_t>(i);
      break;
    }
  ASSERT_GE(first_log_op, 0) << "the append wrote no Delta log";
  ASSERT_EQ(Versions(dir).size(), 2u);

  env.ResetCounter();
  env.FailAt(first_log_op, /*sticky=*/true);
  ASSERT_OK(t->Append(MakeRows(15, 5)));  // the commit succeeds although its log entry failed
  EXPECT_TRUE(env.fault_injected());
  const int64_t missed = b->commit().id;
  EXPECT_EQ(Versions(dir).size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*b, "/t"));
  EXPECT_EQ(rows->num_rows(), 20);

  env.Disarm();
  ASSERT_OK(t->Append(MakeRows(20, 5)));  // the next commit replays the missed one first
  EXPECT_EQ(Versions(dir).size(), 4u);
  EXPECT_EQ(Actions(VersionFile(dir, 2))[0]["commitInfo"]["octavoCommit"], missed);
  EXPECT_EQ(Actions(VersionFile(dir, 3))[0]["commitInfo"]["octavoCommit"], b->commit().id);
  // No temporary is left behind by the failed write once it is retried.
  for (const auto& e : fs::directory_iterator(dir + "/_delta_log"))
    EXPECT_FALSE(Contains(e.path().filename().string(), ".tmp") &&
                 fs::exists(dir + "/_delta_log/" + e.path().filename().string().substr(1, 25)))
        << e.path();
}

TEST(DeltaLog, RepairReplaysMissedCommitsOfUntouchedTables) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(MakeRows(0, 10)), {}, true));
  ASSERT_OK(t->Append(MakeRows(10, 5)));
  ASSERT_OK_AND_ASSIGN(std::string dir, GetDeltaPath(*b, "/t"));
  fs::remove(VersionFile(dir, 1));  // as if the log write after that commit had failed
  ASSERT_OK_AND_ASSIGN(auto rep, RepairDeltaLogs(*b));
  EXPECT_TRUE(rep.errors.empty());
  EXPECT_EQ(rep.versions_written, 1);
  EXPECT_EQ(Actions(VersionFile(dir, 1))[0]["commitInfo"]["octavoCommit"], b->commit().id);
  ASSERT_OK_AND_ASSIGN(rep, RepairDeltaLogs(*b));
  EXPECT_EQ(rep.versions_written, 0);  // idempotent
}

TEST(DeltaLog, DamagedLogDoesNotBreakOctavo) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  {
    ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
    ASSERT_OK(b->CreateTable("/t", ReaderOf(MakeRows(0, 10)), {}, true).status());
    ASSERT_OK_AND_ASSIGN(std::string dir, GetDeltaPath(*b, "/t"));
    WriteBytes(VersionFile(dir, 0), "\x01garbage");
    WriteBytes(dir + "/_delta_log/_last_checkpoint", "{");
  }
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto t, b->OpenTable("/t"));
  ASSERT_OK(t->Append(MakeRows(10, 5)));
  ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*b, "/t"));
  EXPECT_TRUE(TablesEqual(*rows, *MakeRows(0, 15)));
  ASSERT_OK_AND_ASSIGN(auto rep, RepairDeltaLogs(*b));
  ASSERT_EQ(rep.errors.size(), 1u);
  EXPECT_TRUE(Contains(rep.errors[0], "/t")) << rep.errors[0];
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(rows, ReadTable(*r, "/t"));
  EXPECT_EQ(rows->num_rows(), 15);
}

TEST(DeltaLog, SettingTurnsItOffAndOlderManifestsReadOn) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
  EXPECT_TRUE(DeltaLogEnabled(*b));
  ASSERT_OK(SetDeltaLog(*b, false));
  EXPECT_FALSE(DeltaLogEnabled(*b));
  ASSERT_OK(b->CreateTable("/t", ReaderOf(MakeRows(0, 10)), {}, true).status());
  ASSERT_OK_AND_ASSIGN(std::string dir, GetDeltaPath(*b, "/t"));
  EXPECT_FALSE(fs::exists(dir + "/_delta_log"));
  const std::string manifest = ReadBytes(path + "/manifests/" + [&] {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%012lld.json", static_cast<long long>(b->commit().id));
    return std::string(buf);
  }());
  EXPECT_TRUE(Contains(manifest, "\"settings\"")) << manifest.substr(0, 400);
  ASSERT_OK(b->Close());
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  EXPECT_FALSE(DeltaLogEnabled(*r));
  ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK(SetDeltaLog(*w, true));
  EXPECT_EQ(Versions(dir).size(), 1u);
  EXPECT_EQ(*DeltaVersion(*w, "/t"), 0);
}

TEST(DeltaLog, CheckpointEveryTenVersions) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(MakeRows(0, 2)), {}, true));
  for (int i = 1; i <= 10; ++i) ASSERT_OK(t->Append(MakeRows(2 * i, 2)));
  ASSERT_OK_AND_ASSIGN(std::string dir, GetDeltaPath(*b, "/t"));
  EXPECT_TRUE(fs::exists(dir + "/_delta_log/00000000000000000010.checkpoint.parquet"));
  Json last = Json::parse(ReadBytes(dir + "/_delta_log/_last_checkpoint"));
  EXPECT_EQ(last["version"], 10);
  EXPECT_EQ(last["size"], 2 + 11);  // protocol, metaData, 11 adds
}

}  // namespace
}  // namespace octavo::testing
