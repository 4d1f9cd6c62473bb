// The `octavo` command: look into bundles and move tables in and out of them.
//
//   octavo tree BUNDLE[:/path]            every node: kind, rows, columns, size, parts, attributes
//   octavo info BUNDLE:/path              one node in full (a table's schema, options, part files)
//   octavo head BUNDLE:/path -n 10        the first rows as an aligned text table
//   octavo import FILE BUNDLE:/path       Parquet or CSV into a new table (or --append)
//   octavo export BUNDLE:/path FILE       a table to Parquet or CSV
//
// --json (before or after the sub-command) prints machine-readable JSON on stdout.
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
  return std::string("octavo ") + octavo::kVersion + " (format " + std::to_string(octavo::kFormatVersion) +
         ", Arrow " + ARROW_VERSION_STRING + ")";
}

void AddJsonFlag(CLI::App* app, GlobalOptions& g) {
  app->add_flag("--json", g.json, "Print machine-readable JSON on stdout");
}

int Run(int argc, char** argv) {
  CLI::App app{"octavo: look into versioned bundles of tables, and move tables in and out of them", "octavo"};
  app.set_version_flag("--version", VersionText(), "Print the version and exit");
  app.require_subcommand(1);
  app.footer(kExitCodesHelp);

  GlobalOptions g;
  AddJsonFlag(&app, g);

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
  auto* import_cmd = app.add_subcommand("import", "Stream a Parquet or CSV file into a new table (or append to one)");
  import_cmd->add_option("file", imp.file, "FILE.parquet, FILE.csv, FILE.tsv (optionally .gz)")->required();
  import_cmd->add_option("address", imp.address,
                         "BUNDLE:/path of the table (created with the bundle if missing; "
                         "BUNDLE alone uses the file's name)")
      ->required();
  import_cmd->add_flag("-a,--append", imp.append, "Append to the table if it exists (created otherwise)");
  import_cmd->add_option("--format", imp.format, "parquet, csv or tsv (default: from the extension)");
  import_cmd->add_option("--delimiter", imp.delimiter, "CSV field delimiter (default ',', tab for .tsv)");
  import_cmd->add_option("--compression", imp.compression, "Codec of a new table's parts")->default_val("zstd");
  import_cmd->add_option("--row-group-size", imp.row_group_size, "Rows per Parquet row group of a new table")
      ->check(CLI::NonNegativeNumber);
  import_cmd->add_option("--block-size", imp.block_size,
                         "CSV bytes read per block; column types are inferred from the first block")
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

  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const auto* sub : app.get_subcommands({})) known = known || sub->get_name() == argv[1];
    if (!known) {
      std::cerr << "octavo: error: unknown command '" << argv[1] << "' (commands: tree, info, head, import, export)\n"
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

  // Arrow's compute kernels and dataset factories must be registered in a standalone program.
  Check(octavo::Initialize(), "initialising Arrow");

  if (tree_cmd->parsed()) return RunTree(tree, g);
  if (info_cmd->parsed()) return RunInfo(info, g);
  if (head_cmd->parsed()) return RunHead(head, g);
  if (import_cmd->parsed()) return RunImport(imp, g);
  if (export_cmd->parsed()) return RunExport(exp, g);
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
