// CSV import (include/octavo/csv.h): types over the whole input with SQLite import's rules
// (src/infer/), null tokens, several files in one commit, appends converting to the table's
// types, and every bad input an error naming where, with nothing committed.
#include <zlib.h>

#include <fstream>

#include "octavo/csv.h"
#include "test_util.h"

namespace octavo {
namespace {

using testing::Contains;
using testing::TempDir;

std::string Write(const TempDir& d, const std::string& name, const std::string& text) {
  std::string p = d.Sub(name);
  std::ofstream(p, std::ios::binary) << text;
  return p;
}

std::shared_ptr<Bundle> OpenW(const std::string& p) { return Bundle::Open(p, OpenMode::kAppend).ValueOrDie(); }

std::shared_ptr<arrow::Table> ReadAll(Bundle& b, const std::string& path) {
  auto t = testing::ReadTable(b, path);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : nullptr;
}

std::string TypeOf(const arrow::Table& t, const std::string& col) {
  auto f = t.schema()->GetFieldByName(col);
  return f ? f->type()->ToString() : "(missing)";
}

TEST(CsvImport, TypesFromTheWholeInputNotTheFirstBlock) {
  TempDir d;
  std::string text = "id,code,late,f\n";
  for (int i = 0; i < 2000; ++i)
    text += std::to_string(i) + "," + std::to_string(i % 10) + ",," + (i % 2 ? "1.5" : "2") + "\n";
  text += "2000,x7,42,3\n";  // beyond the first block: code turns to text, late gets a value
  auto p = Write(d, "a.csv", text);
  auto b = OpenW(d.Sub("b"));
  csv::ImportOptions o;
  o.block_size = 1024;  // many blocks
  auto r = csv::ImportCsv({p}, *b, "/t", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 2001);
  EXPECT_TRUE(r->created);
  auto t = ReadAll(*b, "/t");
  ASSERT_TRUE(t);
  EXPECT_EQ(TypeOf(*t, "id"), "int64");
  EXPECT_EQ(TypeOf(*t, "code"), "string");
  EXPECT_EQ(TypeOf(*t, "late"), "int64");
  EXPECT_EQ(TypeOf(*t, "f"), "double");
  EXPECT_EQ(t->GetColumnByName("late")->null_count(), 2000);
  auto code = t->GetColumnByName("code");
  EXPECT_EQ((*code->GetScalar(3))->ToString(), "3");
  EXPECT_EQ((*code->GetScalar(2000))->ToString(), "x7");
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_TRUE(Contains(r->notes[0], "column 'code'")) << r->notes[0];
  EXPECT_TRUE(Contains(r->notes[0], "row 2001: 'x7'")) << r->notes[0];
  EXPECT_TRUE(Contains(r->notes[0], "stored as string")) << r->notes[0];
}

TEST(CsvImport, TimestampsBooleansAndNullTokens) {
  TempDir d;
  auto p = Write(d, "a.csv",
                 "naive,zoned,mixed,flag,bits,s,day\n"
                 "2025-11-01 10:00:00,2025-11-01T10:00:00Z,2025-11-01 10:00,true,0,NA,2025-11-01\n"
                 "2025-11-01T10:00:00.25,2025-11-01T10:00:00.25+02:00,2025-11-01T10:00Z,FALSE,1,x,2025-11-02\n"
                 "NULL,,,,,\"\",\n");
  auto b = OpenW(d.Sub("b"));
  auto r = csv::ImportCsv({p}, *b, "/t");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto t = ReadAll(*b, "/t");
  ASSERT_TRUE(t);
  EXPECT_EQ(TypeOf(*t, "naive"), "timestamp[us]");
  EXPECT_EQ(TypeOf(*t, "zoned"), "timestamp[us, tz=UTC]");
  EXPECT_EQ(TypeOf(*t, "mixed"), "string");
  EXPECT_EQ(TypeOf(*t, "flag"), "bool");
  EXPECT_EQ(TypeOf(*t, "bits"), "int64");  // 0/1 stay integers: CSV declares no BOOL
  EXPECT_EQ(TypeOf(*t, "s"), "string");
  EXPECT_EQ(TypeOf(*t, "day"), "string");  // a date alone is not a date-time
  for (const char* c : {"naive", "zoned", "mixed", "flag", "bits", "day"})
    EXPECT_EQ(t->GetColumnByName(c)->null_count(), 1) << c;
  EXPECT_EQ(t->GetColumnByName("s")->null_count(), 2);  // NA and a quoted empty string
  auto z = std::static_pointer_cast<arrow::TimestampScalar>(*t->GetColumnByName("zoned")->GetScalar(1));
  EXPECT_EQ(z->value, (int64_t{1761955200} + 8 * 3600) * 1000000 + 250000);  // 08:00:00.25 UTC
  auto n = std::static_pointer_cast<arrow::TimestampScalar>(*t->GetColumnByName("naive")->GetScalar(1));
  EXPECT_EQ(n->value, (int64_t{1761955200} + 10 * 3600) * 1000000 + 250000);
  bool mixed_note = false;
  for (const auto& note : r->notes) mixed_note |= Contains(note, "column 'mixed'") && Contains(note, "time zone");
  EXPECT_TRUE(mixed_note);

  // keep_text_timestamps; own null tokens ("NA" is then text, "-" null)
  csv::ImportOptions o;
  o.keep_text_timestamps = true;
  o.null_values = {"-"};
  auto p2 = Write(d, "b.csv", "ts,s,i\n2025-11-01 10:00,NA,-\n2025-11-01 11:00,-,5\n");
  ASSERT_TRUE(csv::ImportCsv({p2}, *b, "/t2", o).ok());
  auto t2 = ReadAll(*b, "/t2");
  EXPECT_EQ(TypeOf(*t2, "ts"), "string");
  EXPECT_EQ((*t2->GetColumnByName("s")->GetScalar(0))->ToString(), "NA");
  EXPECT_EQ(t2->GetColumnByName("s")->null_count(), 1);
  EXPECT_EQ(TypeOf(*t2, "i"), "int64");
}

TEST(CsvImport, SeveralFilesOneCommitAndGzip) {
  TempDir d;
  auto p1 = Write(d, "a.csv", "k,v\n1,x\n2,y\n");
  std::string gz = d.Sub("b.csv.gz");
  {
    gzFile f = gzopen(gz.c_str(), "wb");
    const std::string body = "k,v\n3,2025-01-01\n4.5,z\n";
    gzwrite(f, body.data(), static_cast<unsigned>(body.size()));
    gzclose(f);
  }
  auto b = OpenW(d.Sub("b"));
  const int64_t before = b->commit().id;
  int calls = 0;
  csv::ImportOptions o;
  o.progress = [&](const ProgressEvent& e) {
    ++calls;
    EXPECT_EQ(e.unit, "files");
    EXPECT_EQ(e.total, 2);
  };
  auto r = csv::ImportCsv({p1, gz}, *b, "/t", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(r->rows, 4);
  EXPECT_EQ(b->commit().id, before + 1);
  EXPECT_EQ(r->commit, b->commit().id);
  auto t = ReadAll(*b, "/t");
  EXPECT_EQ(TypeOf(*t, "k"), "double");
  EXPECT_EQ(TypeOf(*t, "v"), "string");
  EXPECT_EQ((*t->GetColumnByName("k")->GetScalar(3))->ToString(), "4.5");

  // files whose columns differ are refused, naming both
  auto p3 = Write(d, "c.csv", "k,w\n1,2\n");
  auto bad = csv::ImportCsv({p1, p3}, *b, "/u", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(bad.status().message(), "c.csv")) << bad.status().message();
  EXPECT_FALSE(b->Exists("/u"));
}

TEST(CsvImport, AppendConvertsToTheTableTypesOrChangesNothing) {
  TempDir d;
  auto b = OpenW(d.Sub("b"));
  auto schema = arrow::schema({arrow::field("n", arrow::int32()), arrow::field("s", arrow::utf8()),
                               arrow::field("f", arrow::float64()), arrow::field("ok", arrow::boolean())});
  ASSERT_TRUE(b->CreateTable("/t", schema).ok());
  auto p = Write(d, "a.csv", "n,s,f,ok\n1,10,2,1\n2,x,3.5,false\n");
  csv::ImportOptions o;
  auto refused = csv::ImportCsv({p}, *b, "/t", o);  // no append
  EXPECT_EQ(refused.status().code(), StatusCode::kAlreadyExists);
  o.append = true;
  auto r = csv::ImportCsv({p}, *b, "/t", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->created);
  auto t = ReadAll(*b, "/t");
  EXPECT_EQ(TypeOf(*t, "n"), "int32");
  EXPECT_EQ(TypeOf(*t, "s"), "string");  // "10" stays text in a string column
  EXPECT_EQ((*t->GetColumnByName("s")->GetScalar(0))->ToString(), "10");
  EXPECT_EQ((*t->GetColumnByName("ok")->GetScalar(0))->ToString(), "true");

  // a value that does not convert: the error names file, row, column and value; nothing committed
  const int64_t commit = b->commit().id;
  std::string text = "n,s,f,ok\n";
  for (int i = 0; i < 500; ++i) text += std::to_string(i) + ",a,1,true\n";
  text += "abc,a,1,true\n";
  auto p2 = Write(d, "bad.csv", text);
  o.block_size = 1024;
  auto bad = csv::ImportCsv({p2}, *b, "/t", o);
  ASSERT_FALSE(bad.ok());
  const std::string msg = bad.status().message();
  EXPECT_TRUE(Contains(msg, "bad.csv row 501 column 'n'")) << msg;
  EXPECT_TRUE(Contains(msg, "'abc'")) << msg;
  EXPECT_EQ(b->commit().id, commit);
  EXPECT_EQ(ReadAll(*b, "/t")->num_rows(), 2);
  // beyond the table's int32: Arrow's safe cast refuses it, naming the column
  auto p3 = Write(d, "big.csv", "n,s,f,ok\n9999999999,a,1,true\n");
  auto big = csv::ImportCsv({p3}, *b, "/t", o);
  ASSERT_FALSE(big.ok());
  EXPECT_TRUE(Contains(big.status().message(), "column 'n'")) << big.status().message();
  EXPECT_EQ(b->commit().id, commit);
}

TEST(CsvImport, BadInputsAreErrorsNamingWhere) {
  TempDir d;
  auto b = OpenW(d.Sub("b"));
  const int64_t commit = b->commit().id;
  // invalid UTF-8 in a cell
  auto p = Write(d, "u.csv", "a,b\n1,ok\n2,bad\xff\n");
  auto r = csv::ImportCsv({p}, *b, "/t");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "u.csv row 2 column 'b'")) << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), "UTF-8")) << r.status().message();
  // a ragged row: the file and line
  std::string text = "a,b,c\n";
  for (int i = 0; i < 300; ++i) text += "1,2,3\n";
  text += "7,8\n";
  auto rag = Write(d, "rag.csv", text);
  csv::ImportOptions o;
  o.block_size = 1024;
  r = csv::ImportCsv({rag}, *b, "/t", o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "rag.csv")) << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), "line 302")) << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), "Expected 3 columns, got 2")) << r.status().message();
  // an empty file, a missing file
  r = csv::ImportCsv({Write(d, "e.csv", "")}, *b, "/t");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "e.csv")) << r.status().message();
  r = csv::ImportCsv({d.Sub("missing.csv")}, *b, "/t");
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(Contains(r.status().message(), "missing.csv"));
  // an integer and a real beyond 2^53 in one column cannot both be exact
  r = csv::ImportCsv({Write(d, "big.csv", "x\n1.5\n9007199254740993\n")}, *b, "/t");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "big.csv row 2")) << r.status().message();
  EXPECT_FALSE(b->Exists("/t"));
  EXPECT_EQ(b->commit().id, commit);

  // a header alone: an empty table of string columns
  auto h = csv::ImportCsv({Write(d, "h.csv", "a,b\n")}, *b, "/h");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  auto t = ReadAll(*b, "/h");
  EXPECT_EQ(t->num_rows(), 0);
  EXPECT_EQ(TypeOf(*t, "a"), "string");
}

TEST(CsvImport, EmptyAndDuplicateNamesMadeUnique) {
  TempDir d;
  auto b = OpenW(d.Sub("b"));
  auto r = csv::ImportCsv({Write(d, "a.csv", "a,,a\n1,2,3\n")}, *b, "/t");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto t = ReadAll(*b, "/t");
  EXPECT_EQ(t->schema()->field_names(), (std::vector<std::string>{"a", "column_2", "a_2"}));
  EXPECT_EQ(r->notes.size(), 2u);
  // no header: f0, f1; a TSV
  csv::ImportOptions o;
  o.header = false;
  o.delimiter = '\t';
  ASSERT_TRUE(csv::ImportCsv({Write(d, "b.tsv", "1\tx\n2\ty\n")}, *b, "/n", o).ok());
  auto n = ReadAll(*b, "/n");
  EXPECT_EQ(n->schema()->field_names(), (std::vector<std::string>{"f0", "f1"}));
  EXPECT_EQ(n->num_rows(), 2);
}

}  // namespace
}  // namespace octavo
