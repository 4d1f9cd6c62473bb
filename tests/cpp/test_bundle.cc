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
