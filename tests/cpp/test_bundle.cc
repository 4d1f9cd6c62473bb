#include <arrow/api.h>
#include <gtest/gtest.h>

#include "test_util.h"

using namespace octavo;
using namespace octavo::testing;

TEST(Bundle, CreateAppendReadRoundTrip) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  ASSERT_OK(b->CreateGroup("/data"));
  TableOptions opts;
  opts.row_group_size = 100;
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/data/readout",
                                              std::make_shared<arrow::TableBatchReader>(MakeRows(0, 1000)), opts));
  ASSERT_OK(t->Append(MakeRows(1000, 500)));
  ASSERT_OK_AND_ASSIGN(auto info, t->Info());
  EXPECT_EQ(info.num_rows, 1500);
  EXPECT_EQ(info.num_parts, 2);
  ReadOptions ro;
  ro.start = 950;
  ro.stop = 1050;
  ro.columns = {"id"};
  ASSERT_OK_AND_ASSIGN(auto got, t->Read(ro));
  ASSERT_EQ(got->num_rows(), 100);
  ASSERT_EQ(got->num_columns(), 1);
  auto ids = std::static_pointer_cast<arrow::Int64Array>(*arrow::Concatenate(got->column(0)->chunks()));
  for (int64_t i = 0; i < 100; ++i) ASSERT_EQ(ids->Value(i), 950 + i);
  ASSERT_OK(b->Close());

  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(dir.Sub("b"), OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(auto t2, r->OpenTable("/data/readout"));
  ASSERT_OK_AND_ASSIGN(auto all, t2->Read({}));
  EXPECT_TRUE(all->Equals(*arrow::ConcatenateTables({MakeRows(0, 1000), MakeRows(1000, 500)}).ValueOrDie()));
}

TEST(Bundle, NamedSnapshotsOpenTheirCommitAndSurviveLaterChanges) {
  TempDir dir;
  const std::string path = dir.Sub("b");
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(path, OpenMode::kAppend));
  ASSERT_OK(b->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  ASSERT_OK_AND_ASSIGN(auto s, b->CreateSnapshot("v1", "ten rows"));
  EXPECT_EQ(s.commit, b->commit().id);
  const int64_t commits_before = b->commit().id;
  ASSERT_OK_AND_ASSIGN(auto t, b->OpenTable("/t"));
  ASSERT_OK(t->Append(MakeRows(10, 5)));
  ASSERT_OK(b->RemoveNode("/t"));
  EXPECT_STATUS_CODE(b->CreateSnapshot("v1"), StatusCode::kAlreadyExists);
  EXPECT_STATUS_CODE(b->CreateSnapshot("../etc"), StatusCode::kInvalid);
  EXPECT_STATUS_CODE(b->CreateSnapshot("x", "", 999), StatusCode::kNotFound);
  ASSERT_OK(b->Close());

  OpenOptions o;
  o.snapshot = "v1";
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(path, OpenMode::kRead, o));
  EXPECT_EQ(r->commit().id, commits_before);
  EXPECT_FALSE(r->writable());
  ASSERT_OK_AND_ASSIGN(auto got, ReadTable(*r, "/t"));
  EXPECT_TRUE(TablesEqual(*got, *MakeRows(0, 10)));
  ASSERT_OK_AND_ASSIGN(auto snaps, r->ListSnapshots());
  ASSERT_EQ(snaps.size(), 1u);
  EXPECT_EQ(snaps[0].message, "ten rows");
  o.snapshot = "missing";
  EXPECT_STATUS_CODE(Bundle::Open(path, OpenMode::kRead, o), StatusCode::kNotFound);
  // A crash while writing a snapshot leaves a temporary that is ignored.
  WriteBytes(path + "/snapshots/v2.json.tmp", "{\"comm");
  ASSERT_OK_AND_ASSIGN(auto r2, Bundle::Open(path, OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(snaps, r2->ListSnapshots());
  EXPECT_EQ(snaps.size(), 1u);
  // A damaged snapshot file is reported, naming it.
  WriteBytes(path + "/snapshots/v1.json", "{\"commit\": \"x\"}");
  o.snapshot = "v1";
  auto bad = Bundle::Open(path, OpenMode::kRead, o);
  EXPECT_STATUS_CODE(bad, StatusCode::kCorruption);
}
