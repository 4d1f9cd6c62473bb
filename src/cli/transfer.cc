// import / export: streaming between a table and a Parquet or CSV file, with memory
// bounded by one batch (CSV block / Parquet row group) whatever the file's size. CSV import
// is the engine's (include/octavo/csv.h: types over the whole input, several files, one commit).
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/csv/api.h>
#include <arrow/io/api.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/compression.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <iostream>

#include "cli/cli.h"
#include "octavo/arrow_status.h"
#include "octavo/csv.h"

namespace octavo::cli {

namespace fs = std::filesystem;

namespace {

enum class Format { kParquet, kCsv };

struct FileFormat {
  Format format = Format::kParquet;
  bool gzip = false;    // CSV only
  char delimiter = ',';
  const char* name() const { return format == Format::kParquet ? "parquet" : "csv"; }
};

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// From --format if given, else from the extension: .parquet/.pq/.parq, .csv/.tsv (optionally .gz).
FileFormat DetectFormat(const std::string& file, const std::string& format, const std::string& delimiter,
                        const char* verb) {
  FileFormat f;
  std::string name = Lower(fs::path(file).filename().string());
  if (EndsWith(name, ".gz")) {
    f.gzip = true;
    name = name.substr(0, name.size() - 3);
  }
  std::string fmt = Lower(format);
  if (fmt.empty()) {
    if (EndsWith(name, ".parquet") || EndsWith(name, ".pq") || EndsWith(name, ".parq")) fmt = "parquet";
    else if (EndsWith(name, ".csv")) fmt = "csv";
    else if (EndsWith(name, ".tsv")) fmt = "tsv";
    else
      UsageError(std::string("cannot ") + verb + " '" + file +
                 "': unknown file extension (use .parquet, .pq, .csv, .tsv, .csv.gz or .tsv.gz, or pass --format "
                 "parquet|csv|tsv)");
  }
  if (fmt == "parquet") {
    if (f.gzip) UsageError("'" + file + "': a Parquet file is compressed internally; drop the .gz suffix");
    f.format = Format::kParquet;
  } else if (fmt == "csv" || fmt == "tsv") {
    f.format = Format::kCsv;
    f.delimiter = fmt == "tsv" ? '\t' : ',';
  } else {
    UsageError("unknown --format '" + format + "' (use parquet, csv or tsv)");
  }
  if (!delimiter.empty()) {
    if (f.format != Format::kCsv) UsageError("--delimiter applies to CSV files only");
    std::string d = delimiter == "\\t" || delimiter == "tab" ? "\t" : delimiter;
    if (d.size() != 1) UsageError("--delimiter must be a single character, got '" + delimiter + "'");
    f.delimiter = d[0];
  }
  return f;
}

// Wraps a reader: keeps its owners alive, names the source file in errors, and turns
// exceptions escaping from the Parquet library into statuses.
class SourceReader final : public arrow::RecordBatchReader {
 public:
  SourceReader(std::string file, std::shared_ptr<arrow::RecordBatchReader> inner, std::shared_ptr<void> owner)
      : file_(std::move(file)), inner_(std::move(inner)), owner_(std::move(owner)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return inner_->schema(); }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    arrow::Status st;
    try {
      st = inner_->ReadNext(out);
    } catch (const std::exception& e) {
      st = arrow::Status::IOError(e.what());
    }
    if (!st.ok()) return st.WithMessage(file_, ": ", st.message());
    if (*out) rows_ += (*out)->num_rows();
    return st;
  }

  int64_t rows() const { return rows_; }

 private:
  std::string file_;
  std::shared_ptr<arrow::RecordBatchReader> inner_;
  std::shared_ptr<void> owner_;
  int64_t rows_ = 0;
};

std::shared_ptr<SourceReader> OpenParquetSource(const std::string& file) {
  parquet::ArrowReaderProperties props;
  props.set_use_threads(true);
  props.set_pre_buffer(true);
  props.set_batch_size(64 * 1024);
  std::shared_ptr<parquet::arrow::FileReader> reader;
  try {
    parquet::arrow::FileReaderBuilder builder;
    arrow::Status st = builder.OpenFile(file);
    if (!st.ok()) Fail(kExitOther, "'" + file + "' is not a readable Parquet file: " + st.message());
    auto r = builder.properties(props)->Build();
    if (!r.ok()) Fail(kExitOther, "'" + file + "' is not a readable Parquet file: " + r.status().message());
    reader = std::shared_ptr<parquet::arrow::FileReader>(std::move(*r));
    auto batches = reader->GetRecordBatchReader();
    if (!batches.ok()) Fail(kExitOther, "'" + file + "' cannot be read: " + batches.status().message());
    return std::make_shared<SourceReader>(file, std::shared_ptr<arrow::RecordBatchReader>(std::move(*batches)),
                                          reader);
  } catch (const CliError&) {
    throw;
  } catch (const std::exception& e) {
    Fail(kExitOther, "'" + file + "' is not a readable Parquet file: " + e.what());
  }
}

std::string DefaultTableName(const std::string& file) {
  std::string name = fs::path(file).filename().string();
  for (const char* ext : {".gz", ".parquet", ".parq", ".pq", ".csv", ".tsv"})
    if (EndsWith(Lower(name), ext)) name = name.substr(0, name.size() - std::string(ext).size());
  return "/" + name;
}

// Deletes a half-written output file unless the export succeeded.
struct TempFile {
  std::string path;
  bool keep = false;
  ~TempFile() {
    if (!keep && !path.empty()) {
      std::error_code ec;
      fs::remove(path, ec);
    }
  }
};

bool IsNested(const arrow::DataType& t) {
  switch (t.id()) {
    case arrow::Type::LIST:
    case arrow::Type::LARGE_LIST:
    case arrow::Type::LIST_VIEW:
    case arrow::Type::LARGE_LIST_VIEW:
    case arrow::Type::FIXED_SIZE_LIST:
    case arrow::Type::MAP:
    case arrow::Type::STRUCT:
    case arrow::Type::SPARSE_UNION:
    case arrow::Type::DENSE_UNION:
      return true;
    default:
      return false;
  }
}

}  // namespace

// CSV cannot hold dictionary columns as such: they are written as their values.
std::shared_ptr<arrow::Schema> CsvSchema(const arrow::Schema& schema) {
  arrow::FieldVector fields;
  for (const auto& f : schema.fields()) {
    if (f->type()->id() == arrow::Type::DICTIONARY)
      fields.push_back(f->WithType(static_cast<const arrow::DictionaryType&>(*f->type()).value_type()));
    else
      fields.push_back(f);
  }
  return arrow::schema(std::move(fields));
}

arrow::Result<std::shared_ptr<arrow::RecordBatch>> ToCsvBatch(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                              const std::shared_ptr<arrow::Schema>& schema) {
  arrow::ArrayVector columns;
  for (int i = 0; i < batch->num_columns(); ++i) {
    auto col = batch->column(i);
    if (col->type()->id() == arrow::Type::DICTIONARY) {
      ARROW_ASSIGN_OR_RAISE(col, arrow::compute::Cast(*col, schema->field(i)->type()));
    }
    columns.push_back(std::move(col));
  }
  return arrow::RecordBatch::Make(schema, batch->num_rows(), std::move(columns));
}

// --- import --------------------------------------------------------------------------------

namespace {

// CSV / TSV files (optionally .gz) through the engine's importer: all files, one commit.
int RunImportCsv(const ImportArgs& args, const GlobalOptions& g, const FileFormat& f) {
  for (const auto& file : args.positional) {
    FileFormat other = DetectFormat(file, args.format, args.delimiter, "import");
    if (other.format != Format::kCsv)
      UsageError("'" + file + "' is not a CSV file; several files are imported together only when all are CSV "
                 "(or all SQLite databases)");
  }
  Address a = ParseAddress(args.address);
  if (!a.has_node) a.node = DefaultTableName(args.file);
  // Every file must exist before the bundle is created.
  for (const auto& file : args.positional) {
    std::error_code ec;
    if (!fs::exists(file, ec)) Fail(kExitNotFound, "no such file: '" + file + "'");
    if (fs::is_directory(file, ec)) Fail(kExitOther, "'" + file + "' is a directory, not a csv file");
  }
  csv::ImportOptions o;
  o.delimiter = f.delimiter;
  o.header = !args.no_header;
  if (!args.null_values.empty()) o.null_values = args.null_values;
  o.keep_text_timestamps = args.keep_text_timestamps;
  o.append = args.append;
  o.block_size = args.block_size;
  o.table_options.compression = args.compression;
  if (args.row_group_size > 0) o.table_options.row_group_size = args.row_group_size;
  auto bundle = OpenBundle(a, OpenMode::kAppend);
  const std::string ctx = "bundle " + a.bundle;
  if (bundle->Exists(a.node)) {  // the CLI's own words for the common mistakes
    auto existing = Unwrap(bundle->GetNode(a.node), ctx);
    if (existing.kind != NodeKind::kTable)
      Fail(kExitType, ctx + ": '" + existing.path + "' is " + NodeKindWithArticle(existing.kind) +
                          ", not a table; import into a new table path such as " +
                          (existing.path == "/" ? std::string("/") : existing.path + "/") +
                          DefaultTableName(args.file).substr(1));
    if (!args.append)
      Fail(kExitOther, ctx + ": table '" + existing.path + "' already exists; pass --append to add the rows to it");
  }
  auto rep = Unwrap(csv::ImportCsv(args.positional, *bundle, a.node, o), ctx);
  auto table = Unwrap(bundle->OpenTable(rep.dest), ctx);
  const int64_t total = Unwrap(table->num_rows(), ctx);
  Check(bundle->Close(), ctx);
  if (g.json) {
    PrintJson(Json{{"source", args.file},
                   {"files", rep.files},
                   {"format", "csv"},
                   {"bundle", bundle->path()},
                   {"path", rep.dest},
                   {"created", rep.created},
                   {"rows", rep.rows},
                   {"num_rows", total},
                   {"commit", rep.commit},
                   {"columns", rep.columns},
                   {"notes", rep.notes}});
  } else {
    std::cout << (rep.created ? "imported " : "appended ") << Plural(rep.rows, "row", "rows") << " from "
              << (rep.files.size() == 1 ? args.file : Plural(static_cast<int64_t>(rep.files.size()), "file", "files"))
              << " into " << bundle->path() << ":" << rep.dest;
    if (!rep.created) std::cout << " (now " << Plural(total, "row", "rows") << ")";
    std::cout << ", commit " << rep.commit << "\n";
    for (const auto& n : rep.notes) std::cout << "note: " << Printable(n) << "\n";
  }
  return kExitOK;
}

}  // namespace

int RunImport(const ImportArgs& args, const GlobalOptions& g) {
  if (IsSqliteImport(args)) return RunImportSqlite(args, g);  // sqlite_cmds.cc: all files, one commit
  if (!args.sqlite_table.empty() || !args.sqlite_query.empty() || !args.since.empty())
    UsageError("--table, --query and --since apply to SQLite databases only");
  std::string name = Lower(fs::path(args.file).filename().string());
  std::string fmt = Lower(args.format);
  const bool hdf5 = fmt == "hdf5" || fmt == "h5" ||
                    (fmt.empty() && (EndsWith(name, ".h5") || EndsWith(name, ".hdf5") || EndsWith(name, ".hdf")));
  if (!hdf5) {
    FileFormat f = DetectFormat(args.file, args.format, args.delimiter, "import");
    if (f.format == Format::kCsv) return RunImportCsv(args, g, f);
  }
  if (args.positional.size() > 1)
    UsageError("several files are imported together only from CSV files or SQLite databases; import '" +
               args.file + "' and the others one at a time (with --append)");
  if (args.keep_text_timestamps || !args.null_values.empty() || args.no_header)
    UsageError("--keep-text-timestamps, --null-value and --no-header apply to CSV files and SQLite databases only");
  if (hdf5) return RunImportHdf5(args, g);  // hdf5_cmds.cc: the whole file, one commit
  FileFormat f = DetectFormat(args.file, args.format, args.delimiter, "import");
  Address a = ParseAddress(args.address);
  if (!a.has_node) a.node = DefaultTableName(args.file);
  std::error_code ec;
  if (!fs::exists(args.file, ec)) Fail(kExitNotFound, "no such file: '" + args.file + "'");
  if (fs::is_directory(args.file, ec)) Fail(kExitOther, "'" + args.file + "' is a directory, not a " +
                                                          f.name() + " file");
  // Open the source before the bundle, so a bad file never creates an empty bundle.
  auto source = OpenParquetSource(args.file);

  auto bundle = OpenBundle(a, OpenMode::kAppend);
  const std::string ctx = "bundle " + a.bundle;
  std::shared_ptr<Table> table;
  bool created = false;
  auto existing = bundle->GetNode(a.node);
  if (existing.ok()) {
    if (existing->kind != NodeKind::kTable)
      Fail(kExitType, ctx + ": '" + existing->path + "' is " + NodeKindWithArticle(existing->kind) +
                          ", not a table; import into a new table path such as " +
                          (existing->path == "/" ? std::string("/") : existing->path + "/") +
                          DefaultTableName(args.file).substr(1));
    if (!args.append)
      Fail(kExitOther, ctx + ": table '" + existing->path + "' already exists; pass --append to add the rows to it");
    table = Unwrap(bundle->OpenTable(existing->path), ctx);
    Check(table->Append(source), ctx);
  } else if (existing.status().code() == StatusCode::kNotFound) {
    TableOptions options;
    options.compression = args.compression;
    if (args.row_group_size > 0) options.row_group_size = args.row_group_size;
    table = Unwrap(bundle->CreateTable(a.node, std::static_pointer_cast<arrow::RecordBatchReader>(source), options),
                   ctx);
    created = true;
  } else {
    Check(existing.status(), ctx);
  }
  const int64_t imported = source->rows();
  const int64_t total = Unwrap(table->num_rows(), ctx);
  const CommitInfo commit = bundle->commit();
  Check(bundle->Close(), ctx);

  if (g.json) {
    PrintJson(Json{{"source", args.file},
                   {"format", f.name()},
                   {"bundle", bundle->path()},
                   {"path", table->path()},
                   {"created", created},
                   {"rows", imported},
                   {"num_rows", total},
                   {"commit", commit.id}});
  } else {
    std::cout << (created ? "imported " : "appended ") << Plural(imported, "row", "rows") << " from " << args.file
              << " into " << bundle->path() << ":" << table->path();
    if (!created) std::cout << " (now " << Plural(total, "row", "rows") << ")";
    std::cout << ", commit " << commit.id << "\n";
  }
  return kExitOK;
}

// --- export --------------------------------------------------------------------------------

int RunExport(const ExportArgs& args, const GlobalOptions& g) {
  FileFormat f = DetectFormat(args.file, args.format, args.delimiter, "export to");
  Address a = ParseAddress(args.address);
  std::error_code ec;
  if (fs::is_directory(args.file, ec)) UsageError("'" + args.file + "' is a directory; give an output file name");

  auto bundle = OpenBundle(a, OpenMode::kRead);
  auto table = OpenTableAt(bundle, a);
  const std::string ctx = "bundle " + a.bundle;
  ReadOptions ro;
  ro.columns = args.columns;
  auto reader = Unwrap(table->Scan(ro, 64 * 1024), ctx);
  auto schema = reader->schema();
  const std::string out_ctx = "writing " + args.file;

  if (f.format == Format::kCsv) {
    for (const auto& field : schema->fields())
      if (IsNested(*field->type()))
        Fail(kExitType, "table " + table->path() + ": column '" + field->name() + "' has type " +
                            field->type()->ToString() +
                            ", which CSV cannot hold; export to .parquet or leave it out with --columns");
  }

  TempFile tmp;
  tmp.path = args.file + ".octavo-tmp-" + std::to_string(getpid());
  auto raw = arrow::io::FileOutputStream::Open(tmp.path);
  if (!raw.ok()) Fail(kExitOther, "cannot write '" + args.file + "': " + raw.status().message());
  std::shared_ptr<arrow::io::OutputStream> sink = *raw;
  std::shared_ptr<arrow::util::Codec> codec;
  if (f.gzip) {
    auto c = arrow::util::Codec::Create(arrow::Compression::GZIP);
    if (!c.ok()) Fail(kExitOther, "gzip is not available: " + c.status().message());
    codec = std::shared_ptr<arrow::util::Codec>(std::move(*c));
    auto s = arrow::io::CompressedOutputStream::Make(codec.get(), sink);
    CheckArrow(s.status(), out_ctx);
    sink = *s;
  }

  int64_t rows = 0;
  auto next = [&]() {
    std::shared_ptr<arrow::RecordBatch> batch;
    arrow::Status st;
    try {
      st = reader->ReadNext(&batch);
    } catch (const std::exception& e) {
      st = arrow::Status::IOError(e.what());
    }
    if (!st.ok()) {
      Status s = FromArrow(st);
      // Errors the engine already placed ("table /t: part file ...") keep their words.
      Check(s, s.message().rfind("table ", 0) == 0 ? ctx : ctx + ": reading table " + table->path());
    }
    if (batch) rows += batch->num_rows();
    return batch;
  };

  if (f.format == Format::kParquet) {
    // The table's own layout (row groups, pages, dictionary limit), with the requested codec.
    TableOptions o = Unwrap(table->Info(), ctx).options;
    const std::string codec = Lower(args.compression);
    if (args.compression_level > 0 || codec != Lower(o.compression)) o.compression_level = args.compression_level;
    o.compression = codec;
    if (o.row_group_size <= 0) o.row_group_size = TableOptions{}.row_group_size;
    auto props_r = ParquetWriterProperties(o);
    if (!props_r.ok()) UsageError("--compression: " + props_r.status().message());
    auto props = *props_r;
    auto arrow_props = parquet::ArrowWriterProperties::Builder().store_schema()->build();
    std::unique_ptr<parquet::arrow::FileWriter> writer;
    try {
      auto w = parquet::arrow::FileWriter::Open(*schema, arrow::default_memory_pool(), sink, props, arrow_props);
      CheckArrow(w.status(), out_ctx);
      writer = std::move(*w);
      while (auto batch = next()) CheckArrow(writer->WriteRecordBatch(*batch), out_ctx);
      CheckArrow(writer->Close(), out_ctx);
    } catch (const CliError&) {
      throw;
    } catch (const std::exception& e) {
      Fail(kExitOther, out_ctx + ": " + e.what());
    }
  } else {
    auto csv_schema = CsvSchema(*schema);
    auto wo = arrow::csv::WriteOptions::Defaults();
    wo.delimiter = f.delimiter;
    wo.include_header = !args.no_header;
    wo.batch_size = 64 * 1024;
    auto w = arrow::csv::MakeCSVWriter(sink, csv_schema, wo);
    CheckArrow(w.status(), out_ctx);
    while (auto batch = next()) {
      auto converted = ToCsvBatch(batch, csv_schema);
      CheckArrow(converted.status(), out_ctx);
      CheckArrow((*w)->WriteRecordBatch(**converted), out_ctx);
    }
    CheckArrow((*w)->Close(), out_ctx);
  }
  CheckArrow(sink->Close(), out_ctx);
  fs::rename(tmp.path, args.file, ec);
  if (ec) Fail(kExitOther, "cannot write '" + args.file + "': " + ec.message());
  tmp.keep = true;
  const int64_t bytes = static_cast<int64_t>(fs::file_size(args.file, ec));

  if (g.json) {
    PrintJson(Json{{"bundle", bundle->path()},
                   {"path", table->path()},
                   {"output", args.file},
                   {"format", f.name()},
                   {"rows", rows},
                   {"columns", schema->field_names()},
                   {"size_bytes", ec ? -1 : bytes}});
  } else {
    std::cout << "exported " << Plural(rows, "row", "rows") << " of " << bundle->path() << ":" << table->path()
              << " to " << args.file << " (" << f.name() << ", " << HumanSize(ec ? 0 : bytes) << ")\n";
  }
  return kExitOK;
}

}  // namespace octavo::cli
