// Tables: every Arrow type round-trips exactly; row ranges, projections and streaming
// scans agree with slicing the same data in memory across part and row-group boundaries;
// a schema mismatch writes nothing; Info() needs no data file.
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "table/parquet_io.h"
#include "table/rechunk.h"
#include "test_util.h"

using namespace octavo;
using namespace octavo::testing;
namespace fs = std::filesystem;

namespace {


std::shared_ptr<arrow::Array> FromJson(const std::shared_ptr<arrow::DataType>& type, const std::string& json) {
  auto a = arrow::json::ArrayFromJSONString(type, json);
  if (!a.ok()) throw std::runtime_error(type->ToString() + ": " + a.status().ToString());
  return *a;
}

std::shared_ptr<arrow::Array> DictFromJson(const std::shared_ptr<arrow::DataType>& type, const std::string& indices,
                                           const std::string& dict) {
  auto a = arrow::json::DictArrayFromJSONString(type, indices, dict);
  if (!a.ok()) throw std::runtime_error(type->ToString() + ": " + a.status().ToString());
  return *a;
}

// Seven rows of every type octavo promises to store, nulls included. `dict_index` is the
// dictionary column's index type: tables store int32 indices whatever they were given.
std::shared_ptr<arrow::Table> AllTypes(const std::shared_ptr<arrow::DataType>& dict_index) {
  using namespace arrow;
  std::vector<std::pair<std::shared_ptr<arrow::Field>, std::shared_ptr<arrow::Array>>> cols = {
      {field("bool", boolean()), FromJson(boolean(), "[true, false, null, true, true, false, false]")},
      {field("i8", int8()), FromJson(int8(), "[-128, 127, 0, null, 1, -1, 5]")},
      {field("i16", int16()), FromJson(int16(), "[-32768, 32767, 0, null, 1, -1, 5]")},
      {field("i32", int32()), FromJson(int32(), "[-2147483648, 2147483647, 0, null, 1, -1, 5]")},
      {field("i64", int64()),
       FromJson(int64(), "[-9223372036854775808, 9223372036854775807, 0, null, 1, -1, 5]")},
      {field("u8", uint8()), FromJson(uint8(), "[0, 255, 1, null, 2, 3, 4]")},
      {field("u16", uint16()), FromJson(uint16(), "[0, 65535, 1, null, 2, 3, 4]")},
      {field("u32", uint32()), FromJson(uint32(), "[0, 4294967295, 1, null, 2, 3, 4]")},
      {field("u64", uint64()), FromJson(uint64(), "[0, 18446744073709551615, 1, null, 2, 3, 4]")},
      {field("f16", float16()), FromJson(float16(), "[0.5, -2.25, 65504, null, 0, 1, -1]")},
      {field("f32", float32()), FromJson(float32(), "[0.5, -2.25, 3.4e38, null, 0, 1e-30, -1]")},
      {field("f64", float64()), FromJson(float64(), "[0.5, -2.25, 1.7e308, null, 0, 5e-324, -1]")},
      {field("utf8", utf8()), FromJson(utf8(), R"(["a", "", null, "h\u00e9llo", "\u65e5\u672c", "x y", "z"])")},
      {field("large_utf8", large_utf8()), FromJson(large_utf8(), R"(["a", "", null, "bb", "ccc", "d", "e"])")},
      {field("binary", binary()), FromJson(binary(), R"(["\u0000\u0001", "", null, "abc", "\u00ff", "x", "y"])")},
      {field("ts_s_utc", timestamp(TimeUnit::SECOND, "UTC")),
       FromJson(timestamp(TimeUnit::SECOND, "UTC"), "[0, 1700000000, null, -1, 2, 3, 4]")},
      {field("ts_ms_paris", timestamp(TimeUnit::MILLI, "Europe/Paris")),
       FromJson(timestamp(TimeUnit::MILLI, "Europe/Paris"), "[0, 1700000000123, null, -1, 2, 3, 4]")},
      {field("ts_us_ny", timestamp(TimeUnit::MICRO, "America/New_York")),
       FromJson(timestamp(TimeUnit::MICRO, "America/New_York"), "[0, 1700000000123456, null, -1, 2, 3, 4]")},
      {field("ts_ns", timestamp(TimeUnit::NANO)),
       FromJson(timestamp(TimeUnit::NANO), "[0, 1700000000123456789, null, -1, 2, 3, 4]")},
      {field("date32", date32()), FromJson(date32(), "[0, 19000, null, -1, 2, 3, 4]")},
      {field("date64", date64()), FromJson(date64(), "[0, 86400000, null, -86400000, 172800000, 0, 0]")},
      {field("dur_us", duration(TimeUnit::MICRO)), FromJson(duration(TimeUnit::MICRO), "[0, 1, null, -5, 7, 8, 9]")},
      {field("dur_s", duration(TimeUnit::SECOND)), FromJson(duration(TimeUnit::SECOND), "[0, 1, null, -5, 7, 8, 9]")},
      {field("dec", decimal128(20, 4)),
       FromJson(decimal128(20, 4), R"(["123.4500", "-0.0001", null, "9999999999999999.9999", "0.0000", "1.0000", "2.0000"])")},
      {field("dict", dictionary(dict_index, utf8())),
       DictFromJson(dictionary(dict_index, utf8()), "[0, 1, null, 0, 2, 1, 0]", R"(["lo", "mid", "hi"])")},
      {field("list", list(int32())), FromJson(list(int32()), "[[1, 2], [], null, [3], [null, 4], [5, 6, 7], [8]]")},
      {field("struct", struct_({field("a", int32()), field("b", utf8())})),
       FromJson(struct_({field("a", int32()), field("b", utf8())}),
                R"([{"a": 1, "b": "x"}, null, {"a": null, "b": "y"}, {"a": 4, "b": null}, {"a": 5, "b": "z"},
                    {"a": 6, "b": ""}, {"a": 7, "b": "w"}])")},
      {field("fsl", fixed_size_list(float32(), 3)),
       FromJson(fixed_size_list(float32(), 3), "[[1, 2, 3], null, [4, 5, 6], [0, 0, 0], [1, null, 1], [7, 8, 9], "
                                               "[-1, -2, -3]]")},
  };
  arrow::FieldVector fields;
  arrow::ArrayVector arrays;
  for (auto& [f, a] : cols) {
    fields.push_back(f);
    arrays.push_back(a);
  }
  return arrow::Table::Make(arrow::schema(fields), arrays);
}

// `copies` copies of `t` end to end (to span row groups and parts).
std::shared_ptr<arrow::Table> Repeat(const std::shared_ptr<arrow::Table>& t, int copies) {
  std::vector<std::shared_ptr<arrow::Table>> v(copies, t);
  return *arrow::ConcatenateTables(v);
}

TableOptions Small(int64_t row_group, int64_t part) {
  TableOptions o;
  o.row_group_size = row_group;
  o.part_max_rows = part;
  return o;
}

std::shared_ptr<arrow::Table> Drain(arrow::RecordBatchReader& reader, int64_t batch_size, bool* sizes_ok) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  *sizes_ok = true;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> b;
    auto st = reader.ReadNext(&b);
    if (!st.ok()) {
      ADD_FAILURE() << st.ToString();
      return nullptr;
    }
    if (!b) break;
    batches.push_back(b);
  }
  // Exactly batch_size rows per batch; only the last may be shorter (and never empty).
  for (size_t i = 0; i < batches.size(); ++i) {
    const int64_t n = batches[i]->num_rows();
    if (i + 1 < batches.size() ? n != batch_size : (n == 0 || n > batch_size)) {
      ADD_FAILURE() << "batch " << i << " of " << batches.size() << " has " << n << " rows; batch_size "
                    << batch_size;
      *sizes_ok = false;
    }
  }
  return *arrow::Table::FromRecordBatches(reader.schema(), batches);
}

}  // namespace

// --- types ------------------------------------------------------------------------------

TEST(TableTypes, EveryTypeRoundTripsExactly) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  // 70 rows in row groups of 8 and parts of 24: nulls and values cross every boundary.
  auto data = Repeat(AllTypes(arrow::int8()), 10);
  auto want = Repeat(AllTypes(arrow::int32()), 10);
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/all", ReaderOf(data), Small(8, 24)));
  ASSERT_OK(t->Append(data));  // a second append goes through the schema check too
  want = Repeat(want, 2);

  ASSERT_OK_AND_ASSIGN(auto schema, t->schema());
  EXPECT_TRUE(schema->Equals(*want->schema(), false)) << schema->ToString();
  ASSERT_OK(b->Close());

  // From a fresh reader: nothing may come from in-memory leftovers of the writer.
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(tmp.Sub("b"), OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(auto got, ReadTable(*r, "/all"));
  ASSERT_EQ(got->num_columns(), want->num_columns());
  for (int c = 0; c < want->num_columns(); ++c) {
    SCOPED_TRACE(want->field(c)->name());
    EXPECT_TRUE(got->field(c)->type()->Equals(*want->field(c)->type()))
        << got->field(c)->type()->ToString() << " vs " << want->field(c)->type()->ToString();
    EXPECT_TRUE(got->column(c)->Equals(*want->column(c)));
  }
  // A range that starts and ends inside row groups of different parts.
  ReadOptions ro;
  ro.start = 13;
  ro.stop = 121;
  ASSERT_OK_AND_ASSIGN(auto mid, ReadTable(*r, "/all", ro));
  EXPECT_TRUE(TablesEqual(*mid, *want->Slice(13, 108)));
  // And streamed.
  ASSERT_OK_AND_ASSIGN(auto tr, r->OpenTable("/all"));
  ASSERT_OK_AND_ASSIGN(auto scan, tr->Scan(ro, 10));
  bool sizes_ok = false;
  auto scanned = Drain(*scan, 10, &sizes_ok);
  ASSERT_NE(scanned, nullptr);
  EXPECT_TRUE(TablesEqual(*scanned, *want->Slice(13, 108)));
}

// --- row ranges -------------------------------------------------------------------------

class TableRanges : public ::testing::Test {
 protected:
  // Rows 0..147 in parts of 30, 30, 30, 10 | 30, 15 | 3 (three commits), row groups of 7.
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(b_, Bundle::Open(tmp_.Sub("b"), OpenMode::kAppend));
    ASSERT_OK_AND_ASSIGN(t_, b_->CreateTable("/r", ReaderOf(MakeRows(0, 100)), Small(7, 30)));
    ASSERT_OK(t_->Append(MakeRows(100, 45)));
    ASSERT_OK(t_->Append(MakeRows(145, 3)));
    ASSERT_OK_AND_ASSIGN(auto info, t_->Info());
    ASSERT_EQ(info.num_parts, 7);
    want_ = MakeRows(0, kRows);
  }
  static constexpr int64_t kRows = 148;
  // Python-slice semantics for the expected result.
  std::shared_ptr<arrow::Table> Expected(int64_t start, int64_t stop) const {
    if (start < 0) start = std::max<int64_t>(0, kRows + start);
    if (stop < 0 || stop > kRows) stop = kRows;
    start = std::min(start, kRows);
    return want_->Slice(start, std::max<int64_t>(0, stop - start));
  }

  TempDir tmp_;
  std::shared_ptr<Bundle> b_;
  std::shared_ptr<Table> t_;
  std::shared_ptr<arrow::Table> want_;
};

TEST_F(TableRanges, EveryRangeMatchesArrowSlicing) {
  // Part boundaries 30/60/90/100/130/145, row-group boundaries every 7 inside parts.
  const std::vector<int64_t> points = {0, 1, 6, 7, 8, 29, 30, 31, 59, 60, 61, 89, 90, 99,
                                       100, 101, 129, 130, 144, 145, 146, 147, 148, 149, 500};
  for (int64_t start : points) {
    for (int64_t stop : points) {
      SCOPED_TRACE("start " + std::to_string(start) + " stop " + std::to_string(stop));
      ReadOptions ro;
      ro.start = start;
      ro.stop = stop;
      ASSERT_OK_AND_ASSIGN(auto got, t_->Read(ro));
      ASSERT_TRUE(TablesEqual(*got, *Expected(start, stop)));
    }
  }
}

TEST_F(TableRanges, NegativeStartAndStopBeyondEndClampLikePython) {
  struct Case {
    int64_t start, stop;
  };
  for (auto c : std::vector<Case>{{-10, -1}, {-1, -1}, {-148, -1}, {-1000, -1}, {-10, 140}, {-10, 1000},
                                  {0, 1000}, {148, -1}, {200, -1}, {200, 300}, {50, 20}, {-5, 3}}) {
    SCOPED_TRACE("start " + std::to_string(c.start) + " stop " + std::to_string(c.stop));
    ReadOptions ro;
    ro.start = c.start;
    ro.stop = c.stop;
    ASSERT_OK_AND_ASSIGN(auto got, t_->Read(ro));
    EXPECT_TRUE(TablesEqual(*got, *Expected(c.start, c.stop)));
    EXPECT_TRUE(got->schema()->Equals(*want_->schema(), false));  // even when empty
  }
  ASSERT_OK_AND_ASSIGN(auto head, t_->Head(33));
  EXPECT_TRUE(TablesEqual(*head, *want_->Slice(0, 33)));
  ASSERT_OK_AND_ASSIGN(auto all, t_->Head(10'000));
  EXPECT_TRUE(TablesEqual(*all, *want_));
  EXPECT_STATUS_CODE(t_->Head(-1), StatusCode::kInvalid);
}

TEST_F(TableRanges, ColumnProjectionKeepsRequestedOrder) {
  ReadOptions ro;
  ro.columns = {"name", "id"};
  ro.start = 25;
  ro.stop = 105;
  ASSERT_OK_AND_ASSIGN(auto got, t_->Read(ro));
  ASSERT_OK_AND_ASSIGN(auto want, want_->Slice(25, 80)->SelectColumns({2, 0}));
  EXPECT_TRUE(TablesEqual(*got, *want));
}

TEST_F(TableRanges, UnknownColumnIsNotFoundNamingIt) {
  ReadOptions ro;
  ro.columns = {"id", "no_such_column"};
  auto got = t_->Read(ro);
  EXPECT_STATUS_CODE(got, StatusCode::kNotFound);
  EXPECT_TRUE(Contains(got.status().message(), "no_such_column")) << got.status().ToString();
  EXPECT_TRUE(Contains(got.status().message(), "/r")) << got.status().ToString();
  EXPECT_STATUS_CODE(t_->Scan(ro, 10), StatusCode::kNotFound);
  EXPECT_STATUS_CODE(t_->Head(5, {"nope"}), StatusCode::kNotFound);
}

TEST_F(TableRanges, ScanYieldsExactBatchesThatConcatenateToTheRead) {
  struct Case {
    int64_t batch, start, stop;
    std::vector<std::string> columns;
  };
  const std::vector<Case> cases = {
      {1, 0, -1, {}},        {7, 0, -1, {}},        {10, 0, -1, {}},   {33, 0, -1, {}}, {148, 0, -1, {}},
      {1000, 0, -1, {}},     {4, 29, 131, {}},      {9, -17, -1, {}},  {5, 3, 4, {}},   {5, 60, 60, {}},
      {11, 12, 140, {"x"}},  {6, 0, 100, {"name", "id"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE("batch " + std::to_string(c.batch) + " range " + std::to_string(c.start) + ".." +
                 std::to_string(c.stop) + " columns " + std::to_string(c.columns.size()));
    ReadOptions ro;
    ro.start = c.start;
    ro.stop = c.stop;
    ro.columns = c.columns;
    ASSERT_OK_AND_ASSIGN(auto read, t_->Read(ro));
    ASSERT_OK_AND_ASSIGN(auto scan, t_->Scan(ro, c.batch));
    EXPECT_TRUE(scan->schema()->Equals(*read->schema(), false));
    bool sizes_ok = false;
    auto scanned = Drain(*scan, c.batch, &sizes_ok);
    ASSERT_NE(scanned, nullptr);
    EXPECT_TRUE(sizes_ok);
    EXPECT_TRUE(TablesEqual(*scanned, *read));
  }
  EXPECT_STATUS_CODE(t_->Scan({}, 0), StatusCode::kInvalid);
}

TEST(TableProjection, NestedColumnsProjectWhole) {
  // Columns after a struct / list map to later Parquet leaves; projecting them must not
  // pick up a neighbour's leaves.
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  auto data = Repeat(AllTypes(arrow::int32()), 5);
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/all", ReaderOf(data), Small(6, 20)));
  for (const std::vector<std::string>& cols : std::vector<std::vector<std::string>>{
           {"struct"}, {"fsl", "struct"}, {"list", "i8"}, {"struct", "fsl", "list", "dict"}, {"fsl"}}) {
    std::string label;
    std::vector<int> idx;
    for (const auto& c : cols) {
      label += c + " ";
      idx.push_back(data->schema()->GetFieldIndex(c));
    }
    SCOPED_TRACE(label);
    ReadOptions ro;
    ro.columns = cols;
    ro.start = 3;
    ro.stop = 31;
    ASSERT_OK_AND_ASSIGN(auto got, t->Read(ro));
    ASSERT_OK_AND_ASSIGN(auto want, data->Slice(3, 28)->SelectColumns(idx));
    EXPECT_TRUE(TablesEqual(*got, *want));
  }
}

// --- appends ----------------------------------------------------------------------------

class TableAppend : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.Sub("b");
    ASSERT_OK_AND_ASSIGN(b_, Bundle::Open(root_, OpenMode::kAppend));
    ASSERT_OK_AND_ASSIGN(t_, b_->CreateTable("/t", ReaderOf(MakeRows(0, 50)), Small(16, 1000)));
  }

  // Appending `data` fails with kTypeError whose message contains every one of `words`,
  // and leaves no trace: same commit, same parts, no new file on disk.
  void ExpectRejected(const std::shared_ptr<arrow::Table>& data, const std::vector<std::string>& words) {
    const int64_t commit = b_->commit().id;
    const auto files = ListFiles(root_ + "/data");
    ASSERT_OK_AND_ASSIGN(auto info, t_->Info());
    Status st = t_->Append(data);
    EXPECT_STATUS_CODE(st, StatusCode::kTypeError);
    for (const auto& w : words) EXPECT_TRUE(Contains(st.message(), w)) << "no '" << w << "' in " << st.ToString();
    EXPECT_EQ(b_->commit().id, commit);
    EXPECT_EQ(ListFiles(root_ + "/data"), files);
    ASSERT_OK_AND_ASSIGN(auto after, t_->Info());
    EXPECT_EQ(after.part_files, info.part_files);
    ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(root_, OpenMode::kRead));
    EXPECT_EQ(r->commit().id, commit);
  }

  TempDir tmp_;
  std::string root_;
  std::shared_ptr<Bundle> b_;
  std::shared_ptr<Table> t_;
};

TEST_F(TableAppend, WrongTypeNamesColumnAndBothTypes) {
  auto rows = MakeRows(50, 5);
  // float -> int is lossy in general (pandas makes an int column holding a NULL float)
  auto idf = *arrow::compute::Cast(rows->column(0), arrow::float64());
  auto bad = *rows->SetColumn(0, arrow::field("id", arrow::float64()), idf.chunked_array());
  ExpectRejected(bad, {"'id'", "double", "int64", "/t", "astype('Int64')"});
  // text where the table holds numbers
  auto xs = *arrow::compute::Cast(rows->column(1), arrow::utf8());
  ExpectRejected(*rows->SetColumn(1, arrow::field("x", arrow::utf8()), xs.chunked_array()),
                 {"'x'", "string", "double", "cast the column to double"});
}

// What pandas and polars produce for the same data appends to one another's tables:
// narrower integers, float32, categoricals, string_view, all-null columns.
TEST_F(TableAppend, LosslessWideningIsAccepted) {
  auto rows = MakeRows(50, 6);
  auto id32 = *arrow::compute::Cast(rows->column(0), arrow::int32());
  auto xf = *arrow::compute::Cast(rows->column(1), arrow::float32());
  auto dict = *arrow::compute::Cast(rows->column(2), arrow::dictionary(arrow::uint32(), arrow::utf8()));
  auto wide = arrow::Table::Make(
      arrow::schema({arrow::field("id", arrow::int32()), arrow::field("x", arrow::float32()),
                     arrow::field("name", dict.type())}),
      {id32.chunked_array(), xf.chunked_array(), dict.chunked_array()});
  ASSERT_OK(t_->Append(wide));
  auto more = MakeRows(56, 4);
  auto u16 = *arrow::compute::Cast(more->column(0), arrow::uint16());
  auto view = *arrow::compute::Cast(more->column(2), arrow::utf8_view());
  ASSERT_OK(t_->Append(*(*more->SetColumn(0, arrow::field("id", arrow::uint16()), u16.chunked_array()))
                            ->SetColumn(2, arrow::field("name", arrow::utf8_view()), view.chunked_array())));
  ASSERT_OK_AND_ASSIGN(auto got, t_->Read({}));
  EXPECT_TRUE(TablesEqual(*got, *MakeRows(0, 60)));  // x * 0.5 is exact in float32
  // an all-null column (pandas: a chunk whose string column is all None)
  auto nulls = arrow::ChunkedArray::Make({*arrow::MakeArrayOfNull(arrow::null(), 2)}).ValueOrDie();
  auto some = MakeRows(60, 2);
  ASSERT_OK(t_->Append(*some->SetColumn(2, arrow::field("name", arrow::null()), nulls)));
  ASSERT_OK_AND_ASSIGN(got, t_->Read({}));
  EXPECT_EQ(got->num_rows(), 62);
  EXPECT_EQ(got->GetColumnByName("name")->null_count(), 2);
  EXPECT_EQ(got->schema()->GetFieldByName("name")->type()->id(), arrow::Type::STRING);
}

// A table made from a first chunk whose column was all NULL (type null) takes the type of
// the first typed data appended; add_columns adds columns. The old parts are rewritten in
// the same commit, so every part holds the table's schema.
TEST_F(TableAppend, NullColumnIsTypedAndAddColumnsAddsNullableColumns) {
  auto first = arrow::Table::Make(arrow::schema({arrow::field("id", arrow::int64()), arrow::field("user", arrow::null())}),
                                  {arrow::ChunkedArray::Make({FromJson(arrow::int64(), "[1, 2]")}).ValueOrDie(),
                                   arrow::ChunkedArray::Make({*arrow::MakeArrayOfNull(arrow::null(), 2)}).ValueOrDie()});
  ASSERT_OK_AND_ASSIGN(auto t, b_->CreateTable("/n", ReaderOf(first)));
  ASSERT_OK(t->CreateIndex("id"));
  auto typed = arrow::Table::Make(arrow::schema({arrow::field("id", arrow::int64()), arrow::field("user", arrow::utf8())}),
                                  {arrow::ChunkedArray::Make({FromJson(arrow::int64(), "[3]")}).ValueOrDie(),
                                   arrow::ChunkedArray::Make({FromJson(arrow::utf8(), R"(["ann"])")}).ValueOrDie()});
  const int64_t commit = b_->commit().id;
  ASSERT_OK(t->Append(typed));
  EXPECT_EQ(b_->commit().id, commit + 1);
  ASSERT_OK_AND_ASSIGN(auto got, t->Read({}));
  EXPECT_EQ(got->schema()->GetFieldByName("user")->type()->id(), arrow::Type::STRING);
  EXPECT_EQ(got->num_rows(), 3);
  EXPECT_EQ(got->GetColumnByName("user")->null_count(), 2);
  // an extra column: refused by default, added with add_columns
  auto extra = *typed->AddColumn(2, arrow::field("gpu", arrow::int32()),
                                 arrow::ChunkedArray::Make({FromJson(arrow::int32(), "[7]")}).ValueOrDie());
  EXPECT_STATUS_CODE(t->Append(extra), StatusCode::kTypeError);
  AppendOptions add;
  add.add_columns = true;
  ASSERT_OK(t->Append(std::make_shared<arrow::TableBatchReader>(extra), add));
  ASSERT_OK_AND_ASSIGN(got, t->Read({}));
  EXPECT_EQ(got->num_rows(), 4);
  EXPECT_EQ(got->schema()->field(2)->name(), "gpu");
  EXPECT_EQ(got->GetColumnByName("gpu")->null_count(), 3);
  // the index still answers for old and new rows; a new reader sees the same
  ASSERT_OK_AND_ASSIGN(auto rows, t->GetWhereList("id >= 2"));
  EXPECT_EQ(rows, (std::vector<int64_t>{1, 2, 3}));
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(root_, OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(auto again, ReadTable(*r, "/n"));
  EXPECT_TRUE(TablesEqual(*again, *got));
}

TEST_F(TableAppend, CheckedCastsNameTheColumnAndCommitNothing) {
  auto schema = arrow::schema({arrow::field("small", arrow::int32()), arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO))});
  ASSERT_OK_AND_ASSIGN(auto t, b_->CreateTable("/c", schema));
  auto ok = arrow::Table::Make(arrow::schema({arrow::field("small", arrow::int64()),
                                              arrow::field("ts", arrow::timestamp(arrow::TimeUnit::NANO))}),
                               {arrow::ChunkedArray::Make({FromJson(arrow::int64(), "[1, -5]")}).ValueOrDie(),
                                arrow::ChunkedArray::Make({FromJson(arrow::timestamp(arrow::TimeUnit::NANO),
                                                                    "[1000, 2000000]")})
                                    .ValueOrDie()});
  ASSERT_OK(t->Append(ok));
  const int64_t commit = b_->commit().id;
  auto big = *ok->SetColumn(0, ok->schema()->field(0),
                            arrow::ChunkedArray::Make({FromJson(arrow::int64(), "[1, 5000000000]")}).ValueOrDie());
  Status st = t->Append(big);
  EXPECT_STATUS_CODE(st, StatusCode::kTypeError);
  EXPECT_TRUE(Contains(st.message(), "column 'small' (int64 in the new data) does not fit the table's int32"))
      << st.ToString();
  auto fine = *ok->SetColumn(1, ok->schema()->field(1),
                             arrow::ChunkedArray::Make({FromJson(arrow::timestamp(arrow::TimeUnit::NANO), "[1500, 0]")})
                                 .ValueOrDie());
  st = t->Append(fine);
  EXPECT_STATUS_CODE(st, StatusCode::kTypeError);
  EXPECT_TRUE(Contains(st.message(), "'ts'")) << st.ToString();
  EXPECT_EQ(b_->commit().id, commit);
  ASSERT_OK_AND_ASSIGN(auto n, t->num_rows());
  EXPECT_EQ(n, 2);
}

TEST_F(TableAppend, MissingColumnIsNamed) {
  auto bad = *MakeRows(50, 5)->RemoveColumn(1);
  ExpectRejected(bad, {"'x'", "double", "missing"});
}

TEST_F(TableAppend, ExtraColumnIsNamed) {
  auto rows = MakeRows(50, 5);
  auto extra = arrow::ChunkedArray::Make({FromJson(arrow::int8(), "[1, 2, 3, 4, 5]")}).ValueOrDie();
  auto bad = *rows->AddColumn(3, arrow::field("extra", arrow::int8()), extra);
  ExpectRejected(bad, {"extra", "int8"});
}

TEST_F(TableAppend, DuplicateColumnIsRejected) {
  auto rows = MakeRows(50, 5);
  auto bad = *rows->AddColumn(3, arrow::field("id", arrow::int64()), rows->column(0));
  ExpectRejected(bad, {"id"});
}

TEST_F(TableAppend, ColumnsInAnotherOrderAreAccepted) {
  auto rows = MakeRows(50, 20);
  ASSERT_OK_AND_ASSIGN(auto shuffled, rows->SelectColumns({2, 0, 1}));  // name, id, x
  ASSERT_OK(t_->Append(shuffled));
  // Lossless physical variants are accepted too: large_string for string.
  auto more = MakeRows(70, 10);
  auto big = *arrow::compute::Cast(more->column(2), arrow::large_utf8());
  ASSERT_OK(t_->Append(*more->SetColumn(2, arrow::field("name", arrow::large_utf8()), big.chunked_array())));
  ASSERT_OK_AND_ASSIGN(auto got, t_->Read({}));
  EXPECT_TRUE(TablesEqual(*got, *MakeRows(0, 80)));  // stored in the table's column order and types
}

TEST_F(TableAppend, ReadOnlyBundleRefusesEveryWrite) {
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(root_, OpenMode::kRead));
  EXPECT_FALSE(r->writable());
  ASSERT_OK_AND_ASSIGN(auto t, r->OpenTable("/t"));
  Status st = t->Append(MakeRows(50, 5));
  EXPECT_STATUS_CODE(st, StatusCode::kReadOnly);
  EXPECT_TRUE(Contains(st.message(), "read-only")) << st.ToString();
  EXPECT_STATUS_CODE(r->CreateGroup("/g"), StatusCode::kReadOnly);
  EXPECT_STATUS_CODE(r->SetAttr("/", "k", "1"), StatusCode::kReadOnly);
  EXPECT_STATUS_CODE(r->RemoveNode("/t"), StatusCode::kReadOnly);
  EXPECT_STATUS_CODE(r->CreateTable("/t2", ReaderOf(MakeRows(0, 1))), StatusCode::kReadOnly);
  // A closed writer is read-only too.
  ASSERT_OK(b_->Close());
  EXPECT_STATUS_CODE(t_->Append(MakeRows(50, 5)), StatusCode::kReadOnly);
  ASSERT_OK_AND_ASSIGN(auto again, Bundle::Open(root_, OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(auto rows, ReadTable(*again, "/t"));
  EXPECT_EQ(rows->num_rows(), 50);
}

// --- info -------------------------------------------------------------------------------

TEST(TableInfo, ComesFromTheManifestAlone) {
  TempDir tmp;
  const std::string root = tmp.Sub("b");
  {
    ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(root, OpenMode::kAppend));
    ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/g/t", ReaderOf(MakeRows(0, 250)), Small(32, 100)));
    ASSERT_OK(t->Append(MakeRows(250, 30)));
  }
  // Without a single data file, Info still answers (and reads fail loudly).
  std::vector<std::string> parquet;
  for (const auto& f : ListFiles(root + "/data")) {
    if (Contains(f, "_delta_log")) continue;  // the Delta log (derived data) is no part file
    parquet.push_back(root + "/data/" + f);
    fs::remove(root + "/data/" + f);
  }
  ASSERT_EQ(parquet.size(), 4u);
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(root, OpenMode::kRead));
  ASSERT_OK_AND_ASSIGN(auto t, r->OpenTable("/g/t"));
  ASSERT_OK_AND_ASSIGN(auto info, t->Info());
  EXPECT_EQ(info.path, "/g/t");
  EXPECT_EQ(info.num_rows, 280);
  EXPECT_EQ(info.num_columns, 3);
  EXPECT_EQ(info.num_parts, 4);  // 100 + 100 + 50, then 30
  EXPECT_EQ(info.column_names, (std::vector<std::string>{"id", "x", "name"}));
  EXPECT_EQ(info.column_types, (std::vector<std::string>{"int64", "double", "string"}));
  EXPECT_GT(info.size_bytes, 0);
  EXPECT_EQ(info.options.row_group_size, 32);
  EXPECT_EQ(info.options.part_max_rows, 100);
  auto listed = info.part_files;
  std::sort(listed.begin(), listed.end());
  std::sort(parquet.begin(), parquet.end());
  EXPECT_EQ(listed, parquet);
  EXPECT_FALSE(info.created_at.empty());
  ASSERT_OK_AND_ASSIGN(auto n, t->num_rows());
  EXPECT_EQ(n, 280);
  ASSERT_OK_AND_ASSIGN(auto schema, t->schema());
  EXPECT_TRUE(schema->Equals(*MakeRows(0, 1)->schema(), false));
  EXPECT_STATUS_CODE(t->Read({}), StatusCode::kCorruption);
}

// The pool conditional reads decode into recycles large blocks; it must still behave as a
// pool: contents kept across Reallocate, accounting back to where it was after Free.
TEST(QueryMemoryPool, RecyclesLargeBlocksAndKeepsContents) {
  arrow::MemoryPool* pool = QueryMemoryPool();
  const int64_t before = pool->bytes_allocated();
  uint8_t* a = nullptr;
  ASSERT_TRUE(pool->Allocate(100 * 1024, 64, &a).ok());
  std::memset(a, 0x5a, 100 * 1024);
  pool->Free(a, 100 * 1024, 64);
  uint8_t* b = nullptr;
  ASSERT_TRUE(pool->Allocate(100 * 1000, 64, &b).ok());  // same 128 KiB class: the freed block
  EXPECT_EQ(a, b);
  std::memset(b, 0x11, 100 * 1000);
  ASSERT_TRUE(pool->Reallocate(100 * 1000, 120 * 1024, 64, &b).ok());  // still fits the class
  EXPECT_EQ(a, b);
  ASSERT_TRUE(pool->Reallocate(120 * 1024, 1 << 20, 64, &b).ok());  // moves, keeps the bytes
  EXPECT_EQ(b[0], 0x11);
  EXPECT_EQ(b[100 * 1000 - 1], 0x11);
  ASSERT_TRUE(pool->Reallocate(1 << 20, 100, 64, &b).ok());  // down to a small block
  EXPECT_EQ(b[99], 0x11);
  uint8_t* small = nullptr;
  ASSERT_TRUE(pool->Allocate(10, 64, &small).ok());
  pool->Free(small, 10, 64);
  pool->Free(b, 100, 64);
  EXPECT_EQ(pool->bytes_allocated(), before);
  pool->ReleaseUnused();
  EXPECT_EQ(pool->bytes_allocated(), before);
}

// Collect-everything streams (batch size 0): a batch of kPassRows or more is handed on as it
// is (no copy), and only runs of smaller ones are merged, up to kCoalesceRows.
TEST(BatchRechunker, PassesLargeBatchesThroughAndMergesRunsOfSmallOnes) {
  auto batch = [](int64_t n) {
    arrow::Int64Builder b;
    for (int64_t i = 0; i < n; ++i) EXPECT_TRUE(b.Append(i).ok());
    std::shared_ptr<arrow::Array> a;
    EXPECT_TRUE(b.Finish(&a).ok());
    return arrow::RecordBatch::Make(arrow::schema({arrow::field("x", arrow::int64())}), n, {a});
  };
  const int64_t pass = BatchRechunker::kPassRows;
  BatchRechunker r(0);
  auto large = batch(pass + 1);
  r.Push(batch(100));
  EXPECT_FALSE(r.full());
  r.Push(batch(200));
  r.Push(large);
  EXPECT_TRUE(r.full());  // a large batch ends the run of small ones
  r.Push(batch(50));
  r.Push(batch(pass));
  std::vector<int64_t> sizes;
  std::shared_ptr<arrow::RecordBatch> large_out;
  while (!r.empty()) {
    auto b = r.Pop();
    ASSERT_TRUE(b.ok());
    sizes.push_back((*b)->num_rows());
    if ((*b)->num_rows() == pass + 1) large_out = *b;
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{300, pass + 1, 50, pass}));
  EXPECT_EQ(large_out.get(), large.get());  // the same batch, not a copy

  // Small batches alone merge up to kCoalesceRows, then the next starts.
  BatchRechunker s(0);
  const int64_t small = pass - 1;
  int64_t pushed = 0;
  while (!s.full()) {
    s.Push(batch(small));
    pushed += small;
  }
  EXPECT_GE(pushed, BatchRechunker::kCoalesceRows);
  auto first = s.Pop();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ((*first)->num_rows(), pushed);
  EXPECT_TRUE(s.empty());
}

namespace {

// Yields one batch, then fails: a source that breaks half way through.
class BreakingReader : public arrow::RecordBatchReader {
 public:
  explicit BreakingReader(std::shared_ptr<arrow::RecordBatch> first) : first_(std::move(first)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return first_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    if (sent_) return arrow::Status::IOError("source broke");
    sent_ = true;
    *out = first_;
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::RecordBatch> first_;
  bool sent_ = false;
};

std::shared_ptr<arrow::Table> IntTable(const std::string& name, const std::string& json) {
  auto schema = arrow::schema({arrow::field(name, arrow::int64())});
  auto arr = arrow::json::ArrayFromJSONString(arrow::int64(), json).ValueOrDie();
  return arrow::Table::Make(schema, {arr});
}

}  // namespace

TEST(TableOverwrite, ReplacesInOneCommitAndReadersSeeOldOrNew) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  ASSERT_OK(b->CreateTable("/t", std::make_shared<arrow::TableBatchReader>(IntTable("a", "[1,2,3]"))).status());
  ASSERT_OK(b->CreateGroup("/t2/sub"));
  ASSERT_OK_AND_ASSIGN(auto before, b->ListCommits());
  ASSERT_OK_AND_ASSIGN(auto reader, Bundle::Open(tmp.Sub("b"), OpenMode::kRead));

  CreateNodeOptions o;
  o.overwrite = true;
  o.attrs_json = R"({"TITLE": "new"})";
  ASSERT_OK_AND_ASSIGN(auto t, CreateTable(*b, "/t", nullptr,
                                           std::make_shared<arrow::TableBatchReader>(IntTable("b", "[9]")), {}, o));
  ASSERT_OK_AND_ASSIGN(auto after, b->ListCommits());
  EXPECT_EQ(after.size(), before.size() + 1);
  ASSERT_OK_AND_ASSIGN(auto n, t->num_rows());
  EXPECT_EQ(n, 1);
  ASSERT_OK_AND_ASSIGN(auto attrs, b->GetAttrs("/t"));
  EXPECT_NE(attrs.find("\"new\""), std::string::npos);
  // The reader opened before still has the old table; after a refresh, the new one.
  ASSERT_OK_AND_ASSIGN(auto old_t, reader->OpenTable("/t"));
  ASSERT_OK_AND_ASSIGN(auto old_n, old_t->num_rows());
  EXPECT_EQ(old_n, 3);
  ASSERT_OK(reader->Refresh());
  ASSERT_OK_AND_ASSIGN(auto new_t, reader->OpenTable("/t"));
  ASSERT_OK_AND_ASSIGN(auto schema, new_t->schema());
  EXPECT_EQ(schema->field(0)->name(), "b");

  // A group subtree is replaced as well, in one commit.
  ASSERT_OK(CreateTable(*b, "/t2", nullptr, std::make_shared<arrow::TableBatchReader>(IntTable("a", "[1]")), {}, o)
                .status());
  EXPECT_FALSE(b->Exists("/t2/sub"));
  // Without overwrite an existing path is still refused.
  EXPECT_FALSE(CreateTable(*b, "/t", nullptr, std::make_shared<arrow::TableBatchReader>(IntTable("a", "[1]")), {},
                           CreateNodeOptions{})
                   .ok());
}

TEST(TableOverwrite, FailingSourceLeavesTheOldTable) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  ASSERT_OK(b->CreateTable("/t", std::make_shared<arrow::TableBatchReader>(IntTable("a", "[1,2,3]"))).status());
  ASSERT_OK_AND_ASSIGN(auto before, b->ListCommits());
  auto batch = IntTable("a", "[7,8]")->CombineChunksToBatch().ValueOrDie();
  CreateNodeOptions o;
  o.overwrite = true;
  auto r = CreateTable(*b, "/t", nullptr, std::make_shared<BreakingReader>(batch), {}, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/t"), std::string::npos) << r.status().message();
  ASSERT_OK_AND_ASSIGN(auto after, b->ListCommits());
  EXPECT_EQ(after.size(), before.size());
  ASSERT_OK_AND_ASSIGN(auto t, b->OpenTable("/t"));
  ASSERT_OK_AND_ASSIGN(auto n, t->num_rows());
  EXPECT_EQ(n, 3);
  // Bad attributes are refused before anything is written.
  o.attrs_json = "[1]";
  EXPECT_FALSE(CreateTable(*b, "/t", nullptr, std::make_shared<arrow::TableBatchReader>(IntTable("a", "[1]")), {}, o)
                   .ok());
}

TEST(TableNames, InvalidUtf8ColumnAndTableNamesAreRefused) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  auto r = b->CreateTable("/t", std::make_shared<arrow::TableBatchReader>(IntTable("bad\xff", "[1]")));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  EXPECT_NE(r.status().message().find("not valid UTF-8"), std::string::npos);
  auto r2 = b->CreateTable("/bad\xed\xb3\xbf", std::make_shared<arrow::TableBatchReader>(IntTable("a", "[1]")));
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.status().code(), StatusCode::kInvalid);
  EXPECT_FALSE(b->CreateGroup("/g\xff").ok());
}

// Disabled until src/bundle/bundle.cc (SetAttr key, CommitTransaction message, CreateSnapshot
// message) and SerializeManifest refuse invalid UTF-8: today each throws nlohmann's
// type_error.316 out of the API instead of returning a Status (lead's files).
TEST(TableNames, InvalidUtf8AttributeKeysAndMessagesNeverThrow) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  ASSERT_OK(b->CreateGroup("/g"));
  EXPECT_NO_THROW(EXPECT_FALSE(b->SetAttr("/g", "k\xff", "1").ok())) << "key";
  EXPECT_NO_THROW(EXPECT_FALSE(b->SetAttr("/g", "k", "\"v\xff\"").ok())) << "value";
  ASSERT_OK(b->BeginTransaction());
  ASSERT_OK(b->CreateGroup("/h"));
  EXPECT_NO_THROW(EXPECT_FALSE(b->CommitTransaction("msg\xff").ok())) << "txn message";
  if (b->InTransaction()) (void)b->AbortTransaction();
  EXPECT_NO_THROW(EXPECT_FALSE(b->CreateSnapshot("s", "msg\xff").ok())) << "snapshot message";
}

// --- copy-on-write edits (ModifyRows / RemoveRows) -----------------------------------------

namespace {

std::vector<std::string> PartFiles(const Table& t) {
  auto info = t.Info();
  return info.ok() ? info->part_files : std::vector<std::string>{};
}

}  // namespace

TEST(TableEdit, ModifyRowsRewritesOnlyTheAffectedPartsInOneCommit) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  TableOptions opts;
  opts.part_max_rows = 40;
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(MakeRows(0, 100)), opts));
  const auto before = PartFiles(*t);
  ASSERT_EQ(before.size(), 3u);
  const int64_t c0 = b->commit().id;
  // id and name of rows 41, 44, 47 (part 1 only), given in another column order
  arrow::Int32Builder ids;
  arrow::StringBuilder names;
  for (int v : {-41, -44, -47}) {
    (void)ids.Append(v);
    (void)names.Append("n" + std::to_string(v));
  }
  auto values = arrow::Table::Make(arrow::schema({arrow::field("name", arrow::utf8()),
                                                  arrow::field("id", arrow::int32())}),
                                   {*names.Finish(), *ids.Finish()});
  ASSERT_OK(t->ModifyRows(41, 3, values));
  EXPECT_EQ(b->commit().id, c0 + 1);
  const auto after = PartFiles(*t);
  ASSERT_EQ(after.size(), 3u);
  EXPECT_EQ(after[0], before[0]);
  EXPECT_NE(after[1], before[1]);
  EXPECT_EQ(after[2], before[2]);
  ASSERT_OK_AND_ASSIGN(auto got, t->Read());
  auto want_ids = got->column(0)->GetScalar(44);
  ASSERT_TRUE(want_ids.ok());
  EXPECT_EQ((*want_ids)->ToString(), "-44");
  EXPECT_EQ((*got->column(0)->GetScalar(45))->ToString(), "45");
  EXPECT_EQ((*got->column(2)->GetScalar(47))->ToString(), "n-47");
  EXPECT_EQ((*got->column(1)->GetScalar(47))->ToString(), "23.5");  // x untouched
  EXPECT_EQ(got->num_rows(), 100);
}

TEST(TableEdit, BadModificationsCommitNothing) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(MakeRows(0, 10))));
  const int64_t c0 = b->commit().id;
  auto x = [](std::vector<double> v) {
    arrow::DoubleBuilder xs;
    (void)xs.AppendValues(v);
    return arrow::Table::Make(arrow::schema({arrow::field("x", arrow::float64())}), {*xs.Finish()});
  };
  EXPECT_STATUS_CODE(t->ModifyRows(8, 2, x({1, 2})), StatusCode::kIndexError);  // row 10 is past the end
  EXPECT_STATUS_CODE(t->ModifyRows(0, 0, x({1})), StatusCode::kInvalid);
  arrow::StringBuilder s;
  (void)s.Append("not a number");
  auto wrong = arrow::Table::Make(arrow::schema({arrow::field("x", arrow::utf8())}), {*s.Finish()});
  EXPECT_FALSE(t->ModifyRows(0, 1, wrong).ok());
  auto nope = arrow::Table::Make(arrow::schema({arrow::field("nope", arrow::float64())}), {x({1})->column(0)});
  EXPECT_STATUS_CODE(t->ModifyRows(0, 1, nope), StatusCode::kNotFound);
  EXPECT_STATUS_CODE(t->RemoveRows(5, 11, 1), StatusCode::kIndexError);
  EXPECT_STATUS_CODE(t->RemoveRows(0, 5, 0), StatusCode::kInvalid);
  EXPECT_EQ(b->commit().id, c0);
  ASSERT_OK_AND_ASSIGN(auto got, t->Read());
  EXPECT_TRUE(TablesEqual(*got, *MakeRows(0, 10)));
}

TEST(TableEdit, RemoveRowsWithStepAcrossParts) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  TableOptions opts;
  opts.part_max_rows = 10;
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(MakeRows(0, 50)), opts));
  ASSERT_OK_AND_ASSIGN(int64_t n, t->RemoveRows(5, 36, 3));  // 5, 8, ..., 35
  EXPECT_EQ(n, 11);
  ASSERT_OK_AND_ASSIGN(auto got, t->Read());
  ASSERT_EQ(got->num_rows(), 39);
  auto ids = std::static_pointer_cast<arrow::Int64Array>(*arrow::Concatenate(got->column(0)->chunks()));
  std::vector<int64_t> want;
  for (int64_t i = 0; i < 50; ++i)
    if (!(i >= 5 && i < 36 && (i - 5) % 3 == 0)) want.push_back(i);
  for (int64_t i = 0; i < 39; ++i) EXPECT_EQ(ids->Value(i), want[static_cast<size_t>(i)]);
  ASSERT_OK_AND_ASSIGN(int64_t all, t->RemoveRows(0, 39, 1));  // every part goes
  EXPECT_EQ(all, 39);
  ASSERT_OK_AND_ASSIGN(int64_t rows, t->num_rows());
  EXPECT_EQ(rows, 0);
  ASSERT_OK_AND_ASSIGN(int64_t none, t->RemoveRows(0, 0, 1));
  EXPECT_EQ(none, 0);
}

// --- the block cache (repeated reads of part of a row group) ---------------------------------

TEST(TableBlockCache, RepeatedRangesComeFromMemoryAndAreNeverStale) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  auto want = MakeRows(0, 60000);
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(want), Small(30000, 1000000)));
  auto read = [&](int64_t start, int64_t stop, std::vector<std::string> columns = {}) {
    ReadOptions ro;
    ro.start = start;
    ro.stop = stop;
    ro.columns = std::move(columns);
    return t->Read(ro);
  };
  // inside one 8,192-row block, across blocks, to the end of a row group, a few rows
  const std::vector<std::pair<int64_t, int64_t>> ranges = {{20000, 21000}, {8000, 8500}, {16000, 25000},
                                                           {29500, 30000}, {0, 10}, {30001, 30002}};
  for (int k = 0; k < 3; ++k) {  // first read, second (the blocks are kept), third (from the cache)
    for (auto [start, stop] : ranges) {
      SCOPED_TRACE("read " + std::to_string(k) + " of rows " + std::to_string(start) + ".." + std::to_string(stop));
      ASSERT_OK_AND_ASSIGN(auto got, read(start, stop));
      ASSERT_TRUE(TablesEqual(*got, *want->Slice(start, stop - start)));
      ASSERT_OK_AND_ASSIGN(auto name_only, read(start, stop, {"name"}));
      ASSERT_TRUE(name_only->column(0)->Equals(*want->Slice(start, stop - start)->column(2)));
    }
  }
  // Cached ranges no longer open the part file: with it moved away they still read, others do not.
  const std::string part = PartFiles(*t).at(0);
  std::filesystem::rename(part, part + ".away");
  ASSERT_OK_AND_ASSIGN(auto cached, read(20000, 21000));
  EXPECT_TRUE(TablesEqual(*cached, *want->Slice(20000, 1000)));
  EXPECT_FALSE(read(40000, 40010).ok());
  std::filesystem::rename(part + ".away", part);

  // A commit that changes the rows writes a new part: reads see the new values at once.
  arrow::Int64Builder ids;
  ASSERT_TRUE(ids.Append(-1).ok());
  ASSERT_OK(t->ModifyRows(20500, 1, arrow::Table::Make(arrow::schema({arrow::field("id", arrow::int64())}),
                                                       {*ids.Finish()})));
  for (int k = 0; k < 3; ++k) {
    ASSERT_OK_AND_ASSIGN(auto got, read(20000, 21000));
    EXPECT_EQ((*got->column(0)->GetScalar(500))->ToString(), "-1");
    EXPECT_EQ((*got->column(0)->GetScalar(501))->ToString(), "20501");
  }

  // Off: every read goes to the file again.
  SetTableBlockCacheSize(0);
  EXPECT_EQ(TableBlockCacheSize(), 0);
  const std::string new_part = PartFiles(*t).at(0);
  std::filesystem::rename(new_part, new_part + ".away");
  EXPECT_FALSE(read(20000, 21000).ok());
  std::filesystem::rename(new_part + ".away", new_part);
  ASSERT_OK_AND_ASSIGN(auto again, read(20000, 21000));
  EXPECT_EQ(again->num_rows(), 1000);
  SetTableBlockCacheSize(int64_t(32) << 20);
}

TEST(TableBlockCache, ConcurrentReadersGetTheirOwnRows) {
  TempDir tmp;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(tmp.Sub("b"), OpenMode::kAppend));
  auto want = MakeRows(0, 40000);
  ASSERT_OK_AND_ASSIGN(auto t, b->CreateTable("/t", ReaderOf(want), Small(20000, 1000000)));
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&, th] {
      for (int i = 0; i < 60; ++i) {
        const int64_t start = (th * 7919 + i * 1237) % 39000;
        ReadOptions ro;
        ro.start = start;
        ro.stop = start + 1000;
        auto got = t->Read(ro);
        if (!got.ok() || !TablesEqual(**got, *want->Slice(start, 1000))) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
}
