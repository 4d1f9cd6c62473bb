// Reading pandas HDFStore / PyTables files (HDF5) without Python: the way out of HDF5.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "octavo/options.h"
#include "octavo/status.h"
#include "octavo/type_fwd.h"

namespace octavo {
class Bundle;
}

namespace octavo::hdf5 {

// libhdf5 is not safe on damaged or hostile files, so octavo never parses HDF5 in the
// calling process: every function below runs `octavo-h5worker` (installed next to the
// `octavo` CLI and the Python extension) and reads its results through a pipe. A worker
// that crashes is a CorruptionError naming the file; nothing is written for it.
struct WorkerOptions {
  std::string executable;          // empty: next to this program / module, then on PATH
  int64_t memory_limit_bytes = 0;  // the worker's address-space limit (RLIMIT_AS); 0: none
  // CPU seconds the worker may spend on one file (RLIMIT_CPU, renewed per file by migration):
  // a file that makes libhdf5 loop forever then fails with "killed by signal 24 (CPU time
  // limit exceeded)" instead of hanging the caller. 0: none.
  int64_t cpu_seconds_per_file = 0;
};

// One object found in an HDF5 file.
struct H5Object {
  std::string key;          // "/df_with_missing"
  std::string pandas_type;  // "frame_table", "frame", "series", ...; empty if not pandas
  std::string kind;         // "pandas", "group", "table", "array", "other"
  bool supported = false;   // ReadPandas can read it
  std::string note;         // why not, when unsupported
};

// Every pandas object in the file, plus every HDF5 dataset that belongs to none (listed
// as unsupported, never silently dropped).
Result<std::vector<H5Object>> ListObjects(const std::string& path, const WorkerOptions& worker = {});

// Read one pandas HDFStore object (format "table" or "fixed") into an Arrow table whose
// schema metadata b"pandas" makes pyarrow's to_pandas() rebuild the DataFrame that
// pandas.read_hdf returns (index, MultiIndex rows and columns, dtypes). Metadata key
// b"octavo.h5" records the source (file, key, pandas_type; series name).
// key empty: the file must hold exactly one pandas object.
Result<std::shared_ptr<::arrow::Table>> ReadPandas(const std::string& path, const std::string& key = "",
                                                   const WorkerOptions& worker = {});

// --- generic PyTables / HDF5 import (src/hdf5/pytables.cc) ------------------------------
//
// Every object of an HDF5 file mapped onto bundle nodes:
//   group                      -> group (attributes kept)
//   pandas HDFStore object     -> table (ReadPandas; pandas metadata kept, so to_pandas() rebuilds it)
//   compound dataset (Table)   -> table: nested compound -> struct, shaped field -> fixed_size_list
//                                 (nested per dimension), enum -> dictionary<int32, utf8> (names),
//                                 bitfield / FALSE-TRUE enum -> bool, fixed string -> utf8 (trailing
//                                 NULs stripped; a field with any non-UTF-8 value -> binary, the
//                                 exact bytes, said in the item's note), big-endian -> native,
//                                 float16 -> float32 (exact)
//   numeric / bool dataset     -> n-d array (Array, CArray, EArray; streamed in slabs of ~64 MiB)
//   VLArray, vlen strings,     -> table with one column "value", one row per HDF5 row:
//   1-d fixed-string array        vlstring/vlunicode/strings -> utf8, numeric atoms -> list<T>
//   NODE_TYPE=file (filenode)  -> file node (the bytes; PyTables writes a uint8 EArray: (n,) in
//                                 version 2, (n, 1) in version 1; a group is never a filenode)
//   soft link                  -> soft link (target re-rooted under the destination)
// Anything else (external links, object VLArrays (pickles), scalar datasets, n-d strings, missing
// compression filters, invalid names, ...) is listed as unsupported with the reason, never
// silently dropped. PyTables' bookkeeping attributes (CLASS, VERSION, FIELD_*, NROWS, ...)
// are dropped; user attributes become JSON attributes (pickled ones are unpickled safely).
struct ImportItem {
  std::string h5_path;   // "/group/table"
  std::string h5_kind;   // group, pandas, table, array, carray, earray, vlarray, filenode, dataset, softlink, ...
  std::string action;    // group | table | array | file | link | skip
  std::string dest;      // bundle node path ("" for skip)
  std::string detail;    // rows / shape / dtype / schema summary / link target
  bool supported = true;
  std::string reason;    // why not, when !supported
  std::string note = {}; // set by the import when it did something the plan could not know
                         // (a fixed-string field holding non-UTF-8 bytes imported as binary)
};

struct ImportReport {
  std::string file;
  std::vector<ImportItem> items;  // every object, parents before children
  int64_t rows = 0;               // table rows written
  int64_t bytes = 0;              // array / file bytes written
  int num_unsupported() const;
};

struct ImportOptions {
  bool dry_run = false;              // plan only: nothing is read beyond metadata, nothing written
  std::string table_compression = "zstd";
  int64_t array_slab_bytes = 64 << 20;  // arrays and file nodes are copied in slabs of this size
  WorkerOptions worker;
  ProgressCallback progress;         // once per imported object (unit "objects", total unknown)
};

// What octavo sees in `path` and what an import would do with each object (no bundle).
Result<ImportReport> InspectFile(const std::string& path, const WorkerOptions& worker = {});

// Import every object of `path` under `dest` (a group path, created if missing) of
// `bundle`, in one transaction: either everything supported is committed, or (on error)
// nothing. If a transaction is already open the caller commits it.
Result<ImportReport> ImportFile(const std::string& path, Bundle& bundle, const std::string& dest = "/",
                                const ImportOptions& options = {});

// --- migration of pandas HDF5 files to Parquet beside them (src/hdf5/migrate.cc) ---------------
//
// Naming rules (the one implementation; python/octavo/fileio.py calls it):
//   x.h5 holding one pandas object            -> x.parquet
//   x.h5 holding several (keys /a, /b/c)      -> x.a.parquet, x.b.c.parquet ('/' -> '.')
std::string ParquetPathFor(const std::string& h5_path, const std::string& key, int num_keys);
bool IsHdf5Path(const std::string& path);  // .h5 / .hdf5 / .hdf (any case)

struct MigrateOptions {
  bool recursive = false;
  bool remove_h5 = false;     // delete an HDF5 file after all its outputs were verified
  bool dry_run = false;       // report what would happen; write and delete nothing
  bool overwrite = false;     // convert even when verified outputs exist
  int jobs = 1;               // worker processes converting files in parallel (each its own
                              // HDF5 library; a crashing worker fails only the file it was converting)
  bool buffered_io = false;   // plain buffered writes instead of O_DIRECT (a file system whose O_DIRECT is slow)
  WorkerOptions worker;
  std::string compression = "snappy";  // pandas.to_parquet's default codec
  std::string root;           // --into: files land at /<path relative to root without suffix>
  std::string into;           // bundle path: import every file there instead (ImportFile, one commit per file)
  bool progress = false;      // one line per file on stderr
  ProgressCallback on_progress;  // once per finished file (unit "files"), any status
};

struct MigrateFileResult {
  std::string file;
  std::string status;            // converted | skipped | failed | planned
  std::vector<std::string> outputs;  // Parquet files (or bundle node path)
  std::vector<std::string> keys;
  int64_t rows = 0;
  bool removed = false;
  std::string message;           // the error, or why skipped
  double seconds = 0;
  // where the time went (converted files): HDF5 open + list + read into Arrow; Parquet
  // encode + write; read back + compare; fdatasync + rename
  double read_seconds = 0, write_seconds = 0, verify_seconds = 0, sync_seconds = 0;
};

struct MigrateSummary {
  std::vector<MigrateFileResult> files;
  int converted = 0, skipped = 0, failed = 0, planned = 0;
  double seconds = 0;
};

// HDF5 files under root (root itself if it is a file), sorted.
Result<std::vector<std::string>> FindHdf5Files(const std::string& root, bool recursive);
// Convert (or import) every file; one bad file never stops the others.
Result<MigrateSummary> Migrate(const std::vector<std::string>& files, const MigrateOptions& options);
// Each file to Parquet beside it: each output written to a temp file (O_DIRECT where the
// file system allows it, unless buffered_io), decoded again and compared value by value
// with the HDF5 data (a file of up to 8 MiB from the exact bytes written, a larger one read
// back from the disk), fdatasync'ed, then renamed.

}  // namespace octavo::hdf5
