// Query commands: where (conditions pushed down in the engine) and sql (DuckDB).
//
// `octavo sql` runs DuckDB through its Python package: the duckdb wheel links DuckDB
// statically into its Python extension and ships neither libduckdb nor headers, so the C++
// CLI cannot link it. The command starts `python3` (or $OCTAVO_PYTHON) on
// octavo._cli._cli_sql, which opens the bundle read-only, runs the query over the Parquet
// parts of the current commit and streams the result back as Arrow IPC on a pipe; printing
// (text table, JSON, CSV) is the same C++ code as for `where` and `head`.
#include <arrow/api.h>
#include <arrow/csv/api.h>
#include <arrow/io/api.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/io_util.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "octavo/arrow_status.h"

namespace octavo::cli {

namespace {

constexpr int64_t kPrintBatchRows = 1024;

// Condition errors carry a caret line under the offending text: print them whole instead
// of folding them onto one line.
[[noreturn]] void FailKeepLines(const Status& st, const std::string& ctx) {
  std::string msg = st.message();
  if (msg.find('\n') == std::string::npos) Check(st, ctx);
  std::cout.flush();
  std::cerr << "octavo: error: " << ctx << ": " << msg << "\n";
  // A condition that does not parse is a usage error, like a bad option.
  const bool syntax = st.code() == StatusCode::kInvalid && msg.rfind("invalid condition:", 0) == 0;
  std::exit(syntax ? kExitUsage : ExitCodeFor(st.code()));
}

// Hands `print` up to `limit` rows (-1 = all) of the batches `next` yields, one batch at a
// time: nothing is held, and the scan stops at the limit. *more (if given) says whether rows
// remained, for which one batch past the limit is read.
int64_t Stream(int64_t limit, bool* more, const std::function<std::shared_ptr<arrow::RecordBatch>()>& next,
               const std::function<void(const std::shared_ptr<arrow::RecordBatch>&)>& print) {
  int64_t rows = 0;
  if (more) *more = false;
  while (true) {
    if (limit >= 0 && rows >= limit) {
      if (more) {
        auto b = next();
        *more = b && b->num_rows() > 0;
      }
      break;
    }
    auto b = next();
    if (!b) break;
    if (limit >= 0 && rows + b->num_rows() > limit) {
      if (more) *more = true;
      b = b->Slice(0, limit - rows);
      rows += b->num_rows();
      print(b);
      break;
    }
    rows += b->num_rows();
    print(b);
  }
  return rows;
}

// Streams `reader` to stdout as CSV (dictionary columns decoded), at most `limit` rows.
int64_t WriteCsv(arrow::RecordBatchReader* reader, int64_t limit, const std::string& ctx,
                 const std::function<std::shared_ptr<arrow::RecordBatch>()>& next) {
  auto csv_schema = CsvSchema(*reader->schema());
  auto out = arrow::io::FileOutputStream::Open(STDOUT_FILENO);
  CheckArrow(out.status(), "writing to stdout");
  // Errors writing to stdout: a closed pipe ends the program quietly (StdoutFailed).
  auto check_out = [](const arrow::Status& st, const std::string& what) {
    if (!st.ok() && st.IsIOError()) {
      const int err = arrow::internal::ErrnoFromStatus(st);
      if (err != 0) StdoutFailed(err);
    }
    CheckArrow(st, what);
  };
  auto wo = arrow::csv::WriteOptions::Defaults();
  auto w = arrow::csv::MakeCSVWriter(*out, csv_schema, wo);
  check_out(w.status(), ctx);
  const int64_t rows = Stream(limit, nullptr, next, [&](const std::shared_ptr<arrow::RecordBatch>& batch) {
    auto converted = ToCsvBatch(batch, csv_schema);
    CheckArrow(converted.status(), ctx);
    check_out((*w)->WriteRecordBatch(**converted), ctx);
  });
  check_out((*w)->Close(), ctx);
  check_out((*out)->Flush(), "writing to stdout");
  return rows;
}

void FlushStdout() {
  errno = 0;
  std::cout.flush();
  if (!std::cout) StdoutFailed(errno);
}

Json StatsJson(const QueryStats& s) { return Json::parse(QueryStatsToJson(s)); }

std::string StatsText(const QueryStats& s) {
  std::string out = "parts: " + WithCommas(s.parts_skipped) + " of " + WithCommas(s.parts_total) +
                    " skipped; row groups: " + WithCommas(s.row_groups_skipped) + " of " +
                    WithCommas(s.row_groups_total) + " skipped; rows scanned: " + WithCommas(s.rows_scanned) +
                    ", selected: " + WithCommas(s.rows_selected) + "; read " + HumanSize(s.bytes_read) +
                    " of columns ";
  for (size_t i = 0; i < s.columns_read.size(); ++i) out += (i ? ", " : "") + s.columns_read[i];
  if (s.pages_total > 0)
    out += "; pages of late columns: " + WithCommas(s.pages_skipped) + " of " + WithCommas(s.pages_total) + " skipped";
  if (s.row_groups_matched > 0) out += "; " + WithCommas(s.row_groups_matched) + " row groups matched whole";
  if (s.parts_sorted > 0) out += "; " + WithCommas(s.parts_sorted) + " parts sorted";
  if (!s.index_column.empty())
    out += "; index on '" + s.index_column + "' used for " + WithCommas(s.parts_indexed) + " parts" +
           (s.parts_index_stale ? " (" + WithCommas(s.parts_index_stale) + " stale, scanned)" : "");
  return out;
}

void PrintFooter(int64_t rows, bool more) {
  if (more)
    WriteStdout("(first " + Plural(rows, "row", "rows") + "; more match, raise --limit)\n");
  else
    WriteStdout("(" + Plural(rows, "row", "rows") + ")\n");
}

}  // namespace

// --- where -----------------------------------------------------------------------------------

int RunWhere(const WhereArgs& args, const GlobalOptions& g) {
  if (g.json && args.csv) UsageError("--json and --csv exclude each other");
  if (args.limit < -1) UsageError("--limit must be >= 0, got " + std::to_string(args.limit));
  Address a = ParseAddress(args.address);
  auto bundle = OpenBundle(a, OpenMode::kRead);
  auto table = OpenTableAt(bundle, a);
  const std::string ctx = "bundle " + a.bundle + ": table " + table->path();
  WhereOptions wo;
  wo.columns = args.columns;
  wo.start = args.start;
  wo.stop = args.stop;
  // Rows are printed one by one: small batches keep the text (and CSV) of a batch small when
  // rows are wide. The scanner still decodes whole row groups.
  wo.batch_size = kPrintBatchRows;
  std::shared_ptr<const QueryStats> stats;
  auto r = table->Where(args.condition, wo, &stats);
  if (!r.ok()) FailKeepLines(r.status(), ctx);
  std::shared_ptr<arrow::RecordBatchReader> reader = *r;
  auto next = [&]() -> std::shared_ptr<arrow::RecordBatch> {
    std::shared_ptr<arrow::RecordBatch> b;
    auto st = reader->ReadNext(&b);
    if (!st.ok()) {
      Status s = FromArrow(st);
      Check(s, s.message().rfind("table ", 0) == 0 ? "bundle " + a.bundle : ctx);
    }
    return b;
  };

  if (args.csv) {
    WriteCsv(reader.get(), args.limit, ctx, next);
    if (args.stats) std::cerr << StatsText(*stats) << "\n";
    return kExitOK;
  }
  // Every format is printed a batch at a time as the scan produces it: the memory held is
  // the scanner's and one small batch's, whatever the size of the result.
  const size_t max_w = args.max_width > 0 ? static_cast<size_t>(args.max_width) : 0;
  const bool json_with_stats = g.json && args.stats;
  // {"rows": [...], "more": ..., "stats": {...}}: the records as `head --json` prints them.
  if (json_with_stats) WriteStdout("{\n  \"rows\": ");
  RowPrinter printer(reader->schema(), g.json, max_w, ctx, json_with_stats ? 2 : 0);
  bool more = false;
  Stream(args.limit, &more, next, [&](const std::shared_ptr<arrow::RecordBatch>& b) { printer.Add(*b); });
  printer.Finish();
  if (json_with_stats) {
    const std::string rest = DumpJson(Json{{"more", more}, {"stats", StatsJson(*stats)}}, 2);
    WriteStdout(",\n" + rest.substr(2) + "\n");  // without its opening "{\n"
  } else if (!g.json) {
    PrintFooter(printer.rows(), more);
    if (args.stats) WriteStdout(StatsText(*stats) + "\n");
  }
  FlushStdout();
  return kExitOK;
}

// --- sql ---------------------------------------------------------------------------------------

namespace {

constexpr const char* kSqlDriver =
    "import sys\n"
    "try:\n"
    "    from octavo._cli import _cli_sql\n"
    "except ImportError as e:\n"
    "    sys.stderr.write('octavo: error: octavo sql runs DuckDB through the octavo Python package, which '\n"
    "                     'cannot be imported by ' + sys.executable + ': ' + str(e) + '; install it (pip install '\n"
    "                     '-e . in the octavo source tree) or point $OCTAVO_PYTHON to a Python that has it\\n')\n"
    "    sys.exit(1)\n"
    "sys.exit(_cli_sql(sys.argv[1:]))\n";

// The read end of a pipe as an Arrow stream (ReadableFile needs a seekable file).
class PipeInputStream final : public arrow::io::InputStream {
 public:
  explicit PipeInputStream(int fd) : fd_(fd) {}
  ~PipeInputStream() override { (void)DoClose(); }
  arrow::Status Close() override { return DoClose(); }
  bool closed() const override { return fd_ < 0; }
  arrow::Result<int64_t> Tell() const override { return pos_; }
  arrow::Result<int64_t> Read(int64_t nbytes, void* out) override {
    if (fd_ < 0) return arrow::Status::Invalid("pipe closed");
    int64_t got = 0;
    auto* p = static_cast<uint8_t*>(out);
    while (got < nbytes) {
      ssize_t n = ::read(fd_, p + got, static_cast<size_t>(nbytes - got));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return arrow::Status::IOError("reading from the SQL driver: ", std::strerror(errno));
      if (n == 0) break;
      got += n;
    }
    pos_ += got;
    return got;
  }
  arrow::Result<std::shared_ptr<arrow::Buffer>> Read(int64_t nbytes) override {
    ARROW_ASSIGN_OR_RAISE(auto buf, arrow::AllocateResizableBuffer(nbytes));
    ARROW_ASSIGN_OR_RAISE(int64_t n, Read(nbytes, buf->mutable_data()));
    ARROW_RETURN_NOT_OK(buf->Resize(n));
    return std::shared_ptr<arrow::Buffer>(std::move(buf));
  }

 private:
  arrow::Status DoClose() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return arrow::Status::OK();
  }
  int fd_;
  int64_t pos_ = 0;
};

}  // namespace

int RunSql(const SqlArgs& args, const GlobalOptions& g) {
  if (g.json && args.csv) UsageError("--json and --csv exclude each other");
  if (args.limit < -1) UsageError("--limit must be >= 0, got " + std::to_string(args.limit));
  Address a = ParseAddress(args.bundle);
  if (a.has_node && a.node != "/")
    UsageError("octavo sql takes a BUNDLE, not a node address ('" + a.text +
               "'); name tables inside the query, e.g. SELECT * FROM \"/group/table\"");
  // Opened here first for the usual not-found / not-a-bundle messages.
  auto bundle = OpenBundle(a, OpenMode::kRead);
  const std::string root = bundle->path();
  Check(bundle->Close(), "bundle " + a.bundle);

  const char* env_python = std::getenv("OCTAVO_PYTHON");
  const std::string python = env_python && *env_python ? env_python : "python3";
  // The Python side (and its DuckDB) gets this command's thread count (--threads).
  ::setenv("OCTAVO_NUM_THREADS", std::to_string(GetNumThreads()).c_str(), 1);
  int fds[2];
  if (pipe(fds) != 0) Fail(kExitOther, std::string("cannot create a pipe: ") + std::strerror(errno));
  std::cout.flush();
  pid_t pid = fork();
  if (pid < 0) Fail(kExitOther, std::string("cannot start ") + python + ": " + std::strerror(errno));
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<std::string> argv_s = {python, "-c", kSqlDriver, root, args.query};
    std::vector<char*> argv;
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    execvp(python.c_str(), argv.data());
    std::string msg = "octavo: error: octavo sql runs DuckDB through Python, but '" + python +
                      "' cannot be started (" + std::strerror(errno) +
                      "); install Python 3 with the octavo and duckdb packages, or set $OCTAVO_PYTHON\n";
    (void)!write(STDERR_FILENO, msg.data(), msg.size());
    _exit(kExitOther);
  }
  close(fds[1]);
  auto wait_child = [&]() {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return static_cast<int>(kExitOther);
  };
  auto file = std::make_shared<PipeInputStream>(fds[0]);
  auto opened = arrow::ipc::RecordBatchStreamReader::Open(file);
  if (!opened.ok()) {
    // The driver failed before writing a result; it already said why on stderr.
    (void)file->Close();
    int code = wait_child();
    if (code != 0) return code;
    Fail(kExitOther, "the SQL driver returned no result: " + opened.status().message());
  }
  std::shared_ptr<arrow::RecordBatchReader> reader = *opened;
  bool failed = false;
  arrow::Status read_error;
  auto next = [&]() -> std::shared_ptr<arrow::RecordBatch> {
    if (failed) return nullptr;
    std::shared_ptr<arrow::RecordBatch> b;
    auto st = reader->ReadNext(&b);
    if (!st.ok()) {
      failed = true;
      read_error = st;
      return nullptr;
    }
    return b;
  };
  const std::string ctx = "bundle " + a.bundle + ": SQL result";
  const size_t max_w = args.max_width > 0 ? static_cast<size_t>(args.max_width) : 0;
  bool more = false;
  if (args.csv) {
    WriteCsv(reader.get(), args.limit, ctx, next);
  } else {
    // Printed as the driver streams it, like `where`.
    RowPrinter printer(reader->schema(), g.json, max_w, ctx);
    Stream(args.limit, &more, next, [&](const std::shared_ptr<arrow::RecordBatch>& b) { printer.Add(*b); });
    // The driver's failure is its message alone, not a table cut short and a footer.
    if (failed) {
      (void)file->Close();
      int code = wait_child();
      if (code != 0) return code;
      CheckArrow(read_error, ctx);
    }
    printer.Finish();
    if (!g.json) PrintFooter(printer.rows(), more);
  }
  // Rows the limit left unread: closing the pipe stops the driver (it exits quietly on EPIPE).
  (void)file->Close();
  int code = wait_child();
  if (code != 0) return code;  // the driver printed its error
  if (failed) CheckArrow(read_error, ctx);
  FlushStdout();
  return kExitOK;
}

// --- repack / index ------------------------------------------------------------------------

int RunRepack(const RepackArgs& args, const GlobalOptions& g) {
  if (args.row_group_size < 0) UsageError("--row-group-size must be positive");
  Address a = ParseAddress(args.address);
  auto bundle = OpenBundle(a, OpenMode::kAppend);
  auto table = OpenTableAt(bundle, a);
  const std::string ctx = "bundle " + a.bundle;
  RepackOptions o;
  o.sort_by = args.sort_by;
  o.row_group_size = args.row_group_size;
  Check(table->Repack(o), ctx);
  const TableInfo info = Unwrap(table->Info(), ctx);
  const CommitInfo commit = bundle->commit();
  Check(bundle->Close(), ctx);
  if (g.json) {
    PrintJson(Json{{"bundle", bundle->path()},
                   {"path", table->path()},
                   {"rows", info.num_rows},
                   {"parts", info.num_parts},
                   {"row_group_size", info.options.row_group_size},
                   {"sorted_by", info.sorted_by},
                   {"commit", commit.id}});
  } else {
    std::cout << (args.sort_by.empty() ? "repacked " : "sorted ") << bundle->path() << ":" << table->path();
    if (!args.sort_by.empty()) {
      std::cout << " by ";
      for (size_t i = 0; i < args.sort_by.size(); ++i) std::cout << (i ? ", " : "") << args.sort_by[i];
    }
    std::cout << ": " << Plural(info.num_rows, "row", "rows") << " in " << Plural(info.num_parts, "part", "parts")
              << ", commit " << commit.id << "\n";
  }
  return kExitOK;
}

int RunIndex(const IndexArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.address);
  const bool list = args.action == "list";
  if (!list && args.action != "create" && args.action != "remove")
    UsageError("unknown index action '" + args.action + "' (create, remove, list)");
  if (!list && args.column.empty()) UsageError("octavo index " + args.action + " needs a COLUMN");
  auto bundle = OpenBundle(a, list ? OpenMode::kRead : OpenMode::kAppend);
  auto table = OpenTableAt(bundle, a);
  const std::string ctx = "bundle " + a.bundle;
  if (args.action == "create") Check(table->CreateIndex(args.column), ctx);
  if (args.action == "remove") Check(table->RemoveIndex(args.column), ctx);
  auto indexes = Unwrap(table->Indexes(), ctx);
  const CommitInfo commit = bundle->commit();
  Check(bundle->Close(), ctx);
  if (g.json) {
    PrintJson(Json{{"path", table->path()}, {"indexes", indexes}, {"commit", commit.id}});
  } else if (list) {
    if (indexes.empty()) std::cout << "(no index)\n";
    for (const auto& c : indexes) std::cout << c << "\n";
  } else {
    std::cout << (args.action == "create" ? "created index on " : "removed index on ") << table->path() << " column "
              << args.column << ", commit " << commit.id << "\n";
  }
  return kExitOK;
}

}  // namespace octavo::cli
