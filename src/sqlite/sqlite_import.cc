// SQLite databases -> bundle tables (include/octavo/sqlite.h for the type rules).
//
// Two passes over every source, each database held in one read transaction (a consistent
// snapshot even while a collector writes to it): pass 1 gathers per-column statistics
// (storage classes, 0/1, date-time parse, UTF-8) and decides the types over the whole input;
// pass 2 streams batches of those types into Bundle::CreateTable / Table::Append inside one
// bundle transaction. Memory is bounded by one batch whatever the databases' size.
#include "octavo/sqlite.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/util/utf8.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "octavo/arrow_status.h"
#include "octavo/bundle.h"
#include "util/json_util.h"
#include "util/threads.h"
#include "util/names.h"
#include "infer/infer.h"
#include "util/time_util.h"

namespace octavo::sqlite {

namespace fs = std::filesystem;
using infer::ColStats;
using infer::Kind;
using infer::KindType;
using infer::kMaxExactInt;
using infer::Merge;
using infer::ParseDateTime;

namespace {

constexpr const char* kSourcesAttr = "sqlite_sources";

// --- connections ---------------------------------------------------------------------------

Status SqlError(sqlite3* db, int rc, const std::string& where) {
  std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_NOTADB:
      return Status::Invalid(where, ": not a SQLite database (", msg, ")");
    case SQLITE_CORRUPT:
      return Status::Corruption(where, ": the database is corrupt (", msg, "); nothing was imported");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Locked(where, ": the database is locked by another process (", msg,
                            "); retry once its writer has finished");
    case SQLITE_CANTOPEN:
      return Status::IOError(where, ": cannot open the database (", msg, ")");
    case SQLITE_NOMEM:
      return Status::IOError(where, ": out of memory reading the database");
    default:
      return Status::Invalid(where, ": ", msg);
  }
}

struct Db {
  sqlite3* db = nullptr;
  std::string path;      // as given, for messages
  std::string canonical; // identity recorded in the table's attributes
  int64_t size = 0;
  ~Db() {
    if (db) {
      sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
      sqlite3_close_v2(db);
    }
  }
};

struct Stmt {
  sqlite3_stmt* s = nullptr;
  ~Stmt() { sqlite3_finalize(s); }
};

Result<std::unique_ptr<Db>> OpenDb(const std::string& path, int busy_timeout_ms) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::NotFound("no such file: '", path, "'");
  if (fs::is_directory(path, ec)) return Status::Invalid("'", path, "' is a directory, not a SQLite database");
  auto d = std::make_unique<Db>();
  d->path = path;
  d->canonical = fs::canonical(path, ec).string();
  if (ec) d->canonical = fs::absolute(path).string();
  d->size = static_cast<int64_t>(fs::file_size(path, ec));
  // Read-only (the source is never modified). Not `immutable`: a collector may be writing
  // the database, and SQLite's locking is what gives us a consistent snapshot.
  int rc = sqlite3_open_v2(path.c_str(), &d->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return SqlError(d->db, rc, path);
  sqlite3_extended_result_codes(d->db, 1);
  // Untrusted file: no extensions, no functions with side effects from its schema.
  sqlite3_db_config(d->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, nullptr);
  sqlite3_db_config(d->db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(d->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  sqlite3_busy_timeout(d->db, std::max(0, busy_timeout_ms));
  rc = sqlite3_exec(d->db, "PRAGMA cell_size_check=ON", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqlError(d->db, rc, path);
  rc = sqlite3_exec(d->db, "BEGIN", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqlError(d->db, rc, path);
  // Reading the schema starts the snapshot and tells a non-database apart at once.
  rc = sqlite3_exec(d->db, "SELECT count(*) FROM sqlite_schema", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqlError(d->db, rc, path);
  return d;
}

std::string Quote(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

Result<std::vector<std::string>> ListTables(Db& d) {
  Stmt st;
  int rc = sqlite3_prepare_v2(d.db,
                              "SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite\\_%' "
                              "ESCAPE '\\' ORDER BY name",
                              -1, &st.s, nullptr);
  if (rc != SQLITE_OK) return SqlError(d.db, rc, d.path);
  std::vector<std::string> out;
  while ((rc = sqlite3_step(st.s)) == SQLITE_ROW) {
    const auto* t = sqlite3_column_text(st.s, 0);
    out.emplace_back(t ? reinterpret_cast<const char*>(t) : "", sqlite3_column_bytes(st.s, 0));
  }
  if (rc != SQLITE_DONE) return SqlError(d.db, rc, d.path);
  return out;
}

std::string Upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::toupper(c); });
  return s;
}

// SQLite's affinity rules (section 3.1 of its datatype document), plus BOOL.
Kind DeclaredKind(const std::string& decl_in) {
  const std::string decl = Upper(decl_in);
  auto has = [&](const char* w) { return decl.find(w) != std::string::npos; };
  if (has("BOOL")) return Kind::kBool;
  if (has("INT")) return Kind::kInt64;
  if (has("CHAR") || has("CLOB") || has("TEXT")) return Kind::kString;
  if (has("BLOB")) return Kind::kBinary;
  if (has("REAL") || has("FLOA") || has("DOUB")) return Kind::kFloat64;
  return Kind::kString;
}

Result<Kind> KindForTableType(const arrow::DataType& t, const std::string& table, const std::string& column) {
  return infer::KindForTableType(t, table, column, "SQLite");
}

std::string ValueText(sqlite3_stmt* s, int c) {
  switch (sqlite3_column_type(s, c)) {
    case SQLITE_INTEGER: return std::to_string(sqlite3_column_int64(s, c));
    case SQLITE_FLOAT: {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.17g", sqlite3_column_double(s, c));
      return buf;
    }
    case SQLITE_NULL: return "NULL";
    case SQLITE_BLOB: return "a BLOB of " + std::to_string(sqlite3_column_bytes(s, c)) + " bytes";
    default: {
      const char* t = reinterpret_cast<const char*>(sqlite3_column_text(s, c));
      std::string v(t ? t : "", static_cast<size_t>(sqlite3_column_bytes(s, c)));
      if (v.size() > 60) v = v.substr(0, 60) + "...";
      return "'" + Escaped(v) + "'";
    }
  }
}

// --- one source: a table or query of one database ------------------------------------------

struct Source {
  Db* db = nullptr;
  std::string label;  // "table gpu" / "query"
  std::string sql;
  std::string where;  // "gpu.db table gpu", for messages
  std::unique_ptr<Stmt> stmt;
};

Status Prepare(Source& src) {
  src.stmt = std::make_unique<Stmt>();
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(src.db->db, src.sql.c_str(), static_cast<int>(src.sql.size()), &src.stmt->s, &tail);
  if (rc != SQLITE_OK) {
    if ((rc & 0xff) == SQLITE_ERROR) return Status::Invalid(src.where, ": ", sqlite3_errmsg(src.db->db));
    return SqlError(src.db->db, rc, src.where);
  }
  if (!src.stmt->s) return Status::Invalid(src.where, ": the query is empty");
  if (tail) {
    std::string_view rest(tail);
    if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos)
      return Status::Invalid(src.where, ": give a single SELECT statement (found more after the first: '",
                             Escaped(std::string(rest.substr(0, 60))), "')");
  }
  if (!sqlite3_stmt_readonly(src.stmt->s))
    return Status::Invalid(src.where, ": only read-only queries (SELECT) can be imported");
  if (sqlite3_column_count(src.stmt->s) == 0) return Status::Invalid(src.where, ": the statement returns no columns");
  return Status::OK();
}

// Rows whose `since` column does not exceed the table's maximum are left out.
struct SinceFilter {
  int column = -1;  // in the source; -1: no filter
  Kind kind = Kind::kInt64;
  bool has_max = false;
  int64_t max_i = 0;  // int64 and timestamps (microseconds)
  double max_d = 0;
  std::string max_s;

  // true: keep the row
  Result<bool> Keep(sqlite3_stmt* s, const std::string& where, int64_t row, const std::string& col) const {
    if (column < 0 || !has_max) return true;
    const int t = sqlite3_column_type(s, column);
    if (t == SQLITE_NULL) return false;
    auto bad = [&]() {
      return Status::TypeError(where, " row ", row, " column '", col, "': value ", ValueText(s, column),
                               " cannot be compared with the table's maximum for since");
    };
    switch (kind) {
      case Kind::kInt64:
        if (t == SQLITE_INTEGER) return sqlite3_column_int64(s, column) > max_i;
        if (t == SQLITE_FLOAT) return sqlite3_column_double(s, column) > static_cast<double>(max_i);
        return bad();
      case Kind::kFloat64:
        if (t == SQLITE_INTEGER || t == SQLITE_FLOAT) return sqlite3_column_double(s, column) > max_d;
        return bad();
      case Kind::kTimestamp:
      case Kind::kTimestampUtc: {
        if (t != SQLITE_TEXT) return bad();
        std::string_view v(reinterpret_cast<const char*>(sqlite3_column_text(s, column)),
                           static_cast<size_t>(sqlite3_column_bytes(s, column)));
        int64_t us;
        int zoned;
        if (!ParseDateTime(v, &us, &zoned)) return bad();
        return us > max_i;
      }
      case Kind::kString: {
        if (t != SQLITE_TEXT) return bad();
        std::string_view v(reinterpret_cast<const char*>(sqlite3_column_text(s, column)),
                           static_cast<size_t>(sqlite3_column_bytes(s, column)));
        return v > std::string_view(max_s);
      }
      default:
        return bad();
    }
  }
};

Status StepError(Source& src, int rc, int64_t row) {
  return SqlError(src.db->db, rc, src.where + " (after row " + std::to_string(row) + ")");
}

// Pass 1 over one source: statistics per column.
Status Gather(Source& src, std::vector<ColStats>& stats, const SinceFilter& since) {
  sqlite3_stmt* s = src.stmt->s;
  const int n = static_cast<int>(stats.size());
  int64_t row = 0;
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    ++row;
    if (since.column >= 0) {
      OCTAVO_ASSIGN_OR_RETURN(bool keep, since.Keep(s, src.where, row, stats[since.column].name));
      if (!keep) continue;
    }
    for (int c = 0; c < n; ++c) {
      ColStats& cs = stats[c];
      auto here = [&]() { return src.where + " row " + std::to_string(row) + ": " + ValueText(s, c); };
      switch (sqlite3_column_type(s, c)) {
        case SQLITE_NULL: break;
        case SQLITE_INTEGER:
          cs.AddInt(sqlite3_column_int64(s, c), row, here);
          break;
        case SQLITE_FLOAT:
          cs.AddReal(here);
          break;
        case SQLITE_BLOB:
          cs.AddBlob(here);
          break;
        default: {
          const auto* p = sqlite3_column_text(s, c);
          const int len = sqlite3_column_bytes(s, c);
          if (!arrow::util::ValidateUTF8(p, len))
            return Status::Invalid(src.where, " row ", row, " column '", cs.name, "': the TEXT value ",
                                   ValueText(s, c), " is not valid UTF-8; declare the column BLOB, or import ",
                                   "with a query selecting CAST(", Quote(cs.name), " AS BLOB)");
          cs.AddText(std::string_view(reinterpret_cast<const char*>(p), static_cast<size_t>(len)), false, here);
        }
      }
    }
  }
  if (rc != SQLITE_DONE) return StepError(src, rc, row);
  sqlite3_reset(s);
  return Status::OK();
}

Result<Kind> Decide(const ColStats& cs, const std::string& dest, bool keep_text_ts, std::vector<std::string>* notes) {
  if (cs.n_blob > 0) {
    if (cs.n_int + cs.n_real > 0)
      return Status::TypeError("table ", dest, " column '", cs.name, "' mixes BLOB values (first: ",
                               cs.first_blob_where, ") with numbers (first: ", cs.first_number_where,
                               "); import it with a query that casts the column, e.g. CAST(", Quote(cs.name),
                               " AS BLOB)");
    return Kind::kBinary;
  }
  infer::DecideOptions o;
  o.dest = dest;
  o.keep_text_timestamps = keep_text_ts;
  o.fallback = DeclaredKind(cs.decl);
  o.ints_may_be_bool = o.fallback == Kind::kBool;
  o.big_int_hint = "import it with a query that casts the column";
  return infer::Decide(cs, o, notes);
}

// --- pass 2: the batches -------------------------------------------------------------------

class SqliteReader final : public infer::StatusBatchReader {
 public:
  SqliteReader(std::vector<Source*> sources, std::vector<int> columns, std::vector<Kind> kinds,
               std::shared_ptr<arrow::Schema> schema, const SinceFilter& since, const ImportOptions& options)
      : sources_(std::move(sources)),
        cols_(std::move(columns)),
        kinds_(std::move(kinds)),
        schema_(std::move(schema)),
        since_(since),
        opt_(options) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  int64_t rows() const { return rows_; }
  int64_t skipped() const { return skipped_; }
  int64_t source_rows(size_t i) const { return i < per_source_.size() ? per_source_[i] : 0; }

 private:
  Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    const size_t n = cols_.size();
    std::vector<std::unique_ptr<arrow::ArrayBuilder>> b(n);
    for (size_t i = 0; i < n; ++i) {
      OCTAVO_ARROW_ASSIGN_OR_RETURN(b[i], arrow::MakeBuilder(KindType(kinds_[i])));
    }
    int64_t batch = 0, bytes = 0;
    while (src_ < sources_.size() && batch < opt_.batch_rows && bytes < opt_.batch_bytes) {
      Source& src = *sources_[src_];
      const int rc = sqlite3_step(src.stmt->s);
      if (rc == SQLITE_DONE) {
        sqlite3_reset(src.stmt->s);
        ++src_;
        row_ = 0;
        continue;
      }
      if (rc != SQLITE_ROW) return StepError(src, rc, row_);
      ++row_;
      sqlite3_stmt* s = src.stmt->s;
      if (since_.column >= 0) {
        OCTAVO_ASSIGN_OR_RETURN(bool keep,
                                since_.Keep(s, src.where, row_, sqlite3_column_name(s, since_.column)));
        if (!keep) {
          ++skipped_;
          continue;
        }
      }
      for (size_t i = 0; i < n; ++i) OCTAVO_RETURN_NOT_OK(Append(src, s, cols_[i], kinds_[i], b[i].get(), &bytes));
      ++batch;
      if (per_source_.size() <= src_) per_source_.resize(src_ + 1, 0);
      ++per_source_[src_];
    }
    if (batch == 0) return std::shared_ptr<arrow::RecordBatch>();
    arrow::ArrayVector arrays(n);
    for (size_t i = 0; i < n; ++i) {
      OCTAVO_RETURN_NOT_ARROW_OK(b[i]->Finish(&arrays[i]));
      const auto& want = schema_->field(static_cast<int>(i))->type();
      if (!arrays[i]->type()->Equals(*want)) {  // an existing table's narrower / other layout
        auto cast = arrow::compute::Cast(*arrays[i], want, arrow::compute::CastOptions::Safe());
        if (!cast.ok())
          return Status::TypeError(sources_[std::min(src_, sources_.size() - 1)]->where, " column '",
                                   schema_->field(static_cast<int>(i))->name(), "': values do not fit the table's ",
                                   want->ToString(), " (", cast.status().message(), ")");
        arrays[i] = *cast;
      }
    }
    rows_ += batch;
    return arrow::RecordBatch::Make(schema_, batch, std::move(arrays));
  }

  Status Append(Source& src, sqlite3_stmt* s, int c, Kind k, arrow::ArrayBuilder* b, int64_t* bytes) {
    const int t = sqlite3_column_type(s, c);
    if (t == SQLITE_NULL) return FromArrow(b->AppendNull());
    auto bad = [&](const char* why) {
      return Status::TypeError(src.where, " row ", row_, " column '", sqlite3_column_name(s, c), "': value ",
                               ValueText(s, c), " ", why, " ", KindType(k)->ToString());
    };
    auto text = [&]() {
      return std::string_view(reinterpret_cast<const char*>(sqlite3_column_text(s, c)),
                              static_cast<size_t>(sqlite3_column_bytes(s, c)));
    };
    switch (k) {
      case Kind::kInt64: {
        int64_t v;
        if (t == SQLITE_INTEGER) {
          v = sqlite3_column_int64(s, c);
        } else if (t == SQLITE_FLOAT) {
          const double d = sqlite3_column_double(s, c);
          if (!(d >= -9.2e18 && d <= 9.2e18) || std::trunc(d) != d) return bad("is not exactly an");
          v = static_cast<int64_t>(d);
        } else {
          return bad("does not convert to");
        }
        *bytes += 8;
        return FromArrow(static_cast<arrow::Int64Builder*>(b)->Append(v));
      }
      case Kind::kFloat64: {
        if (t == SQLITE_INTEGER) {
          const int64_t v = sqlite3_column_int64(s, c);
          if (v > kMaxExactInt || v < -kMaxExactInt) return bad("is not exactly a");
        } else if (t != SQLITE_FLOAT) {
          return bad("does not convert to");
        }
        *bytes += 8;
        return FromArrow(static_cast<arrow::DoubleBuilder*>(b)->Append(sqlite3_column_double(s, c)));
      }
      case Kind::kBool: {
        if (t != SQLITE_INTEGER) return bad("does not convert to");
        const int64_t v = sqlite3_column_int64(s, c);
        if (v != 0 && v != 1) return bad("is not 0 or 1 for");
        *bytes += 1;
        return FromArrow(static_cast<arrow::BooleanBuilder*>(b)->Append(v == 1));
      }
      case Kind::kString: {
        if (t == SQLITE_BLOB) return bad("does not convert to");
        if (t == SQLITE_TEXT) {
          auto v = text();
          if (!arrow::util::ValidateUTF8(v))
            return Status::Invalid(src.where, " row ", row_, " column '", sqlite3_column_name(s, c),
                                   "': the TEXT value ", ValueText(s, c), " is not valid UTF-8");
          *bytes += static_cast<int64_t>(v.size());
          return FromArrow(static_cast<arrow::StringBuilder*>(b)->Append(v));
        }
        const std::string v = ValueText(s, c);  // a number, as text
        *bytes += static_cast<int64_t>(v.size());
        return FromArrow(static_cast<arrow::StringBuilder*>(b)->Append(v));
      }
      case Kind::kBinary: {
        if (t != SQLITE_BLOB && t != SQLITE_TEXT) return bad("does not convert to");
        const void* p = t == SQLITE_BLOB ? sqlite3_column_blob(s, c) : static_cast<const void*>(sqlite3_column_text(s, c));
        const int len = sqlite3_column_bytes(s, c);
        *bytes += len;
        return FromArrow(static_cast<arrow::BinaryBuilder*>(b)->Append(static_cast<const uint8_t*>(p), len));
      }
      case Kind::kTimestamp:
      case Kind::kTimestampUtc: {
        if (t != SQLITE_TEXT) return bad("does not convert to");
        int64_t us;
        int zoned;
        if (!ParseDateTime(text(), &us, &zoned)) return bad("is not a date-time for");
        if ((zoned == 1) != (k == Kind::kTimestampUtc))
          return bad(zoned ? "has a time zone, unlike the column's" : "has no time zone, unlike the column's");
        *bytes += 8;
        return FromArrow(static_cast<arrow::TimestampBuilder*>(b)->Append(us));
      }
    }
    return Status::Invalid("unreachable");
  }

  std::vector<Source*> sources_;
  std::vector<int> cols_;
  std::vector<Kind> kinds_;
  std::shared_ptr<arrow::Schema> schema_;
  SinceFilter since_;
  const ImportOptions& opt_;
  size_t src_ = 0;
  int64_t row_ = 0;
  int64_t rows_ = 0, skipped_ = 0;
  std::vector<int64_t> per_source_;  // rows read (so far) from each source
};

// Reads the next batch of `inner` as a task on Arrow's I/O pool while the caller encodes and
// writes the previous one (SQLite decoding overlaps Parquet encoding): one batch ahead.
// Stop() waits for the task in flight (the destructor too); after it, `inner` is idle.
class PrefetchReader final : public arrow::RecordBatchReader {
 public:
  explicit PrefetchReader(std::shared_ptr<arrow::RecordBatchReader> inner) : inner_(std::move(inner)) { Ahead(); }
  ~PrefetchReader() override { Stop(); }

  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    (void)tasks_.Wait();
    *out = std::move(next_);
    next_ = nullptr;
    if (!status_.ok() || !*out) {
      *out = nullptr;
      return status_;
    }
    Ahead();
    return arrow::Status::OK();
  }

  void Stop() {
    stopped_ = true;
    (void)tasks_.Wait();
  }

 private:
  void Ahead() {
    if (stopped_) return;
    tasks_.Submit([this] {
      status_ = inner_->ReadNext(&next_);
      return Status::OK();
    });
  }

  std::shared_ptr<arrow::RecordBatchReader> inner_;
  BackgroundTasks tasks_{1};
  std::shared_ptr<arrow::RecordBatch> next_;  // written by the task, read after Wait()
  arrow::Status status_;
  bool stopped_ = false;
};

// The maximum of `column` in an existing table, read a batch at a time.
Status TableMax(Table& table, const std::string& column, SinceFilter* f) {
  ReadOptions ro;
  ro.columns = {column};
  OCTAVO_ASSIGN_OR_RETURN(auto reader, table.Scan(ro, 1 << 16));
  std::shared_ptr<arrow::Scalar> best;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> b;
    OCTAVO_RETURN_NOT_ARROW_OK(reader->ReadNext(&b));
    if (!b) break;
    auto arr = b->column(0);
    if (arr->type()->id() == arrow::Type::DICTIONARY) {
      auto dt = static_cast<const arrow::DictionaryType&>(*arr->type()).value_type();
      OCTAVO_ARROW_ASSIGN_OR_RETURN(arr, arrow::compute::Cast(*arr, dt));
    }
    if (arr->type()->id() == arrow::Type::TIMESTAMP) {
      const auto& tt = static_cast<const arrow::TimestampType&>(*arr->type());
      OCTAVO_ARROW_ASSIGN_OR_RETURN(
          arr, arrow::compute::Cast(*arr, arrow::timestamp(arrow::TimeUnit::MICRO, tt.timezone()),
                                    arrow::compute::CastOptions::Unsafe()));
    }
    OCTAVO_ARROW_ASSIGN_OR_RETURN(auto mx, arrow::compute::CallFunction("max", {arr}));
    auto sc = mx.scalar();
    if (!sc->is_valid) continue;
    if (!best) {
      best = sc;
    } else {
      OCTAVO_ARROW_ASSIGN_OR_RETURN(auto gt, arrow::compute::CallFunction("greater", {sc, best}));
      if (gt.scalar()->is_valid && std::static_pointer_cast<arrow::BooleanScalar>(gt.scalar())->value) best = sc;
    }
  }
  if (!best) return Status::OK();  // empty (or all NULL): import every row
  f->has_max = true;
  switch (f->kind) {
    case Kind::kInt64: {
      OCTAVO_ARROW_ASSIGN_OR_RETURN(auto v, best->CastTo(arrow::int64()));
      f->max_i = std::static_pointer_cast<arrow::Int64Scalar>(v)->value;
      break;
    }
    case Kind::kFloat64: {
      OCTAVO_ARROW_ASSIGN_OR_RETURN(auto v, best->CastTo(arrow::float64()));
      f->max_d = std::static_pointer_cast<arrow::DoubleScalar>(v)->value;
      break;
    }
    case Kind::kTimestamp:
    case Kind::kTimestampUtc:
      f->max_i = std::static_pointer_cast<arrow::TimestampScalar>(best)->value;
      break;
    case Kind::kString:
      f->max_s = best->ToString();
      break;
    default:
      return Status::TypeError("since: column '", column, "' of table ", table.path(),
                               " is boolean/binary; give an increasing number, date-time or text column");
  }
  return Status::OK();
}

// One destination table and the sources that fill it.
struct Plan {
  std::string dest;
  std::string label;  // "table t" / "query"
  std::vector<Source*> sources;
  std::vector<std::string> names;
  std::vector<std::string> decls;
  std::shared_ptr<Table> existing;  // append target
};

std::string JoinNames(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace

bool LooksLikeSqlite(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char head[16] = {};
  if (!f.read(head, 16)) return false;
  return std::memcmp(head, "SQLite format 3\0", 16) == 0;
}

Result<ImportReport> ImportDatabases(const std::vector<std::string>& paths, Bundle& bundle, const std::string& dest_in,
                                     const ImportOptions& options) {
  arrow::util::InitializeUTF8();
  if (paths.empty()) return Status::Invalid("import_sqlite: no database given");
  if (!options.table.empty() && !options.query.empty())
    return Status::Invalid("import_sqlite: give a table or a query, not both");
  if (options.batch_rows <= 0 || options.batch_bytes <= 0)
    return Status::Invalid("import_sqlite: batch_rows and batch_bytes must be positive");
  OCTAVO_ASSIGN_OR_RETURN(const std::string dest, NormalizePath(dest_in.empty() ? "/" : dest_in));
  const bool all_tables = options.table.empty() && options.query.empty();
  if (!all_tables && dest == "/")
    return Status::Invalid("import_sqlite: give the table's path (e.g. /gpu), not the root group");

  // Open every database first: a bad file fails before anything is planned or written.
  std::vector<std::unique_ptr<Db>> dbs;
  std::set<std::string> seen;
  for (const auto& p : paths) {
    OCTAVO_ASSIGN_OR_RETURN(auto d, OpenDb(p, options.busy_timeout_ms));
    if (!seen.insert(d->canonical).second)
      return Status::Invalid("import_sqlite: '", p, "' is given twice; its rows would be imported twice");
    dbs.push_back(std::move(d));
  }

  // Plans: one per destination table.
  std::vector<std::unique_ptr<Source>> sources;
  std::map<std::string, Plan> plans;  // by source table name ("" for table/query mode)
  std::vector<std::string> order;
  for (auto& d : dbs) {
    std::vector<std::string> names;
    if (all_tables) {
      OCTAVO_ASSIGN_OR_RETURN(names, ListTables(*d));
    } else if (!options.table.empty()) {
      OCTAVO_ASSIGN_OR_RETURN(auto tables, ListTables(*d));
      if (std::find(tables.begin(), tables.end(), options.table) == tables.end()) {
        Stmt v;  // a view imports too
        std::string q = "SELECT 1 FROM sqlite_schema WHERE type='view' AND name=?";
        int rc = sqlite3_prepare_v2(d->db, q.c_str(), -1, &v.s, nullptr);
        if (rc != SQLITE_OK) return SqlError(d->db, rc, d->path);
        sqlite3_bind_text(v.s, 1, options.table.c_str(), static_cast<int>(options.table.size()), SQLITE_TRANSIENT);
        if (sqlite3_step(v.s) != SQLITE_ROW)
          return Status::NotFound(d->path, ": no table '", Escaped(options.table), "' (tables: ",
                                  tables.empty() ? std::string("none") : JoinNames(tables), ")");
      }
      names = {options.table};
    } else {
      names = {""};
    }
    for (const auto& name : names) {
      auto src = std::make_unique<Source>();
      src->db = d.get();
      if (name.empty()) {
        src->label = "query";
        src->sql = options.query;
        src->where = d->path + " query";
      } else {
        src->label = "table " + name;
        src->sql = "SELECT * FROM " + Quote(name);
        src->where = d->path + " table '" + Escaped(name) + "'";
      }
      OCTAVO_RETURN_NOT_OK(Prepare(*src));
      auto it = plans.find(name);
      if (it == plans.end()) {
        Plan p;
        if (all_tables) {
          if (!ValidateName(name).ok())
            return Status::Invalid(d->path, ": table '", Escaped(name), "' is not a valid node name; import it ",
                                   "alone with table= and a destination path");
          p.dest = JoinPath(dest, name);
        } else {
          p.dest = dest;
        }
        p.label = src->label;
        const int nc = sqlite3_column_count(src->stmt->s);
        for (int c = 0; c < nc; ++c) {
          const char* cn = sqlite3_column_name(src->stmt->s, c);
          const char* dt = sqlite3_column_decltype(src->stmt->s, c);
          p.names.emplace_back(cn ? cn : "");
          p.decls.emplace_back(dt ? dt : "");
        }
        it = plans.emplace(name, std::move(p)).first;
        order.push_back(name);
      } else {
        std::vector<std::string> cols;
        for (int c = 0; c < sqlite3_column_count(src->stmt->s); ++c) {
          const char* cn = sqlite3_column_name(src->stmt->s, c);
          cols.emplace_back(cn ? cn : "");
        }
        if (cols != it->second.names)
          return Status::TypeError(src->where, " has columns (", JoinNames(cols), ") but ",
                                   it->second.sources.front()->where, " has (", JoinNames(it->second.names),
                                   "); the databases must agree to go into one table ", it->second.dest);
      }
      it->second.sources.push_back(src.get());
      sources.push_back(std::move(src));
    }
  }

  // Destinations: new, or appended to (with the re-import check).
  if (all_tables && bundle.Exists(dest)) {
    OCTAVO_ASSIGN_OR_RETURN(auto node, bundle.GetNode(dest));
    if (node.kind != NodeKind::kGroup)
      return Status::TypeError("cannot import all tables of ", paths[0], " under ", dest, ": it is a ",
                               NodeKindName(node.kind), ", not a group (give table= or query= to fill one table)");
  }
  ImportReport report;
  for (const auto& d : dbs) report.files.push_back(d->path);
  std::map<std::string, SinceFilter> filters;
  for (const auto& key : order) {
    Plan& p = plans[key];
    SinceFilter& f = filters[key];
    std::set<std::string> names;
    for (const auto& n : p.names)
      if (!names.insert(n).second)
        return Status::Invalid(p.sources[0]->where, ": two columns are named '", Escaped(n),
                               "'; rename one (SELECT ... AS ...)");
    if (!options.since.empty()) {
      auto pos = std::find(p.names.begin(), p.names.end(), options.since);
      if (pos == p.names.end())
        return Status::NotFound(p.sources[0]->where, ": since column '", Escaped(options.since),
                                "' is not among its columns (", JoinNames(p.names), ")");
      f.column = static_cast<int>(pos - p.names.begin());
    }
    if (!bundle.Exists(p.dest)) continue;
    OCTAVO_ASSIGN_OR_RETURN(auto node, bundle.GetNode(p.dest));
    if (node.kind != NodeKind::kTable)
      return Status::TypeError("cannot import into ", p.dest, ": it is ", NodeKindWithArticle(node.kind), ", not a table");
    if (!options.append)
      return Status::AlreadyExists("table ", p.dest, " already exists; append to it (--append, append=True), ",
                                   "with --since COLUMN to add only newer rows");
    OCTAVO_ASSIGN_OR_RETURN(p.existing, bundle.OpenTable(p.dest));
    if (options.since.empty()) {
      OCTAVO_ASSIGN_OR_RETURN(Json attrs, ParseJson(node.attrs_json, "attributes of " + p.dest));
      if (attrs.contains(kSourcesAttr) && attrs[kSourcesAttr].is_array()) {
        for (const auto& rec : attrs[kSourcesAttr]) {
          for (const Source* s : p.sources) {
            if (rec.value("file", "") == s->db->canonical && rec.value("source", "") == s->label)
              return Status::AlreadyExists(
                  "table ", p.dest, " already holds ", s->where, " (", rec.value("rows", int64_t{0}),
                  " rows, imported ", rec.value("imported_at", ""), "); importing it again would duplicate them: ",
                  "pass --since COLUMN (since=) to add only rows newer than the table's, or remove the table first");
          }
        }
      }
    } else {
      OCTAVO_ASSIGN_OR_RETURN(auto schema, p.existing->schema());
      int idx = schema->GetFieldIndex(options.since);
      if (idx < 0)
        return Status::NotFound("since: table ", p.dest, " has no column '", Escaped(options.since), "'");
      OCTAVO_ASSIGN_OR_RETURN(f.kind, KindForTableType(*schema->field(idx)->type(), p.dest, options.since));
      OCTAVO_RETURN_NOT_OK(TableMax(*p.existing, options.since, &f));
    }
  }

  // Pass 1: types over the whole input. Each database is read on a thread of its own
  // (a connection is used by one thread at a time); statistics merge in source order.
  struct Job {
    Source* src;
    const SinceFilter* since;
    std::vector<ColStats> stats;
    Status status;
  };
  std::map<std::string, std::vector<Job>> jobs;
  std::map<Db*, std::vector<Job*>> by_db;
  for (const auto& key : order) {
    Plan& p = plans[key];
    auto& js = jobs[key];
    js.resize(p.sources.size());
    for (size_t i = 0; i < p.sources.size(); ++i) {
      js[i].src = p.sources[i];
      js[i].since = &filters[key];
      js[i].stats.resize(p.names.size());
      for (size_t c = 0; c < p.names.size(); ++c) {
        js[i].stats[c].name = p.names[c];
        js[i].stats[c].decl = p.decls[c];
      }
    }
  }
  for (auto& [key, js] : jobs)
    for (auto& j : js) by_db[j.src->db].push_back(&j);
  {
    std::vector<std::vector<Job*>*> queues;
    for (auto& [db, js] : by_db) queues.push_back(&js);
    // One database per task on octavo's pool (a connection is used by one thread at a time);
    // each job keeps its own status, reported below in source order.
    OCTAVO_RETURN_NOT_OK(ParallelFor(queues.size(), GetNumThreads(), [&](size_t q, int) {
      for (Job* j : *queues[q]) {
        j->status = Gather(*j->src, j->stats, *j->since);
        if (!j->status.ok()) break;
      }
      return Status::OK();
    }));
  }
  std::map<std::string, std::vector<Kind>> kinds;
  std::map<std::string, std::shared_ptr<arrow::Schema>> schemas;
  for (const auto& key : order) {
    Plan& p = plans[key];
    auto& js = jobs[key];
    for (const auto& j : js) OCTAVO_RETURN_NOT_OK(j.status);  // the first error in source order
    std::vector<ColStats> stats = std::move(js[0].stats);
    for (size_t i = 1; i < js.size(); ++i)
      for (size_t c = 0; c < stats.size(); ++c) Merge(stats[c], js[i].stats[c]);
    std::shared_ptr<arrow::Schema> table_schema;
    if (p.existing) {
      OCTAVO_ASSIGN_OR_RETURN(table_schema, p.existing->schema());
    }
    arrow::FieldVector fields;
    std::vector<Kind>& ks = kinds[key];
    for (const auto& cs : stats) {
      std::shared_ptr<arrow::Field> tf = table_schema ? table_schema->GetFieldByName(cs.name) : nullptr;
      if (tf) {
        OCTAVO_ASSIGN_OR_RETURN(Kind k, KindForTableType(*tf->type(), p.dest, cs.name));
        ks.push_back(k);
        fields.push_back(arrow::field(cs.name, tf->type()));
      } else {
        OCTAVO_ASSIGN_OR_RETURN(Kind k, Decide(cs, p.dest, options.keep_text_timestamps, &report.notes));
        ks.push_back(k);
        fields.push_back(arrow::field(cs.name, KindType(k)));
      }
    }
    schemas[key] = arrow::schema(std::move(fields));
  }

  // Pass 2: one bundle transaction for everything.
  auto run = [&]() -> Status {
    const std::string now = NowIso8601();
    for (const auto& key : order) {
      Plan& p = plans[key];
      std::vector<int> cols(p.names.size());
      for (size_t i = 0; i < cols.size(); ++i) cols[i] = static_cast<int>(i);
      auto reader = std::make_shared<SqliteReader>(p.sources, cols, kinds[key], schemas[key], filters[key], options);
      auto prefetch = std::make_shared<PrefetchReader>(reader);
      Status st;
      ImportedTable it;
      it.source = p.label;
      it.dest = p.dest;
      if (p.existing) {
        st = p.existing->Append(std::static_pointer_cast<arrow::RecordBatchReader>(prefetch));
      } else {
        st = bundle.CreateTable(p.dest, std::static_pointer_cast<arrow::RecordBatchReader>(prefetch),
                                options.table_options, true)
                 .status();
        it.created = true;
      }
      prefetch->Stop();  // the reader is idle from here on
      if (!reader->error().ok()) return reader->error();  // the source's own error, not Arrow's wrapping
      OCTAVO_RETURN_NOT_OK(st);
      it.rows = reader->rows();
      it.skipped = reader->skipped();
      // Record each source (file identity, rows) for the re-import check.
      OCTAVO_ASSIGN_OR_RETURN(auto node, bundle.GetNode(p.dest));
      OCTAVO_ASSIGN_OR_RETURN(Json attrs, ParseJson(node.attrs_json, "attributes of " + p.dest));
      Json recs = attrs.contains(kSourcesAttr) && attrs[kSourcesAttr].is_array() ? attrs[kSourcesAttr] : Json::array();
      for (size_t i = 0; i < p.sources.size(); ++i) {
        const Source* s = p.sources[i];
        int64_t before = 0;  // rows an earlier (since) import took from this source
        for (auto r = recs.begin(); r != recs.end(); ++r) {
          if (r->value("file", "") == s->db->canonical && r->value("source", "") == s->label) {
            before = r->value("rows", int64_t{0});
            recs.erase(r);
            break;
          }
        }
        recs.push_back({{"file", s->db->canonical}, {"source", s->label}, {"size", s->db->size},
                        {"rows", before + reader->source_rows(i)}, {"imported_at", now}});
      }
      OCTAVO_RETURN_NOT_OK(bundle.SetAttr(p.dest, kSourcesAttr, recs.dump()));
      report.rows += it.rows;
      report.tables.push_back(std::move(it));
      if (options.progress)
        options.progress({"tables", static_cast<int64_t>(report.tables.size()), static_cast<int64_t>(order.size()), p.dest});
    }
    return Status::OK();
  };
  OCTAVO_ASSIGN_OR_RETURN(bool committed, bundle.RunAsOneCommit(run, "import sqlite " + JoinNames(report.files)));
  if (committed) report.commit = bundle.commit().id;
  return report;
}

}  // namespace octavo::sqlite
