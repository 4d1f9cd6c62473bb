// Table::Repack (sort_by, external merge) and secondary indexes (CreateIndex / Where).
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <gtest/gtest.h>

#include <random>

#include "test_util.h"

namespace octavo {
namespace {

using testing::TempDir;

// k: int64 random in [0, 50) with ~10% nulls, v: float64 with NaN, id: row number.
std::shared_ptr<arrow::Table> RandomRows(int64_t first, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  arrow::Int64Builder id, k;
  arrow::DoubleBuilder v;
  for (int64_t i = 0; i < n; ++i) {
    (void)id.Append(first + i);
    if (rng() % 10 == 0) (void)k.AppendNull(); else (void)k.Append(rng() % 50);
    if (rng() % 20 == 0) (void)v.Append(NAN); else (void)v.Append(static_cast<double>(rng() % 1000) / 10.0);
  }
  std::shared_ptr<arrow::Array> a, b, c;
  (void)id.Finish(&a);
  (void)k.Finish(&b);
  (void)v.Finish(&c);
  return arrow::Table::Make(
      arrow::schema({arrow::field("id", arrow::int64()), arrow::field("k", arrow::int64()),
                     arrow::field("v", arrow::float64())}),
      {a, b, c});
}

struct Fixture {
  TempDir dir;
  std::shared_ptr<Bundle> bundle;
  std::shared_ptr<Table> table;
  std::shared_ptr<arrow::Table> rows;
};

void Make(Fixture* f, int parts, int64_t rows_per_part) {
  TableOptions o;
  o.row_group_size = 100;
  f->bundle = Bundle::Open(f->dir.Sub("b"), OpenMode::kAppend).ValueOrDie();
  std::vector<std::shared_ptr<arrow::Table>> all;
  for (int p = 0; p < parts; ++p) {
    auto t = RandomRows(p * rows_per_part, rows_per_part, 17 + p);
    all.push_back(t);
    if (p == 0)
      f->table = f->bundle->CreateTable("/t", testing::ReaderOf(t), o).ValueOrDie();
    else
      ASSERT_OK(f->table->Append(t));
  }
  f->rows = arrow::ConcatenateTables(all).ValueOrDie();
}

TEST(Repack, ExternalSortMatchesArrowSort) {
  Fixture f;
  Make(&f, 3, 1000);
  RepackOptions o;
  o.sort_by = {"k", "v"};
  o.run_rows = 350;  // 9 runs merged
  ASSERT_OK(f.table->Repack(o));
  ASSERT_OK_AND_ASSIGN(auto got, f.table->Read());
  namespace cp = arrow::compute;
  cp::SortOptions so({cp::SortKey("k", cp::SortOrder::Ascending, cp::NullPlacement::AtEnd),
                      cp::SortKey("v", cp::SortOrder::Ascending, cp::NullPlacement::AtEnd)});
  auto idx = cp::SortIndices(arrow::Datum(f.rows), so).ValueOrDie();
  auto want = cp::Take(f.rows, idx).ValueOrDie().table();
  ASSERT_EQ(got->num_rows(), want->num_rows());
  // Keys in the same order (ties may differ in the other columns)...
  for (const char* key : {"k", "v"}) {
    auto a = got->GetColumnByName(key), b = want->GetColumnByName(key);
    EXPECT_TRUE(a->Equals(*b) || a->ApproxEquals(*b, arrow::EqualOptions().nans_equal(true))) << key;
  }
  // ... and the same rows: sorting both by id gives equal tables.
  cp::SortOptions by_id({cp::SortKey("id")});
  auto g2 = cp::Take(got, cp::SortIndices(arrow::Datum(got), by_id).ValueOrDie()).ValueOrDie().table();
  for (const char* c : {"id", "k", "v"})
    EXPECT_TRUE(g2->GetColumnByName(c)->Equals(*f.rows->GetColumnByName(c), arrow::EqualOptions().nans_equal(true)))
        << c;
  ASSERT_OK_AND_ASSIGN(auto info, f.table->Info());
  EXPECT_EQ(info.sorted_by, (std::vector<std::string>{"k", "v"}));
  EXPECT_EQ(info.sorted_rows, 3000);
}

TEST(Repack, SortedTableWherePrunesRowGroups) {
  Fixture f;
  Make(&f, 2, 1000);
  RepackOptions o;
  o.sort_by = {"k"};
  ASSERT_OK(f.table->Repack(o));
  QueryStats st;
  ASSERT_OK_AND_ASSIGN(auto rows, f.table->GetWhereList("k == 7", {}, &st));
  EXPECT_FALSE(rows.empty());
  EXPECT_LE(st.row_groups_total - st.row_groups_skipped, 2);
  EXPECT_EQ(st.parts_sorted, st.parts_total);
}

TEST(Index, SameRowsWithAndWithoutIndex) {
  Fixture f;
  Make(&f, 3, 1000);
  ASSERT_OK(f.table->CreateIndex("k"));
  ASSERT_OK(f.table->CreateIndex("v"));
  ASSERT_OK(f.table->Append(RandomRows(3000, 500, 99)));  // indexed on append
  for (const char* cond : {"k == 7", "k IN (1, 2, 3)", "(k > 40) & (v < 50)", "v BETWEEN 10 AND 11",
                           "(k == 3) | (k == 4)", "k < 0", "(v > 99.5) | (v != v)"}) {
    WhereOptions with, without;
    without.use_index = false;
    QueryStats s1, s2;
    ASSERT_OK_AND_ASSIGN(auto a, f.table->GetWhereList(cond, with, &s1));
    ASSERT_OK_AND_ASSIGN(auto b, f.table->GetWhereList(cond, without, &s2));
    EXPECT_EQ(a, b) << cond;
    EXPECT_EQ(s2.parts_indexed, 0) << cond;
    if (std::string(cond) == "k < 0") {
      EXPECT_EQ(s1.parts_skipped, 4);  // statistics rule every part out before any index is read
    } else if (std::string(cond) != "(v > 99.5) | (v != v)") {
      EXPECT_EQ(s1.parts_indexed, 4) << cond;
      EXPECT_LT(s1.rows_scanned, s2.rows_scanned) << cond;
    }
  }
  ASSERT_OK_AND_ASSIGN(auto idx, f.table->Indexes());
  EXPECT_EQ(idx, (std::vector<std::string>{"k", "v"}));
  EXPECT_STATUS_CODE(f.table->CreateIndex("k"), StatusCode::kAlreadyExists);
  ASSERT_OK(f.table->RemoveIndex("k"));
  EXPECT_STATUS_CODE(f.table->RemoveIndex("k"), StatusCode::kNotFound);
}

}  // namespace
}  // namespace octavo
