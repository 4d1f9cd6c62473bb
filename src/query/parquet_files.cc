// ScanParquetFiles: octavo conditions over plain Parquet files (octavo/query.h). The same
// compiler as Table::Where; Arrow Dataset does the reading, its row-group pruning uses the
// compiled expression against the footer statistics.
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/dataset/api.h>
#include <arrow/filesystem/localfs.h>

#include <algorithm>
#include <filesystem>

#include "octavo/arrow_status.h"
#include "octavo/query.h"
#include "query/condition.h"
#include "util/threads.h"

namespace octavo {
namespace ds = arrow::dataset;
namespace fs = std::filesystem;

namespace {

std::string Joined(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < 40; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > 40) out += ", ... (" + std::to_string(names.size()) + " in all)";
  return out;
}

// A directory's *.parquet files, recursively and in name order, skipping names that start
// with '.' or '_' (hidden files, _delta_log/, Spark's _temporary/); symlinks are not followed
// into directories.
Result<std::vector<std::string>> ParquetFilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  if (ec) return Status::IOError("cannot list '", dir, "': ", ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) return Status::IOError("cannot list '", dir, "': ", ec.message());
    const std::string name = it->path().filename().string();
    if (!name.empty() && (name[0] == '.' || name[0] == '_')) {
      if (it->is_directory(ec)) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file(ec) && it->path().extension() == ".parquet") out.push_back(it->path().string());
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) return Status::NotFound("no *.parquet files under '", dir, "'");
  return out;
}

Result<std::shared_ptr<ds::DatasetFactory>> MakeFactory(const std::vector<std::string>& paths,
                                                        std::vector<std::string>* out_files) {
  std::vector<std::string>& files = *out_files;
  std::error_code ec;
  if (paths.size() == 1 && fs::is_directory(paths[0], ec)) {
    OCTAVO_ASSIGN_OR_RETURN(files, ParquetFilesUnder(paths[0]));
  } else {
    for (const auto& p : paths) {
      if (!fs::is_regular_file(p, ec))
        return Status::NotFound("Parquet file '", p, "' does not exist or is not a regular file",
                                paths.size() > 1 ? " (a directory is accepted only as the one path)" : "");
      files.push_back(p);
    }
  }
  for (auto& f : files) f = fs::absolute(f).string();
  OCTAVO_ARROW_ASSIGN_OR_RETURN(
      auto f, ds::FileSystemDatasetFactory::Make(std::make_shared<arrow::fs::LocalFileSystem>(), files,
                                                 std::make_shared<ds::ParquetFileFormat>(), {}));
  return f;
}

// The scanner's errors as octavo errors naming the files (a damaged file fails mid-stream).
class NamedErrorsReader final : public arrow::RecordBatchReader {
 public:
  NamedErrorsReader(std::shared_ptr<arrow::RecordBatchReader> in, std::string what)
      : in_(std::move(in)), what_(std::move(what)) {}
  std::shared_ptr<arrow::Schema> schema() const override { return in_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    arrow::Status st = in_->ReadNext(out);
    if (st.ok()) return st;
    return ToArrow(FromArrow(st).WithContext("reading " + what_));
  }
  arrow::Status Close() override { return in_->Close(); }

 private:
  std::shared_ptr<arrow::RecordBatchReader> in_;
  std::string what_;
};

}  // namespace

Result<std::shared_ptr<arrow::RecordBatchReader>> ScanParquetFiles(const std::vector<std::string>& paths,
                                                                   const std::string& condition,
                                                                   const WhereOptions& options) {
  if (paths.empty()) return Status::Invalid("no Parquet files given");
  if (options.start != 0 || options.stop != -1)
    return Status::Invalid("start/stop are row numbers of a bundle table; a scan of Parquet files reads them all");
  if (options.batch_size < 0) return Status::Invalid("batch_size must be >= 0, got ", options.batch_size);
  const std::string what = paths.size() == 1 ? "'" + paths[0] + "'" : std::to_string(paths.size()) + " Parquet files";
  std::vector<std::string> files;
  OCTAVO_ASSIGN_OR_RETURN(auto factory, MakeFactory(paths, &files));

  // Every file's schema, not the first one's: a file whose column types differ would
  // otherwise be cast or fail half-way through the scan.
  ds::InspectOptions inspect;
  inspect.fragments = ds::InspectOptions::kInspectAllFragments;
  auto schemas = factory->InspectSchemas(inspect);
  if (!schemas.ok()) return FromArrow(schemas.status()).WithContext("reading the footers of " + what);
  // One schema per file, in file order, then the partitioning's (none here).
  if (schemas->size() != files.size() + 1)
    return Status::Invalid("internal: ", schemas->size(), " schemas for ", files.size(), " Parquet files");
  const auto& schema = (*schemas)[0];
  for (size_t i = 1; i < files.size(); ++i)
    if (!(*schemas)[i]->Equals(*schema, /*check_metadata=*/false))
      return Status::TypeError("the Parquet files of ", what, " do not all have the same columns and types: '",
                               files[0], "' has [", schema->ToString(), "], '", files[i], "' has [",
                               (*schemas)[i]->ToString(), "]; scan them separately or rewrite them with one schema");
  ds::FinishOptions finish;
  finish.schema = schema;
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto dataset, factory->Finish(finish));

  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto builder, dataset->NewScan());
  if (!options.columns.empty()) {
    for (const auto& c : options.columns)
      if (schema->GetFieldIndex(c) < 0)
        return Status::NotFound("column '", c, "' is not in ", what, " (columns: ", Joined(schema->field_names()), ")");
    OCTAVO_RETURN_NOT_ARROW_OK(builder->Project(options.columns));
  }
  if (!condition.empty()) {
    OCTAVO_ASSIGN_OR_RETURN(auto cond, query::Compile(condition, *schema, options.condvars, what));
    OCTAVO_RETURN_NOT_ARROW_OK(builder->Filter(cond.filter));
  }
  if (options.batch_size > 0) OCTAVO_RETURN_NOT_ARROW_OK(builder->BatchSize(options.batch_size));
  OCTAVO_RETURN_NOT_ARROW_OK(builder->UseThreads(options.use_threads && ArrowMayUseThreads()));
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto scanner, builder->Finish());
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto reader, scanner->ToRecordBatchReader());
  return std::shared_ptr<arrow::RecordBatchReader>(std::make_shared<NamedErrorsReader>(std::move(reader), what));
}

}  // namespace octavo
