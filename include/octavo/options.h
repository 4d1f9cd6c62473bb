#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "octavo/status.h"

namespace octavo {

class Env;

// Progress of a long operation (migration, imports, sort_by, gc): `done` of `total` units
// (files, objects, rows, runs; total 0 = not known ahead), `item` names the unit just done.
// Called from the thread doing the work, possibly a pool thread; it must not throw.
struct ProgressEvent {
  std::string_view unit;
  int64_t done = 0;
  int64_t total = 0;
  std::string_view item;
};
using ProgressCallback = std::function<void(const ProgressEvent&)>;

enum class OpenMode {
  kRead,    // 'r': read-only snapshot of the current commit, no lock
  kAppend,  // 'a': read/write, creates the bundle if missing, takes the writer lock
  kCreate,  // 'w': create a new empty bundle (an existing bundle is replaced by an empty commit)
};

struct OpenOptions {
  Env* env = nullptr;  // nullptr = Env::Default()
  // Open this commit instead of CURRENT (read-only). -1 = current.
  int64_t commit = -1;
  // Open the commit a named snapshot points at (read-only). Empty = none.
  std::string snapshot;
  // Follow this branch instead of main (docs/format.md 5.2): reads see its head, and commits of
  // a writer move it and leave main unchanged. Empty or "main" = main.
  std::string branch;
  // Writers share the bundle; only an exclusive holder (garbage collection) keeps them out.
  // Seconds to wait for it before failing with kLocked: 0 = fail at once, < 0 = as long as it takes.
  double lock_wait_seconds = 0;
  // For an object store address (s3://bucket/prefix): where and as whom to reach it
  // (endpoint_url, region, access_key_id, secret_access_key, session_token, allow_http; the
  // AWS_* environment variables fill what is left out). Ignored for local paths.
  std::map<std::string, std::string> storage_options;
};

// Parquet layout of a table's parts. Defaults were chosen with bench/bench_parquet_settings.py
// (see docs/benchmarks.md).
struct TableOptions {
  std::string compression = "zstd";  // zstd, lz4, snappy, gzip, brotli, none
  int compression_level = 1;         // codec level; zstd 1 writes fast and reads as fast as higher levels
  int64_t row_group_size = 128 * 1024;  // rows per Parquet row group
  int64_t part_max_rows = 8 * 1024 * 1024;  // an append larger than this is split into parts
  bool write_statistics = true;
  bool write_page_index = true;
  int64_t data_page_size = 1024 * 1024;  // bytes
  bool dictionary = true;
  // A column chunk falls back from dictionary to plain encoding once its dictionary
  // exceeds this many bytes. Small, so high-cardinality columns (measurements) stop
  // paying for hashing early, while low-cardinality ones (codes, labels) stay compact.
  int64_t dictionary_page_limit = 64 * 1024;
};

// TableOptions as JSON object text (every field by its name) and back: the one codec that the
// manifest, the bindings and the CLI share. From JSON: missing keys keep their defaults; an
// unknown key or a value of the wrong type is kInvalid naming it.
std::string TableOptionsToJson(const TableOptions& options);
Result<TableOptions> TableOptionsFromJson(std::string_view json);

struct ReadOptions {
  std::vector<std::string> columns;  // empty = all columns
  int64_t start = 0;                 // first row (negative counts from the end)
  int64_t stop = -1;                 // one past the last row; -1 = end of table
  bool use_threads = true;
};

}  // namespace octavo
