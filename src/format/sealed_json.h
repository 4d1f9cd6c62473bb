// A JSON metadata file that carries its own checksum as its last key:
//   { ...,\n "checksum": "crc32:1a2b3c4d"\n}\n
// The CRC-32 covers every byte before the 8 hex digits, so any damaged byte (including in the
// key itself or in "format_version") is caught before the JSON is parsed. Used for
// manifests, CURRENT and snapshot files (docs/format.md section 4.0).
#pragma once

#include <string>
#include <string_view>

#include "octavo/status.h"

namespace octavo {

// `dumped` is a JSON object as nlohmann dumps it (ends with '}'); returns it sealed.
std::string SealJson(std::string dumped);

// kOK if `text` ends in a seal whose checksum matches. `*sealed` says whether a seal was
// found at all (a file written before seals existed has none); a seal that does not match,
// or one that is not at the very end, is kCorruption naming `file`.
Status VerifySealedJson(std::string_view text, const std::string& file, bool* sealed);

}  // namespace octavo
