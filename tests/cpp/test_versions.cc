// Versioning tools: Restore (an old tree as a new commit, no data copied) and Diff.
#include <arrow/api.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

using namespace octavo;
using namespace octavo::testing;

TEST(Versions, RestoreMakesANewCommitWithTheOldTree) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  ASSERT_OK(b->SetAttr("/t", "v", "1"));
  const int64_t good = b->commit().id;
  ASSERT_OK(b->CreateSnapshot("good"));
  ASSERT_OK(t->Append(MakeRows(10, 5)));
  ASSERT_OK(b->CreateGroup("/later"));
  ASSERT_OK(b->RemoveNode("/t"));
  // Data files only: the restore is a new Delta log version of /t (derived data, not a copy).
  auto data_files = [&] {
    std::vector<std::string> out;
    for (const auto& f : ListFiles(path + "/data"))
      if (!Contains(f, "_delta_log")) out.push_back(f);
    return out;
  };
  const auto files_before = data_files();

  ASSERT_OK_AND_ASSIGN(auto c, b->Restore(std::to_string(good)));
  EXPECT_EQ(c.id, good + 4);
  EXPECT_EQ(c.parent, good + 3);
  EXPECT_TRUE(Contains(c.message, "restore commit " + std::to_string(good))) << c.message;
  EXPECT_EQ(data_files(), files_before);  // no data copied
  ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*b, "/t"));
  EXPECT_TRUE(TablesEqual(*rows, *MakeRows(0, 10)));
  EXPECT_FALSE(b->Exists("/later"));
  ASSERT_OK_AND_ASSIGN(auto diff, b->Diff(std::to_string(good), ""));
  EXPECT_TRUE(diff.empty());
  // History is intact: the commits in between still open.
  OpenOptions o;
  o.commit = good + 1;
  ASSERT_OK_AND_ASSIGN(auto old, Bundle::Open(path, OpenMode::kRead, o));
  ASSERT_OK_AND_ASSIGN(auto old_rows, ReadTable(*old, "/t"));
  EXPECT_EQ(old_rows->num_rows(), 15);
  // By snapshot name too.
  ASSERT_OK(b->CreateGroup("/again"));
  ASSERT_OK_AND_ASSIGN(auto c2, b->Restore("good"));
  EXPECT_TRUE(Contains(c2.message, "snapshot good")) << c2.message;
  EXPECT_FALSE(b->Exists("/again"));
  EXPECT_STATUS_CODE(b->Restore("nope"), StatusCode::kNotFound);
  EXPECT_STATUS_CODE(b->Restore("999"), StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  EXPECT_STATUS_CODE(r->Restore("good"), StatusCode::kReadOnly);
}

TEST(Versions, RestoreAfterGcIsAClearErrorWhenDataIsGone) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  const int64_t first = b->commit().id;
  ASSERT_OK(t->Repack(RepackOptions{}));  // the first part file is referenced by old commits only
  ASSERT_OK(b->CreateGroup("/g"));
  // A kept commit restores after gc; a dropped one is named as dropped.
  GcOptions keep_two;
  keep_two.keep_last = 2;
  ASSERT_OK(b->CollectGarbage(keep_two).status());
  ASSERT_OK(b->Restore(std::to_string(b->commit().id - 1)).status());
  auto gone = b->Restore(std::to_string(first));
  EXPECT_STATUS_CODE(gone, StatusCode::kNotFound);
  EXPECT_TRUE(Contains(gone.status().message(), "garbage collection")) << gone.status().ToString();
  // A manifest kept but its data collected (a hand-kept manifest): the missing file is named.
  ASSERT_OK(b->CreateSnapshot("keep"));
  ASSERT_OK(b->RemoveNode("/t"));
  ASSERT_OK(b->CreateGroup("/h"));
  for (const auto& f : ListFiles(path + "/data")) std::filesystem::remove(path + "/data/" + f);
  auto missing = b->Restore("keep");
  EXPECT_STATUS_CODE(missing, StatusCode::kNotFound);
  EXPECT_TRUE(Contains(missing.status().message(), "data file data/")) << missing.status().ToString();
  EXPECT_FALSE(b->Exists("/t"));  // nothing committed
}

TEST(Versions, DiffNamesAddedRemovedAndModifiedNodes) {
  TempDir tmp;
  const std::string path = tmp.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  ASSERT_OK(b->CreateGroup("/gone"));
  ASSERT_OK(b->CreateGroup("/same"));
  const std::string a = std::to_string(b->commit().id);
  ASSERT_OK(t->Append(MakeRows(10, 5)));
  ASSERT_OK(b->RemoveNode("/gone"));
  ASSERT_OK(b->CreateTable("/new", ReaderOf(MakeRows(0, 3))).status());
  ASSERT_OK(b->SetAttr("/same", "k", "1"));
  ASSERT_OK_AND_ASSIGN(auto d, b->Diff(a, ""));
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].path, "/gone");
  EXPECT_EQ(d[0].change, NodeChange::Change::kRemoved);
  EXPECT_EQ(d[1].path, "/new");
  EXPECT_EQ(d[1].change, NodeChange::Change::kAdded);
  EXPECT_EQ(d[1].rows_after, 3);
  EXPECT_EQ(d[2].path, "/same");
  EXPECT_TRUE(d[2].attrs_changed);
  EXPECT_FALSE(d[2].content_changed);
  EXPECT_EQ(d[3].path, "/t");
  EXPECT_EQ(d[3].change, NodeChange::Change::kModified);
  EXPECT_EQ(d[3].rows_before, 10);
  EXPECT_EQ(d[3].rows_after, 15);
  EXPECT_TRUE(d[3].content_changed);
  EXPECT_EQ(NodeChangeName(d[3].change), std::string("modified"));
  // Reversed, and from a read-only handle.
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(auto back, r->Diff("", a));
  ASSERT_EQ(back.size(), 4u);
  EXPECT_EQ(back[0].change, NodeChange::Change::kAdded);
  EXPECT_EQ(back[3].rows_before, 15);
  EXPECT_STATUS_CODE(r->Diff("12345"), StatusCode::kNotFound);
}
