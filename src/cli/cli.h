// Shared pieces of the `octavo` command-line tool: addresses, errors and exit codes,
// output helpers, and the entry points of the sub-commands (one file per group).
#pragma once

#include <arrow/status.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "octavo/octavo.h"

namespace arrow {
class Array;
class Scalar;
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
  std::string bundle;   // file-system path of the bundle directory
  std::string node = "/";  // node path ("/" when omitted); normalised by the engine
  bool has_node = false;
  std::string text;     // as given, for messages
};
Address ParseAddress(const std::string& text);

// --- output helpers ---------------------------------------------------------------------
std::string WithCommas(int64_t n);
std::string HumanSize(int64_t bytes);
std::string Plural(int64_t n, const std::string& one, const std::string& many);
// JSON text; invalid UTF-8 is replaced instead of throwing.
std::string DumpJson(const Json& j, int indent = -1);
// JSON for machine output on stdout (indented, newline-terminated).
void PrintJson(const Json& j);
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

// --- command arguments ----------------------------------------------------------------------
struct GlobalOptions {
  bool json = false;
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
  std::string file;
  std::string address;
  bool append = false;
  std::string format;        // "" = from the extension
  std::string delimiter;     // CSV only; "" = ',' (or '\t' for .tsv)
  std::string compression = "zstd";
  int64_t row_group_size = 0;  // 0 = octavo's default
  int64_t block_size = 8 << 20;  // CSV bytes per block (types are inferred from the first)
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

int RunTree(const TreeArgs& args, const GlobalOptions& g);
int RunInfo(const InfoArgs& args, const GlobalOptions& g);
int RunHead(const HeadArgs& args, const GlobalOptions& g);
int RunImport(const ImportArgs& args, const GlobalOptions& g);
int RunExport(const ExportArgs& args, const GlobalOptions& g);

// Opening with friendly errors.
std::shared_ptr<Bundle> OpenBundle(const Address& a, OpenMode mode);
std::shared_ptr<Table> OpenTableAt(const std::shared_ptr<Bundle>& b, const Address& a);

}  // namespace octavo::cli
