// The `octavo` command: look into bundles and move tables in and out of them.
//
//   octavo tree BUNDLE[:/path]            every node: kind, rows, columns, size, parts, attributes
//   octavo info BUNDLE:/path              one node in full (a table's schema, options, part files)
//   octavo head BUNDLE:/path -n 10        the first rows as an aligned text table
//   octavo import FILE BUNDLE:/path       Parquet or CSV into a new table (or --append)
//   octavo export BUNDLE:/path FILE       a table to Parquet or CSV
//   octavo h5ls FILE.h5                   what octavo sees in an HDF5 file, and would do with it
//   octavo migrate ROOT                   pandas HDF5 files -> verified Parquet files beside them
//   octavo put FILE BUNDLE:/path          a local file into a file node; `cat` writes it out
//   octavo rm BUNDLE:/path [-r]           remove a node; `mv BUNDLE:/from /to` moves one
//   octavo where BUNDLE:/path COND       rows where a condition holds (pushed down)
//   octavo sql BUNDLE QUERY               SQL over the bundle's tables (DuckDB)
//   octavo repack BUNDLE:/path --sort-by C  rewrite a table sorted by columns
//   octavo index BUNDLE:/path create C    secondary indexes (create, remove, list)
//
// --json (before or after the sub-command) prints machine-readable JSON on stdout; --threads N
// sizes the thread pool (octavo/threads.h).
// Errors go to stderr as "octavo: error: <message>" with an exit code per kind of failure.
#include <arrow/config.h>

#include <CLI/CLI.hpp>
#include <cctype>
#include <iostream>

#include "cli/cli.h"

namespace {

using namespace octavo::cli;

// One line per error: Arrow and Parquet messages may carry newlines and trailing blanks.
std::string OneLine(std::string msg) {
  while (!msg.empty() && std::isspace(static_cast<unsigned char>(msg.back()))) msg.pop_back();
  std::string out;
  for (char c : msg) {
    if (c == '\n') {
      while (!out.empty() && out.back() == ' ') out.pop_back();
      out += "; ";
    } else if (c != '\r') {
      out.push_back(c);
    }
  }
  return out;
}

constexpr const char* kExitCodesHelp =
    "Addresses are BUNDLE:/path/to/node; BUNDLE alone is the root group, and a path without\n"
    "a leading '/' is taken from the root.\n\n"
    "Exit codes: 0 ok, 1 other error, 2 usage, 3 not found, 4 type or schema error,\n"
    "5 corrupt bundle, 6 bundle locked by another writer.";

std::string VersionText() {
  return std::string("octavo ") + octavo::kVersion + " (format " + std::to_string(octavo::kBranchesFormatVersion) +
         ", Arrow " + ARROW_VERSION_STRING + ")";
}

// Options accepted before or after the sub-command.
void AddJsonFlag(CLI::App* app, GlobalOptions& g) {
  app->add_flag("--json", g.json, "Print machine-readable JSON on stdout");
  app->add_option_function<int>("--threads", [&g](const int& n) { g.threads = n; },
                  "Threads for reads, queries, writes and arrays (default: OCTAVO_NUM_THREADS, else the CPUs "
                  "this process may use)");
  app->add_option_function<std::vector<std::string>>(
         "--storage-option", [](const std::vector<std::string>& kvs) { for (const auto& kv : kvs) AddStorageOption(kv); },
         "KEY=VALUE for a bundle on S3 (s3://bucket/prefix): endpoint_url, region, access_key_id, "
         "secret_access_key, session_token, allow_http (default: the AWS_* environment variables); repeatable")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

// --at, on the program and on every command (cat and put too, which take no --json).
void AddOpenAtOption(CLI::App* app) {
  app->add_option_function<std::string>("--at", [](const std::string& ref) { SetOpenAt(ref); },
                                        "Open the bundle at this commit: N, snapshot:NAME, branch:NAME or a "
                                        "snapshot name (default: the newest commit of main); commands that write "
                                        "take branch:NAME and commit to that branch");
}

int Run(int argc, char** argv) {
  CLI::App app{"octavo: versioned bundles of tables, n-d arrays and files: inspect, query, import, migrate", "octavo"};
  app.set_version_flag("--version", VersionText(), "Print the version and exit");
  app.require_subcommand(1);
  app.footer(kExitCodesHelp);

  GlobalOptions g;
  AddJsonFlag(&app, g);
  app.add_option("--h5-worker", g.h5_worker,
                 "The program that reads HDF5 files for h5ls/import/migrate (default: octavo-h5worker next to octavo)");
  app.add_option("--h5-cpu-limit", g.h5_cpu_limit,
                 "CPU seconds the HDF5 reader may spend on one file before it is stopped and the file fails "
                 "(guards against damaged files that make libhdf5 loop; default: no limit)")
      ->check(CLI::NonNegativeNumber);

  TreeArgs tree;
  auto* tree_cmd = app.add_subcommand("tree", "List every node: kind, rows, columns, size on disk, parts, attributes");
  tree_cmd->add_option("bundle", tree.address, "BUNDLE, or BUNDLE:/group for a sub-tree")->required();
  tree_cmd->add_option("--max-columns", tree.max_columns, "Columns to list per table (0 = all)")
      ->default_val(6)
      ->check(CLI::NonNegativeNumber);
  tree_cmd->add_flag("--no-attrs", tree.no_attrs, "Leave out attributes");
  AddJsonFlag(tree_cmd, g);

  InfoArgs info;
  auto* info_cmd = app.add_subcommand("info", "Describe one node: a table's rows, schema, options and part files; "
                                              "a group's children and attributes");
  info_cmd->add_option("address", info.address, "BUNDLE:/path")->required();
  AddJsonFlag(info_cmd, g);

  HeadArgs head;
  auto* head_cmd = app.add_subcommand("head", "Print the first rows of a table");
  head_cmd->add_option("address", head.address, "BUNDLE:/path of a table")->required();
  head_cmd->add_option("-n,--rows", head.rows, "Number of rows")->default_val(10);
  head_cmd->add_option("--columns", head.columns, "Columns to show (comma-separated)")->delimiter(',');
  head_cmd->add_option("--max-width", head.max_width, "Truncate cells wider than this (0 = never)")
      ->default_val(40)
      ->check(CLI::NonNegativeNumber);
  AddJsonFlag(head_cmd, g);

  ImportArgs imp;
  auto* import_cmd = app.add_subcommand("import", "Stream a Parquet, CSV, HDF5 or SQLite file into a new table "
                                                  "(or append to one); several CSV files or SQLite databases into one table");
  import_cmd->add_option("args", imp.positional,
                         "FILE [FILE ...] BUNDLE:/path -- FILE.parquet, FILE.csv, FILE.tsv (optionally .gz), FILE.h5, "
                         "or SQLite databases (FILE.db, .sqlite, .sqlite3, or any file with the SQLite header); "
                         "BUNDLE:/path is the table (created with the bundle if missing; BUNDLE alone uses the "
                         "file's name), or for all tables of a database the group they go under")
      ->required()
      ->expected(2, -1);
  import_cmd->add_option("--table", imp.sqlite_table, "SQLite: import this table (default: every table)");
  import_cmd->add_option("--query", imp.sqlite_query, "SQLite: import this read-only SELECT's result");
  import_cmd->add_option("--since", imp.since,
                         "SQLite: import only rows whose COLUMN exceeds the table's current maximum (with --append)");
  import_cmd->add_flag("--keep-text-timestamps", imp.keep_text_timestamps,
                       "SQLite, CSV: keep date-time text as strings instead of timestamps");
  import_cmd->add_option("--null-value", imp.null_values,
                         "CSV: a cell read as null (repeat the option for several; replaces the default set: "
                         "empty, NA, N/A, NULL, null, NaN, nan, None, ... as pandas.read_csv)")
      ->allow_extra_args(false)
      ->take_all();
  import_cmd->add_flag("--no-header", imp.no_header, "CSV: the first line is data (columns f0, f1, ...)");
  import_cmd->add_flag("-a,--append", imp.append, "Append to the table if it exists (created otherwise)");
  import_cmd->add_option("--format", imp.format, "parquet, csv, tsv, hdf5 or sqlite (default: from the extension)");
  import_cmd->add_option("--delimiter", imp.delimiter, "CSV field delimiter (default ',', tab for .tsv)");
  import_cmd->add_option("--compression", imp.compression, "Codec of a new table's parts")->default_val("zstd");
  import_cmd->add_option("--row-group-size", imp.row_group_size, "Rows per Parquet row group of a new table")
      ->check(CLI::NonNegativeNumber);
  import_cmd->add_option("--block-size", imp.block_size,
                         "CSV bytes read at a time (a row must fit); column types are decided over every row")
      ->default_val(8 << 20)
      ->check(CLI::PositiveNumber);
  AddJsonFlag(import_cmd, g);

  ExportArgs exp;
  auto* export_cmd = app.add_subcommand("export", "Stream a table into a Parquet or CSV file");
  export_cmd->add_option("address", exp.address, "BUNDLE:/path of a table")->required();
  export_cmd->add_option("file", exp.file, "OUT.parquet, OUT.csv, OUT.tsv (optionally .gz); format from the extension")
      ->required();
  export_cmd->add_option("--columns", exp.columns, "Columns to export (comma-separated)")->delimiter(',');
  export_cmd->add_option("--format", exp.format, "parquet, csv or tsv (default: from the extension)");
  export_cmd->add_option("--delimiter", exp.delimiter, "CSV field delimiter");
  export_cmd->add_option("--compression", exp.compression, "Parquet codec: zstd, snappy, gzip, lz4, brotli, none")
      ->default_val("zstd");
  export_cmd->add_option("--compression-level", exp.compression_level,
                         "Parquet codec level (default: the table's own for the same codec)")
      ->check(CLI::NonNegativeNumber);
  export_cmd->add_flag("--no-header", exp.no_header, "CSV: leave out the header line");
  AddJsonFlag(export_cmd, g);

  WhereArgs where;
  auto* where_cmd = app.add_subcommand("where", "Print the rows of a table where a condition holds "
                                                "(PyTables or SQL syntax; see docs/queries.md)");
  where_cmd->add_option("address", where.address, "BUNDLE:/path of a table")->required();
  where_cmd->add_option("condition", where.condition, "e.g. \"(x > 3) & (name == 'a')\" or \"x > 3 AND y IS NULL\"")
      ->required();
  where_cmd->add_option("--columns", where.columns, "Columns to show (comma-separated)")->delimiter(',');
  where_cmd->add_option("--limit", where.limit, "Print at most this many rows")->check(CLI::NonNegativeNumber);
  where_cmd->add_option("--start", where.start, "First row considered (negative counts from the end)");
  where_cmd->add_option("--stop", where.stop, "Row where the considered range ends (default: the end)");
  where_cmd->add_flag("--stats", where.stats, "Also report the parts / row groups skipped and bytes read");
  where_cmd->add_flag("--csv", where.csv, "Print CSV (streamed; --stats then go to stderr)");
  where_cmd->add_option("--max-width", where.max_width, "Truncate cells wider than this (0 = never)")
      ->default_val(40)
      ->check(CLI::NonNegativeNumber);
  AddJsonFlag(where_cmd, g);

  SqlArgs sql;
  auto* sql_cmd = app.add_subcommand("sql", "Run an SQL query (DuckDB, through Python) over a bundle's tables: "
                                            "\"/group/table\" by path, root tables also by name");
  sql_cmd->add_option("bundle", sql.bundle, "BUNDLE")->required();
  sql_cmd->add_option("query", sql.query, "e.g. 'SELECT name, count(*) FROM readout GROUP BY name'")->required();
  sql_cmd->add_option("--limit", sql.limit, "Print at most this many rows")->check(CLI::NonNegativeNumber);
  sql_cmd->add_flag("--csv", sql.csv, "Print CSV");
  sql_cmd->add_option("--max-width", sql.max_width, "Truncate cells wider than this (0 = never)")
      ->default_val(40)
      ->check(CLI::NonNegativeNumber);
  AddJsonFlag(sql_cmd, g);

  PutArgs put;
  auto* put_cmd = app.add_subcommand("put", "Store a local file in a file node (content-addressed; bundle created if missing)");
  put_cmd->add_option("file", put.file, "LOCAL file")->required();
  put_cmd->add_option("address", put.address, "BUNDLE:/path of the file node (BUNDLE alone: the file's name at the root)")
      ->required();
  put_cmd->add_flag("--overwrite", put.overwrite, "Replace an existing file node");
  AddJsonFlag(put_cmd, g);

  CatArgs cat;
  auto* cat_cmd = app.add_subcommand("cat", "Write a file node's bytes to standard output (checked against its digest)");
  cat_cmd->add_option("address", cat.address, "BUNDLE:/path of a file node")->required();

  RmArgs rm;
  auto* rm_cmd = app.add_subcommand("rm", "Remove a node (one commit; data stays readable at older commits)");
  rm_cmd->add_option("address", rm.address, "BUNDLE:/path")->required();
  rm_cmd->add_flag("-r,--recursive", rm.recursive, "Remove a group with everything in it");
  AddJsonFlag(rm_cmd, g);

  MvArgs mv;
  auto* mv_cmd = app.add_subcommand("mv", "Move or rename a node within its bundle (data files are not copied)");
  mv_cmd->add_option("address", mv.address, "BUNDLE:/from")->required();
  mv_cmd->add_option("destination", mv.destination, "/to (an existing group: move into it)")->required();
  AddJsonFlag(mv_cmd, g);

  H5lsArgs h5ls;
  auto* h5ls_cmd = app.add_subcommand("h5ls", "List an HDF5 file's objects and what 'octavo import' would make of each");
  h5ls_cmd->add_option("file", h5ls.file, "FILE.h5")->required();
  AddJsonFlag(h5ls_cmd, g);

  MigrateArgs mig;
  auto* migrate_cmd = app.add_subcommand(
      "migrate", "Convert pandas HDF5 files to verified Parquet files beside them (x.h5 -> x.parquet), or into a bundle");
  migrate_cmd->add_option("root", mig.root, "An HDF5 file or a directory of them")->required();
  migrate_cmd->add_flag("-r,--recursive", mig.recursive, "Descend into sub-directories");
  migrate_cmd->add_flag("--remove-h5", mig.remove_h5, "Delete each HDF5 file once its outputs are verified");
  migrate_cmd->add_option("--into", mig.into, "Import every file into this bundle (one commit per file) instead");
  migrate_cmd->add_option("-j,--jobs", mig.jobs, "Files converted in parallel")->default_val(1)->check(CLI::PositiveNumber);
  migrate_cmd->add_flag("-n,--dry-run", mig.dry_run, "Only report what would be done");
  migrate_cmd->add_flag("--buffered-io", mig.buffered_io, "Write Parquet files through the page cache instead of O_DIRECT (file systems whose O_DIRECT is slow)");
  migrate_cmd->add_flag("--overwrite", mig.overwrite, "Convert again even when verified Parquet files exist");
  migrate_cmd->add_flag("-q,--quiet", mig.quiet, "No per-file progress on stderr");
  migrate_cmd->add_option("--compression", mig.compression,
                          "Parquet codec (default snappy, as pandas.to_parquet; zstd, lz4, gzip, none)")
      ->default_val("snappy");
  AddJsonFlag(migrate_cmd, g);

  RepackArgs repack;
  auto* repack_cmd = app.add_subcommand("repack", "Rewrite a table's parts, optionally sorted (queries on the sort "
                                                  "column then skip almost everything)");
  repack_cmd->add_option("address", repack.address, "BUNDLE:/path of a table")->required();
  repack_cmd->add_option("--sort-by", repack.sort_by, "Columns to sort by, ascending (comma-separated)")
      ->delimiter(',');
  repack_cmd->add_option("--row-group-size", repack.row_group_size, "Rows per Parquet row group (default: keep)")
      ->check(CLI::PositiveNumber);
  AddJsonFlag(repack_cmd, g);

  IndexArgs index;
  auto* index_cmd = app.add_subcommand("index", "Create, remove or list a table's secondary indexes");
  index_cmd->add_option("address", index.address, "BUNDLE:/path of a table")->required();
  index_cmd->add_option("action", index.action, "create, remove or list")->required();
  index_cmd->add_option("column", index.column, "The column (create, remove)");
  AddJsonFlag(index_cmd, g);

  LogArgs log;
  auto* log_cmd = app.add_subcommand("log", "List commits, newest first, with the snapshots naming them");
  log_cmd->add_option("bundle", log.bundle, "BUNDLE")->required();
  log_cmd->add_option("-n,--limit", log.limit, "Show only the newest N commits")->check(CLI::NonNegativeNumber);
  log_cmd->add_option("--branch", log.branch, "The history of this branch (default: main)");
  AddJsonFlag(log_cmd, g);

  SnapshotArgs snap;
  auto* snap_cmd = app.add_subcommand("snapshot", "Name a commit (open it later with snapshot=NAME); -d deletes a name");
  snap_cmd->add_option("bundle", snap.bundle, "BUNDLE")->required();
  snap_cmd->add_option("name", snap.name, "NAME: letters, digits, '.', '_', '-'")->required();
  snap_cmd->add_option("-m,--message", snap.message, "Why this commit matters");
  snap_cmd->add_option("--commit", snap.commit, "The commit to name (default: the newest)")
      ->check(CLI::NonNegativeNumber);
  snap_cmd->add_flag("--overwrite", snap.overwrite, "Move an existing name");
  snap_cmd->add_flag("-d,--delete", snap.remove, "Delete the name (the commit stays)");
  AddJsonFlag(snap_cmd, g);

  GcArgs gc;
  auto* gc_cmd = app.add_subcommand("gc", "Delete data files no kept commit references (all history is kept "
                                          "unless --keep-last)");
  gc_cmd->add_option("bundle", gc.bundle, "BUNDLE")->required();
  gc_cmd->add_option("--keep-last", gc.keep_last,
                     "Also drop commits older than the newest N (snapshots are kept); they can no longer be opened")
      ->check(CLI::PositiveNumber);
  gc_cmd->add_option("--min-age", gc.min_age,
                     "Keep files and manifests younger than SECONDS (default: 3600 on an object store, where "
                     "running writers' uploads are not yet referenced; 0 on a disk, where LOCK keeps writers out)")
      ->check(CLI::NonNegativeNumber);
  gc_cmd->add_flag("-n,--dry-run", gc.dry_run, "Only report what would be deleted");
  gc_cmd->add_flag("-v,--verbose", gc.verbose, "List every file");
  AddJsonFlag(gc_cmd, g);

  RestoreArgs restore;
  auto* restore_cmd = app.add_subcommand("restore", "Make a new commit whose tree equals an older commit's (no data "
                                                    "copied; its files must not have been garbage-collected)");
  restore_cmd->add_option("bundle", restore.bundle, "BUNDLE")->required();
  restore_cmd->add_option("commit", restore.commit,
                          "COMMIT: an id, a snapshot name, snapshot:NAME (for all-digit names) or branch:NAME")
      ->required();
  restore_cmd->add_option("--branch", restore.branch, "Make the new commit on this branch (default: main)");
  AddJsonFlag(restore_cmd, g);

  DiffArgs diff;
  auto* diff_cmd = app.add_subcommand("diff", "Nodes added (+), removed (-) and modified (~) from commit A to B "
                                              "(default: the newest), with row counts of tables");
  diff_cmd->add_option("bundle", diff.bundle, "BUNDLE")->required();
  diff_cmd->add_option("a", diff.a, "A: commit id, snapshot name, snapshot:NAME or branch:NAME")->required();
  diff_cmd->add_option("b", diff.b, "B: as A (default: main's newest commit)");
  AddJsonFlag(diff_cmd, g);

  BranchArgs branch;
  auto* branch_cmd = app.add_subcommand("branch", "List, create or delete branches (lines of commits beside main; "
                                                  "open one with branch=NAME)");
  branch_cmd->add_option("bundle", branch.bundle, "BUNDLE")->required();
  branch_cmd->add_option("action", branch.action, "list (default), create or delete")
      ->check(CLI::IsMember({"list", "create", "delete"}));
  branch_cmd->add_option("name", branch.name, "NAME: letters, digits, '.', '_', '-'");
  branch_cmd->add_option("--from", branch.from,
                         "create: the commit it starts at (an id, snapshot name, snapshot:NAME or branch:NAME; "
                         "default: main's newest)");
  AddJsonFlag(branch_cmd, g);

  MergeArgs merge;
  auto* merge_cmd = app.add_subcommand("merge", "Merge a branch into main (or --into another branch) as one new "
                                                "commit; a node both changed is a conflict (exit 7)");
  merge_cmd->add_option("bundle", merge.bundle, "BUNDLE")->required();
  merge_cmd->add_option("branch", merge.branch, "BRANCH to merge")->required();
  merge_cmd->add_option("--into", merge.into, "The branch that gets the merge commit (default: main)");
  AddJsonFlag(merge_cmd, g);

  ShareArgs share;
  auto* share_cmd = app.add_subcommand("share", "List shared table segments (octavo.share); --gc removes those "
                                                "whose publishing process has died");
  share_cmd->add_flag("--gc", share.gc, "Remove the segments of dead publishers");
  share_cmd->add_option("--dir", share.directory, "Directory of the segments (default /dev/shm)");
  AddJsonFlag(share_cmd, g);

  AddOpenAtOption(&app);
  for (auto* sub : app.get_subcommands({})) AddOpenAtOption(sub);

  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    std::string names;
    for (const auto* sub : app.get_subcommands({})) {
      known = known || sub->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::cerr << "octavo: error: unknown command '" << argv[1] << "' (commands: " << names << ")\n"
                << "Run 'octavo --help' for usage.\n";
      return kExitUsage;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    std::cerr << "octavo: error: " << e.what() << "\n"
              << "Run 'octavo --help' (or 'octavo COMMAND --help') for usage.\n";
    return kExitUsage;
  }

  // --threads first: it replaces OCTAVO_NUM_THREADS (even an unusable one).
  if (g.threads) Check(octavo::SetNumThreads(*g.threads), "--threads");
  // Arrow's compute kernels and dataset factories must be registered in a standalone program.
  Check(octavo::Initialize(), "initialising");

  if (tree_cmd->parsed()) return RunTree(tree, g);
  if (info_cmd->parsed()) return RunInfo(info, g);
  if (head_cmd->parsed()) return RunHead(head, g);
  if (import_cmd->parsed()) {
    imp.address = imp.positional.back();
    imp.positional.pop_back();
    imp.file = imp.positional.front();
    return RunImport(imp, g);
  }
  if (export_cmd->parsed()) return RunExport(exp, g);
  if (h5ls_cmd->parsed()) return RunH5ls(h5ls, g);
  if (migrate_cmd->parsed()) return RunMigrate(mig, g);
  if (where_cmd->parsed()) return RunWhere(where, g);
  if (sql_cmd->parsed()) return RunSql(sql, g);
  if (repack_cmd->parsed()) return RunRepack(repack, g);
  if (index_cmd->parsed()) return RunIndex(index, g);
  if (gc_cmd->parsed()) return RunGc(gc, g);
  if (restore_cmd->parsed()) return RestoreCmd(restore, g);
  if (diff_cmd->parsed()) return DiffCmd(diff, g);
  if (branch_cmd->parsed()) return RunBranch(branch, g);
  if (merge_cmd->parsed()) return RunMerge(merge, g);
  if (share_cmd->parsed()) return RunShare(share, g);
  if (log_cmd->parsed()) return RunLog(log, g);
  if (snap_cmd->parsed()) return RunSnapshot(snap, g);
  if (put_cmd->parsed()) return RunPut(put, g);
  if (cat_cmd->parsed()) return RunCat(cat, g);
  if (rm_cmd->parsed()) return RunRm(rm, g);
  if (mv_cmd->parsed()) return RunMv(mv, g);
  UsageError("no command given");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const CliError& e) {
    std::cout.flush();
    std::cerr << "octavo: error: " << OneLine(e.what()) << "\n";
    return e.code();
  } catch (const std::bad_alloc&) {
    std::cout.flush();
    std::cerr << "octavo: error: out of memory\n";
    return kExitOther;
  } catch (const std::exception& e) {
    std::cout.flush();
    std::cerr << "octavo: error: " << OneLine(e.what()) << "\n";
    return kExitOther;
  } catch (...) {
    std::cout.flush();
    std::cerr << "octavo: error: unexpected internal error\n";
    return kExitOther;
  }
}
