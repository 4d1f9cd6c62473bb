// CSV files -> a bundle table (include/octavo/csv.h for the type rules).
//
// Two passes over every file with Arrow's streaming CSV reader, every column read as binary
// (null tokens applied by the reader): pass 1 feeds each cell to the shared statistics of
// src/infer/ and decides the types over the whole input; pass 2 re-reads the files and
// converts each block to those types inside one bundle transaction. Memory is bounded by a
// read block whatever the files' size.
#include "octavo/csv.h"

#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/csv/api.h>
#include <arrow/io/api.h>
#include <arrow/util/compression.h>
#include <arrow/util/utf8.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "infer/infer.h"
#include "octavo/arrow_status.h"
#include "octavo/bundle.h"
#include "util/names.h"

namespace octavo::csv {

namespace fs = std::filesystem;
using infer::ColStats;
using infer::Kind;
using infer::KindType;

const std::vector<std::string>& DefaultNullValues() {
  static const std::vector<std::string> kNulls = {
      "",    "NA",  "N/A",  "n/a",  "NULL", "null",     "NaN",    "nan",     "-NaN",    "-nan",
      "None", "<NA>", "#N/A", "#N/A N/A", "#NA", "1.#IND", "-1.#IND", "1.#QNAN", "-1.#QNAN"};
  return kNulls;
}

namespace {

bool EndsWithGz(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
  return name.size() >= 3 && name.compare(name.size() - 3, 3, ".gz") == 0;
}

bool StartsWithGzipMagic(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  unsigned char head[2] = {};
  if (!f.read(reinterpret_cast<char*>(head), 2)) return false;
  return head[0] == 0x1f && head[1] == 0x8b;
}

// One input file, checked before anything is read.
struct File {
  std::string path;  // as given, for messages
  bool gzip = false;
};

// A streaming reader over one file (and what it needs alive), every column binary.
struct Open {
  std::shared_ptr<arrow::util::Codec> codec;
  std::shared_ptr<arrow::io::InputStream> input;
  std::shared_ptr<arrow::csv::StreamingReader> reader;
};

// An Arrow error of the CSV reader, placed: "a.csv: CSV parse error: line 7: Expected 3 columns...".
Status ReadError(const File& f, const arrow::Status& st) {
  std::string msg = st.message();
  const auto pos = msg.find("Row #");
  if (pos != std::string::npos) msg.replace(pos, 5, "line ");
  if (st.IsInvalid()) return Status::Invalid(f.path, ": ", msg);
  return Status::IOError(f.path, ": ", msg);
}

Result<Open> OpenCsv(const File& f, const ImportOptions& o, const std::vector<std::string>* raw_names) {
  Open out;
  auto raw = arrow::io::ReadableFile::Open(f.path);
  if (!raw.ok()) return Status::IOError("cannot open '", f.path, "': ", raw.status().message());
  out.input = *raw;
  if (f.gzip) {
    auto c = arrow::util::Codec::Create(arrow::Compression::GZIP);
    if (!c.ok()) return Status::IOError("gzip is not available: ", c.status().message());
    out.codec = std::shared_ptr<arrow::util::Codec>(std::move(*c));
    auto s = arrow::io::CompressedInputStream::Make(out.codec.get(), out.input);
    if (!s.ok()) return ReadError(f, s.status());
    out.input = *s;
  }
  auto ro = arrow::csv::ReadOptions::Defaults();
  ro.block_size = static_cast<int32_t>(std::clamp<int64_t>(o.block_size, 1 << 10, 1 << 30));
  ro.use_threads = false;  // in order, so that parse errors name their line
  ro.autogenerate_column_names = !o.header;
  auto po = arrow::csv::ParseOptions::Defaults();
  po.delimiter = o.delimiter;
  po.newlines_in_values = true;  // a quoted value may span lines (as pandas reads it)
  auto co = arrow::csv::ConvertOptions::Defaults();
  if (raw_names) {
    for (const auto& n : *raw_names) co.column_types[n] = arrow::binary();
    co.null_values = o.null_values;
    co.strings_can_be_null = true;
    co.quoted_strings_can_be_null = true;
  }
  auto r = arrow::csv::StreamingReader::Make(arrow::io::default_io_context(), out.input, ro, po, co);
  if (!r.ok()) return ReadError(f, r.status());
  out.reader = *r;
  return out;
}

// The header's names (f0, f1, ... without a header), read with a first reader.
Result<std::vector<std::string>> RawNames(const File& f, const ImportOptions& o) {
  OCTAVO_ASSIGN_OR_RETURN(Open op, OpenCsv(f, o, nullptr));
  std::vector<std::string> names = op.reader->schema()->field_names();
  (void)op.reader->Close();
  for (size_t i = 0; i < names.size(); ++i)
    if (!arrow::util::ValidateUTF8(names[i]))
      return Status::Invalid(f.path, ": the name of column ", i + 1, " (", infer::Quoted(names[i]),
                             ") is not valid UTF-8");
  return names;
}

// Empty names -> column_N, duplicates -> name_2, name_3 ...; a note for each change.
std::vector<std::string> UniqueNames(const std::vector<std::string>& raw, const std::string& where,
                                     std::vector<std::string>* notes) {
  std::set<std::string> used(raw.begin(), raw.end());
  std::set<std::string> taken;
  std::vector<std::string> out;
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string n = raw[i];
    if (n.empty() || taken.count(n)) {
      const std::string base = n.empty() ? "column_" + std::to_string(i + 1) : n;
      n = base;
      for (int k = 2; used.count(n) || taken.count(n); ++k) n = base + "_" + std::to_string(k);
      notes->push_back(where + " column " + std::to_string(i + 1) + ": " +
                       (raw[i].empty() ? std::string("no name") : "the name '" + raw[i] + "' is taken") +
                       "; named '" + n + "'");
    }
    taken.insert(n);
    out.push_back(n);
  }
  return out;
}

std::string JoinNames(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string Here(const File& f, int64_t row, std::string_view v) {
  return f.path + " row " + std::to_string(row) + ": " + infer::Quoted(v);
}

Status NotUtf8(const File& f, int64_t row, const std::string& col, std::string_view v) {
  return Status::Invalid(f.path, " row ", row, " column '", col, "': the value ", infer::Quoted(v),
                         " is not valid UTF-8 (re-encode the file as UTF-8, or append into a table whose column ",
                         "is binary)");
}

// Pass 1 over one file: statistics of the columns not fixed by an existing table.
Status Gather(const File& f, const ImportOptions& o, const std::vector<std::string>& raw,
              const std::vector<std::optional<Kind>>& fixed, std::vector<ColStats>& stats) {
  OCTAVO_ASSIGN_OR_RETURN(Open op, OpenCsv(f, o, &raw));
  int64_t row0 = 0;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> b;
    arrow::Status st = op.reader->ReadNext(&b);
    if (!st.ok()) return ReadError(f, st);
    if (!b) break;
    for (int c = 0; c < b->num_columns(); ++c) {
      if (fixed[c]) continue;
      ColStats& cs = stats[c];
      const auto& arr = static_cast<const arrow::BinaryArray&>(*b->column(c));
      for (int64_t i = 0; i < arr.length(); ++i) {
        if (arr.IsNull(i)) continue;
        const std::string_view v = arr.GetView(i);
        const int64_t row = row0 + i + 1;
        if (!arrow::util::ValidateUTF8(v)) return NotUtf8(f, row, cs.name, v);
        auto here = [&]() { return Here(f, row, v); };
        int64_t iv;
        switch (infer::ClassifyText(v, &iv)) {
          case infer::TextClass::kInt: cs.AddInt(iv, row, here); break;
          case infer::TextClass::kReal: cs.AddReal(here); break;
          case infer::TextClass::kBool: cs.AddText(v, true, here); break;
          case infer::TextClass::kText: cs.AddText(v, false, here); break;
        }
      }
    }
    row0 += b->num_rows();
  }
  return Status::OK();
}

// Pass 2: the files' rows as batches of the decided types.
class CsvReader final : public infer::StatusBatchReader {
 public:
  CsvReader(const std::vector<File>& files, const ImportOptions& o, const std::vector<std::string>& raw,
            std::vector<Kind> kinds, std::shared_ptr<arrow::Schema> schema)
      : files_(files), opt_(o), raw_(raw), kinds_(std::move(kinds)), schema_(std::move(schema)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  int64_t rows() const { return rows_; }

 private:
  Result<std::shared_ptr<arrow::RecordBatch>> Next() override {
    while (file_ < files_.size()) {
      const File& f = files_[file_];
      if (!open_) {
        OCTAVO_ASSIGN_OR_RETURN(Open op, OpenCsv(f, opt_, &raw_));
        open_ = std::move(op);
        row0_ = 0;
      }
      std::shared_ptr<arrow::RecordBatch> b;
      arrow::Status st = open_->reader->ReadNext(&b);
      if (!st.ok()) return ReadError(f, st);
      if (!b) {
        (void)open_->reader->Close();
        open_.reset();
        ++file_;
        if (opt_.progress)
          opt_.progress({"files", static_cast<int64_t>(file_), static_cast<int64_t>(files_.size()), f.path});
        continue;
      }
      if (b->num_rows() == 0) continue;
      arrow::ArrayVector arrays(kinds_.size());
      for (size_t c = 0; c < kinds_.size(); ++c) {
        OCTAVO_ASSIGN_OR_RETURN(arrays[c], Convert(f, static_cast<int>(c), *b->column(static_cast<int>(c))));
      }
      row0_ += b->num_rows();
      rows_ += b->num_rows();
      return arrow::RecordBatch::Make(schema_, b->num_rows(), std::move(arrays));
    }
    return std::shared_ptr<arrow::RecordBatch>();
  }

  Result<std::shared_ptr<arrow::Array>> Convert(const File& f, int c, const arrow::Array& col) {
    const Kind k = kinds_[c];
    const std::string& name = schema_->field(c)->name();
    const auto& arr = static_cast<const arrow::BinaryArray&>(col);
    std::shared_ptr<arrow::Array> out;
    if (k == Kind::kString || k == Kind::kBinary) {  // the read values as they are (no copy)
      if (k == Kind::kString)
        for (int64_t i = 0; i < arr.length(); ++i)
          if (!arr.IsNull(i) && !arrow::util::ValidateUTF8(arr.GetView(i)))
            return NotUtf8(f, row0_ + i + 1, name, arr.GetView(i));
      auto data = arr.data()->Copy();
      data->type = KindType(k);
      out = arrow::MakeArray(data);
    } else {
      OCTAVO_ASSIGN_OR_RETURN(out, ConvertText(f, k, name, arr));
    }
    const auto& want = schema_->field(c)->type();
    if (!out->type()->Equals(*want)) {  // an existing table's narrower / other layout
      auto cast = arrow::compute::Cast(*out, want, arrow::compute::CastOptions::Safe());
      if (!cast.ok())
        return Status::TypeError(f.path, " rows ", row0_ + 1, "-", row0_ + arr.length(), " column '", name,
                                 "': values do not fit the table's ", want->ToString(), " (",
                                 cast.status().message(), ")");
      out = *cast;
    }
    return out;
  }

  // Numbers, booleans, date-times: parsed from the text (which holds only ASCII when it parses).
  Result<std::shared_ptr<arrow::Array>> ConvertText(const File& f, Kind k, const std::string& name,
                                                    const arrow::BinaryArray& arr) {
    std::unique_ptr<arrow::ArrayBuilder> b;
    OCTAVO_ARROW_ASSIGN_OR_RETURN(b, arrow::MakeBuilder(KindType(k)));
    OCTAVO_RETURN_NOT_ARROW_OK(b->Reserve(arr.length()));
    for (int64_t i = 0; i < arr.length(); ++i) {
      if (arr.IsNull(i)) {
        OCTAVO_RETURN_NOT_ARROW_OK(b->AppendNull());
        continue;
      }
      const std::string_view v = arr.GetView(i);
      const char* why = "";
      OCTAVO_ASSIGN_OR_RETURN(bool ok, infer::AppendText(k, v, b.get(), &why));
      if (!ok)
        return Status::TypeError(f.path, " row ", row0_ + i + 1, " column '", name, "': value ", infer::Quoted(v),
                                 " ", why, " ", KindType(k)->ToString());
    }
    std::shared_ptr<arrow::Array> out;
    OCTAVO_RETURN_NOT_ARROW_OK(b->Finish(&out));
    return out;
  }

  const std::vector<File>& files_;
  const ImportOptions& opt_;
  const std::vector<std::string>& raw_;
  std::vector<Kind> kinds_;
  std::shared_ptr<arrow::Schema> schema_;
  size_t file_ = 0;
  std::optional<Open> open_;
  int64_t row0_ = 0;  // rows of the current file before this block
  int64_t rows_ = 0;
};

}  // namespace

Result<ImportReport> ImportCsv(const std::vector<std::string>& paths, Bundle& bundle, const std::string& dest_in,
                               const ImportOptions& options) {
  arrow::util::InitializeUTF8();
  if (paths.empty()) return Status::Invalid("import_csv: no file given");
  if (options.block_size <= 0) return Status::Invalid("import_csv: block_size must be positive");
  if (options.delimiter == '"' || options.delimiter == '\n' || options.delimiter == '\r')
    return Status::Invalid("import_csv: the delimiter cannot be a quote or a line break");
  OCTAVO_ASSIGN_OR_RETURN(const std::string dest, NormalizePath(dest_in));
  if (dest == "/") return Status::Invalid("import_csv: give the table's path (e.g. /data), not the root group");

  // Every file must exist (and not be empty) before anything is read or written.
  std::vector<File> files;
  std::set<std::string> seen;
  for (const auto& p : paths) {
    std::error_code ec;
    if (!fs::exists(p, ec)) return Status::NotFound("no such file: '", p, "'");
    if (fs::is_directory(p, ec)) return Status::Invalid("'", p, "' is a directory, not a CSV file");
    std::string canonical = fs::canonical(p, ec).string();
    if (ec) canonical = fs::absolute(p).string();
    if (!seen.insert(canonical).second)
      return Status::Invalid("import_csv: '", p, "' is given twice; its rows would be imported twice");
    if (fs::file_size(p, ec) == 0 && !ec)
      return Status::Invalid(p, ": the file is empty (no header line, no rows)");
    files.push_back({p, EndsWithGz(p) || StartsWithGzipMagic(p)});
  }

  ImportReport report;
  report.dest = dest;
  for (const auto& f : files) report.files.push_back(f.path);

  // Columns: the first file's header; the others must agree.
  OCTAVO_ASSIGN_OR_RETURN(std::vector<std::string> raw, RawNames(files[0], options));
  for (size_t i = 1; i < files.size(); ++i) {
    OCTAVO_ASSIGN_OR_RETURN(auto other, RawNames(files[i], options));
    if (other != raw)
      return Status::TypeError(files[i].path, " has columns (", JoinNames(other), ") but ", files[0].path, " has (",
                               JoinNames(raw), "); the files must agree to go into one table ", dest);
  }
  const std::vector<std::string> names = UniqueNames(raw, files[0].path, &report.notes);

  // An existing table fixes the types of its columns.
  std::shared_ptr<Table> existing;
  std::shared_ptr<arrow::Schema> table_schema;
  if (bundle.Exists(dest)) {
    OCTAVO_ASSIGN_OR_RETURN(auto node, bundle.GetNode(dest));
    if (node.kind != NodeKind::kTable)
      return Status::TypeError("cannot import into ", dest, ": it is ", NodeKindWithArticle(node.kind), ", not a table");
    if (!options.append)
      return Status::AlreadyExists("table ", dest, " already exists; append to it (--append, append=True)");
    OCTAVO_ASSIGN_OR_RETURN(existing, bundle.OpenTable(dest));
    OCTAVO_ASSIGN_OR_RETURN(table_schema, existing->schema());
  }
  std::vector<std::optional<Kind>> fixed(names.size());
  bool all_fixed = true;
  for (size_t c = 0; c < names.size(); ++c) {
    auto tf = table_schema ? table_schema->GetFieldByName(names[c]) : nullptr;
    if (tf) {
      OCTAVO_ASSIGN_OR_RETURN(fixed[c], infer::KindForTableType(*tf->type(), dest, names[c], "CSV"));
    } else {
      all_fixed = false;
    }
  }

  // Pass 1: statistics over every file (skipped when the table fixes every column).
  std::vector<ColStats> stats(names.size());
  for (size_t c = 0; c < names.size(); ++c) stats[c].name = names[c];
  if (!all_fixed)
    for (const auto& f : files) OCTAVO_RETURN_NOT_OK(Gather(f, options, raw, fixed, stats));
  std::vector<Kind> kinds;
  arrow::FieldVector fields;
  for (size_t c = 0; c < names.size(); ++c) {
    if (fixed[c]) {
      kinds.push_back(*fixed[c]);
      fields.push_back(arrow::field(names[c], table_schema->GetFieldByName(names[c])->type()));
      continue;
    }
    infer::DecideOptions d;
    d.dest = dest;
    d.keep_text_timestamps = options.keep_text_timestamps;
    d.fallback = Kind::kString;
    d.big_int_hint = "create the table with that column as string and import with append";
    OCTAVO_ASSIGN_OR_RETURN(Kind k, infer::Decide(stats[c], d, &report.notes));
    kinds.push_back(k);
    fields.push_back(arrow::field(names[c], KindType(k)));
  }
  auto schema = arrow::schema(std::move(fields));
  for (const auto& f : schema->fields()) report.columns.push_back(f->name() + ": " + f->type()->ToString());

  // Pass 2: one bundle transaction.
  auto run = [&]() -> Status {
    auto reader = std::make_shared<CsvReader>(files, options, raw, kinds, schema);
    Status st;
    if (existing) {
      st = existing->Append(std::static_pointer_cast<arrow::RecordBatchReader>(reader));
    } else {
      st = bundle.CreateTable(dest, std::static_pointer_cast<arrow::RecordBatchReader>(reader),
                              options.table_options, true)
               .status();
      report.created = true;
    }
    if (!reader->error().ok()) return reader->error();  // the file's own error, not Arrow's wrapping
    OCTAVO_RETURN_NOT_OK(st);
    report.rows = reader->rows();
    return Status::OK();
  };
  OCTAVO_ASSIGN_OR_RETURN(bool committed, bundle.RunAsOneCommit(run, "import csv " + JoinNames(report.files)));
  if (committed) report.commit = bundle.commit().id;
  return report;
}

}  // namespace octavo::csv
