// `octavo import` of SQLite databases (include/octavo/sqlite.h): one table, every table, or
// a query's result, from one or several databases, in one commit.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>

#include "cli/cli.h"
#include "octavo/sqlite.h"

namespace octavo::cli {

namespace fs = std::filesystem;

namespace {

bool HasSqliteExtension(const std::string& file) {
  std::string ext = fs::path(file).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".db" || ext == ".sqlite" || ext == ".sqlite3" || ext == ".db3";
}

}  // namespace

bool IsSqliteImport(const ImportArgs& args) {
  std::string fmt = args.format;
  std::transform(fmt.begin(), fmt.end(), fmt.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!fmt.empty()) return fmt == "sqlite" || fmt == "sqlite3";
  for (const auto& f : args.positional)
    if (HasSqliteExtension(f) || sqlite::LooksLikeSqlite(f)) return true;
  return !args.sqlite_table.empty() || !args.sqlite_query.empty() || !args.since.empty();
}

int RunImportSqlite(const ImportArgs& args, const GlobalOptions& g) {
  if (!args.sqlite_table.empty() && !args.sqlite_query.empty()) UsageError("give --table or --query, not both");
  if (!args.delimiter.empty()) UsageError("--delimiter applies to CSV files only");
  if (!args.null_values.empty() || args.no_header) UsageError("--null-value and --no-header apply to CSV files only");
  Address a = ParseAddress(args.address);
  const bool one_table = !args.sqlite_table.empty() || !args.sqlite_query.empty();
  if (one_table && !a.has_node)
    UsageError("give the table's path: " + a.bundle + ":/NAME (the bundle alone holds all tables of a database)");
  // Every database must open before the bundle is created.
  for (const auto& f : args.positional) {
    std::error_code ec;
    if (!fs::exists(f, ec)) Fail(kExitNotFound, "no such file: '" + f + "'");
  }
  sqlite::ImportOptions o;
  o.table = args.sqlite_table;
  o.query = args.sqlite_query;
  o.append = args.append;
  o.since = args.since;
  o.keep_text_timestamps = args.keep_text_timestamps;
  o.table_options.compression = args.compression;
  if (args.row_group_size > 0) o.table_options.row_group_size = args.row_group_size;
  auto bundle = OpenBundle(a, OpenMode::kAppend);
  const std::string ctx = "bundle " + a.bundle;
  auto rep = Unwrap(sqlite::ImportDatabases(args.positional, *bundle, a.node, o), ctx);
  Check(bundle->Close(), ctx);
  if (g.json) {
    Json tables = Json::array();
    for (const auto& t : rep.tables)
      tables.push_back(Json{{"source", t.source}, {"path", t.dest}, {"rows", t.rows}, {"skipped", t.skipped},
                            {"created", t.created}});
    PrintJson(Json{{"files", rep.files},
                   {"format", "sqlite"},
                   {"bundle", bundle->path()},
                   {"tables", tables},
                   {"rows", rep.rows},
                   {"commit", rep.commit},
                   {"notes", rep.notes}});
  } else {
    for (const auto& t : rep.tables) {
      std::cout << (t.created ? "imported " : "appended ") << Plural(t.rows, "row", "rows") << " (" << Printable(t.source)
                << ") into " << bundle->path() << ":" << t.dest;
      if (t.skipped > 0) std::cout << ", " << Plural(t.skipped, "row", "rows") << " not newer skipped";
      std::cout << "\n";
    }
    for (const auto& n : rep.notes) std::cout << "note: " << Printable(n) << "\n";
    std::cout << "from " << Plural(static_cast<int64_t>(rep.files.size()), "database", "databases") << ", commit "
              << rep.commit << "\n";
  }
  return kExitOK;
}

}  // namespace octavo::cli
