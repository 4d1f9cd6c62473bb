// Migration of pandas HDF5 files to Parquet files beside them (or into a bundle), in
// parallel, verified, idempotent and crash-safe (temp file + rename). See include/octavo/hdf5.h.
#include <arrow/api.h>
#include <arrow/io/api.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "octavo/bundle.h"
#include "octavo/hdf5.h"
#include "util/arrow_status.h"

namespace octavo::hdf5 {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSourceKey = "octavo.migrated_from";
// Rows per Parquet row group (octavo's export default): verification reads one row group at
// a time, so this also bounds its memory.
constexpr int64_t kRowGroupRows = 128 * 1024;


std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

struct SourceStamp {
  int64_t size = -1;
  int64_t mtime_ns = -1;
};

SourceStamp Stamp(const std::string& path) {
  struct stat st;
  SourceStamp s;
  if (::stat(path.c_str(), &st) == 0) {
    s.size = static_cast<int64_t>(st.st_size);
    s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec;
  }
  return s;
}

std::string StampJson(const std::string& file, const std::string& key, const SourceStamp& s) {
  nlohmann::ordered_json j{{"file", fs::path(file).filename().string()},
                           {"key", key},
                           {"size", s.size},
                           {"mtime_ns", s.mtime_ns},
                           {"verified", true}};
  return j.dump();
}

// True when `out` is newer than the source and its footer records this very source, verified.
bool AlreadyMigrated(const std::string& out, const std::string& file, const std::string& key, const SourceStamp& src) {
  SourceStamp o = Stamp(out);
  if (o.size < 0 || o.mtime_ns < src.mtime_ns) return false;
  try {
    auto in = arrow::io::ReadableFile::Open(out);
    if (!in.ok()) return false;
    auto md = parquet::ReadMetaData(*in);
    auto kv = md->key_value_metadata();
    if (!kv) return false;
    auto v = kv->Get(kSourceKey);
    if (!v.ok()) return false;
    return *v == StampJson(file, key, src);
  } catch (...) {
    return false;
  }
}

Status WriteParquetAtomic(const std::shared_ptr<arrow::Table>& table, const std::string& out,
                          const std::string& compression, bool durable) {
  std::string tmp = out + ".octavo-tmp-" + std::to_string(::getpid()) + "-" +
                    std::to_string(std::hash<std::thread::id>()(std::this_thread::get_id()) % 100000);
  auto fail = [&](const std::string& msg) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return Status::IOError("writing ", out, ": ", msg);
  };
  auto codec = arrow::util::Codec::GetCompressionType(compression == "none" ? "uncompressed" : compression);
  if (!codec.ok()) return Status::Invalid("unknown Parquet compression '", compression, "'");
  try {
    auto sink = arrow::io::FileOutputStream::Open(tmp);
    if (!sink.ok()) return fail(sink.status().message());
    parquet::WriterProperties::Builder b;
    b.compression(*codec);
    if (*codec == arrow::Compression::ZSTD) b.compression_level(1);
    // Dictionary encoding of measurements (floats) almost never pays and costs ~2x the
    // write time (it is tried, then abandoned, page by page): keep it for the rest.
    for (const auto& f : table->schema()->fields())
      if (arrow::is_floating(f->type()->id())) b.disable_dictionary(f->name());
    auto props = b.build();
    auto aprops = parquet::ArrowWriterProperties::Builder().store_schema()->build();
    arrow::Status st = parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), *sink,
                                                  kRowGroupRows, props, aprops);
    if (st.ok()) st = (*sink)->Close();
    if (!st.ok()) return fail(st.message());
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  // A process crash can never leave a half file (rename is atomic). Against power loss the
  // data is fsync'ed only when the source is about to be deleted (--remove-h5): otherwise
  // the HDF5 file is still there and an unverifiable output is simply converted again.
  if (durable) {
    int fd = ::open(tmp.c_str(), O_RDONLY);
    if (fd < 0 || ::fsync(fd) != 0) {
      if (fd >= 0) ::close(fd);
      return fail("fsync failed");
    }
    ::close(fd);
  }
  std::error_code ec;
  fs::rename(tmp, out, ec);
  if (ec) return fail(ec.message());
  return Status::OK();
}

// Re-read `out` row group by row group (memory: one row group) and compare every value with
// the table read from the HDF5 file (NaN equal to NaN).
Status VerifyParquet(const std::string& out, const arrow::Table& expected) {
  try {
    auto in = arrow::io::ReadableFile::Open(out);
    if (!in.ok()) return FromArrow(in.status());
    auto reader = parquet::arrow::OpenFile(*in, arrow::default_memory_pool());
    if (!reader.ok()) return FromArrow(reader.status());
    auto& r = *reader;
    const auto md = r->parquet_reader()->metadata();
    if (md->num_rows() != expected.num_rows())
      return Status::Corruption(out, ": read back ", md->num_rows(), " rows, the HDF5 data has ", expected.num_rows());
    auto opts = arrow::EqualOptions::Defaults().nans_equal(true);
    int64_t offset = 0;
    for (int g = 0; g < md->num_row_groups(); ++g) {
      auto part = r->ReadRowGroup(g);
      if (!part.ok()) return FromArrow(part.status());
      const arrow::Table& back = **part;
      if (back.num_columns() != expected.num_columns())
        return Status::Corruption(out, ": read back ", back.num_columns(), " columns, the HDF5 data has ",
                                  expected.num_columns());
      auto want = expected.Slice(offset, back.num_rows());
      for (int i = 0; i < want->num_columns(); ++i) {
        if (back.field(i)->name() != want->field(i)->name())
          return Status::Corruption(out, ": column ", i, " is '", back.field(i)->name(), "', expected '",
                                    want->field(i)->name(), "'");
        if (!back.column(i)->Equals(*want->column(i), opts))
          return Status::Corruption(out, ": column '", want->field(i)->name(),
                                    "' differs from the HDF5 data after the round trip (rows ", offset, "..",
                                    offset + back.num_rows(), ")");
      }
      offset += back.num_rows();
    }
    if (offset != expected.num_rows()) return Status::Corruption(out, ": row groups hold ", offset, " rows");
  } catch (const std::exception& e) {
    return Status::IOError(out, ": ", e.what());
  }
  return Status::OK();
}

}  // namespace

bool IsHdf5Path(const std::string& path) {
  std::string ext = Lower(fs::path(path).extension().string());
  return ext == ".h5" || ext == ".hdf5" || ext == ".hdf";
}

std::string ParquetPathFor(const std::string& h5_path, const std::string& key, int num_keys) {
  fs::path p(h5_path);
  std::string stem = (p.parent_path() / p.stem()).string();
  if (num_keys <= 1) return stem + ".parquet";
  std::string k = key;
  while (!k.empty() && k.front() == '/') k.erase(k.begin());
  std::replace(k.begin(), k.end(), '/', '.');
  return stem + "." + k + ".parquet";
}

Result<std::vector<std::string>> FindHdf5Files(const std::string& root, bool recursive) {
  std::error_code ec;
  if (!fs::exists(root, ec)) return Status::NotFound("no such file or directory: ", root);
  std::vector<std::string> out;
  if (!fs::is_directory(root, ec)) {
    out.push_back(root);
    return out;
  }
  auto visit = [&](const fs::directory_entry& e) {
    std::error_code ec2;
    if (e.is_regular_file(ec2) && IsHdf5Path(e.path().string())) out.push_back(e.path().string());
  };
  if (recursive) {
    for (auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      visit(*it);
  } else {
    for (auto it = fs::directory_iterator(root, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) visit(*it);
  }
  if (ec) return Status::IOError("cannot list ", root, ": ", ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

MigrateFileResult MigrateFileToParquet(const std::string& file, const MigrateOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  MigrateFileResult r;
  r.file = file;
  auto done = [&](const std::string& status, const std::string& msg = "") {
    r.status = status;
    r.message = msg;
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return r;
  };
  auto objs = ListObjects(file);
  if (!objs.ok()) return done("failed", objs.status().message());
  std::string bad;
  for (const auto& o : *objs) {
    if (o.kind == "pandas" && o.supported) r.keys.push_back(o.key);
    else bad += (bad.empty() ? "" : ", ") + o.key + " (" + (o.note.empty() ? o.kind : o.note) + ")";
  }
  if (!bad.empty())
    return done("failed", file + ": objects Parquet files beside it cannot hold: " + bad +
                              "; import the file into a bundle instead (octavo import FILE BUNDLE)");
  if (r.keys.empty()) return done("failed", file + ": no pandas object in the file");
  const int nk = static_cast<int>(r.keys.size());
  for (const auto& k : r.keys) r.outputs.push_back(ParquetPathFor(file, k, nk));
  const SourceStamp src = Stamp(file);
  if (!options.overwrite) {
    bool all = true;
    for (int i = 0; i < nk && all; ++i) all = AlreadyMigrated(r.outputs[i], file, r.keys[i], src);
    if (all) {
      if (options.remove_h5 && !options.dry_run) {
        std::error_code ec;
        r.removed = fs::remove(file, ec);
      }
      return done("skipped", "verified Parquet output is newer than the HDF5 file");
    }
  }
  if (options.dry_run) return done("planned");
  for (int i = 0; i < nk; ++i) {
    auto t = ReadPandas(file, r.keys[i]);
    if (!t.ok()) return done("failed", t.status().message());
    std::shared_ptr<arrow::Table> table = *t;
    auto meta = table->schema()->metadata() ? table->schema()->metadata()->Copy()
                                            : std::make_shared<arrow::KeyValueMetadata>();
    (void)meta->Delete("octavo.h5");
    (void)meta->Set(kSourceKey, StampJson(file, r.keys[i], src));
    table = table->ReplaceSchemaMetadata(meta);
    Status st = WriteParquetAtomic(table, r.outputs[i], options.compression, options.remove_h5);
    if (st.ok()) st = VerifyParquet(r.outputs[i], *table);
    if (!st.ok()) {
      std::error_code ec;
      fs::remove(r.outputs[i], ec);  // never leave an unverified output that looks migrated
      return done("failed", st.message());
    }
    r.rows += table->num_rows();
  }
  if (Stamp(file).mtime_ns != src.mtime_ns) return done("failed", file + " changed while it was being migrated");
  if (options.remove_h5) {
    std::error_code ec;
    // the renames themselves durable before the source goes
    int dfd = ::open(fs::path(r.outputs[0]).parent_path().empty() ? "." : fs::path(r.outputs[0]).parent_path().c_str(),
                     O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
    r.removed = fs::remove(file, ec);
    if (ec) return done("failed", "converted and verified, but cannot remove " + file + ": " + ec.message());
  }
  return done("converted");
}

namespace {

std::string DestFor(const std::string& file, const std::string& root) {
  std::error_code ec;
  fs::path rel = fs::relative(fs::path(file), root.empty() ? fs::path(file).parent_path() : fs::path(root), ec);
  if (ec || rel.empty() || rel.string().rfind("..", 0) == 0) rel = fs::path(file).filename();
  rel.replace_extension();
  std::string s = "/" + rel.generic_string();
  return s;
}

}  // namespace

Result<MigrateSummary> Migrate(const std::vector<std::string>& files, const MigrateOptions& options) {
  auto t0 = std::chrono::steady_clock::now();
  MigrateSummary sum;
  sum.files.resize(files.size());
  std::shared_ptr<Bundle> bundle;
  if (!options.into.empty() && !options.dry_run) {
    OCTAVO_ASSIGN_OR_RETURN(bundle, Bundle::Open(options.into, OpenMode::kAppend));
  }
  std::mutex bundle_mu, out_mu;
  std::atomic<size_t> next{0};
  std::atomic<int> finished{0};
  const std::string root = options.root;
  auto work = [&]() {
    for (size_t i = next++; i < files.size(); i = next++) {
      const std::string& f = files[i];
      MigrateFileResult r;
      if (options.into.empty()) {
        r = MigrateFileToParquet(f, options);
      } else {
        auto t1 = std::chrono::steady_clock::now();
        r.file = f;
        std::string dest = DestFor(f, root);
        r.outputs.push_back(options.into + ":" + dest);
        if (options.dry_run) {
          auto rep = InspectFile(f);
          r.status = rep.ok() ? "planned" : "failed";
          if (!rep.ok()) r.message = rep.status().message();
        } else {
          std::lock_guard<std::mutex> lock(bundle_mu);
          if (bundle->Exists(dest)) {
            r.status = "skipped";
            r.message = dest + " already exists in the bundle";
          } else {
            auto rep = ImportFile(f, *bundle, dest, ImportOptions{});
            if (!rep.ok()) {
              r.status = "failed";
              r.message = rep.status().message();
            } else {
              r.status = "converted";
              r.rows = rep->rows;
              if (rep->num_unsupported() > 0) {
                std::string why;
                for (auto& it : rep->items)
                  if (!it.supported) why += (why.empty() ? "" : "; ") + it.h5_path + ": " + it.reason;
                r.message = "not imported: " + why;
              } else if (options.remove_h5) {
                std::error_code ec;
                r.removed = fs::remove(f, ec);
              }
            }
          }
        }
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
      }
      int k = ++finished;
      if (options.progress) {
        std::lock_guard<std::mutex> lock(out_mu);
        std::cerr << "[" << k << "/" << files.size() << "] " << r.status << " " << f;
        if (r.rows) std::cerr << " (" << r.rows << " rows)";
        if (!r.message.empty() && r.status == "failed") std::cerr << ": " << r.message;
        std::cerr << std::endl;
      }
      sum.files[i] = std::move(r);
    }
  };
  int jobs = std::max(1, std::min<int>(options.jobs, static_cast<int>(std::max<size_t>(files.size(), 1))));
  std::vector<std::thread> threads;
  for (int j = 1; j < jobs; ++j) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (bundle) OCTAVO_RETURN_NOT_OK(bundle->Close());
  for (const auto& r : sum.files) {
    if (r.status == "converted") ++sum.converted;
    else if (r.status == "skipped") ++sum.skipped;
    else if (r.status == "planned") ++sum.planned;
    else ++sum.failed;
  }
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace octavo::hdf5
