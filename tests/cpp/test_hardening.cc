// The commit protocol under hostile conditions: a lock file deleted under a live writer, a
// lock that does not exclude (a file system whose flock is a no-op), symlinks planted in the
// bundle, hand-edited manifests that name files outside it, damaged footers and metadata
// files, and garbage collection racing readers or walking a tree with symlinks.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <utility>
#include <thread>

#include "fault_env.h"
#include "test_util.h"
#include "format/manifest.h"
#include "util/json_util.h"
#include "util/names.h"

using namespace octavo;
using namespace octavo::testing;
namespace fs = std::filesystem;

namespace {


// A file system where locks do not exclude (e.g. some network file systems): every writer
// gets a lock. The commit's own check that CURRENT still names its base is all that is left.
class NoLockEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    return base_->NewWritableFile(p);
  }
  Status RenameFile(const std::string& f, const std::string& t) override {
    Status st = base_->RenameFile(f, t);
    // Once: another writer commits right after this one's manifest landed.
    if (st.ok() && on_manifest && t.find("/manifests/") != std::string::npos) std::exchange(on_manifest, nullptr)();
    return st;
  }
  std::function<void()> on_manifest;
  Status SyncDir(const std::string& d) override { return base_->SyncDir(d); }
  Status CreateDir(const std::string& d) override { return base_->CreateDir(d); }
  Status RemoveFile(const std::string& p) override { return base_->RemoveFile(p); }
  Result<std::string> ReadFile(const std::string& p) override { return base_->ReadFile(p); }
  bool FileExists(const std::string& p) override { return base_->FileExists(p); }
  Result<int64_t> FileSize(const std::string& p) override { return base_->FileSize(p); }
  Result<std::vector<std::string>> ListDir(const std::string& d) override { return base_->ListDir(d); }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string&, const std::string&) override {
    return std::unique_ptr<FileLock>(new FileLock());
  }

 private:
  Env* base_ = Env::Default();
};

std::shared_ptr<Bundle> MakeBundleWithTable(const std::string& path, int64_t rows = 100) {
  auto b = Bundle::Open(path, OpenMode::kAppend).ValueOrDie();
  b->CreateTable("/t", ReaderOf(MakeRows(0, rows)), TableOptions{}, true).ValueOrDie();
  return b;
}

int64_t Rows(const std::string& path, const std::string& table = "/t") {
  auto b = Bundle::Open(path, OpenMode::kRead).ValueOrDie();
  return ReadTable(*b, table).ValueOrDie()->num_rows();
}

}  // namespace

// --- the lock and the base commit ------------------------------------------------------

TEST(Hardening, LockDeletedUnderALiveWriterIsDetectedAndNothingCommittedIsLost) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto a = MakeBundleWithTable(path);
  ASSERT_OK_AND_ASSIGN(auto ta, a->OpenTable("/t"));
  ASSERT_OK(ta->Append(MakeRows(100, 10)));  // A's committed rows
  fs::remove(path + "/LOCK");
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));  // B gets a fresh lock file
  ASSERT_OK_AND_ASSIGN(auto tb, b->OpenTable("/t"));
  ASSERT_OK(tb->Append(MakeRows(110, 5)));
  // A must notice its lock is gone instead of committing over B.
  Status st = ta->Append(MakeRows(1000, 7));
  EXPECT_STATUS_CODE(st, StatusCode::kLocked);
  EXPECT_TRUE(Contains(st.message(), "deleted or replaced")) << st.ToString();
  EXPECT_STATUS_CODE(a->CreateGroup("/g"), StatusCode::kLocked);  // and keeps refusing
  EXPECT_EQ(Rows(path), 115);  // A's committed 10 rows and B's 5 are all there
}

TEST(Hardening, LockReplacedByAnotherFileIsDetected) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto a = MakeBundleWithTable(path);
  fs::remove(path + "/LOCK");
  WriteBytes(path + "/LOCK", "someone else");
  EXPECT_STATUS_CODE(a->CreateGroup("/g"), StatusCode::kLocked);
  EXPECT_EQ(Rows(path), 100);
}

TEST(Hardening, CommitRefusesWhenCurrentMovesDuringItsCommitPoint) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK(MakeBundleWithTable(path)->Close());
  NoLockEnv env;  // LOCK.commit does not exclude either
  OpenOptions o;
  o.env = &env;
  ASSERT_OK_AND_ASSIGN(auto a, Bundle::Open(path, OpenMode::kAppend, o));
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend, o));
  ASSERT_OK_AND_ASSIGN(auto ta, a->OpenTable("/t"));
  ASSERT_OK_AND_ASSIGN(auto tb, b->OpenTable("/t"));
  // A base that moved before the commit point is rebased (tests/cpp/test_concurrent.cc); one
  // that moves inside it, between A's manifest and A's switch of CURRENT, is refused.
  env.on_manifest = [&] { ASSERT_OK(tb->Append(MakeRows(500, 5))); };
  Status st = ta->Append(MakeRows(100, 10));
  EXPECT_STATUS_CODE(st, StatusCode::kLocked);
  EXPECT_TRUE(Contains(st.message(), "Nothing was committed")) << st.ToString();
  EXPECT_TRUE(Contains(st.message(), "LOCK.commit")) << st.ToString();
  EXPECT_EQ(Rows(path), 105);  // B's rows survive
  // After a refusal the writer has re-read the bundle: a retry builds on B's commit.
  ASSERT_OK(ta->Append(MakeRows(100, 10)));
  EXPECT_EQ(Rows(path), 115);
}

// --- planted symlinks and names from manifests ----------------------------------------------

TEST(Hardening, SymlinkPlantedAsLockIsNotFollowed) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK(MakeBundleWithTable(path)->Close());
  const std::string victim = tmp.Sub("victim");
  WriteBytes(victim, "precious");
  fs::remove(path + "/LOCK");
  fs::create_symlink(victim, path + "/LOCK");
  auto w = Bundle::Open(path, OpenMode::kAppend);
  EXPECT_FALSE(w.ok());
  EXPECT_TRUE(Contains(w.status().message(), "symbolic link")) << w.status().ToString();
  EXPECT_EQ(ReadBytes(victim), "precious");
}

TEST(Hardening, SymlinkPlantedAsTemporaryManifestOrCurrentIsNotFollowed) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK(MakeBundleWithTable(path)->Close());
  const std::string victim = tmp.Sub("victim");
  WriteBytes(victim, "precious");
  fs::create_symlink(victim, path + "/CURRENT.tmp");
  fs::create_symlink(victim, path + "/manifests/000000000002.json.tmp");
  ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK(w->CreateGroup("/g"));
  EXPECT_EQ(ReadBytes(victim), "precious");
  EXPECT_TRUE(w->Exists("/g"));
}

TEST(Hardening, SymlinkedFoldersInsideTheBundleAreNotWrittenThrough) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  {
    ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
    ASSERT_OK_AND_ASSIGN(auto w, b->CreateFile("/f"));  // creates data/files/tmp
    ASSERT_OK(w->Write("x", 1));
    ASSERT_OK(w->Close().status());
  }
  fs::create_directory(tmp.Sub("elsewhere"));
  fs::remove_all(path + "/data/files/tmp");
  fs::create_directory_symlink(tmp.Sub("elsewhere"), path + "/data/files/tmp");
  {
    ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
    auto w = b->CreateFile("/g");
    EXPECT_FALSE(w.ok());
    EXPECT_TRUE(Contains(w.status().message(), "symbolic link")) << w.status().ToString();
  }
  EXPECT_TRUE(fs::is_empty(tmp.Sub("elsewhere")));
  fs::rename(path + "/manifests", tmp.Sub("elsewhere/manifests"));
  fs::create_directory_symlink(tmp.Sub("elsewhere/manifests"), path + "/manifests");
  auto w = Bundle::Open(path, OpenMode::kAppend);
  EXPECT_FALSE(w.ok());
  EXPECT_TRUE(Contains(w.status().message(), "symbolic link")) << w.status().ToString();
  EXPECT_OK(Bundle::Open(path, OpenMode::kRead).status());  // reading through it is harmless
}

TEST(Hardening, TableUidFromAManifestIsValidated) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK(MakeBundleWithTable(path)->Close());
  for (const std::string& uid : std::vector<std::string>{"../../outside", "", "ABC", std::string(65, 'a'), "a/b"}) {
    SCOPED_TRACE(uid);
    ForgeManifest(path, [&](nlohmann::ordered_json& m) { m["nodes"]["/t"]["table"]["uid"] = uid; });
    auto b = Bundle::Open(path, OpenMode::kAppend);
    EXPECT_STATUS_CODE(b, StatusCode::kCorruption);
    EXPECT_TRUE(Contains(b.status().message(), "uid")) << b.status().ToString();
  }
  EXPECT_FALSE(fs::exists(tmp.Sub("outside")));
}

// fuzz_manifest found this: a float commit number (1e68) converted to int64 was undefined
// behaviour (UBSan in the sanitizer build); commit and parent must be JSON integers.
TEST(Hardening, FuzzFindingFloatCommitNumbersAreCorruption) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK(MakeBundleWithTable(path)->Close());
  for (const std::string key : {"commit", "parent"}) {
    nlohmann::ordered_json original;
    ForgeManifest(path, [&](nlohmann::ordered_json& m) { original = m[key]; });
    for (double v : {1e68, -1e68, 1.5}) {
      SCOPED_TRACE(key + " = " + std::to_string(v));
      ForgeManifest(path, [&](nlohmann::ordered_json& m) { m[key] = v; });
      auto b = Bundle::Open(path, OpenMode::kRead);
      EXPECT_STATUS_CODE(b, StatusCode::kCorruption);
      EXPECT_TRUE(Contains(b.status().message(), key)) << b.status().ToString();
    }
    ForgeManifest(path, [&](nlohmann::ordered_json& m) { m[key] = original; });
  }
  ASSERT_OK(Bundle::Open(path, OpenMode::kRead).status());
}

TEST(Hardening, NodePathsFromAManifestAreValidated) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK(MakeBundleWithTable(path)->Close());
  for (const std::string& bad : std::vector<std::string>{"/a/../b", "relative", "/a//b", "/a/"}) {
    SCOPED_TRACE(bad);
    ForgeManifest(path, [&](nlohmann::ordered_json& m) {
      m["nodes"].erase("/x");
      for (auto& k : std::vector<std::string>{"/a/../b", "relative", "/a//b", "/a/"}) m["nodes"].erase(k);
      m["nodes"][bad] = m["nodes"]["/"];
    });
    EXPECT_STATUS_CODE(Bundle::Open(path, OpenMode::kRead), StatusCode::kCorruption);
  }
}

TEST(Hardening, FeaturesAndNodeKindsFromANewerOctavoAskForAnUpgrade) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK(MakeBundleWithTable(path)->Close());
  ForgeManifest(path, [](nlohmann::ordered_json& m) { m["features"].push_back("time-travel"); });
  auto b = Bundle::Open(path, OpenMode::kRead);
  EXPECT_STATUS_CODE(b, StatusCode::kUnsupportedVersion);
  EXPECT_TRUE(Contains(b.status().message(), "time-travel")) << b.status().ToString();
  ForgeManifest(path, [](nlohmann::ordered_json& m) {
    m.erase("features");
    m["nodes"]["/h"] = m["nodes"]["/"];
    m["nodes"]["/h"]["kind"] = "hologram";
  });
  b = Bundle::Open(path, OpenMode::kRead);
  EXPECT_STATUS_CODE(b, StatusCode::kUnsupportedVersion);
  EXPECT_TRUE(Contains(b.status().message(), "newer octavo")) << b.status().ToString();
}

// --- checksums of metadata and footers ---------------------------------------------------------

// Every single-byte change of a metadata file gives the original data or kCorruption.
TEST(Hardening, EveryFlippedByteOfManifestCurrentAndSnapshotIsCaught) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  {
    auto b = MakeBundleWithTable(path, 50);
    ASSERT_OK(b->SetAttr("/t", "unit", "\"mV\""));
    ASSERT_OK(b->CreateSnapshot("v1", "first", -1, false).status());
    ASSERT_OK_AND_ASSIGN(auto t, b->OpenTable("/t"));
    ASSERT_OK(t->Append(MakeRows(50, 5)));
  }
  auto want = MakeRows(0, 50);
  for (const std::string& rel : std::vector<std::string>{"CURRENT", "snapshots/v1.json", "manifests/000000000002.json"}) {
    const std::string file = path + "/" + rel;
    const std::string good = ReadBytes(file);
    int wrong = 0, caught = 0;
    for (size_t i = 0; i < good.size(); ++i) {
      std::string bad = good;
      bad[i] ^= 0x04;
      WriteBytes(file, bad);
      OpenOptions o;
      if (rel == "snapshots/v1.json") o.snapshot = "v1";
      if (rel == "manifests/000000000002.json") o.commit = 2;
      auto b = Bundle::Open(path, OpenMode::kRead, o);
      if (!b.ok()) {
        EXPECT_TRUE(b.status().code() == StatusCode::kCorruption || b.status().code() == StatusCode::kNotFound)
            << rel << " byte " << i << ": " << b.status().ToString();
        ++caught;
        continue;
      }
      auto got = ReadTable(**b, "/t");
      auto attrs = (*b)->GetAttrs("/t");
      const int64_t want_rows = rel == "CURRENT" ? 55 : 50;
      if (!got.ok() || (*got)->num_rows() != want_rows || !attrs.ok() || *attrs != R"({"unit":"mV"})") ++wrong;
    }
    WriteBytes(file, good);
    EXPECT_EQ(wrong, 0) << rel;
    EXPECT_GT(caught, 0) << rel;
  }
}

TEST(Hardening, DamagedParquetFooterIsCorruptionNotFewerRows) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  {
    auto b = Bundle::Open(path, OpenMode::kAppend).ValueOrDie();
    TableOptions o;
    o.row_group_size = 100;
    ASSERT_OK(b->CreateTable("/t", ReaderOf(MakeRows(0, 3000)), o, true).status());
    ASSERT_OK(b->OpenTable("/t").ValueOrDie()->CreateIndex("id"));
  }
  auto b = Bundle::Open(path, OpenMode::kRead).ValueOrDie();
  auto info = b->OpenTable("/t").ValueOrDie()->Info().ValueOrDie();
  ASSERT_EQ(info.part_files.size(), 1u);
  auto want = MakeRows(0, 3000);
  std::vector<std::string> files = {info.part_files[0]};  // absolute
  for (const auto& f : ListFiles(path + "/data"))
    if (path + "/data/" + f != files[0] && !Contains(f, "_delta_log"))
      files.push_back(path + "/data/" + f);  // the index file
  ASSERT_EQ(files.size(), 2u);
  for (const auto& file : files) {
    const std::string good = ReadBytes(file);
    uint32_t len = 0;
    for (int i = 3; i >= 0; --i) len = len << 8 | static_cast<uint8_t>(good[good.size() - 8 + i]);
    const size_t footer_start = good.size() - 8 - len;
    int wrong = 0;
    for (size_t i = footer_start; i < good.size(); i += 3) {
      std::string bad = good;
      bad[i] ^= 0x10;
      WriteBytes(file, bad);
      auto rb = Bundle::Open(path, OpenMode::kRead).ValueOrDie();
      auto t = rb->OpenTable("/t").ValueOrDie();
      auto all = ReadTable(*rb, "/t");
      if (all.ok() && !(*all)->Equals(*want)) ++wrong;
      auto hits = t->GetWhereList("id == 1234");
      if (hits.ok() && (hits->size() != 1 || (*hits)[0] != 1234)) ++wrong;
      if (!all.ok())
        EXPECT_STATUS_CODE(all.status(), StatusCode::kCorruption);
    }
    WriteBytes(file, good);
    EXPECT_EQ(wrong, 0) << file;
  }
}

// A random read of a file node checks every byte it returns, not only whole reads.
TEST(Hardening, EveryFlippedByteOfAFileNodeIsCaughtByRandomReads) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  std::string content(3 * 1024 * 1024 + 123, '\0');
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 2654435761u >> 13);
  {
    ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
    ASSERT_OK_AND_ASSIGN(auto w, b->CreateFile("/f"));
    ASSERT_OK(w->Write(content.data(), static_cast<int64_t>(content.size())));
    ASSERT_OK(w->Close().status());
  }
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(auto info, b->GetFileInfo("/f"));
  const std::string blob = path + "/" + info.blob;
  for (int64_t flip : {int64_t{0}, int64_t{1 << 20} + 5, int64_t(content.size()) - 1}) {
    std::string bad = content;
    bad[static_cast<size_t>(flip)] ^= 1;
    WriteBytes(blob, bad);
    ASSERT_OK_AND_ASSIGN(auto r, b->OpenFile("/f"));
    // a small read of exactly the damaged byte, and one of an intact block
    char byte = 0;
    auto got = r->ReadAt(flip, 1, &byte);
    EXPECT_STATUS_CODE(got, StatusCode::kCorruption);
    const int64_t intact = flip == 0 ? int64_t{2} << 20 : 0;
    std::string four(4, '\0');
    ASSERT_OK_AND_ASSIGN(int64_t n, r->ReadAt(intact, 4, four.data()));
    EXPECT_EQ(n, 4);
    EXPECT_EQ(four, content.substr(static_cast<size_t>(intact), 4));
  }
  WriteBytes(blob, content);
}

// --- garbage collection --------------------------------------------------------------------------

TEST(Hardening, GcThroughASymlinkedDataFolderKeepsEveryReferencedFile) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK(MakeBundleWithTable(path)->Close());
  fs::rename(path + "/data", tmp.Sub("other-disk"));
  fs::create_directory_symlink(tmp.Sub("other-disk"), path + "/data");
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto report, b->CollectGarbage({}));
  EXPECT_EQ(report.files_removed, 0);
  EXPECT_EQ(Rows(path), 100);
}

TEST(Hardening, GcNeverDeletesOutsideTheBundle) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto w = MakeBundleWithTable(path);
  auto info = w->OpenTable("/t").ValueOrDie()->Info().ValueOrDie();
  const std::string part_dir = fs::path(info.part_files[0]).parent_path().string();
  const std::string outside = tmp.Sub("precious.parquet");
  WriteBytes(outside, "not the bundle's");
  fs::create_symlink(outside, part_dir + "/aaaaaaaaaaaaaaaaaaaaaaaa.parquet");  // unreferenced link
  ASSERT_OK_AND_ASSIGN(auto report, w->CollectGarbage({}));
  EXPECT_EQ(report.files_removed, 1);
  EXPECT_EQ(ReadBytes(outside), "not the bundle's");  // the link went, never its target
  EXPECT_FALSE(fs::is_symlink(part_dir + "/aaaaaaaaaaaaaaaaaaaaaaaa.parquet"));
  EXPECT_EQ(Rows(path), 100);

  // A directory symlink inside data/ could lead anywhere: gc refuses, deleting nothing.
  fs::create_directory(tmp.Sub("elsewhere"));
  WriteBytes(tmp.Sub("elsewhere/x.parquet"), "keep");
  fs::create_directory_symlink(tmp.Sub("elsewhere"), path + "/data/0123abcd");
  auto refused = w->CollectGarbage({});
  EXPECT_STATUS_CODE(refused, StatusCode::kInvalid);
  EXPECT_TRUE(Contains(refused.status().message(), "symbolic link")) << refused.status().ToString();
  EXPECT_EQ(ReadBytes(tmp.Sub("elsewhere/x.parquet")), "keep");
}

TEST(Hardening, ReadersRacingGcNeverSeeAHealthyBundleAsCorrupt) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto w = MakeBundleWithTable(path, 10);
  std::atomic<bool> stop{false};
  std::atomic<int> opens{0}, false_alarms{0};
  std::string alarm;
  std::thread reader([&] {
    while (!stop) {
      auto r = Bundle::Open(path, OpenMode::kRead);
      if (!r.ok() && false_alarms++ == 0) alarm = r.status().ToString();
      ++opens;
    }
  });
  GcOptions keep_one;
  keep_one.keep_last = 1;
  for (int i = 0; i < 150; ++i) {
    ASSERT_OK(w->SetAttr("/t", "i", std::to_string(i)));
    ASSERT_OK(w->CollectGarbage(keep_one).status());
  }
  stop = true;
  reader.join();
  EXPECT_EQ(false_alarms, 0) << alarm;
  EXPECT_GT(opens, 0);
}

TEST(Hardening, ACommitDroppedByGcIsNamedAsSuch) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  auto w = MakeBundleWithTable(path);
  OpenOptions at1;
  at1.commit = 1;
  ASSERT_OK_AND_ASSIGN(auto old, Bundle::Open(path, OpenMode::kRead, at1));
  ASSERT_OK(w->RemoveNode("/t", false));
  ASSERT_OK(w->CreateTable("/t", ReaderOf(MakeRows(0, 1)), TableOptions{}, true).status());
  GcOptions keep_one;
  keep_one.keep_last = 1;
  ASSERT_OK(w->CollectGarbage(keep_one).status());
  auto reopened = Bundle::Open(path, OpenMode::kRead, at1);
  EXPECT_STATUS_CODE(reopened, StatusCode::kNotFound);
  EXPECT_TRUE(Contains(reopened.status().message(), "garbage collection")) << reopened.status().ToString();
  auto stale = ReadTable(*old, "/t");  // the handle opened before gc: its files are gone
  EXPECT_STATUS_CODE(stale, StatusCode::kNotFound);
  EXPECT_TRUE(Contains(stale.status().message(), "garbage collection")) << stale.status().ToString();
}

// --- creating a bundle is durable ---------------------------------------------------------------

TEST(Hardening, CreatingABundleSyncsItsParentDirectory) {
  TempDir tmp;
  FaultInjectionEnv env;
  OpenOptions o;
  o.env = &env;
  ASSERT_OK(Bundle::Open(tmp.Sub("b"), OpenMode::kAppend, o).status());
  bool synced_parent = false;
  for (const auto& op : env.trace())
    synced_parent = synced_parent || (Contains(op, "SyncDir") && op.substr(op.find('/')) == tmp.path());
  EXPECT_TRUE(synced_parent) << "no SyncDir of " << tmp.path();
}

// --- deep hierarchies ---------------------------------------------------------------------------

TEST(Hardening, DeepHierarchiesAreBoundedAndWalkedWithoutRecursion) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  std::string deep;
  for (int i = 0; i < kMaxPathDepth; ++i) deep += "/a";
  ASSERT_OK(b->CreateGroup(deep, true));
  ASSERT_OK(b->CreateGroup("/a/b", true));
  ASSERT_OK(b->CreateGroup("/a-x", true));
  ASSERT_OK_AND_ASSIGN(auto all, b->Walk("/"));
  ASSERT_EQ(all.size(), static_cast<size_t>(kMaxPathDepth) + 3);
  EXPECT_EQ(all[1].path, "/a");
  EXPECT_EQ(all[2].path, "/a/a");  // depth first ...
  EXPECT_EQ(all[all.size() - 2].path, "/a/b");  // ... children by name ...
  EXPECT_EQ(all.back().path, "/a-x");           // ... not by byte order of full paths
  EXPECT_STATUS_CODE(b->CreateGroup(deep + "/a", true), StatusCode::kInvalid);
  // A manifest that nests deeper than the bound is refused when read, not walked.
  ASSERT_OK(b->Close());
  ForgeManifest(tmp.Sub("b"), [&](nlohmann::ordered_json& m) { m["nodes"][deep + "/a"] = m["nodes"]["/"]; });
  EXPECT_STATUS_CODE(Bundle::Open(tmp.Sub("b"), OpenMode::kRead), StatusCode::kCorruption);
}

// A float where the manifest has an integer (1e300 as a part's row count, say) is damage, never a
// cast: nlohmann's get<int64_t>() of it is undefined behaviour (found by fuzz_manifest), which the
// sanitizer build of this test reports.
TEST(Hardening, FloatsWhereManifestIntegersBelongAreCorruption) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  ASSERT_OK(b->CreateTable("/t", ReaderOf(MakeRows(0, 10))).status());
  const std::string file = tmp.Sub("b") + "/manifests/" + std::string(12 - std::to_string(b->commit().id).size(), '0') +
                           std::to_string(b->commit().id) + ".json";
  ASSERT_OK_AND_ASSIGN(Json base, ParseJson(ReadBytes(file), file));
  base.erase("checksum");
  base["format_version"] = 1;  // version 1 manifests are not sealed: every field reaches the parser
  ASSERT_OK(ParseManifest(base.dump(), "m").status());
  const std::vector<std::function<void(Json&)>> edits = {
      [](Json& j) { j["format_version"] = 1e300; },
      [](Json& j) { j["format_version"] = 5e9; },
      [](Json& j) { j["nodes"]["/t"]["table"]["parts"][0]["num_rows"] = 1e300; },
      [](Json& j) { j["nodes"]["/t"]["table"]["parts"][0]["size_bytes"] = -1e300; },
      [](Json& j) { j["nodes"]["/t"]["table"]["parts"][0]["row_groups"][0] = 1e19; },
      [](Json& j) { j["nodes"]["/t"]["table"]["parts"][0]["row_groups"] = 10; },
      [](Json& j) { j["nodes"]["/t"]["table"]["parts"][0]["footer"]["size"] = 1e300; },
      [](Json& j) { j["nodes"]["/t"]["table"]["parts"][0]["footer"]["crc32"] = 2.5; },
  };
  for (size_t i = 0; i < edits.size(); ++i) {
    Json j = base;
    edits[i](j);
    auto r = ParseManifest(j.dump(), "m");
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << "edit " << i << ": " << r.status().ToString();
  }
}
