// Shared pieces of the `octavo` command-line tool: addresses, errors and exit codes,
// output helpers, and the entry points of the sub-commands (one file per group).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "octavo/octavo.h"

namespace arrow {
class Array;
class RecordBatch;
class Scalar;
class Schema;
class Table;
}  // namespace arrow

namespace octavo::cli {

using Json = nlohmann::ordered_json;

// --- exit codes ---------------------------------------------------------------------
enum ExitCode : int {
  kExitOK = 0,
  kExitOther = 1,
  kExitUsage = 2,
  kExitNotFound = 3,
  kExitType = 4,
  kExitCorruption = 5,
  kExitLocked = 6,
  kExitConflict = 7,  // another writer changed the same node: reopen and redo the change
};

int ExitCodeFor(StatusCode code);

// Thrown by the commands; main() prints "octavo: error: <message>" and exits with `code`.
class CliError : public std::runtime_error {
 public:
  CliError(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
  int code() const { return code_; }

 private:
  int code_;
};

[[noreturn]] void Fail(int code, const std::string& message);
[[noreturn]] void UsageError(const std::string& message);
// Throws CliError for a non-OK status; `context` (if any) is prefixed to the message.
void Check(const Status& st, const std::string& context = "");
void CheckArrow(const arrow::Status& st, const std::string& context = "");

template <typename T>
T Unwrap(Result<T> r, const std::string& context = "") {
  if (!r.ok()) Check(r.status(), context);
  return std::move(r).ValueOrDie();
}

// --- addresses: BUNDLE[:/path] ---------------------------------------------------------
struct Address {
  std::string bundle;   // file-system path of the bundle directory, or its s3:// address
  std::string node = "/";  // node path ("/" when omitted); normalised by the engine
  bool has_node = false;
  std::string text;     // as given, for messages
};
Address ParseAddress(const std::string& text);
// --storage-option KEY=VALUE: options for opening bundles on an object store (s3://).
void AddStorageOption(const std::string& key_eq_value);
// --at REF: the commit every bundle of this run is opened at (CommitRef's text form: N,
// snapshot:NAME, branch:NAME or a snapshot name). Commands that write take only a branch.
void SetOpenAt(const std::string& ref);

// --- output helpers ---------------------------------------------------------------------
std::string WithCommas(int64_t n);
std::string HumanSize(int64_t bytes);
std::string Plural(int64_t n, const std::string& one, const std::string& many);
// JSON text; invalid UTF-8 is replaced instead of throwing.
std::string DumpJson(const Json& j, int indent = -1);
// JSON for machine output on stdout (indented, newline-terminated).
void PrintJson(const Json& j);
// Writes `text` to std::cout and checks it went out (see StdoutFailed).
void WriteStdout(const std::string& text);
// A write to stdout failed with `err`. A reader that went away (`octavo where ... | head`
// with SIGPIPE ignored) ends the program quietly with the status a shell shows for death by
// SIGPIPE (141), so a long result is not scanned to its end for nobody; any other error
// (a full disk) is reported.
[[noreturn]] void StdoutFailed(int err);
// Control characters escaped (\n, \t, \xNN) so one value stays on one line.
std::string Printable(const std::string& s);
// Terminal columns, counting each UTF-8 code point once.
size_t DisplayWidth(std::string_view s);
std::string Truncate(const std::string& s, size_t width);
Json ParseAttrs(const std::string& attrs_json, const std::string& node_path);

// --- Arrow values (values.cc) --------------------------------------------------------------
// JSON-friendly value: numbers, strings, booleans, null, lists -> arrays, structs -> objects;
// anything else falls back to Scalar::ToString().
Json ScalarToJson(const arrow::Scalar& scalar);
// One text cell for the aligned table.
std::string ScalarToText(const arrow::Scalar& scalar);
bool IsNumericType(const arrow::DataType& type);

// --- printing rows ----------------------------------------------------------------------------
// JSON records, or an aligned text table with cells truncated to max_width (0 = never);
// `ctx` prefixes value errors (inspect.cc).
void PrintRows(const arrow::Table& data, bool json, size_t max_width, const std::string& ctx);

// Prints rows to std::cout batch by batch, holding only a bounded block of them (inspect.cc).
// JSON: one array of records, written as they come (json_indent: the array's own indent
// inside an enclosing pretty-printed object; the text is what PrintJson of the whole array
// gives). Text: an aligned table; a result of up to kAlignRows rows is aligned as a whole,
// a longer one block by block, each block's columns as wide as every earlier block's at least.
class RowPrinter {
 public:
  static constexpr int64_t kAlignRows = 10000;
  static constexpr size_t kAlignBytes = 4 << 20;  // cell text held at most, roughly

  RowPrinter(std::shared_ptr<arrow::Schema> schema, bool json, size_t max_width, std::string ctx,
             int json_indent = 0);
  void Add(const arrow::RecordBatch& batch);
  // Ends the output: the held rows, or the array's closing bracket (and a newline at indent 0).
  void Finish();
  int64_t rows() const { return rows_; }

 private:
  void FlushText();

  std::shared_ptr<arrow::Schema> schema_;
  bool json_;
  size_t max_w_;
  std::string ctx_;
  int indent_;
  int64_t rows_ = 0;
  // text: the block not printed yet, cells per column
  std::vector<std::string> header_;
  std::vector<size_t> width_;
  std::vector<bool> right_;
  std::vector<std::vector<std::string>> cells_;
  int64_t pending_ = 0;
  size_t pending_bytes_ = 0;
  bool header_done_ = false;
};
// CSV holds no dictionary columns: the schema / batch with them decoded (transfer.cc).
std::shared_ptr<arrow::Schema> CsvSchema(const arrow::Schema& schema);
arrow::Result<std::shared_ptr<arrow::RecordBatch>> ToCsvBatch(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                              const std::shared_ptr<arrow::Schema>& schema);

// --- command arguments ----------------------------------------------------------------------
struct GlobalOptions {
  bool json = false;
  std::string h5_worker;  // --h5-worker: the HDF5 reader program (empty: found next to octavo)
  int64_t h5_cpu_limit = 0;  // --h5-cpu-limit: CPU seconds the reader may spend per file (0: none)
  std::optional<int> threads;  // --threads: the pool's size (octavo/threads.h)
};

struct TreeArgs {
  std::string address;
  int max_columns = 6;
  bool no_attrs = false;
};

struct InfoArgs {
  std::string address;
};

struct HeadArgs {
  std::string address;
  int64_t rows = 10;
  std::vector<std::string> columns;
  int max_width = 40;
};

struct ImportArgs {
  std::vector<std::string> positional;  // FILE [FILE ...] ADDRESS as given
  std::string file;                     // the first FILE
  std::string address;
  // SQLite (sqlite_cmds.cc)
  std::string sqlite_table;
  std::string sqlite_query;
  std::string since;
  bool keep_text_timestamps = false;
  bool append = false;
  std::string format;        // "" = from the extension
  std::string delimiter;     // CSV only; "" = ',' (or '\t' for .tsv)
  std::string compression = "zstd";
  int64_t row_group_size = 0;  // 0 = octavo's default
  int64_t block_size = 8 << 20;  // CSV bytes read at a time (types are decided over the whole input)
  std::vector<std::string> null_values;  // CSV: the null tokens ("" = csv::DefaultNullValues())
  bool no_header = false;                // CSV: no header line (columns f0, f1, ...)
};

struct ExportArgs {
  std::string address;
  std::string file;
  std::vector<std::string> columns;
  std::string format;        // "" = from the extension
  std::string delimiter;
  std::string compression = "zstd";
  int compression_level = 0;  // 0 = the table's level when it uses the same codec, else the codec's default
  bool no_header = false;
};

// query_cmds.cc
struct WhereArgs {
  std::string address;
  std::string condition;
  std::vector<std::string> columns;
  int64_t limit = -1;   // -1 = all rows
  int64_t start = 0;
  int64_t stop = -1;
  bool stats = false;
  bool csv = false;
  int max_width = 40;
};

struct SqlArgs {
  std::string bundle;
  std::string query;
  bool csv = false;
  int64_t limit = -1;
  int max_width = 40;
};

struct RepackArgs {
  std::string address;
  std::vector<std::string> sort_by;
  int64_t row_group_size = 0;  // 0 = keep the table's
};

struct IndexArgs {
  std::string address;
  std::string action;  // create, remove, list
  std::string column;
};

int RunWhere(const WhereArgs& args, const GlobalOptions& g);
int RunSql(const SqlArgs& args, const GlobalOptions& g);
int RunRepack(const RepackArgs& args, const GlobalOptions& g);
int RunIndex(const IndexArgs& args, const GlobalOptions& g);

// node_cmds.cc
struct PutArgs {
  std::string file;
  std::string address;
  bool overwrite = false;
};
struct CatArgs {
  std::string address;
};
struct RmArgs {
  std::string address;
  bool recursive = false;
};
struct MvArgs {
  std::string address;
  std::string destination;
  bool parents = true;
};
struct LogArgs {
  std::string bundle;
  int64_t limit = 0;  // 0 = all
  std::string branch;  // --branch: that branch's history (default main)
};
struct SnapshotArgs {
  std::string bundle;
  std::string name;
  std::string message;
  int64_t commit = -1;
  bool overwrite = false;
  bool remove = false;
};
struct GcArgs {
  std::string bundle;
  int64_t keep_last = -1;
  double min_age = -1;  // seconds; negative: GcOptions' default
  bool dry_run = false;
  bool verbose = false;
};
int RunGc(const GcArgs& args, const GlobalOptions& g);
struct RestoreArgs {
  std::string bundle;
  std::string commit;  // a commit reference in CommitRef's text form
  std::string branch;  // --branch: the branch that gets the new commit (default main)
};
int RestoreCmd(const RestoreArgs& args, const GlobalOptions& g);
struct DiffArgs {
  std::string bundle;
  std::string a, b;  // commit ids or snapshot names; b empty = the newest commit
};
int DiffCmd(const DiffArgs& args, const GlobalOptions& g);
// octavo branch BUNDLE [list | create NAME [--from REF] | delete NAME]
struct BranchArgs {
  std::string bundle;
  std::string action = "list";
  std::string name;
  std::string from;  // CommitRef text; empty = main's newest commit
};
int RunBranch(const BranchArgs& args, const GlobalOptions& g);
// octavo merge BUNDLE BRANCH [--into TARGET]
struct MergeArgs {
  std::string bundle;
  std::string branch;
  std::string into = "main";
};
int RunMerge(const MergeArgs& args, const GlobalOptions& g);
struct ShareArgs {
  std::string directory = "/dev/shm";
  bool gc = false;
};
int RunShare(const ShareArgs& args, const GlobalOptions& g);  // share_cmds.cc
int RunLog(const LogArgs& args, const GlobalOptions& g);
int RunSnapshot(const SnapshotArgs& args, const GlobalOptions& g);
int RunPut(const PutArgs& args, const GlobalOptions& g);
int RunCat(const CatArgs& args, const GlobalOptions& g);
int RunRm(const RmArgs& args, const GlobalOptions& g);
int RunMv(const MvArgs& args, const GlobalOptions& g);

struct H5lsArgs {
  std::string file;
};

struct MigrateArgs {
  std::string root;
  bool recursive = false;
  bool remove_h5 = false;
  bool dry_run = false;
  bool overwrite = false;
  bool quiet = false;
  int jobs = 1;
  std::string into;
  std::string compression = "snappy";
  bool buffered_io = false;
};

// HDF5 (hdf5_cmds.cc); RunImport routes .h5/.hdf5/.hdf files to RunImportHdf5.
int RunH5ls(const H5lsArgs& args, const GlobalOptions& g);
int RunMigrate(const MigrateArgs& args, const GlobalOptions& g);
int RunImportHdf5(const ImportArgs& args, const GlobalOptions& g);
// SQLite (sqlite_cmds.cc); RunImport routes SQLite databases (by extension, --format or header) here.
bool IsSqliteImport(const ImportArgs& args);
int RunImportSqlite(const ImportArgs& args, const GlobalOptions& g);

int RunTree(const TreeArgs& args, const GlobalOptions& g);
int RunInfo(const InfoArgs& args, const GlobalOptions& g);
int RunHead(const HeadArgs& args, const GlobalOptions& g);
int RunImport(const ImportArgs& args, const GlobalOptions& g);
int RunExport(const ExportArgs& args, const GlobalOptions& g);

// Opening with friendly errors.
std::shared_ptr<Bundle> OpenBundle(const Address& a, OpenMode mode, const OpenOptions& options = {});
std::shared_ptr<Table> OpenTableAt(const std::shared_ptr<Bundle>& b, const Address& a);

}  // namespace octavo::cli
