// Importing CSV files into bundle tables (src/csv/, on Arrow's CSV reader). docs/import.md.
//
// Types are decided over the WHOLE input (every row of every file given; two passes), with the
// rules SQLite import uses (src/infer/, include/octavo/sqlite.h), for text cells:
//   null token (see DefaultNullValues) -> null, in any column
//   integers only                 -> int64 (an integer beyond int64 is text)
//   integers and reals            -> float64 (an integer beyond +-2^53 is an error naming it)
//   true/false only (any case)    -> bool (0/1 stay int64: CSV declares no types)
//   every value a date-time       -> timestamp[us] (no zone) / timestamp[us, UTC] (zone on each)
//                                    (keep_text_timestamps: string)
//   text and numbers mixed        -> string, the text as written; a note names the column and
//                                    the first number and text (file and row)
//   other text                    -> string
//   only nulls / no rows          -> string
// Text that is not valid UTF-8 is an error naming the file, row and column (a binary column
// of an existing table takes the bytes). Rows are counted from 1 after the header.
// Several files go into one table (their header names must agree), in ONE commit; on any
// error (a value that does not convert, a ragged row, a missing file) nothing is committed.
// Appending converts each value to the table's column type; a value that does not convert
// exactly is an error naming file, row, column and value. Memory is bounded by a read block.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "octavo/options.h"
#include "octavo/status.h"

namespace octavo {
class Bundle;
}

namespace octavo::csv {

// The cells read as null by default: pandas.read_csv's default NA values ("", "NA", "N/A",
// "n/a", "NULL", "null", "NaN", "nan", "-NaN", "-nan", "None", "<NA>", "#N/A", "#N/A N/A",
// "#NA", "1.#IND", "-1.#IND", "1.#QNAN", "-1.#QNAN"). Quoted cells match too.
const std::vector<std::string>& DefaultNullValues();

struct ImportOptions {
  char delimiter = ',';
  bool header = true;  // column names from the first row (else f0, f1, ...)
  std::vector<std::string> null_values = DefaultNullValues();
  bool keep_text_timestamps = false;  // leave date-time text as strings
  // Append to an existing table (created if missing). Without it an existing table is an error.
  bool append = false;
  int64_t block_size = 8 << 20;  // bytes read (and converted) at a time; a row must fit in one
  TableOptions table_options;    // layout of a new table
  ProgressCallback progress;     // once per file imported (unit "files")
};

struct ImportReport {
  std::vector<std::string> files;
  std::string dest;
  int64_t rows = 0;        // rows added
  bool created = false;    // a new table
  int64_t commit = -1;     // the commit made (-1: none, the caller's transaction was open)
  std::vector<std::string> columns;  // "name: type" of the imported columns
  std::vector<std::string> notes;    // renamed columns, mixed columns
};

// Import `paths` (files ending .gz, or starting with the gzip magic, are decompressed) into
// the table `dest` of `bundle`. If a transaction is already open the caller commits it.
Result<ImportReport> ImportCsv(const std::vector<std::string>& paths, Bundle& bundle, const std::string& dest,
                               const ImportOptions& options = {});

}  // namespace octavo::csv
