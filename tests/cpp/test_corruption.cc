// Bad input on disk: damaged part files, a broken CURRENT pointer or manifest, a bundle
// from a newer octavo, a directory that is not a bundle. Every case must give a clear,
// correctly-coded error (never a crash, never garbage rows), and must not make things
// worse: the bundle stays at its last good commit, foreign directories stay untouched.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>

#include "test_util.h"
#include "util/crc32.h"
#include "util/json_util.h"  // Crc32 and Json, to forge CURRENT files like a real writer

using namespace octavo;
using namespace octavo::testing;
namespace fs = std::filesystem;

namespace {


std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// Contents of every file under `dir` except the LOCK file (whose holder text changes).
std::map<std::string, std::string> Contents(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& f : ListFiles(dir))
    if (f != "LOCK") out[f] = ReadBytes(dir + "/" + f);
  return out;
}

class Corruption : public ::testing::Test {
 protected:
  // /t: rows 0..999 in three parts (400, 400, 200) of 100-row row groups; then one more commit.
  void SetUp() override {
    path_ = tmp_.Sub("b");
    ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path_, OpenMode::kAppend));
    TableOptions opts;
    opts.row_group_size = 100;
    opts.part_max_rows = 400;
    ASSERT_OK(b->CreateTable("/t", ReaderOf(MakeRows(0, 1000)), opts));
    ASSERT_OK(b->SetAttr("/", "k", "1"));
    commit_ = b->commit().id;
    ASSERT_OK_AND_ASSIGN(auto t, b->OpenTable("/t"));
    ASSERT_OK_AND_ASSIGN(auto info, t->Info());
    parts_ = info.part_files;
    ASSERT_EQ(parts_.size(), 3u);
    ASSERT_OK(b->Close());
  }

  std::string File(const std::string& rel) const { return path_ + "/" + rel; }

  std::string CurrentManifest() const {
    auto j = Json::parse(ReadBytes(File("CURRENT")));
    return j.at("manifest").get<std::string>();
  }

  // Rewrites the current manifest through `edit` and points CURRENT at it with a matching
  // size and checksum, as a (buggy or future) writer would have.
  void ForgeManifest(const std::function<void(Json&)>& edit) { octavo::testing::ForgeManifest(path_, edit); }

  // A read of /t fails with kCorruption naming the table and the damaged part.
  void ExpectReadCorruption(const std::string& part) {
    ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path_, OpenMode::kRead));
    auto got = ReadTable(*b, "/t");
    EXPECT_STATUS_CODE(got, StatusCode::kCorruption);
    EXPECT_TRUE(Contains(got.status().message(), part)) << got.status().ToString();
    EXPECT_TRUE(Contains(got.status().message(), "table /t")) << got.status().ToString();
    // Streaming meets the same damage, as an error rather than short or garbage output.
    ASSERT_OK_AND_ASSIGN(auto t, b->OpenTable("/t"));
    ASSERT_OK_AND_ASSIGN(auto scan, t->Scan({}, 128));
    auto all = scan->ToTable();
    EXPECT_FALSE(all.ok());
    if (!all.ok()) EXPECT_TRUE(Contains(all.status().message(), part)) << all.status().ToString();
    // Rows outside the damaged part are still served: only the parts a read needs are opened.
    ReadOptions first;
    first.stop = 400;
    ASSERT_OK_AND_ASSIGN(auto head, t->Read(first));
    EXPECT_TRUE(TablesEqual(*head, *MakeRows(0, 400)));
  }

  // The bundle still opens at its last good commit, and a writer can commit on top of it.
  void ExpectStillAtLastGoodCommit() {
    ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path_, OpenMode::kRead));
    EXPECT_EQ(r->commit().id, commit_);
    ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path_, OpenMode::kAppend));
    EXPECT_EQ(w->commit().id, commit_);
    ASSERT_OK(w->SetAttr("/", "after", "true"));
    EXPECT_EQ(w->commit().id, commit_ + 1);
  }

  TempDir tmp_;
  std::string path_;
  int64_t commit_ = 0;
  std::vector<std::string> parts_;
};

// --- damaged part files --------------------------------------------------------------

TEST_F(Corruption, TruncatedPartIsReportedWithFileAndTable) {
  fs::resize_file(parts_[1], fs::file_size(parts_[1]) / 2);
  ASSERT_NO_FATAL_FAILURE(ExpectReadCorruption(parts_[1]));
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path_, OpenMode::kRead));
  auto got = ReadTable(*b, "/t");
  EXPECT_TRUE(Contains(got.status().message(), "truncated")) << got.status().ToString();
  ExpectStillAtLastGoodCommit();
}

TEST_F(Corruption, GarbagePartOfTheSameSizeIsCorruptionNotACrash) {
  WriteBytes(parts_[1], RandomBytes(fs::file_size(parts_[1]), 7));
  ASSERT_NO_FATAL_FAILURE(ExpectReadCorruption(parts_[1]));
  ExpectStillAtLastGoodCommit();
}

TEST_F(Corruption, GarbageInsideAPartWithIntactFooterNeverCrashes) {
  // Keep the Parquet footer, scribble over the column data. Parquet has no page checksums
  // here, so garbage may decode; what must not happen is a crash or a non-Corruption code.
  const std::string orig = ReadBytes(parts_[1]);
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::string bad = orig;
    const size_t from = 4 + seed * (orig.size() / 20), len = orig.size() / 10;
    bad.replace(from, len, RandomBytes(len, seed));
    WriteBytes(parts_[1], bad);
    ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path_, OpenMode::kRead));
    auto got = ReadTable(*b, "/t");
    if (!got.ok()) {
      EXPECT_STATUS_CODE(got, StatusCode::kCorruption);
      EXPECT_TRUE(Contains(got.status().message(), parts_[1])) << got.status().ToString();
    } else {
      EXPECT_EQ((*got)->num_rows(), 1000);
    }
  }
  ExpectStillAtLastGoodCommit();
}

TEST_F(Corruption, MissingPartIsReported) {
  fs::remove(parts_[2]);
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path_, OpenMode::kRead));
  auto got = ReadTable(*b, "/t");
  EXPECT_STATUS_CODE(got, StatusCode::kCorruption);
  EXPECT_TRUE(Contains(got.status().message(), parts_[2])) << got.status().ToString();
  EXPECT_TRUE(Contains(got.status().message(), "missing")) << got.status().ToString();
  ExpectStillAtLastGoodCommit();
}

// --- CURRENT and manifests -------------------------------------------------------------

TEST_F(Corruption, DeletedCurrentIsCorruptionAndNotRepairedBehindOurBack) {
  fs::remove(File("CURRENT"));
  const auto before = Contents(path_);
  for (auto mode : {OpenMode::kRead, OpenMode::kAppend}) {
    auto b = Bundle::Open(path_, mode);
    EXPECT_STATUS_CODE(b, StatusCode::kCorruption);
    EXPECT_TRUE(Contains(b.status().message(), "CURRENT")) << b.status().ToString();
  }
  // A writer must not "fix" it by starting a fresh, empty history.
  EXPECT_EQ(Contents(path_), before);
  // Every commit is still reachable by number.
  OpenOptions at;
  at.commit = commit_;
  ASSERT_OK_AND_ASSIGN(auto old, Bundle::Open(path_, OpenMode::kRead, at));
  ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*old, "/t"));
  EXPECT_TRUE(TablesEqual(*rows, *MakeRows(0, 1000)));
}

TEST_F(Corruption, GarbageCurrentIsCorruption) {
  for (const std::string& garbage : {std::string("\x01\x02 not json {"), std::string("{}"),
                                    std::string(R"({"manifest":"../../etc/passwd","size":1,"crc32":1})"),
                                    std::string(R"({"manifest":"manifests/000000000001.json","size":"x"})")}) {
    SCOPED_TRACE(garbage);
    WriteBytes(File("CURRENT"), garbage);
    auto b = Bundle::Open(path_, OpenMode::kRead);
    EXPECT_STATUS_CODE(b, StatusCode::kCorruption);
    EXPECT_TRUE(Contains(b.status().message(), "CURRENT")) << b.status().ToString();
  }
}

TEST_F(Corruption, CurrentPointingAtTruncatedManifestIsCorruption) {
  const std::string rel = CurrentManifest();
  fs::resize_file(File(rel), fs::file_size(File(rel)) / 2);
  auto b = Bundle::Open(path_, OpenMode::kRead);
  EXPECT_STATUS_CODE(b, StatusCode::kCorruption);
  EXPECT_TRUE(Contains(b.status().message(), rel)) << b.status().ToString();
  EXPECT_TRUE(Contains(b.status().message(), "truncated")) << b.status().ToString();
  // The message's advice works: the previous commit opens.
  OpenOptions at;
  at.commit = commit_ - 1;
  ASSERT_OK_AND_ASSIGN(auto old, Bundle::Open(path_, OpenMode::kRead, at));
  ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*old, "/t"));
  EXPECT_TRUE(TablesEqual(*rows, *MakeRows(0, 1000)));
}

TEST_F(Corruption, ManifestFailingItsChecksumIsCorruption) {
  const std::string rel = CurrentManifest();
  std::string text = ReadBytes(File(rel));
  // Same size, one changed byte inside a string: still valid JSON, so only the CRC can tell.
  const size_t at = text.find("set attribute");
  ASSERT_NE(at, std::string::npos);
  text[at] = 'S';
  WriteBytes(File(rel), text);
  auto b = Bundle::Open(path_, OpenMode::kRead);
  EXPECT_STATUS_CODE(b, StatusCode::kCorruption);
  EXPECT_TRUE(Contains(b.status().message(), "checksum")) << b.status().ToString();
  EXPECT_TRUE(Contains(b.status().message(), rel)) << b.status().ToString();
}

TEST_F(Corruption, StructurallyBrokenManifestIsCorruption) {
  // Valid JSON with a valid checksum, but not a valid manifest.
  ForgeManifest([](Json& m) { m.erase("nodes"); });
  EXPECT_STATUS_CODE(Bundle::Open(path_, OpenMode::kRead), StatusCode::kCorruption);
  ForgeManifest([](Json& m) { m["nodes"] = Json::object(); });
  EXPECT_STATUS_CODE(Bundle::Open(path_, OpenMode::kRead), StatusCode::kCorruption);  // no root group
}

TEST_F(Corruption, PartPathEscapingTheBundleIsRefused) {
  ForgeManifest([](Json& m) { m["nodes"]["/t"]["table"]["parts"][0]["file"] = "../../../etc/passwd"; });
  auto b = Bundle::Open(path_, OpenMode::kRead);
  EXPECT_STATUS_CODE(b, StatusCode::kCorruption);
  EXPECT_TRUE(Contains(b.status().message(), "not a data file inside the bundle")) << b.status().ToString();
}

// A file node's content file is derived from its digest, never read from the manifest, so a
// forged digest cannot point a read outside the bundle; a digest that is not one is refused
// when the manifest is read, before any file is opened.
TEST_F(Corruption, FileNodeWithForgedDigestIsRefused) {
  {
    ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path_, OpenMode::kAppend));
    ASSERT_OK_AND_ASSIGN(auto w, b->CreateFile("/f"));
    ASSERT_OK(w->Write("abc", 3));
    ASSERT_OK(w->Close().status());
  }
  for (const std::string& forged : std::vector<std::string>{"blake2b-256:../../../../../../../../etc/passwd",
                             "blake2b-256:" + std::string(64, 'G'), std::string("md5:abc")}) {
    SCOPED_TRACE(forged);
    ForgeManifest([&](Json& m) {
      m["nodes"]["/f"]["payload"]["digest"] = forged;
      m["nodes"]["/f"]["payload"]["blob"] = "../../../etc/passwd";
    });
    auto b = Bundle::Open(path_, OpenMode::kRead);
    EXPECT_STATUS_CODE(b, StatusCode::kCorruption);
    EXPECT_TRUE(Contains(b.status().message(), "invalid digest")) << b.status().ToString();
  }
}

// Same digest, different bytes on disk (damage after the write): Verify catches it.
TEST_F(Corruption, FileNodeContentChangedOnDiskFailsVerify) {
  std::string blob;
  {
    ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path_, OpenMode::kAppend));
    ASSERT_OK_AND_ASSIGN(auto w, b->CreateFile("/f"));
    ASSERT_OK(w->Write("hello world", 11));
    ASSERT_OK_AND_ASSIGN(auto info, w->Close());
    blob = info.blob;
    EXPECT_EQ(info.digest, "blake2b-256:" + std::string("256c83b297114d201b30179f3f0ef0cace9783622da5974326b436178aeef610"));
  }
  WriteBytes(File(blob), "hellO world");
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path_, OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(auto r, b->OpenFile("/f"));
  auto st = r->Verify();
  EXPECT_STATUS_CODE(st, StatusCode::kCorruption);
  EXPECT_TRUE(Contains(st.message(), "/f")) << st.ToString();
}

// --- versions ------------------------------------------------------------------------

TEST_F(Corruption, MarkerFromNewerFormatAsksForUpgrade) {
  Json marker = Json::parse(ReadBytes(File("OCTAVO")));
  marker["format_version"] = 999;
  WriteBytes(File("OCTAVO"), marker.dump());
  const auto before = Contents(path_);
  for (auto mode : {OpenMode::kRead, OpenMode::kAppend, OpenMode::kCreate}) {
    auto b = Bundle::Open(path_, mode);
    EXPECT_STATUS_CODE(b, StatusCode::kUnsupportedVersion);
    EXPECT_TRUE(Contains(b.status().message(), "upgrade")) << b.status().ToString();
    EXPECT_TRUE(Contains(b.status().message(), "999")) << b.status().ToString();
  }
  // Not even mode 'w' may touch a bundle it does not understand.
  EXPECT_EQ(Contents(path_), before);
}

TEST_F(Corruption, ManifestFromNewerFormatAsksForUpgrade) {
  ForgeManifest([](Json& m) { m["format_version"] = 999; });
  const auto before = Contents(path_);
  for (auto mode : {OpenMode::kRead, OpenMode::kAppend}) {
    auto b = Bundle::Open(path_, mode);
    EXPECT_STATUS_CODE(b, StatusCode::kUnsupportedVersion);
    EXPECT_TRUE(Contains(b.status().message(), "upgrade")) << b.status().ToString();
  }
  EXPECT_EQ(Contents(path_), before);
}

// --- not a bundle ---------------------------------------------------------------------

TEST(NotABundle, NonEmptyForeignDirectoryIsRefusedAndUntouched) {
  TempDir tmp;
  const std::string dir = tmp.Sub("mine");
  fs::create_directories(dir + "/sub");
  WriteBytes(dir + "/notes.txt", "precious");
  WriteBytes(dir + "/sub/data.bin", "also precious");
  const auto before = ListFiles(dir);
  for (auto mode : {OpenMode::kAppend, OpenMode::kCreate}) {
    auto b = Bundle::Open(dir, mode);
    EXPECT_STATUS_CODE(b, StatusCode::kAlreadyExists);
    EXPECT_TRUE(Contains(b.status().message(), "not an octavo bundle")) << b.status().ToString();
    EXPECT_TRUE(Contains(b.status().message(), dir)) << b.status().ToString();
  }
  auto r = Bundle::Open(dir, OpenMode::kRead);
  EXPECT_STATUS_CODE(r, StatusCode::kNotFound);
  EXPECT_TRUE(Contains(r.status().message(), "not an octavo bundle")) << r.status().ToString();
  // Nothing added (no LOCK, no manifests/), nothing changed.
  EXPECT_EQ(ListFiles(dir), before);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
  EXPECT_EQ(ReadBytes(dir + "/notes.txt"), "precious");
  EXPECT_EQ(ReadBytes(dir + "/sub/data.bin"), "also precious");
}

TEST(NotABundle, RegularFileIsRefusedAndUntouched) {
  TempDir tmp;
  const std::string file = tmp.Sub("file.txt");
  WriteBytes(file, "hello");
  for (auto mode : {OpenMode::kRead, OpenMode::kAppend, OpenMode::kCreate}) {
    auto b = Bundle::Open(file, mode);
    EXPECT_FALSE(b.ok());
  }
  EXPECT_TRUE(fs::is_regular_file(file));
  EXPECT_EQ(ReadBytes(file), "hello");
}

TEST(NotABundle, MissingPathReadOnlyIsNotFoundAndNotCreated) {
  TempDir tmp;
  const std::string missing = tmp.Sub("nope/deeper");
  auto b = Bundle::Open(missing, OpenMode::kRead);
  EXPECT_STATUS_CODE(b, StatusCode::kNotFound);
  EXPECT_TRUE(Contains(b.status().message(), missing)) << b.status().ToString();
  OpenOptions at;
  at.commit = 0;
  EXPECT_STATUS_CODE(Bundle::Open(missing, OpenMode::kRead, at), StatusCode::kNotFound);
  EXPECT_FALSE(fs::exists(tmp.Sub("nope")));
}

}  // namespace
