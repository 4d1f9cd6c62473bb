// ScanParquetFiles: octavo conditions over plain Parquet files (octavo/query.h).
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>
#include <parquet/arrow/writer.h>

#include <filesystem>

#include "octavo/arrow_status.h"
#include "octavo/octavo.h"
#include "test_util.h"

namespace octavo {
namespace {
using testing::Contains;
using testing::MakeRows;
using testing::TempDir;

void WriteParquet(const arrow::Table& t, const std::string& path, int64_t row_group_rows) {
  auto out = arrow::io::FileOutputStream::Open(path).ValueOrDie();
  ASSERT_TRUE(parquet::arrow::WriteTable(t, arrow::default_memory_pool(), out, row_group_rows).ok());
  ASSERT_TRUE(out->Close().ok());
}

Result<std::shared_ptr<arrow::Table>> Scan(const std::vector<std::string>& paths, const std::string& cond,
                                           const WhereOptions& o = {}) {
  OCTAVO_ASSIGN_OR_RETURN(auto reader, ScanParquetFiles(paths, cond, o));
  auto t = reader->ToTable();
  if (!t.ok()) return FromArrow(t.status());
  return *t;
}

TEST(ScanParquetFiles, ConditionOverFilesAndDirectories) {
  TempDir dir;
  std::filesystem::create_directories(dir.Sub("d/sub"));
  std::filesystem::create_directories(dir.Sub("d/_delta_log"));
  WriteParquet(*MakeRows(0, 1000), dir.Sub("d/a.parquet"), 100);
  WriteParquet(*MakeRows(1000, 500), dir.Sub("d/sub/b.parquet"), 100);
  testing::WriteBytes(dir.Sub("d/_delta_log/c.parquet"), "not parquet");
  testing::WriteBytes(dir.Sub("d/.d.parquet"), "not parquet");

  WhereOptions o;
  o.columns = {"name", "id"};
  o.condvars["lo"] = QueryValue::Int(990);
  auto got = Scan({dir.Sub("d")}, "(id >= lo) & (id < 1010) & (name != 'r1000')", o);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ((*got)->schema()->field_names(), (std::vector<std::string>{"name", "id"}));
  std::vector<int64_t> ids;
  for (const auto& chunk : (*got)->GetColumnByName("id")->chunks())
    for (int64_t i = 0; i < chunk->length(); ++i)
      ids.push_back(std::static_pointer_cast<arrow::Int64Array>(chunk)->Value(i));
  std::vector<int64_t> want;
  for (int64_t i = 990; i < 1010; ++i)
    if (i != 1000) want.push_back(i);
  EXPECT_EQ(ids, want);

  auto all = Scan({dir.Sub("d/a.parquet"), dir.Sub("d/sub/b.parquet")}, "");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ((*all)->num_rows(), 1500);
}

TEST(ScanParquetFiles, BadInputsAreErrorsNamingTheFile) {
  TempDir dir;
  WriteParquet(*MakeRows(0, 10), dir.Sub("a.parquet"), 5);
  auto other = arrow::Table::Make(arrow::schema({arrow::field("id", arrow::float64())}),
                                  {arrow::json::ArrayFromJSONString(arrow::float64(), "[1.5]").ValueOrDie()});
  WriteParquet(*other, dir.Sub("b.parquet"), 5);

  auto mixed = Scan({dir.Sub("a.parquet"), dir.Sub("b.parquet")}, "id > 1");
  ASSERT_EQ(mixed.status().code(), StatusCode::kTypeError);
  EXPECT_TRUE(Contains(mixed.status().message(), "b.parquet")) << mixed.status().ToString();

  auto unknown = Scan({dir.Sub("a.parquet")}, "nope > 1");
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound) << unknown.status().ToString();
  WhereOptions o;
  o.columns = {"missing"};
  auto projection = Scan({dir.Sub("a.parquet")}, "id > 1", o);
  EXPECT_EQ(projection.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Scan({dir.Sub("gone.parquet")}, "").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(Scan({}, "").status().code(), StatusCode::kInvalid);
  WhereOptions ranged;
  ranged.start = 3;
  EXPECT_EQ(Scan({dir.Sub("a.parquet")}, "", ranged).status().code(), StatusCode::kInvalid);

  // Truncated: the footer is gone.
  std::string bytes = testing::ReadBytes(dir.Sub("a.parquet"));
  testing::WriteBytes(dir.Sub("t.parquet"), bytes.substr(0, bytes.size() / 2));
  auto truncated = Scan({dir.Sub("t.parquet")}, "id > 1");
  ASSERT_FALSE(truncated.ok());
  EXPECT_TRUE(Contains(truncated.status().ToString(), "t.parquet")) << truncated.status().ToString();
}

}  // namespace
}  // namespace octavo
