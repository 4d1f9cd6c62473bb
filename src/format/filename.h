// Names of the files a bundle holds, made and checked in one place (LevelDB's db/filename.h).
// Every file name read from a manifest, CURRENT or a snapshot passes through a check here
// before it is opened, written or deleted: a hand-edited or damaged manifest must never make
// octavo touch anything outside the bundle directory.
#pragma once

#include <string>
#include <string_view>

#include "octavo/status.h"

namespace octavo {

// A table's or array's uid: the name of its folder under data/ (lowercase hex, 1-64 chars).
bool IsValidUid(std::string_view uid);
Status CheckUid(std::string_view uid, const std::string& where);

// A data file name relative to the bundle root: "data/" followed by one or more components
// of [A-Za-z0-9._-] that are not "." or "..", at most 512 bytes. Symlinks are not resolved:
// the check is on the name, which is all a manifest can say.
bool IsValidDataFileName(std::string_view rel);
Status CheckDataFileName(std::string_view rel, const std::string& where);

// File-node content, content-addressed (docs/format.md 9): data/files/<2 hex>/<64 hex>.
inline constexpr const char* kFilesDir = "data/files";
inline constexpr const char* kDigestPrefix = "blake2b-256:";
bool IsValidDigest(std::string_view digest);  // "blake2b-256:" + 64 lowercase hex digits
// data/files/<2 hex>/<64 hex> for a valid digest; "" otherwise.
std::string BlobFileName(const std::string& digest);

// The folder of a table's or array's data files: data/<uid>.
std::string DataDirName(const std::string& uid);
// A new part file name: data/<uid>/<24 hex>.parquet.
std::string NewPartFileName(const std::string& uid);

}  // namespace octavo
