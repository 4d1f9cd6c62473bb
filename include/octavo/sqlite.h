// Importing SQLite databases into bundle tables (src/sqlite/, on libsqlite3).
//
// Databases are opened read-only (SQLITE_OPEN_READONLY; extensions never loaded, schema SQL
// untrusted): octavo never modifies a source. Everything one call imports -- several
// databases, several tables -- is ONE commit; on any error nothing is committed.
//
// Types (SQLite is dynamically typed: the values decide, over the whole input, not a first
// batch; the decision is src/infer/'s, shared with CSV import, include/octavo/csv.h). Per
// column, over every row of every database given:
//   only NULLs / no rows          -> from the declared type (INT -> int64, REAL/FLOA/DOUB ->
//                                    float64, BOOL -> bool, BLOB -> binary, else string)
//   INTEGER                       -> int64; declared BOOL(EAN) and every value 0 or 1 -> bool
//   INTEGER and REAL              -> float64 (an integer beyond +-2^53 is an error naming it)
//   TEXT                          -> timestamp[us] when every value is an ISO 8601 / SQLite
//                                    date-time ("2025-11-01 12:00:00", "2025-11-01T12:00:00.5",
//                                    with or without zone); with a zone on every value ->
//                                    timestamp[us, UTC]; otherwise (or keep_text_timestamps) string
//   TEXT mixed with INTEGER/REAL  -> string: numbers written as text (integers in decimal, reals
//                                    with 17 significant digits, so they round-trip); reported
//                                    in ImportReport::notes naming the column and first row
//   BLOB (with TEXT)              -> binary (text as its UTF-8 bytes)
//   BLOB with numbers             -> error naming the row and value
// TEXT that is not valid UTF-8 is an error naming file, table, row and column (declare the
// column BLOB or CAST(col AS BLOB) in a query to import the bytes).
// Appending to an existing table converts each value to the table's column type (integer
// and float columns of any width, bool, string / dictionary, binary, timestamp); a value that
// does not convert exactly is an error naming the row and the value.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "octavo/options.h"
#include "octavo/status.h"

namespace octavo {
class Bundle;
}

namespace octavo::sqlite {

struct ImportOptions {
  // What to import: `table` (one table), `query` (a read-only SELECT's result) or, with both
  // empty, every table of the database(s) (one bundle table each, `dest` is then a group).
  std::string table;
  std::string query;
  // Append to existing tables (created if missing). Without it an existing table is an error.
  bool append = false;
  // Import only rows whose `since` column exceeds the table's current maximum (rows with
  // NULL there are skipped): incremental sync of a database that keeps growing. Without it,
  // importing a (file, table/query) the table has already recorded is an error saying so.
  std::string since;
  bool keep_text_timestamps = false;  // leave text date-times as strings
  int64_t batch_rows = 64 * 1024;     // rows per streamed batch (memory is bounded by one)
  int64_t batch_bytes = 64 << 20;     // ... and by about this many bytes of values
  int busy_timeout_ms = 1000;         // how long to wait for a database another process is writing
  TableOptions table_options;         // layout of new tables
  ProgressCallback progress;          // once per imported table (unit "tables")
};

struct ImportedTable {
  std::string source;   // "table gpu_state" or "query"
  std::string dest;     // bundle table path
  int64_t rows = 0;     // rows added by this import
  int64_t skipped = 0;  // rows left out by `since`
  bool created = false;
};

struct ImportReport {
  std::vector<std::string> files;
  std::vector<ImportedTable> tables;
  int64_t rows = 0;
  int64_t commit = -1;              // the commit made (-1: none, e.g. an open transaction)
  std::vector<std::string> notes;   // type decisions worth knowing (mixed columns)
};

// Import `paths` (rows of the same table / query in several databases go into one table, in
// the order given) into `bundle` at `dest`: the table path for `table`/`query`, the parent
// group for all tables. The source file and row count are recorded in the table's attribute
// "sqlite_sources". If a transaction is already open the caller commits it.
Result<ImportReport> ImportDatabases(const std::vector<std::string>& paths, Bundle& bundle, const std::string& dest,
                                     const ImportOptions& options = {});

// True when the file starts with the SQLite header ("SQLite format 3\0").
bool LooksLikeSqlite(const std::string& path);

}  // namespace octavo::sqlite
