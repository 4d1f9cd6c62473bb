// Node paths: POSIX-like, absolute, normalised ("/data/readout").
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "octavo/status.h"

namespace octavo {

// Checks one path component: valid UTF-8, not empty, not "." or "..", no '/', NUL or
// control characters.
Status ValidateName(const std::string& name);

// Names, keys and messages end up in the JSON manifest, which holds only valid UTF-8.
// Refuses other bytes with an error naming `what` and the byte offset.
Status CheckUtf8(const std::string& s, const std::string& what);
// Offset of the first byte of `s` that is not well-formed UTF-8 (RFC 3629), or npos.
size_t InvalidUtf8Offset(const std::string& s);
// The bytes of `s` with anything outside printable ASCII as \xNN, for messages.
std::string Escaped(const std::string& s);

// `s` with every byte that is not part of well-formed UTF-8 written as \xNN (valid text is
// kept as is). Every Status message goes through it, so a message that quotes file content
// or caller input is always valid UTF-8 (Python decodes it; JSON can hold it).
std::string EscapeInvalidUtf8(std::string s);

// How deep a node path may nest (PyTables' MAX_TREE_DEPTH): bounds the work and the
// stack of everything that walks a hierarchy, including one read from a hostile manifest.
inline constexpr int kMaxPathDepth = 2048;

// Accepts "/a/b", "a/b" (relative to the root), "/a/b/"; rejects "..", "//", bad names,
// and paths nested deeper than kMaxPathDepth.
Result<std::string> NormalizePath(const std::string& path);

std::string ParentPath(const std::string& normalized);   // "/a/b" -> "/a", "/a" -> "/"
std::string BaseName(const std::string& normalized);     // "/a/b" -> "b"
std::string JoinPath(const std::string& parent, const std::string& name);
bool IsDescendant(const std::string& path, const std::string& ancestor);  // strict

}  // namespace octavo
