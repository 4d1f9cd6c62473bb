// File nodes: arbitrary bytes (images, configs, notebooks) stored inside a bundle.
//
// Content is streamed to a temporary file while a BLAKE2b-256 digest is computed, then
// moved to files/<2 hex>/<64 hex> named by that digest (content-addressed): the same bytes
// stored twice occupy disk once, and every read can be checked against the digest.
// The node itself (path -> digest, size) is written by an ordinary manifest commit when
// the writer is closed; until then nothing is visible. See docs/format.md, section 9.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "octavo/status.h"

namespace octavo {

class Bundle;

struct FileNodeInfo {
  std::string path;
  int64_t size = 0;
  std::string digest;  // "blake2b-256:<64 hex>"
  std::string blob;    // the content file, relative to the bundle root
  std::string created_at;
  std::string modified_at;
};

// Streams bytes into a new file node. Constant memory whatever the size.
class FileWriter {
 public:
  virtual ~FileWriter() = default;
  virtual Status Write(const void* data, int64_t size) = 0;
  virtual int64_t bytes_written() const = 0;
  // Make the content durable, move it to its content address and commit the node.
  virtual Result<FileNodeInfo> Close() = 0;
  // Drop everything written; the bundle is unchanged. Also done by the destructor
  // of a writer that was neither closed nor aborted.
  virtual Status Abort() = 0;
  virtual bool closed() const = 0;
};

// Random access to a file node's content at the reader's snapshot. Thread-safe.
class FileReader {
 public:
  virtual ~FileReader() = default;
  virtual const FileNodeInfo& info() const = 0;
  int64_t size() const { return info().size; }
  // Up to `size` bytes at `offset` into `out`; returns the number read (0 at the end).
  virtual Result<int64_t> ReadAt(int64_t offset, int64_t size, void* out) const = 0;
  // Stream the whole content to `sink` in order, then check it against the stored digest
  // (kCorruption if it differs: the sink has then seen damaged bytes and must discard them).
  virtual Status CopyTo(const std::function<Status(const void* data, int64_t size)>& sink) const = 0;
  // Re-read the whole content and compare with the stored digest.
  Status Verify() const {
    return CopyTo([](const void*, int64_t) { return Status::OK(); });
  }
};

struct FileWriteOptions {
  bool overwrite = false;      // replace an existing file node at the path
  bool append = false;         // start from an existing file node's content (PyTables' 'a+'); implies overwrite
  bool create_parents = true;  // create missing parent groups
};

// Copy a local file into a new file node (streaming) / a file node out to a local file
// (written to a temporary name, verified against the digest, then renamed into place).
Result<FileNodeInfo> PutFile(Bundle& bundle, const std::string& local_path, const std::string& node_path,
                             const FileWriteOptions& options = {});
Status GetFile(const Bundle& bundle, const std::string& node_path, const std::string& local_path);

}  // namespace octavo
