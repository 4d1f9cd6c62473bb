// History that lost a manifest: gc's removals are recorded (manifests/dropped.json), so a
// manifest deleted by hand or lost is reported as damage, never mistaken for collection.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "test_util.h"

using namespace octavo;
using namespace octavo::testing;
namespace fs = std::filesystem;

// A manifest deleted by hand from the middle of history is damage, not gc's work: the record
// of dropped commits (manifests/dropped.json) tells the two apart.
TEST(History, ManifestLostMidHistoryIsReportedNotTakenForGc) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  {
    ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kAppend));
    ASSERT_OK_AND_ASSIGN(auto t, w->CreateTable("/t", ReaderOf(MakeRows(0, 10))));  // commit 1
    for (int i = 0; i < 4; ++i) ASSERT_OK(t->Append(MakeRows(10 + i, 1)));         // commits 2-5
    ASSERT_OK(w->Close());
  }
  const std::string lost = path + "/manifests/000000000002.json";
  const std::string saved = tmp.Sub("saved.json");
  fs::copy_file(lost, saved);
  fs::remove(lost);
  {
    ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
    auto commits = r->ListCommits();
    ASSERT_FALSE(commits.ok());
    EXPECT_EQ(commits.status().code(), StatusCode::kCorruption);
    EXPECT_TRUE(Contains(commits.status().message(), "000000000002.json is missing")) << commits.status().message();
    EXPECT_TRUE(Contains(commits.status().message(), "never removed it")) << commits.status().message();
    OpenOptions at;
    at.commit = 2;
    auto old = Bundle::Open(path, OpenMode::kRead, at);
    ASSERT_FALSE(old.ok());
    EXPECT_EQ(old.status().code(), StatusCode::kCorruption) << old.status().ToString();
  }
  fs::copy_file(saved, lost);
  {
    // gc --keep-last 2 drops commits 0-3: recorded, so they read as collected, not lost.
    ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kAppend));
    GcOptions keep2;
    keep2.keep_last = 2;
    ASSERT_OK_AND_ASSIGN(auto rep, w->CollectGarbage(keep2));
    EXPECT_EQ(rep.commits_removed, 4);
    ASSERT_OK_AND_ASSIGN(auto commits, w->ListCommits());
    ASSERT_EQ(commits.size(), 2u);
    EXPECT_EQ(commits[0].id, 4);
    OpenOptions at;
    at.commit = 1;
    auto old = Bundle::Open(path, OpenMode::kRead, at);
    ASSERT_FALSE(old.ok());
    EXPECT_EQ(old.status().code(), StatusCode::kNotFound) << old.status().ToString();
    EXPECT_TRUE(Contains(old.status().message(), "garbage collection")) << old.status().message();
    ASSERT_OK(w->Close());
  }
  // ... while one of the kept ones, deleted by hand, is again damage.
  fs::remove(path + "/manifests/000000000004.json");
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  auto commits = r->ListCommits();
  ASSERT_FALSE(commits.ok());
  EXPECT_TRUE(Contains(commits.status().message(), "000000000004.json is missing")) << commits.status().message();
}

// A bundle from before the record: its gaps count as collected, and the first gc seeds the
// record with them, so they stay that way.
TEST(History, BundleWithoutDroppedRecordGetsOneSeededByGc) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  {
    ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kAppend));
    ASSERT_OK_AND_ASSIGN(auto t, w->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
    for (int i = 0; i < 4; ++i) ASSERT_OK(t->Append(MakeRows(10 + i, 1)));
    ASSERT_OK(w->Close());
  }
  fs::remove(path + "/manifests/dropped.json");
  fs::remove(path + "/manifests/000000000001.json");  // an older gc's work, as far as anyone can tell
  ASSERT_OK_AND_ASSIGN(auto w, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto before, w->ListCommits());
  EXPECT_EQ(before.size(), 5u);
  GcOptions keep3;
  keep3.keep_last = 3;
  ASSERT_OK(w->CollectGarbage(keep3).status());
  ASSERT_TRUE(fs::exists(path + "/manifests/dropped.json"));
  ASSERT_OK_AND_ASSIGN(auto after, w->ListCommits());
  EXPECT_EQ(after.size(), 3u);
  // the record is checked: a flipped byte is damage, named
  {
    std::string text = ReadBytes(path + "/manifests/dropped.json");
    text[text.find('[') + 1] ^= 0x01;
    WriteBytes(path + "/manifests/dropped.json", text);
  }
  auto bad = w->ListCommits();
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(bad.status().message(), "dropped.json")) << bad.status().message();
}
