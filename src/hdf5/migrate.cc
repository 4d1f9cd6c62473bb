// The migration worker (octavo-h5worker migrate): converts pandas HDF5 files to Parquet
// files beside them, verified and crash-safe (temp file + rename). The parent side (the
// process pool, --into, file discovery and naming) is migrate_client.cc; see
// include/octavo/hdf5.h.
#include <arrow/api.h>
#include <arrow/io/api.h>
#include <arrow/util/utf8.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/column_reader.h>
#include <parquet/file_reader.h>
#include <parquet/properties.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <chrono>
#include <functional>
#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "octavo/bundle.h"
#include "octavo/env.h"
#include "octavo/hdf5.h"
#include "hdf5/h5util.h"
#include "hdf5/worker_protocol.h"
#include "table/parquet_io.h"
#include "util/threads.h"
#include "octavo/arrow_status.h"

namespace octavo::hdf5 {

namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr const char* kSourceKey = "octavo.migrated_from";
// Rows per Parquet row group (octavo's export default): verification reads one row group at
// a time, so this also bounds its memory.
constexpr int64_t kRowGroupRows = 128 * 1024;


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
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);  // a non-UTF-8 file name
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

// Before --remove-h5 deletes a source whose output an earlier run made: that output still
// reads back with Arrow's own reader as valid data (UTF-8, offsets), row group by row group.
// (Earlier versions wrote surrogate-escaped pandas strings as invalid UTF-8.)
bool OutputReadsBackValid(const std::string& out) {
  try {
    auto in = arrow::io::ReadableFile::Open(out);
    if (!in.ok()) return false;
    parquet::arrow::FileReaderBuilder builder;
    if (!builder.Open(*in).ok()) return false;
    parquet::ArrowReaderProperties aprops;
    aprops.set_use_threads(false);
    auto reader = builder.memory_pool(arrow::default_memory_pool())->properties(aprops)->Build();
    if (!reader.ok()) return false;
    for (int g = 0; g < (*reader)->num_row_groups(); ++g) {
      auto t = (*reader)->ReadRowGroup(g);
      if (!t.ok() || !(*t)->ValidateFull().ok()) return false;
    }
    return true;
  } catch (...) {
    return false;
  }
}

std::string TempPathFor(const std::string& out) {
  static std::atomic<int> seq{0};
  return out + ".octavo-tmp-" + std::to_string(::getpid()) + "-" + std::to_string(seq++);
}

// A 4 KiB-aligned buffer (O_DIRECT needs aligned memory, offsets and sizes).
struct AlignedBuffer {
  static constexpr size_t kAlign = 4096;
  char* data = nullptr;
  size_t capacity = 0;
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data); }
  bool Reserve(size_t n) {
    n = (n + kAlign - 1) / kAlign * kAlign;
    if (n <= capacity) return true;
    void* p = nullptr;
    if (::posix_memalign(&p, kAlign, n) != 0) return false;
    std::free(data);
    data = static_cast<char*>(p);
    capacity = n;
    return true;
  }
};

constexpr size_t kStageBytes = 8 << 20;

// Stage buffers go from the converting thread to the finisher (which writes them) and back:
// a few per process, allocated once (no page faults after the first files).
struct StagePool {
  std::mutex mu;
  std::vector<std::unique_ptr<AlignedBuffer>> free_list;
};
StagePool& Stages() {
  static StagePool pool;
  return pool;
}

// Parquet bytes for a file opened with O_DIRECT, gathered in an aligned stage buffer: the
// data goes from this buffer to the disk by DMA. (A buffered write() copies it into fresh
// page-cache pages instead: a third of the CPU time per file on the benchmark VM, where first
// touches of guest memory are slow.) A file that fits the stage stays in memory after
// Close() (`in_memory()`): it is verified from those exact bytes and written by the
// finisher thread (WriteStaged). A larger one is written in stage-sized pieces as it comes.
class DirectFileSink final : public arrow::io::OutputStream {
 public:
  DirectFileSink(Env* env, int fd, std::string path, AlignedBuffer* stage)
      : env_(env), fd_(fd), path_(std::move(path)), stage_(stage) {}
  arrow::Status Write(const void* data, int64_t nbytes) override {
    const char* p = static_cast<const char*>(data);
    while (nbytes > 0) {
      if (used_ == stage_->capacity) ARROW_RETURN_NOT_OK(FlushStage(used_));
      size_t take = std::min(static_cast<size_t>(nbytes), stage_->capacity - used_);
      std::memcpy(stage_->data + used_, p, take);
      used_ += take;
      p += take;
      nbytes -= static_cast<int64_t>(take);
    }
    return arrow::Status::OK();
  }
  arrow::Result<int64_t> Tell() const override { return static_cast<int64_t>(pos_ + used_); }
  bool closed() const override { return closed_; }
  arrow::Status Close() override {
    if (closed_) return arrow::Status::OK();
    closed_ = true;
    if (pos_ == 0) return arrow::Status::OK();  // all in the stage: in_memory()
    return WriteTail();
  }
  bool in_memory() const { return pos_ == 0; }
  size_t size() const { return pos_ + used_; }
  // The staged bytes (padded to 4 KiB) to the file, truncated to the real size.
  arrow::Status WriteTail() {
    if (used_ == 0) return arrow::Status::OK();
    const size_t real = pos_ + used_;
    const size_t padded = (used_ + AlignedBuffer::kAlign - 1) / AlignedBuffer::kAlign * AlignedBuffer::kAlign;
    std::memset(stage_->data + used_, 0, padded - used_);
    ARROW_RETURN_NOT_OK(FlushStage(padded));
    if (::ftruncate(fd_, static_cast<off_t>(real)) != 0) return arrow::Status::IOError(std::strerror(errno));
    pos_ = real;
    return arrow::Status::OK();
  }

 private:
  arrow::Status FlushStage(size_t n) {
    Status st = env_->WriteAt(fd_, path_, stage_->data, n, static_cast<int64_t>(pos_));
    if (!st.ok()) return arrow::Status::IOError(st.message());
    pos_ += n;
    used_ = 0;
    return arrow::Status::OK();
  }
  Env* env_;
  int fd_;
  std::string path_;
  AlignedBuffer* stage_;
  size_t used_ = 0, pos_ = 0;
  bool closed_ = false;
};

// One Parquet output on its way: written (or staged), then verified, then made durable.
struct Output {
  std::string tmp;
  int fd = -1;                                 // O_DIRECT file, open until written + synced
  std::unique_ptr<AlignedBuffer> stage;        // its bytes, when they are still only here
  std::unique_ptr<DirectFileSink> sink;
  Output() = default;
  Output(Output&& x) noexcept
      : tmp(std::move(x.tmp)), fd(std::exchange(x.fd, -1)), stage(std::move(x.stage)), sink(std::move(x.sink)) {
    x.tmp.clear();
  }
  Output& operator=(Output&& x) noexcept {
    if (this != &x) {
      Discard();
      tmp = std::move(x.tmp);
      x.tmp.clear();
      fd = std::exchange(x.fd, -1);
      stage = std::move(x.stage);
      sink = std::move(x.sink);
    }
    return *this;
  }
  ~Output() { Discard(); }
  bool staged() const { return sink && sink->in_memory(); }
  // Close, delete the temp file, return the stage buffer.
  void Discard() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    if (!tmp.empty()) {
      std::error_code ec;
      fs::remove(tmp, ec);
      tmp.clear();
    }
    ReleaseStage();
  }
  void ReleaseStage() {
    sink.reset();
    if (stage) {
      auto& pool = Stages();
      std::lock_guard<std::mutex> lock(pool.mu);
      if (pool.free_list.size() < 8) pool.free_list.push_back(std::move(stage));
      stage.reset();
    }
  }
};

std::unique_ptr<AlignedBuffer> NewStage() {
  auto& pool = Stages();
  {
    std::lock_guard<std::mutex> lock(pool.mu);
    if (!pool.free_list.empty()) {
      auto b = std::move(pool.free_list.back());
      pool.free_list.pop_back();
      return b;
    }
  }
  auto b = std::make_unique<AlignedBuffer>();
  if (!b->Reserve(kStageBytes)) return nullptr;
  return b;
}

// Write `table` as Parquet to o->tmp: with O_DIRECT where the file system allows it (a file
// that fits the stage is only staged here: the finisher writes it), otherwise buffered, its
// write-back started at once (sync_file_range) so the later fdatasync mostly finds it done.
Status WriteParquetFile(Env* env, const std::shared_ptr<arrow::Table>& table, Output* o, const std::string& out,
                        const std::string& compression, bool buffered) {
  auto codec = arrow::util::Codec::GetCompressionType(compression == "none" ? "uncompressed" : compression);
  if (!codec.ok()) return Status::Invalid("unknown Parquet compression '", compression, "'");
  auto fail = [&](const std::string& msg) { return Status::IOError("writing ", out, ": ", msg); };
  parquet::WriterProperties::Builder b;
  b.compression(*codec);
  if (*codec == arrow::Compression::ZSTD) b.compression_level(1);
  // Dictionary encoding of measurements (floats) almost never pays and costs ~2x the
  // write time (it is tried, then abandoned, page by page): keep it for the rest.
  for (const auto& f : table->schema()->fields())
    if (arrow::is_floating(f->type()->id())) b.disable_dictionary(f->name());
  // Noise-like measurements (random-looking float coordinates) do not compress: store them
  // raw rather than run the codec on write and on verify for nothing (snappy gives up on
  // random bytes quickly, so it saves little there; slower codecs would cost more).
  for (const auto& name : IncompressibleColumns(*table, compression, 1024))
    b.compression(name, arrow::Compression::UNCOMPRESSED);
  auto props = b.build();
  auto aprops = parquet::ArrowWriterProperties::Builder().store_schema()->build();
  int open_errno = 0;
  // buffered (--buffered-io): plain buffered writes (a file system whose O_DIRECT is slow)
  if (!buffered) o->stage = NewStage();
  if (o->stage) {
    o->fd = ::open(o->tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_DIRECT, 0666);
    if (o->fd < 0) open_errno = errno;
  }
  if (o->fd >= 0) {
    arrow::Status st;
    try {
      o->sink = std::make_unique<DirectFileSink>(env, o->fd, o->tmp, o->stage.get());
      // the writer takes a shared_ptr: hand it a non-owning one (o->sink outlives it)
      std::shared_ptr<arrow::io::OutputStream> sink(o->sink.get(), [](arrow::io::OutputStream*) {});
      st = parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink, kRowGroupRows, props, aprops);
      if (st.ok()) st = o->sink->Close();
    } catch (const std::exception& e) {
      st = arrow::Status::IOError(e.what());
    }
    if (st.ok()) {
      if (!o->staged()) o->ReleaseStage();
      return Status::OK();
    }
    if (st.message() != std::strerror(EINVAL)) return fail(st.message());
    // the file system refused an O_DIRECT write: buffered below
    ::close(o->fd);
    o->fd = -1;
    o->ReleaseStage();
    std::error_code ec;
    fs::remove(o->tmp, ec);
  } else {
    o->ReleaseStage();
    if (open_errno != 0 && open_errno != EINVAL && open_errno != ENOTSUP && open_errno != EOPNOTSUPP)
      return fail(std::strerror(open_errno));
  }
  try {
    auto file = arrow::io::FileOutputStream::Open(o->tmp);
    if (!file.ok()) return fail(file.status().message());
    const int bfd = (*file)->file_descriptor();
    auto sink = arrow::io::BufferedOutputStream::Create(1 << 20, arrow::default_memory_pool(), *file);
    if (!sink.ok()) return fail(sink.status().message());
    arrow::Status st = parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), *sink, kRowGroupRows, props,
                                                  aprops);
    if (st.ok()) st = (*sink)->Flush();
    if (st.ok()) ::sync_file_range(bfd, 0, 0, SYNC_FILE_RANGE_WRITE);
    if (st.ok()) st = (*sink)->Close();
    if (!st.ok()) return fail(st.message());
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  return Status::OK();
}

// Reads a file with O_DIRECT (aligned reads through a per-thread buffer): what the disk
// holds, without filling the page cache (for outputs larger than the stage).
class DirectReadFile final : public arrow::io::RandomAccessFile {
 public:
  static arrow::Result<std::shared_ptr<DirectReadFile>> Open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
    if (fd < 0) return arrow::Status::IOError("cannot open ", path, ": ", std::strerror(errno));
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return arrow::Status::IOError("cannot stat ", path);
    }
    return std::shared_ptr<DirectReadFile>(new DirectReadFile(fd, st.st_size));
  }
  ~DirectReadFile() override { (void)DirectReadFile::Close(); }
  arrow::Status Close() override {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    return arrow::Status::OK();
  }
  bool closed() const override { return fd_ < 0; }
  arrow::Result<int64_t> Tell() const override { return pos_; }
  arrow::Status Seek(int64_t position) override {
    pos_ = position;
    return arrow::Status::OK();
  }
  arrow::Result<int64_t> GetSize() override { return size_; }
  arrow::Result<int64_t> Read(int64_t nbytes, void* out) override {
    ARROW_ASSIGN_OR_RAISE(int64_t n, ReadAt(pos_, nbytes, out));
    pos_ += n;
    return n;
  }
  arrow::Result<std::shared_ptr<arrow::Buffer>> Read(int64_t nbytes) override {
    ARROW_ASSIGN_OR_RAISE(auto buf, ReadAt(pos_, nbytes));
    pos_ += buf->size();
    return buf;
  }
  arrow::Result<int64_t> ReadAt(int64_t position, int64_t nbytes, void* out) override {
    if (position < 0 || nbytes < 0) return arrow::Status::Invalid("bad read range");
    nbytes = std::max<int64_t>(0, std::min(nbytes, size_ - position));
    if (nbytes == 0) return 0;
    constexpr int64_t kA = static_cast<int64_t>(AlignedBuffer::kAlign);
    const int64_t start = position / kA * kA;
    const int64_t end = (position + nbytes + kA - 1) / kA * kA;
    thread_local AlignedBuffer buf;
    if (!buf.Reserve(static_cast<size_t>(end - start))) return arrow::Status::OutOfMemory("read buffer");
    int64_t got = 0;
    while (start + got < position + nbytes) {
      ssize_t r = ::pread(fd_, buf.data + got, static_cast<size_t>(end - start - got), static_cast<off_t>(start + got));
      if (r < 0 && errno == EINTR) continue;
      if (r < 0) return arrow::Status::IOError("read failed: ", std::strerror(errno));
      if (r == 0) break;
      got += r;
    }
    if (start + got < position + nbytes) return arrow::Status::IOError("file is shorter than expected");
    std::memcpy(out, buf.data + (position - start), static_cast<size_t>(nbytes));
    return nbytes;
  }
  arrow::Result<std::shared_ptr<arrow::Buffer>> ReadAt(int64_t position, int64_t nbytes) override {
    nbytes = std::max<int64_t>(0, std::min(nbytes, size_ - position));
    ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::ResizableBuffer> out, arrow::AllocateResizableBuffer(nbytes));
    ARROW_ASSIGN_OR_RAISE(int64_t n, ReadAt(position, nbytes, out->mutable_data()));
    ARROW_RETURN_NOT_OK(out->Resize(n));
    return std::shared_ptr<arrow::Buffer>(std::move(out));
  }

 private:
  DirectReadFile(int fd, int64_t size) : fd_(fd), size_(size) {}
  int fd_;
  int64_t size_;
  int64_t pos_ = 0;
};

// The bytes to verify: a staged file's exact bytes (what the finisher will write by DMA);
// a larger O_DIRECT file read back from the disk with O_DIRECT; otherwise the file itself
// (memory: one row group at a time).
Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenForVerify(const Output& o) {
  if (o.staged()) {
    auto buf = std::make_shared<arrow::Buffer>(reinterpret_cast<const uint8_t*>(o.stage->data),
                                               static_cast<int64_t>(o.sink->size()));
    return std::shared_ptr<arrow::io::RandomAccessFile>(std::make_shared<arrow::io::BufferReader>(buf));
  }
  if (o.fd >= 0) {
    auto direct = DirectReadFile::Open(o.tmp);
    if (direct.ok()) return std::shared_ptr<arrow::io::RandomAccessFile>(*direct);
  }
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto in, arrow::io::ReadableFile::Open(o.tmp));
  return std::shared_ptr<arrow::io::RandomAccessFile>(in);
}

Status SyncFile(const std::string& path, const std::string& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 || ::fdatasync(fd) != 0) {
    int e = errno;
    if (fd >= 0) ::close(fd);
    return Status::IOError("writing ", out, ": fsync failed: ", std::strerror(e));
  }
  ::close(fd);
  return Status::OK();
}

bool FastComparable(const arrow::DataType& t, parquet::Type::type physical) {
  switch (t.id()) {
    case arrow::Type::DOUBLE: return physical == parquet::Type::DOUBLE;
    case arrow::Type::FLOAT: return physical == parquet::Type::FLOAT;
    case arrow::Type::INT32:
    case arrow::Type::UINT32: return physical == parquet::Type::INT32;
    case arrow::Type::INT64:
    case arrow::Type::UINT64: return physical == parquet::Type::INT64;
    case arrow::Type::TIMESTAMP:  // seconds are coerced to milliseconds by the writer
      return physical == parquet::Type::INT64 &&
             static_cast<const arrow::TimestampType&>(t).unit() != arrow::TimeUnit::SECOND;
    default: return false;
  }
}

// Decode rows [offset, offset + n) of a fixed-width column chunk with the low-level
// reader and memcmp them with the expected values. false (no error) when this fast path
// does not apply (nulls) or the bytes differ: the caller then compares at the Arrow level.
template <typename PT>
Result<bool> FastCompare(parquet::ColumnReader* reader, const arrow::ChunkedArray& want, int64_t offset, int64_t n) {
  using T = typename PT::c_type;
  auto* r = static_cast<parquet::TypedColumnReader<PT>*>(reader);
  thread_local std::vector<char> values_buf;
  thread_local std::vector<int16_t> defs;
  if (values_buf.size() < static_cast<size_t>(n) * sizeof(T)) values_buf.resize(static_cast<size_t>(n) * sizeof(T));
  if (defs.size() < static_cast<size_t>(n)) defs.resize(static_cast<size_t>(n));
  T* values = reinterpret_cast<T*>(values_buf.data());
  int64_t got = 0;
  while (got < n && r->HasNext()) {
    int64_t values_read = 0;
    int64_t levels = r->ReadBatch(n - got, defs.data(), nullptr, values + got, &values_read);
    if (levels <= 0) break;
    if (values_read != levels) return false;  // nulls in the file
    got += levels;
  }
  if (got != n || r->HasNext()) return false;
  // walk the expected chunks over [offset, offset + n)
  int64_t pos = 0, done = 0;
  for (const auto& chunk : want.chunks()) {
    const int64_t len = chunk->length();
    if (pos + len <= offset) {
      pos += len;
      continue;
    }
    const int64_t from = std::max<int64_t>(offset - pos, 0);
    const int64_t take = std::min(len - from, n - done);
    if (take <= 0) break;
    if (chunk->null_count() != 0) return false;
    const auto& d = *chunk->data();
    const T* exp = d.GetValues<T>(1) + from;
    if (std::memcmp(exp, values + done, static_cast<size_t>(take) * sizeof(T)) != 0) return false;
    done += take;
    pos += len;
    if (done == n) break;
  }
  return done == n;
}

// A table Parquet can hold faithfully: column names and string values valid UTF-8 (strict:
// no surrogates). pandas stores os.fsdecode() names (lone surrogates) that pickle writes with
// 'surrogatepass'; written as Parquet strings they are invalid UTF-8 that polars and DuckDB
// reject, so such a source is refused (and kept) rather than "verified" and deleted.
Status CheckParquetFaithful(const arrow::Table& t, const std::string& file, const std::string& key) {
  arrow::util::InitializeUTF8();
  for (int i = 0; i < t.num_columns(); ++i) {
    const std::string& name = t.field(i)->name();
    if (!arrow::util::ValidateUTF8(name))
      return Status::NotImplemented(file, ": key '", key, "': column ", i,
                                    " has a name that is not valid UTF-8; rename it in pandas and save again");
    arrow::Status st = t.column(i)->ValidateFull();
    if (!st.ok())
      return Status::NotImplemented(file, ": key '", key, "': column '", name,
                                    "' cannot be stored as Parquet (", st.message(),
                                    "); strings that are not valid UTF-8 (e.g. os.fsdecode surrogate escapes) "
                                    "must be converted to bytes in pandas first; the source is kept");
  }
  return Status::OK();
}

// Re-read `tmp` row group by row group (memory: one row group) and compare every value with
// the table read from the HDF5 file: fixed-width columns without nulls by decoding them
// with the low-level Parquet reader and memcmp against the Arrow buffers in memory (exact,
// bit for bit); anything else (strings, categories, nulls, nested) as Arrow arrays with
// Equals (NaN equal to NaN).
Status VerifyParquet(const Output& o, const std::string& out, const arrow::Table& expected) {
  try {
    auto in = OpenForVerify(o);
    if (!in.ok()) return in.status().WithContext("reading back " + out);
    // synchronous reads on this thread (no pre-buffering on Arrow's I/O threads)
    parquet::arrow::FileReaderBuilder builder;
    OCTAVO_RETURN_NOT_ARROW_OK(builder.Open(*in));
    parquet::ArrowReaderProperties aprops;
    aprops.set_pre_buffer(false);
    aprops.set_use_threads(false);
    auto reader = builder.memory_pool(arrow::default_memory_pool())->properties(aprops)->Build();
    if (!reader.ok()) return FromArrow(reader.status());
    auto& r = *reader;
    parquet::ParquetFileReader* pr = r->parquet_reader();
    const auto md = pr->metadata();
    if (md->num_rows() != expected.num_rows())
      return Status::Corruption(out, ": read back ", md->num_rows(), " rows, the HDF5 data has ", expected.num_rows());
    std::shared_ptr<arrow::Schema> back_schema;
    OCTAVO_RETURN_NOT_ARROW_OK(r->GetSchema(&back_schema));
    if (back_schema->num_fields() != expected.num_columns())
      return Status::Corruption(out, ": read back ", back_schema->num_fields(), " columns, the HDF5 data has ",
                                expected.num_columns());
    for (int i = 0; i < expected.num_columns(); ++i) {
      if (back_schema->field(i)->name() != expected.field(i)->name())
        return Status::Corruption(out, ": column ", i, " is '", back_schema->field(i)->name(), "', expected '",
                                  expected.field(i)->name(), "'");
      if (!back_schema->field(i)->type()->Equals(*expected.field(i)->type()))
        return Status::Corruption(out, ": column '", expected.field(i)->name(), "' reads back as ",
                                  back_schema->field(i)->type()->ToString(), ", expected ",
                                  expected.field(i)->type()->ToString());
    }
    // one Parquet leaf per column: the low-level path applies
    const bool flat = md->schema()->num_columns() == expected.num_columns();
    auto opts = arrow::EqualOptions::Defaults().nans_equal(true);
    int64_t offset = 0;
    for (int g = 0; g < md->num_row_groups(); ++g) {
      const int64_t rows = md->RowGroup(g)->num_rows();
      std::shared_ptr<parquet::RowGroupReader> rg = pr->RowGroup(g);
      std::vector<int> slow;
      for (int i = 0; i < expected.num_columns(); ++i) {
        const auto& want = *expected.column(i);
        bool ok = false;
        if (flat && FastComparable(*want.type(), md->schema()->Column(i)->physical_type())) {
          auto col = rg->Column(i);
          Result<bool> same = false;
          switch (md->schema()->Column(i)->physical_type()) {
            case parquet::Type::DOUBLE: same = FastCompare<parquet::DoubleType>(col.get(), want, offset, rows); break;
            case parquet::Type::FLOAT: same = FastCompare<parquet::FloatType>(col.get(), want, offset, rows); break;
            case parquet::Type::INT32: same = FastCompare<parquet::Int32Type>(col.get(), want, offset, rows); break;
            case parquet::Type::INT64: same = FastCompare<parquet::Int64Type>(col.get(), want, offset, rows); break;
            default: break;
          }
          OCTAVO_RETURN_NOT_OK(same.status());
          ok = *same;
        }
        if (!ok) slow.push_back(i);
      }
      if (!slow.empty()) {
        OCTAVO_ARROW_ASSIGN_OR_RETURN(std::shared_ptr<arrow::Table> back, r->ReadRowGroup(g, slow));
        if (back->num_rows() != rows) return Status::Corruption(out, ": row group ", g, " reads back short");
        // an independent check of what other readers will see (UTF-8, offsets)
        if (auto vst = back->ValidateFull(); !vst.ok())
          return Status::Corruption(out, ": row group ", g, " reads back invalid: ", vst.message());
        for (size_t k = 0; k < slow.size(); ++k) {
          const int i = slow[k];
          if (!back->column(static_cast<int>(k))->Equals(*expected.column(i)->Slice(offset, rows), opts))
            return Status::Corruption(out, ": column '", expected.field(i)->name(),
                                      "' differs from the HDF5 data after the round trip (rows ", offset, "..",
                                      offset + rows, ")");
        }
      }
      offset += rows;
    }
    if (offset != expected.num_rows()) return Status::Corruption(out, ": row groups hold ", offset, " rows");
  } catch (const std::exception& e) {
    return Status::IOError(out, ": ", e.what());
  }
  return Status::OK();
}

// Ask the kernel to start reading a file we will convert soon, so its disk reads overlap the
// conversion of the current one (the inputs of a real migration are rarely in the page cache).
void Prefetch(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
  ::close(fd);
}

// A small input file read whole with O_DIRECT into an aligned buffer, for HDF5 to parse from
// memory (OpenHdf5Image). Why: read through the page cache, a cold 3 MB DeepLabCut file cost
// 1.5-2.5 ms of kernel CPU (readahead, page-cache insertion and reclaim, the copy to user
// space), a fifth of its whole conversion; a direct read is a DMA into our buffer. Larger
// files, and file systems without O_DIRECT (tmpfs), keep the buffered path.
struct FileImage {
  std::unique_ptr<AlignedBuffer> buf;  // reused from file to file
  size_t size = 0;                     // 0: not read, open the file itself
};

constexpr int64_t kImageMaxBytes = 64 << 20;

// Reads `path` into `im` (reusing its buffer); false (nothing read) when the direct path does
// not apply, after asking the kernel to read the file ahead for the buffered path instead.
bool ReadFileImage(const std::string& path, FileImage* im) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  if (fd < 0) {
    Prefetch(path);
    return false;
  }
  struct stat st;
  bool ok = ::fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size <= kImageMaxBytes;
  if (ok && !im->buf) im->buf = std::make_unique<AlignedBuffer>();
  // room for one more block, so a read that returns short proves the end of the file
  ok = ok && im->buf->Reserve(static_cast<size_t>(st.st_size) + AlignedBuffer::kAlign);
  size_t got = 0;
  while (ok) {
    ssize_t n = ::pread(fd, im->buf->data + got, im->buf->capacity - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ok = n == 0;
      break;
    }
    got += static_cast<size_t>(n);
    if (got % AlignedBuffer::kAlign != 0 || got == im->buf->capacity) break;  // the end (or grown)
  }
  ::close(fd);
  if (!ok || got != static_cast<size_t>(st.st_size)) {  // grew while read, or an I/O error
    Prefetch(path);
    return false;
  }
  im->size = got;
  return true;
}

// Reads the next file's image while the current one is converted: a task on Arrow's I/O
// pool (octavo's executor for blocking work, util/threads.h), one read at a time. The
// worker's conversion itself is single-threaded; --jobs sets how many workers run.
class ImagePrefetcher {
 public:
  // Begin reading `path` (the previous read must have been taken); `read` false: nothing to
  // read (Take gives no image).
  void Start(const std::string& path, bool read = true) {
    if (!read) {
      ready_.size = 0;
      return;
    }
    reads_.Submit([this, path] {
      if (!ReadFileImage(path, &ready_)) ready_.size = 0;
      return Status::OK();
    });
  }
  // The started read's result: an image, or one without a buffer to use the file.
  FileImage* Take() {
    (void)reads_.Wait();
    std::swap(ready_, current_);  // the caller converts from `current_`; `ready_` is refilled next
    return &current_;
  }

 private:
  FileImage ready_, current_;  // two buffers, reused: no page faults after the first files
  BackgroundTasks reads_{1};  // last: destroyed first, waiting for a read into `ready_`
};

// Converts the tasks `next` hands out (none left: nullopt) one after another, reading each
// one's successor ahead into memory while it converts.
constexpr uint64_t kRedoBit = uint64_t(1) << 63;  // in a task: convert even if done (overwrite)

// A file whose output already exists is not read ahead unless `overwrite`: a rerun mostly
// skips files, after a look at their footers only.
void ConvertReadingAhead(const std::function<std::optional<uint64_t>()>& next,
                         const std::function<const std::string&(uint64_t)>& path, bool overwrite,
                         const std::function<void(uint64_t, const FileImage*)>& convert) {
  ImagePrefetcher prefetcher;
  auto start = [&](uint64_t task) {
    const std::string& file = path(task);
    std::error_code ec;
    prefetcher.Start(file, overwrite || (task & kRedoBit) || !fs::exists(ParquetPathFor(file, "", 1), ec));
  };
  std::optional<uint64_t> task = next();
  if (task) start(*task);
  while (task) {
    std::optional<uint64_t> following = next();
    const FileImage* image = prefetcher.Take();
    if (following) start(*following);
    convert(*task, image);
    task = following;
  }
}

double Since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

namespace {

// A file read, written to temporary Parquet files and verified; durable + renamed by
// FinishConverted (possibly on another thread, so the fdatasync wait overlaps the next file).
struct Converted {
  MigrateFileResult r;
  std::vector<Output> outs;  // one per key
  SourceStamp src;
  std::chrono::steady_clock::time_point t0;
  bool pending = false;  // outs await FinishConverted; otherwise r is final
};

// Columns without nulls become non-nullable: Parquet then stores them `required`, with no
// definition levels to encode, decode and verify (NaN is a value, not a null).
std::shared_ptr<arrow::Table> WithoutNullsRequired(const std::shared_ptr<arrow::Table>& table) {
  arrow::FieldVector fields = table->schema()->fields();
  bool changed = false;
  for (int i = 0; i < table->num_columns(); ++i) {
    if (fields[i]->nullable() && table->column(i)->null_count() == 0) {
      fields[i] = fields[i]->WithNullable(false);
      changed = true;
    }
  }
  if (!changed) return table;
  return arrow::Table::Make(arrow::schema(fields, table->schema()->metadata()), table->columns(), table->num_rows());
}

// `image`: the file's bytes when already read (ImagePrefetcher), else null.
Converted ConvertFile(Env* env, const std::string& file, const MigrateOptions& options,
                      const FileImage* image = nullptr) {
  Converted c;
  c.t0 = std::chrono::steady_clock::now();
  MigrateFileResult& r = c.r;
  r.file = file;
  auto done = [&](const std::string& status, const std::string& msg = "") {
    c.outs.clear();  // never leave an unverified output (Output::Discard)
    r.status = status;
    r.message = msg;
    r.seconds = Since(c.t0);
    return std::move(c);
  };
  // The file is opened once: list, (skip check,) read every key. HDF5 (serial) is used under
  // its lock; worker processes (`octavo migrate --jobs N`) each have their own.
  std::vector<std::shared_ptr<arrow::Table>> tables;
  c.src = Stamp(file);
  {
    std::lock_guard<std::recursive_mutex> lock(H5Mutex());
    InitH5();
    const bool use_image = image && image->size > 0 && static_cast<int64_t>(image->size) == c.src.size;
    auto f = use_image ? OpenHdf5Image(image->buf->data, image->size, file) : OpenHdf5ReadOnly(file);
    if (!f.ok() && use_image) f = OpenHdf5ReadOnly(file);  // its error says what is wrong with the file
    if (!f.ok()) return done("failed", f.status().message());
    auto objs = ListObjectsIn(f->get(), file);
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
    if (!options.overwrite) {
      bool all = true;
      for (int i = 0; i < nk && all; ++i) all = AlreadyMigrated(r.outputs[i], file, r.keys[i], c.src);
      if (all && options.remove_h5 && !options.dry_run)
        for (int i = 0; i < nk && all; ++i) all = OutputReadsBackValid(r.outputs[i]);
      if (all) {
        if (options.remove_h5 && !options.dry_run) {
          f->reset();
          std::error_code ec;
          r.removed = fs::remove(file, ec);
        }
        return done("skipped", "verified Parquet output is newer than the HDF5 file");
      }
    }
    if (options.dry_run) return done("planned");
    for (int i = 0; i < nk; ++i) {
      auto t = ReadPandasIn(f->get(), file, r.keys[i]);
      if (!t.ok()) return done("failed", t.status().message());
      tables.push_back(*t);
    }
  }
  r.read_seconds = Since(c.t0);
  // Each output: a temp file, verified (read back, every value compared); FinishConverted
  // makes it durable and renames it: the final name only ever holds verified, durable data.
  for (size_t i = 0; i < tables.size(); ++i) {
    std::shared_ptr<arrow::Table> table = tables[i];
    auto meta = table->schema()->metadata() ? table->schema()->metadata()->Copy()
                                            : std::make_shared<arrow::KeyValueMetadata>();
    (void)meta->Delete("octavo.h5");
    (void)meta->Set(kSourceKey, StampJson(file, r.keys[i], c.src));
    if (Status fst = CheckParquetFaithful(*table, file, r.keys[i]); !fst.ok()) return done("failed", fst.message());
    table = WithoutNullsRequired(table)->ReplaceSchemaMetadata(meta);
    const std::string& out = r.outputs[i];
    c.outs.emplace_back();
    Output& o = c.outs.back();
    o.tmp = TempPathFor(out);
    auto t1 = std::chrono::steady_clock::now();
    Status st = WriteParquetFile(env, table, &o, out, options.compression, options.buffered_io);
    auto t2 = std::chrono::steady_clock::now();
    r.write_seconds += std::chrono::duration<double>(t2 - t1).count();
    if (st.ok()) st = VerifyParquet(o, out, *table);
    r.verify_seconds += Since(t2);
    if (!st.ok()) return done("failed", st.message());
    r.rows += table->num_rows();
  }
  c.pending = true;
  return c;
}

// fdatasync + rename each temp file, then (--remove-h5) make the renames durable (directory
// fsync) and delete the source. Without --remove-h5 the directory is not fsync'ed: a crash
// may lose a rename, and the file is simply converted again.
void FinishConverted(Converted& c, const MigrateOptions& options) {
  MigrateFileResult& r = c.r;
  auto t = std::chrono::steady_clock::now();
  auto done = [&](const std::string& status, const std::string& msg = "") {
    c.outs.clear();  // temp files of a failure are removed (Output::Discard)
    c.pending = false;
    r.status = status;
    r.message = msg;
    r.sync_seconds = Since(t);
    r.seconds = Since(c.t0);
  };
  if (Stamp(r.file).mtime_ns != c.src.mtime_ns) return done("failed", r.file + " changed while it was being migrated");
  for (size_t i = 0; i < c.outs.size(); ++i) {
    Output& o = c.outs[i];
    if (o.staged()) {
      arrow::Status ws = o.sink->WriteTail();  // the verified bytes, by DMA from the stage
      if (!ws.ok()) return done("failed", "writing " + r.outputs[i] + ": " + ws.message());
    }
    o.ReleaseStage();
    if (o.fd >= 0) {
      if (::fdatasync(o.fd) != 0)
        return done("failed", "writing " + r.outputs[i] + ": fsync failed: " + std::strerror(errno));
      ::close(o.fd);
      o.fd = -1;
    } else {
      Status st = SyncFile(o.tmp, r.outputs[i]);
      if (!st.ok()) return done("failed", st.message());
    }
  }
  for (size_t i = 0; i < c.outs.size(); ++i) {
    std::error_code ec;
    fs::rename(c.outs[i].tmp, r.outputs[i], ec);
    if (ec) return done("failed", "writing " + r.outputs[i] + ": " + ec.message());
    c.outs[i].tmp.clear();  // renamed: no longer ours to delete
  }
  c.outs.clear();
  if (options.remove_h5) {
    std::error_code ec;
    std::string dir = fs::path(r.outputs[0]).parent_path().string();
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || ::fsync(dfd) != 0) {
      if (dfd >= 0) ::close(dfd);
      return done("failed", "converted and verified, but cannot fsync " + dir + "; " + r.file + " kept");
    }
    ::close(dfd);
    r.removed = fs::remove(r.file, ec);
    if (ec) return done("failed", "converted and verified, but cannot remove " + r.file + ": " + ec.message());
  }
  done("converted");
}

// Finishes converted files as tasks on Arrow's I/O pool (the fdatasync wait overlaps the
// conversion of the next file) and hands every result to `emit` (called from either thread).
class Finisher {
 public:
  using Emit = std::function<void(size_t, MigrateFileResult&&)>;
  Finisher(const MigrateOptions& options, Emit emit) : options_(options), emit_(std::move(emit)) {}
  ~Finisher() { Close(); }
  void Submit(size_t index, Converted&& c) {
    if (!c.pending) {
      emit_(index, std::move(c.r));
      return;
    }
    auto item = std::make_shared<Converted>(std::move(c));
    // Submit waits while two files are in flight: memory stays bounded.
    tasks_.Submit([this, index, item] {
      FinishConverted(*item, options_);
      emit_(index, std::move(item->r));
      return Status::OK();
    });
  }
  void Close() { (void)tasks_.Wait(); }

 private:
  const MigrateOptions& options_;
  Emit emit_;
  BackgroundTasks tasks_{2};  // last: destroyed first, waiting for the files in flight
};

}  // namespace

MigrateFileResult MigrateFileLocal(Env* env, const std::string& file, const MigrateOptions& options) {
  Converted c = ConvertFile(env, file, options);
  if (c.pending) FinishConverted(c, options);
  return std::move(c.r);
}

namespace {

// --- the worker (octavo-h5worker migrate) ---------------------------------------------
//
// Started by the parent's pool (migrate_client.cc) with tasks on `task_fd` and results on
// `result_fd`, one JSON object per line: {"t":"next"} asks for a file, the parent answers
// with a task (8 bytes: index | kRedoBit, 4 bytes: path length, the path) or closes the task
// pipe when none is left; {"t":"start","i":..} says which file is being converted (a crash
// is blamed on it); {"t":"done","i":..,...} is a file's result.


}  // namespace

void LimitCpuFromNow(int64_t seconds) {
  if (seconds <= 0) return;
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  const int64_t used = ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + 1;
  struct rlimit rl {};
  ::getrlimit(RLIMIT_CPU, &rl);
  rlim_t soft = static_cast<rlim_t>(used + seconds);
  if (rl.rlim_max != RLIM_INFINITY && soft > rl.rlim_max) soft = rl.rlim_max;
  rl.rlim_cur = soft;
  ::setrlimit(RLIMIT_CPU, &rl);
}

[[noreturn]] void MigrateWorkerMain(const MigrateOptions& options, int task_fd, int result_fd,
                                    int64_t cpu_seconds_per_file) {
  int code = 0;
  try {
    std::mutex out_mu;
    auto send = [&](const Json& j) {
      std::string line = j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
      std::lock_guard<std::mutex> lock(out_mu);
      if (!wire::WriteAll(result_fd, line.data(), line.size())) ::_exit(3);  // parent gone
    };
    MigrateOptions redo = options;  // a file a dead worker may have finished: convert it again
    redo.overwrite = true;
    std::unordered_map<uint64_t, std::string> paths;  // task -> file (node addresses are stable)
    Finisher fin(options, [&](size_t i, MigrateFileResult&& r) { send(wire::MigrateResultToJson(i, r)); });
    // One file is read ahead (ImagePrefetcher) while the one before it is converted: a
    // worker holds up to two tasks, and says which one it converts ("start") so that a
    // crash is blamed on the right file.
    auto next_task = [&]() -> std::optional<uint64_t> {
      send(Json{{"t", "next"}});
      uint64_t task = 0;
      uint32_t len = 0;
      if (!wire::ReadAll(task_fd, &task, sizeof task) || !wire::ReadAll(task_fd, &len, sizeof len)) return std::nullopt;
      std::string path(len, '\0');
      if (!wire::ReadAll(task_fd, path.data(), len)) return std::nullopt;
      paths[task] = std::move(path);
      return task;
    };
    auto path_of = [&](uint64_t task) -> const std::string& { return paths.at(task); };
    auto convert = [&](uint64_t task, const FileImage* image) {
      const size_t idx = static_cast<size_t>(task & ~kRedoBit);
      const std::string file = paths.at(task);
      paths.erase(task);
      send(Json{{"t", "start"}, {"i", idx}});
      LimitCpuFromNow(cpu_seconds_per_file);
      fin.Submit(idx, ConvertFile(Env::Default(), file, (task & kRedoBit) ? redo : options, image));
    };
    if (options.dry_run) {  // lists each file's objects: nothing to read ahead
      while (auto task = next_task()) convert(*task, nullptr);
    } else {
      ConvertReadingAhead(next_task, path_of, options.overwrite, convert);
    }
    fin.Close();
  } catch (...) {
    code = 2;
  }
  ::_exit(code);
}

}  // namespace octavo::hdf5
