// Type inference shared by the importers of untyped sources (SQLite: src/sqlite/, CSV: src/csv/).
//
// An importer makes two passes over its whole input: pass 1 feeds every value of a column to
// its ColStats (Add*), Merge() joins the statistics of several sources in source order and
// Decide() picks the column's Kind; pass 2 converts the values to that Kind (the text helpers
// below for text sources). The rules, documented in docs/import.md and include/octavo/sqlite.h:
//   integers only                  -> int64 (bool when the source declares BOOL and all are 0/1)
//   integers and reals             -> float64 (an integer beyond +-2^53 is an error naming it)
//   text, every value a date-time  -> timestamp[us] (no zone) / timestamp[us, UTC] (zone on each)
//   text, every value true/false   -> bool (CSV only: SQLite has no boolean text)
//   text mixed with numbers        -> string, with a note naming the column and first values
//   other text                     -> string
//   blobs                          -> binary (SQLite only)
//   only NULLs / no rows           -> the importer's fallback (SQLite: the declared type)
// Depends on util/ and Arrow only.
#pragma once

#include <arrow/record_batch.h>
#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "octavo/status.h"

namespace octavo::infer {

inline constexpr int64_t kMaxExactInt = int64_t{1} << 53;  // integers a double holds exactly

// --- date-times ----------------------------------------------------------------------------

// "YYYY-MM-DD[T ]HH:MM[:SS[.fraction]][Z|+HH:MM|+HHMM|+HH]" -> microseconds since the epoch
// (UTC when zoned). A fraction finer than microseconds must be zeros there (else not exact).
// zoned: 0 no zone, 1 zone given.
bool ParseDateTime(std::string_view s, int64_t* micros, int* zoned);

// --- kinds ---------------------------------------------------------------------------------

enum class Kind { kInt64, kFloat64, kBool, kString, kBinary, kTimestamp, kTimestampUtc };

std::shared_ptr<arrow::DataType> KindType(Kind k);

// The kind that fills a column of an existing table (then cast to its exact type). `source`
// names the importer in the error ("SQLite", "CSV").
Result<Kind> KindForTableType(const arrow::DataType& t, const std::string& table, const std::string& column,
                              const std::string& source);

// --- statistics ----------------------------------------------------------------------------

struct ColStats {
  std::string name, decl;
  int64_t n_int = 0, n_real = 0, n_text = 0, n_blob = 0;
  int64_t n_bool = 0;       // text values true/false (counted in n_text too)
  bool ints_01 = true;
  int64_t big_int_row = 0;  // first integer beyond +-2^53 (0: none)
  std::string big_int_where;
  bool ts_ok = true;        // every text value a date-time so far
  int ts_zoned = -1;        // -1 unknown, 0 naive, 1 zoned
  bool ts_mixed_zone = false;
  std::string first_text_where, first_number_where, first_blob_where;

  // `here()` describes the value's place ("a.db table t row 3: 17") for notes and errors; it
  // is called only for the first value of its sort.
  template <typename Here>
  void AddInt(int64_t v, int64_t row, Here&& here) {
    if (n_int++ == 0 && n_real == 0 && first_number_where.empty()) first_number_where = here();
    if (v != 0 && v != 1) ints_01 = false;
    if ((v > kMaxExactInt || v < -kMaxExactInt) && big_int_row == 0) {
      big_int_row = row;
      big_int_where = here();
    }
  }
  template <typename Here>
  void AddReal(Here&& here) {
    if (n_real++ == 0 && n_int == 0 && first_number_where.empty()) first_number_where = here();
  }
  template <typename Here>
  void AddBlob(Here&& here) {
    if (n_blob++ == 0) first_blob_where = here();
  }
  // Valid UTF-8 text (the caller checks). `is_bool`: a boolean word of a text format.
  template <typename Here>
  void AddText(std::string_view v, bool is_bool, Here&& here) {
    if (n_text++ == 0) first_text_where = here();
    if (is_bool) ++n_bool;
    if (ts_ok) NoteDateTime(v);
  }

 private:
  void NoteDateTime(std::string_view v);
};

// `later`'s statistics (a later source) added to `into`'s.
void Merge(ColStats& into, const ColStats& later);

struct DecideOptions {
  std::string dest;                // the table, for notes and errors
  bool keep_text_timestamps = false;
  Kind fallback = Kind::kString;   // only NULLs or no rows (SQLite: the declared type)
  bool ints_may_be_bool = false;   // integers all 0/1 -> bool (SQLite: declared BOOL)
  std::string big_int_hint;        // how to import a float column holding a big integer
};

// The column's kind from its statistics over the whole input; notes for mixed columns. The
// caller handles blobs (binary; an error with numbers) before.
Result<Kind> Decide(const ColStats& cs, const DecideOptions& o, std::vector<std::string>* notes);

// --- text values (CSV cells, text read for typed columns) ----------------------------------

// Integer literal: optional sign, decimal digits, within int64.
bool ParseInt(std::string_view s, int64_t* out);
// Floating-point literal (decimal, exponent, inf/infinity/nan; optional leading '+'), nearest double.
bool ParseReal(std::string_view s, double* out);
// Boolean words: true/false in any letter case (as pandas.read_csv).
bool ParseBool(std::string_view s, bool* out);

// How a text cell counts: an integer within int64 (`*i` set), a real, a boolean word, or text
// (an integer literal beyond int64 is text: no type holds it exactly).
enum class TextClass { kInt, kReal, kBool, kText };
TextClass ClassifyText(std::string_view v, int64_t* i);

// Shortened and escaped for messages: 'abc'.
std::string Quoted(std::string_view v);

// Appends one text value converted to `k` to `b` (a builder of KindType(k)). false, with `why`
// ("is not a date-time for", ...; completed by the kind's type), when it does not convert
// exactly: int64 takes integers (and reals that are integers), float64 reals and integers
// within +-2^53, bool true/false/0/1, timestamps date-times with (UTC) or without a zone as
// the kind says, string and binary any text. The caller checks UTF-8.
Result<bool> AppendText(Kind k, std::string_view v, arrow::ArrayBuilder* b, const char** why);

// --- pass 2 ----------------------------------------------------------------------------------

// The RecordBatchReader an importer's pass 2 hands to CreateTable/Append: batches come from
// Next(); its octavo Status (naming file, row, column and value) is kept, since Arrow's
// wrapping of it on the way through the writer loses the code. After the write fails, the
// importer returns error() when it is set.
class StatusBatchReader : public arrow::RecordBatchReader {
 public:
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) final;
  const Status& error() const { return error_; }

 protected:
  virtual Result<std::shared_ptr<arrow::RecordBatch>> Next() = 0;  // nullptr at the end

 private:
  Status error_;
};

}  // namespace octavo::infer
