// SQLite import (include/octavo/sqlite.h): types over the whole input, several databases in
// one commit, --since, the re-import check, and every bad input leaving the bundle as it was.
#include <sqlite3.h>

#include "octavo/sqlite.h"
#include "test_util.h"

namespace octavo {
namespace {

using testing::Contains;
using testing::TempDir;

// Runs SQL on a database file (created if missing).
void Exec(const std::string& db, const std::string& sql) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  ASSERT_EQ(rc, SQLITE_OK) << msg;
}

std::shared_ptr<Bundle> OpenW(const std::string& p) { return Bundle::Open(p, OpenMode::kAppend).ValueOrDie(); }

std::shared_ptr<arrow::Table> ReadAll(Bundle& b, const std::string& path) {
  auto t = testing::ReadTable(b, path);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? *t : nullptr;
}

// A database with the GPU-usage shape: text timestamps, NULLs, 0/1 flags, a late NULL-only start.
std::string GpuDb(const TempDir& d, const std::string& name, int first, int n) {
  std::string db = d.Sub(name);
  std::string sql =
      "CREATE TABLE gpu (timestamp TEXT, host TEXT, gpu_id INTEGER, state TEXT, user TEXT, priority BOOLEAN, "
      "load REAL, note TEXT);";
  sql += "BEGIN;";
  for (int i = first; i < first + n; ++i) {
    char ts[64];
    std::snprintf(ts, sizeof ts, "2025-11-01 %02d:%02d:00", (i / 60) % 24, i % 60);
    sql += "INSERT INTO gpu VALUES ('" + std::string(ts) + "', 'h" + std::to_string(i % 7) + "', " +
           std::to_string(i) + ", '" + (i % 2 ? "Claimed" : "Unclaimed") + "', " +
           (i % 3 ? "'u" + std::to_string(i % 5) + "'" : std::string("NULL")) + ", " + std::to_string(i % 2) + ", " +
           (i % 4 ? std::to_string(i) + ".5" : std::string("NULL")) + ", " +
           (i >= first + n - 1 ? std::string("'late'") : std::string("NULL")) + ");";
  }
  sql += "COMMIT;";
  Exec(db, sql);
  return db;
}

TEST(SqliteImport, OneTableTypesFromTheWholeInput) {
  TempDir d;
  auto db = GpuDb(d, "m1.db", 0, 100);
  auto b = OpenW(d.Sub("b"));
  sqlite::ImportOptions o;
  o.table = "gpu";
  o.batch_rows = 16;  // several batches: "note" is NULL in every row of the first ones
  auto r = sqlite::ImportDatabases({db}, *b, "/gpu", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 100);
  auto t = ReadAll(*b, "/gpu");
  ASSERT_TRUE(t);
  auto s = t->schema();
  EXPECT_EQ(s->GetFieldByName("timestamp")->type()->ToString(), "timestamp[us]");
  EXPECT_EQ(s->GetFieldByName("gpu_id")->type()->id(), arrow::Type::INT64);
  EXPECT_EQ(s->GetFieldByName("priority")->type()->id(), arrow::Type::BOOL);
  EXPECT_EQ(s->GetFieldByName("load")->type()->id(), arrow::Type::DOUBLE);
  EXPECT_EQ(s->GetFieldByName("note")->type()->id(), arrow::Type::STRING);
  EXPECT_EQ(s->GetFieldByName("user")->type()->id(), arrow::Type::STRING);
  EXPECT_EQ(t->GetColumnByName("note")->null_count(), 99);
  EXPECT_EQ(t->GetColumnByName("load")->null_count(), 25);
  // 2025-11-01 01:05:00 is row 65
  auto ts = std::static_pointer_cast<arrow::TimestampScalar>(*t->GetColumnByName("timestamp")->GetScalar(65));
  EXPECT_EQ(ts->value, (int64_t{1761955200} + 3900) * 1000000);
}

TEST(SqliteImport, MixedValuesFollowTheDocumentedRules) {
  TempDir d;
  std::string db = d.Sub("m.db");
  Exec(db,
       "CREATE TABLE t (a, b, c BOOLEAN, e TEXT, f, g BLOB, z TEXT, n INTEGER);"
       "INSERT INTO t VALUES (1, 1, 0, '2025-11-01T10:00:00Z', 'x', x'00ff', '2025-01-01', NULL);"
       "INSERT INTO t VALUES ('two', 2.5, 1, '2025-11-01T10:00:00.25+02:00', x'01', 'text', '2025-01-01 10:00', NULL);"
       "INSERT INTO t VALUES (3.25, NULL, NULL, NULL, NULL, NULL, NULL, NULL);");
  auto b = OpenW(d.Sub("b"));
  sqlite::ImportOptions o;
  o.table = "t";
  auto r = sqlite::ImportDatabases({db}, *b, "/t", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto t = ReadAll(*b, "/t");
  auto s = t->schema();
  EXPECT_EQ(s->GetFieldByName("a")->type()->id(), arrow::Type::STRING);  // numbers and text
  EXPECT_EQ(s->GetFieldByName("b")->type()->id(), arrow::Type::DOUBLE);
  EXPECT_EQ(s->GetFieldByName("c")->type()->id(), arrow::Type::BOOL);
  EXPECT_EQ(s->GetFieldByName("e")->type()->ToString(), "timestamp[us, tz=UTC]");
  EXPECT_EQ(s->GetFieldByName("f")->type()->id(), arrow::Type::BINARY);  // text and blob
  EXPECT_EQ(s->GetFieldByName("g")->type()->id(), arrow::Type::BINARY);
  EXPECT_EQ(s->GetFieldByName("z")->type()->id(), arrow::Type::STRING);  // a date alone is not a date-time
  EXPECT_EQ(s->GetFieldByName("n")->type()->id(), arrow::Type::INT64);   // NULLs only: declared
  auto a = std::static_pointer_cast<arrow::StringArray>(t->GetColumnByName("a")->chunk(0));
  EXPECT_EQ(a->GetString(0), "1");
  EXPECT_EQ(a->GetString(1), "two");
  EXPECT_EQ(a->GetString(2), "3.25");
  ASSERT_EQ(r->notes.size(), 1u);
  EXPECT_TRUE(Contains(r->notes[0], "column 'a'")) << r->notes[0];
  EXPECT_TRUE(Contains(r->notes[0], "row 2")) << r->notes[0];
  auto e = std::static_pointer_cast<arrow::TimestampScalar>(*t->GetColumnByName("e")->GetScalar(1));
  EXPECT_EQ(e->value, (int64_t{1761955200} + 8 * 3600) * 1000000 + 250000);  // 08:00:00.25 UTC

  // keep_text_timestamps leaves them as text
  sqlite::ImportOptions k = o;
  k.keep_text_timestamps = true;
  ASSERT_TRUE(sqlite::ImportDatabases({db}, *b, "/t2", k).ok());
  EXPECT_EQ(ReadAll(*b, "/t2")->schema()->GetFieldByName("e")->type()->id(), arrow::Type::STRING);
}

TEST(SqliteImport, BooleanWithOtherValuesStaysInteger) {
  TempDir d;
  std::string db = d.Sub("m.db");
  Exec(db, "CREATE TABLE t (flag BOOLEAN); INSERT INTO t VALUES (0), (1), (2);");
  auto b = OpenW(d.Sub("b"));
  sqlite::ImportOptions o;
  o.table = "t";
  ASSERT_TRUE(sqlite::ImportDatabases({db}, *b, "/t", o).ok());
  EXPECT_EQ(ReadAll(*b, "/t")->schema()->field(0)->type()->id(), arrow::Type::INT64);
}

TEST(SqliteImport, BlobWithNumbersAndHugeIntWithRealAreErrorsNamingTheRow) {
  TempDir d;
  std::string db = d.Sub("m.db");
  Exec(db, "CREATE TABLE t (x); INSERT INTO t VALUES (x'00'), (5);"
           "CREATE TABLE u (y); INSERT INTO u VALUES (1.5), (9007199254740993);");
  auto b = OpenW(d.Sub("b"));
  sqlite::ImportOptions o;
  o.table = "t";
  auto r = sqlite::ImportDatabases({db}, *b, "/t", o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTypeError);
  EXPECT_TRUE(Contains(r.status().message(), "row 2: 5")) << r.status().message();
  o.table = "u";
  r = sqlite::ImportDatabases({db}, *b, "/u", o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "9007199254740993")) << r.status().message();
  EXPECT_FALSE(b->Exists("/t"));
  EXPECT_FALSE(b->Exists("/u"));
}

TEST(SqliteImport, AllTablesAndAQuery) {
  TempDir d;
  std::string db = d.Sub("m.db");
  Exec(db, "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1),(2),(3);"
           "CREATE TABLE b (s TEXT); INSERT INTO b VALUES ('p'); CREATE TABLE empty (v REAL);");
  auto b = OpenW(d.Sub("b"));
  const int64_t before = b->commit().id;
  auto r = sqlite::ImportDatabases({db}, *b, "/src", {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(b->commit().id, before + 1);  // one commit
  EXPECT_EQ(ReadAll(*b, "/src/a")->num_rows(), 3);
  EXPECT_EQ(ReadAll(*b, "/src/b")->num_rows(), 1);
  auto e = ReadAll(*b, "/src/empty");
  EXPECT_EQ(e->num_rows(), 0);
  EXPECT_EQ(e->schema()->field(0)->type()->id(), arrow::Type::DOUBLE);

  sqlite::ImportOptions q;
  q.query = "SELECT x, x * 2 AS y FROM a WHERE x > 1";
  r = sqlite::ImportDatabases({db}, *b, "/q", q);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto t = ReadAll(*b, "/q");
  EXPECT_EQ(t->num_rows(), 2);
  EXPECT_EQ(t->schema()->field(1)->name(), "y");
}

TEST(SqliteImport, SeveralDatabasesIntoOneTableInOneCommit) {
  TempDir d;
  auto m1 = GpuDb(d, "m1.db", 0, 50);
  auto m2 = GpuDb(d, "m2.db", 50, 30);
  std::string m3 = d.Sub("m3.db");  // an empty month
  Exec(m3, "CREATE TABLE gpu (timestamp TEXT, host TEXT, gpu_id INTEGER, state TEXT, user TEXT, priority BOOLEAN, "
           "load REAL, note TEXT);");
  auto b = OpenW(d.Sub("b"));
  const int64_t before = b->commit().id;
  sqlite::ImportOptions o;
  o.table = "gpu";
  auto r = sqlite::ImportDatabases({m1, m2, m3}, *b, "/gpu", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(b->commit().id, before + 1);
  auto t = ReadAll(*b, "/gpu");
  EXPECT_EQ(t->num_rows(), 80);
  // rows in the order of the databases given
  auto last = std::static_pointer_cast<arrow::Int64Scalar>(*t->GetColumnByName("gpu_id")->GetScalar(79));
  EXPECT_EQ(last->value, 79);

  // A second database with other columns: an error naming both, nothing committed.
  std::string other = d.Sub("other.db");
  Exec(other, "CREATE TABLE gpu (timestamp TEXT, host TEXT);");
  auto bad = sqlite::ImportDatabases({m1, other}, *b, "/gpu2", o);
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(Contains(bad.status().message(), "other.db")) << bad.status().message();
  EXPECT_FALSE(b->Exists("/gpu2"));
}

TEST(SqliteImport, ReimportIsRefusedAndSinceAddsOnlyNewerRows) {
  TempDir d;
  std::string db = d.Sub("live.db");
  Exec(db, "CREATE TABLE t (ts TEXT, v INTEGER); INSERT INTO t VALUES ('2025-11-01 10:00:00', 1), "
           "('2025-11-01 10:05:00', 2);");
  auto b = OpenW(d.Sub("b"));
  sqlite::ImportOptions o;
  o.table = "t";
  ASSERT_TRUE(sqlite::ImportDatabases({db}, *b, "/t", o).ok());
  // without --append: exists
  auto r = sqlite::ImportDatabases({db}, *b, "/t", o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kAlreadyExists);
  // with --append but no --since: the same file again is refused
  o.append = true;
  r = sqlite::ImportDatabases({db}, *b, "/t", o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "already holds")) << r.status().message();
  EXPECT_TRUE(Contains(r.status().message(), "since")) << r.status().message();
  EXPECT_EQ(ReadAll(*b, "/t")->num_rows(), 2);
  // the collector adds rows; --since ts takes only those
  Exec(db, "INSERT INTO t VALUES ('2025-11-01 10:10:00', 3), ('2025-11-01 10:15:00', 4), (NULL, 5);");
  o.since = "ts";
  r = sqlite::ImportDatabases({db}, *b, "/t", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->tables.size(), 1u);
  EXPECT_EQ(r->tables[0].rows, 2);
  EXPECT_EQ(r->tables[0].skipped, 3);
  auto t = ReadAll(*b, "/t");
  EXPECT_EQ(t->num_rows(), 4);
  // nothing new: nothing added
  r = sqlite::ImportDatabases({db}, *b, "/t", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 0);
  auto attrs = nlohmann::json::parse(b->GetAttrs("/t").ValueOrDie());
  ASSERT_EQ(attrs["sqlite_sources"].size(), 1u);
  EXPECT_EQ(attrs["sqlite_sources"][0]["rows"], 4);
  // an integer since column
  o.since = "v";
  Exec(db, "INSERT INTO t VALUES ('2025-11-01 10:20:00', 6);");
  r = sqlite::ImportDatabases({db}, *b, "/t", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rows, 2);  // v > 4: 5 (whose ts is NULL) and 6
  EXPECT_EQ(ReadAll(*b, "/t")->num_rows(), 6);
}

TEST(SqliteImport, AppendConvertsToTheTablesTypesOrNamesTheValue) {
  TempDir d;
  std::string db = d.Sub("m.db");
  Exec(db, "CREATE TABLE t (id INTEGER, name TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'b');"
           "CREATE TABLE big (id INTEGER, name TEXT); INSERT INTO big VALUES (3000000000, 'c');"
           "CREATE TABLE txt (id INTEGER, name TEXT); INSERT INTO txt VALUES ('seven', 'c');");
  auto b = OpenW(d.Sub("b"));
  auto schema = arrow::schema({arrow::field("id", arrow::int32()), arrow::field("name", arrow::large_utf8())});
  ASSERT_TRUE(b->CreateTable("/t", schema).ok());
  sqlite::ImportOptions o;
  o.append = true;
  o.table = "t";
  auto r = sqlite::ImportDatabases({db}, *b, "/t", o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto t = ReadAll(*b, "/t");
  EXPECT_EQ(t->num_rows(), 2);
  EXPECT_EQ(t->schema()->field(0)->type()->id(), arrow::Type::INT32);
  const int64_t commit = b->commit().id;
  o.table = "big";
  r = sqlite::ImportDatabases({db}, *b, "/t", o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "int32")) << r.status().message();
  o.table = "txt";
  r = sqlite::ImportDatabases({db}, *b, "/t", o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(Contains(r.status().message(), "row 1 column 'id': value 'seven'")) << r.status().message();
  EXPECT_EQ(b->commit().id, commit);
  EXPECT_EQ(ReadAll(*b, "/t")->num_rows(), 2);
}

TEST(SqliteImport, BadInputsAreClearErrorsAndCommitNothing) {
  TempDir d;
  auto good = GpuDb(d, "good.db", 0, 300);
  auto b = OpenW(d.Sub("b"));
  const int64_t commit = b->commit().id;
  sqlite::ImportOptions o;
  o.table = "gpu";
  auto expect_error = [&](const std::vector<std::string>& files, const sqlite::ImportOptions& opt, StatusCode code,
                          const std::string& words) {
    auto r = sqlite::ImportDatabases(files, *b, "/gpu", opt);
    ASSERT_FALSE(r.ok()) << words;
    EXPECT_EQ(r.status().code(), code) << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), words)) << r.status().message();
    EXPECT_EQ(b->commit().id, commit);
    EXPECT_FALSE(b->Exists("/gpu"));
  };
  // not a database (the good one listed first: nothing of it is committed either)
  std::string text = d.Sub("notes.db");
  testing::WriteBytes(text, std::string(4096, 'x'));
  expect_error({good, text}, o, StatusCode::kInvalid, "notes.db: not a SQLite database");
  expect_error({d.Sub("missing.db")}, o, StatusCode::kNotFound, "missing.db");
  // missing table, bad query, a writing query
  sqlite::ImportOptions m = o;
  m.table = "nope";
  expect_error({good}, m, StatusCode::kNotFound, "no table 'nope' (tables: gpu)");
  sqlite::ImportOptions q;
  q.query = "SELECT nope FROM gpu";
  expect_error({good}, q, StatusCode::kInvalid, "no such column: nope");
  q.query = "DELETE FROM gpu";
  expect_error({good}, q, StatusCode::kInvalid, "read-only");
  q.query = "SELECT 1; DROP TABLE gpu";
  expect_error({good}, q, StatusCode::kInvalid, "single SELECT");
  // invalid UTF-8 in a TEXT column names the row and column
  std::string bad = d.Sub("utf8.db");
  Exec(bad, "CREATE TABLE gpu (host TEXT); INSERT INTO gpu VALUES ('ok'), (CAST(x'66ff6f' AS TEXT));");
  expect_error({bad}, o, StatusCode::kInvalid, "row 2 column 'host'");
  // a database locked by a writer
  sqlite3* w = nullptr;
  ASSERT_EQ(sqlite3_open(good.c_str(), &w), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(w, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite::ImportOptions l = o;
  l.busy_timeout_ms = 0;
  expect_error({good}, l, StatusCode::kLocked, "locked");
  sqlite3_exec(w, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(w);
}

TEST(SqliteImport, FlippedBytesNeverCrashAndNeverCommit) {
  TempDir d;
  auto good = GpuDb(d, "good.db", 0, 2000);
  const std::string bytes = testing::ReadBytes(good);
  auto b = OpenW(d.Sub("b"));
  sqlite::ImportOptions o;
  o.table = "gpu";
  int failed = 0;
  uint32_t seed = 12345;
  for (int i = 0; i < 60; ++i) {
    std::string damaged = bytes;
    for (int k = 0; k < 8; ++k) {
      seed = seed * 1103515245 + 12345;
      // pages after the header: the schema page and the table's b-tree pages
      size_t pos = 100 + (seed >> 8) % (damaged.size() - 100);
      damaged[pos] = static_cast<char>(damaged[pos] ^ (1 + (seed & 0x7f)));
    }
    std::string path = d.Sub("bad" + std::to_string(i) + ".db");
    testing::WriteBytes(path, damaged);
    const int64_t commit = b->commit().id;
    auto r = sqlite::ImportDatabases({path}, *b, "/gpu", o);
    if (!r.ok()) {
      ++failed;
      EXPECT_TRUE(Contains(r.status().message(), path)) << r.status().message();
      EXPECT_EQ(b->commit().id, commit);
    } else {
      ASSERT_TRUE(b->RemoveNode("/gpu").ok());  // damage in unused bytes or values: a valid import
    }
  }
  EXPECT_GT(failed, 0);
}

// Large values: batches are cut by bytes as well as rows, and every byte arrives.
TEST(SqliteImport, LargeValuesAreBatchedByBytes) {
  TempDir d;
  std::string db = d.Sub("big.db");
  Exec(db, "CREATE TABLE t (k INTEGER, s TEXT, b BLOB);"
           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40) "
           "INSERT INTO t SELECT i, printf('%.*c', 300000 + i, 'x'), zeroblob(200000 + i) FROM n;");
  auto b = OpenW(d.Sub("b"));
  sqlite::ImportOptions o;
  o.table = "t";
  o.batch_bytes = 1 << 20;  // ~2 rows a batch
  ASSERT_TRUE(sqlite::ImportDatabases({db}, *b, "/t", o).ok());
  auto t = ReadAll(*b, "/t");
  ASSERT_EQ(t->num_rows(), 40);
  auto combined = t->CombineChunks().ValueOrDie();
  auto s = std::static_pointer_cast<arrow::StringArray>(combined->GetColumnByName("s")->chunk(0));
  auto bl = std::static_pointer_cast<arrow::BinaryArray>(combined->GetColumnByName("b")->chunk(0));
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(s->value_length(i), 300001 + i);
    EXPECT_EQ(bl->value_length(i), 200001 + i);
  }
}

TEST(SqliteImport, ParsesDateTimeForms) {
  TempDir d;
  std::string db = d.Sub("m.db");
  Exec(db, "CREATE TABLE t (a TEXT, b TEXT, c TEXT);"
           "INSERT INTO t VALUES ('2024-02-29 23:59:59', '2025-11-01T10:00Z', '2025-11-01 10:00:00.1234567');"
           "INSERT INTO t VALUES ('2025-11-01T00:00', '2025-11-01T10:00:00-0130', '2025-11-01 10:00:00');"
           "CREATE TABLE u (a TEXT); INSERT INTO u VALUES ('2025-02-29 00:00:00');");
  auto b = OpenW(d.Sub("b"));
  sqlite::ImportOptions o;
  o.table = "t";
  ASSERT_TRUE(sqlite::ImportDatabases({db}, *b, "/t", o).ok());
  auto t = ReadAll(*b, "/t");
  EXPECT_EQ(t->schema()->field(0)->type()->ToString(), "timestamp[us]");
  EXPECT_EQ(t->schema()->field(1)->type()->ToString(), "timestamp[us, tz=UTC]");
  EXPECT_EQ(t->schema()->field(2)->type()->id(), arrow::Type::STRING);  // 100 ns would be lost
  auto v = std::static_pointer_cast<arrow::TimestampScalar>(*t->GetColumnByName("b")->GetScalar(1));
  EXPECT_EQ(v->value, (int64_t{1761955200} + 11 * 3600 + 30 * 60) * 1000000);
  o.table = "u";  // no 29 February in 2025
  ASSERT_TRUE(sqlite::ImportDatabases({db}, *b, "/u", o).ok());
  EXPECT_EQ(ReadAll(*b, "/u")->schema()->field(0)->type()->id(), arrow::Type::STRING);
}

}  // namespace
}  // namespace octavo
