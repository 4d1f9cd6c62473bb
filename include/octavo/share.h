// Shared tables: a table written once as an uncompressed, 64-byte-aligned Arrow IPC file in
// shared memory (/dev/shm by default) that any process on the same host attaches by memory
// mapping, without copying or parsing the data. Segment and handle format: docs/format.md
// ("Shared table segments").
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octavo/status.h"

namespace arrow {
class Table;
}

namespace octavo {

class Env;

struct ShareOptions {
  // Where the segment is written: a tmpfs for memory sharing, or a node-local disk directory
  // (the pages are then shared through the page cache). Must exist.
  std::string directory = "/dev/shm";
  // Provenance recorded in the handle (empty / -1 when the table does not come from a bundle).
  std::string source_bundle;
  std::string source_table;
  int64_t source_commit = -1;
  // Every write, rename and removal goes through this Env (nullptr = Env::Default()).
  Env* env = nullptr;
};

struct AttachOptions {
  // Also check a CRC-32 of every byte against the handle (reads the whole segment once). Off by
  // default: attaching then costs a few system calls whatever the size; the segment's identity
  // (inode, size, times: any write or chmod changes them), its footer checksum and the full
  // structural validation of every batch are always checked.
  bool verify_data = false;
  // Map every page of the segment into this process now (MADV_POPULATE_READ) instead of on
  // first touch: the attach then costs about what the first pass over the data would have
  // spent in page faults, and later computations run as on a private copy.
  bool populate = false;
};

// A published segment, owned by the process that published it: Close() (or the destructor, in
// the publishing process only, never in a forked child) removes it.
class SharedTable {
 public:
  ~SharedTable();
  SharedTable(const SharedTable&) = delete;
  SharedTable& operator=(const SharedTable&) = delete;

  // Writes `table` to a temporary name in options.directory and renames it into place, so a
  // segment is either complete or absent (a full /dev/shm is an IOError; nothing is left).
  // Segments of dead publishers in that directory are collected first.
  static Result<std::unique_ptr<SharedTable>> Publish(const arrow::Table& table, const ShareOptions& options = {});

  // Memory-maps the segment named by `handle` (from handle(), any process on the host) and
  // returns a table whose buffers point into the mapping (the mapping lives as long as they do).
  // A removed segment is NotFound; a handle from another host, boot or format version is
  // Invalid / UnsupportedVersion; a modified, truncated or damaged segment is Corruption.
  static Result<std::shared_ptr<arrow::Table>> Attach(const std::string& handle, const AttachOptions& options = {});

  // A small JSON object (docs/format.md): where the segment is and how to check it.
  const std::string& handle() const { return handle_; }
  const std::string& path() const { return path_; }
  int64_t size_bytes() const { return size_; }
  int64_t num_rows() const { return num_rows_; }

  // Removes the segment (idempotent). Processes attached keep their mapping until they drop it.
  // In a process other than the publisher (a forked child) this only forgets the segment.
  Status Close();

 private:
  SharedTable() = default;
  Env* env_ = nullptr;
  std::string handle_, path_;
  int64_t size_ = 0, num_rows_ = 0;
  long owner_pid_ = 0;
  bool closed_ = false;
};

// Removes the segments (and temporary files) in `directory` whose publishing process no longer
// exists (its pid is gone or now belongs to a process started later). Returns their paths.
Result<std::vector<std::string>> CollectStaleSharedTables(const std::string& directory = "/dev/shm",
                                                          Env* env = nullptr);

// The segments in `directory` (live or stale), for `octavo share --list`.
struct SharedSegmentInfo {
  std::string path;
  int64_t size_bytes = 0;
  long owner_pid = 0;
  bool owner_alive = false;
};
Result<std::vector<SharedSegmentInfo>> ListSharedTables(const std::string& directory = "/dev/shm");

}  // namespace octavo
