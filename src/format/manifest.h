// The manifest: one immutable JSON file per commit describing the whole node tree.
// Layout and field meanings are specified in docs/format.md; keep the two in sync.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "octavo/bundle.h"
#include "octavo/options.h"
#include "octavo/status.h"
#include "octavo/type_fwd.h"
#include "util/json_util.h"

namespace octavo {

// One immutable Parquet file of a table.
struct PartEntry {
  std::string file;                    // relative to the bundle root: data/<table uid>/<id>.parquet
  int64_t num_rows = 0;
  int64_t size_bytes = 0;
  std::vector<int64_t> row_group_rows;  // rows per Parquet row group, in order
  Json stats = Json::object();          // {column: {"min": v, "max": v, "null_count": n}}
  std::string created_at;
  // The Parquet footer (FileMetaData + its 4-byte length + "PAR1"): its byte count and CRC-32.
  // Page CRCs do not cover the footer, yet its row counts and statistics drive reads and
  // pruning, so readers check it against these. -1: written before format version 2.
  int64_t footer_size = -1;
  int64_t footer_crc32 = -1;
  // Secondary indexes of this part (docs/format.md "Sorted tables and indexes"):
  // column -> {file, size_bytes}. A column the table indexes but the part lacks is scanned.
  struct IndexFile {
    std::string file;  // relative to the bundle root
    int64_t size_bytes = 0;
    int64_t footer_size = -1;  // as PartEntry's
    int64_t footer_crc32 = -1;
  };
  std::map<std::string, IndexFile> indexes;
};

struct TableEntry {
  std::string uid;                        // stable id: the data/<uid>/ folder; survives renames
  std::shared_ptr<arrow::Schema> schema;  // stored as base64 Arrow IPC (exact types + metadata)
  TableOptions options;
  std::vector<PartEntry> parts;
  // Set by a sorting repack: the parts listed in sorted_parts, in order, hold rows sorted
  // ascending by sorted_by. Valid only while the table's parts begin with exactly those
  // files (later appends add unsorted parts after them).
  std::vector<std::string> sorted_by;
  std::vector<std::string> sorted_parts;
  // Columns with a secondary index (parts appended later get one on append).
  std::vector<std::string> indexed_columns;
  // How many leading parts form the sorted run (0 if none or no longer valid).
  size_t SortedPrefix() const;
  int64_t num_rows() const;
  int64_t size_bytes() const;
};

// A file node's content (docs/format.md 9.1). The content file's name is derived from the
// digest (format/filename.h BlobFileName), never read from the manifest.
struct FileEntry {
  std::string digest;  // "blake2b-256:<64 hex>"
  int64_t size = 0;
  int64_t block_size = 0;              // 0: written before block CRCs (format version 1)
  std::vector<uint32_t> block_crc32;   // CRC-32 of each block_size block of the content
};

// One stored chunk of an array (docs/format.md 8.1).
struct ChunkEntry {
  std::string file;               // data/<uid>/<name>, relative to the bundle root
  int64_t size = 0;               // exact size of the encoded chunk file
  std::optional<uint32_t> crc32;  // of the encoded bytes; absent in chunks written before it existed
};

// An n-d array (docs/format.md 8.1): its Zarr v3 metadata and chunk index.
struct ArrayEntry {
  std::string uid;                            // data/<uid>/ holds its chunk files
  Json zarr;                                  // the zarr.json object ("attributes" kept empty)
  std::map<std::string, ChunkEntry> chunks;   // chunk key "i.j.k" ("" for 0-d) -> stored chunk
};

// A soft link (docs/format.md 4.2): a normalised node path; it may dangle.
struct LinkEntry {
  std::string target;
};

struct NodeEntry {
  NodeKind kind = NodeKind::kGroup;
  Json attrs = Json::object();
  std::string created_at;
  std::string modified_at;
  std::shared_ptr<const TableEntry> table;  // kind == kTable; shared between commits until changed
  std::shared_ptr<const FileEntry> file;    // kind == kFile
  std::shared_ptr<const LinkEntry> link;    // kind == kLink
  std::shared_ptr<const ArrayEntry> array;  // kind == kArray
};

struct Manifest {
  int format_version = 1;
  int64_t commit = 0;
  int64_t parent = -1;
  // A merge commit (docs/format.md 5.2): the head of the branch merged in ("merged"; -1 none).
  // Only merges read it, to find the common ancestor of the next merge.
  int64_t merged = -1;
  std::string created_at;
  std::string message;
  // Bundle settings (the manifest's optional "settings" object; docs/format.md 7 and 12).
  // Not reader features: a reader that ignores them reads the commit correctly.
  bool delta_log = true;  // settings.delta_log: write each table's Delta Lake log
  std::map<std::string, NodeEntry> nodes;  // key: normalised path; "/" is always present
};

// Features of the format a reader must understand to read a commit correctly, written into
// every manifest; a reader that meets one it does not know refuses with kUnsupportedVersion
// ("written by a newer octavo") instead of misreading the commit as corrupt or, worse, not.
inline constexpr const char* kReaderFeatures[] = {"sealed-metadata", "footer-checksums", "file-block-checksums"};

Result<std::string> SerializeManifest(const Manifest& m);
// One node as the manifest stores it (its "nodes" value): also what rebases and diffs compare.
Result<Json> NodeEntryToJson(const std::string& path, const NodeEntry& n);
Result<Manifest> ParseManifest(std::string_view text, const std::string& file);

// The schema blob: Arrow IPC schema message, base64.
Result<std::string> SerializeSchema(const arrow::Schema& schema);
Result<std::shared_ptr<arrow::Schema>> DeserializeSchema(const std::string& b64);

// TableOptions as a JSON object (the manifest's "options"; include/octavo/options.h has the
// text form for the bindings and the CLI). Decode: missing keys keep their defaults; a value of
// the wrong type is `bad_code` naming the key; unknown keys are ignored in a manifest (a newer
// writer's option) but `strict` refuses them (a caller's typo).
Json EncodeTableOptions(const TableOptions& o);
Result<TableOptions> DecodeTableOptions(const Json& j, StatusCode bad_code, bool strict);
NodeKind NodeKindFromName(const std::string& name, bool* ok);

// Bundle-level files (names relative to the bundle root).
inline constexpr const char* kMarkerFile = "OCTAVO";
inline constexpr const char* kCurrentFile = "CURRENT";
inline constexpr const char* kLockFile = "LOCK";
// Held exclusively only around a commit point (docs/format.md 5.1); LOCK is shared by writers.
inline constexpr const char* kCommitLockFile = "LOCK.commit";
inline constexpr const char* kManifestDir = "manifests";
inline constexpr const char* kDataDir = "data";
inline constexpr const char* kSnapshotDir = "snapshots";
// Branch heads, one sealed file per branch: branches/<name>.json (docs/format.md 5.2).
inline constexpr const char* kBranchDir = "branches";
// The commits garbage collection removed (docs/format.md section 10.1): a manifest missing
// from history and not listed here was lost, not collected.
inline constexpr const char* kDroppedCommitsFile = "manifests/dropped.json";
std::string ManifestFileName(int64_t commit);  // manifests/000000000042.json
// The commit id of a file name in manifests/ ("000000000042.json"); false for anything else.
bool ParseManifestFileName(const std::string& name, int64_t* commit);

}  // namespace octavo
