#include "util/names.h"

namespace octavo {

namespace {

// Length of the well-formed UTF-8 sequence starting at p[i] (RFC 3629: no overlongs, no
// surrogates, nothing above U+10FFFF), or 0 if the byte there does not start one.
size_t Utf8SequenceLength(const unsigned char* p, size_t i, size_t n) {
  unsigned char c = p[i];
  if (c < 0x80) return 1;
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c == 0xE0) len = 3, lo = 0xA0;
  else if (c == 0xED) len = 3, hi = 0x9F;  // U+D800..U+DFFF are surrogates
  else if (c >= 0xE1 && c <= 0xEF) len = 3;
  else if (c == 0xF0) len = 4, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3) len = 4;
  else if (c == 0xF4) len = 4, hi = 0x8F;
  else return 0;
  if (i + len > n || p[i + 1] < lo || p[i + 1] > hi) return 0;
  for (size_t k = 2; k < len; ++k)
    if (p[i + k] < 0x80 || p[i + k] > 0xBF) return 0;
  return len;
}

}  // namespace

// Offset of the first byte that does not start or continue a well-formed UTF-8 sequence, or npos.
size_t InvalidUtf8Offset(const std::string& s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  for (size_t i = 0; i < s.size();) {
    size_t len = Utf8SequenceLength(p, i, s.size());
    if (len == 0) return i;
    i += len;
  }
  return std::string::npos;
}

// The bytes of `s` with anything outside printable ASCII as \xNN, for error messages.
std::string Escaped(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string EscapeInvalidUtf8(std::string s) {
  size_t bad = InvalidUtf8Offset(s);
  if (bad == std::string::npos) return s;  // the common case: no copy
  static const char* hex = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  std::string out = s.substr(0, bad);
  for (size_t i = bad; i < s.size();) {
    if (size_t len = Utf8SequenceLength(p, i, s.size())) {
      out.append(s, i, len);
      i += len;
    } else {
      out += "\\x";
      out += hex[p[i] >> 4];
      out += hex[p[i] & 15];
      ++i;
    }
  }
  return out;
}

Status CheckUtf8(const std::string& s, const std::string& what) {
  size_t bad = InvalidUtf8Offset(s);
  if (bad == std::string::npos) return Status::OK();
  return Status::Invalid(what, " '", Escaped(s), "' is not valid UTF-8 (bad byte 0x", Escaped(s.substr(bad, 1)).substr(2),
                         " at offset ", bad, "); octavo stores names and text as UTF-8");
}

Status ValidateName(const std::string& name) {
  if (name.empty()) return Status::Invalid("empty node name");
  OCTAVO_RETURN_NOT_OK(CheckUtf8(name, "node name"));
  if (name == "." || name == "..")
    return Status::Invalid("node name '", name, "' is not allowed (no '.' or '..' components)");
  for (unsigned char c : name) {
    if (c == '/') return Status::Invalid("node name '", name, "' contains '/'");
    if (c == 0) return Status::Invalid("node name contains a NUL character");
    if (c < 0x20 || c == 0x7f)
      return Status::Invalid("node name '", name, "' contains a control character (code ", int(c), ")");
  }
  if (name.size() > 255) return Status::Invalid("node name longer than 255 bytes");
  return Status::OK();
}

Result<std::string> NormalizePath(const std::string& path) {
  if (path.empty()) return Status::Invalid("empty node path");
  if (path == "/") return std::string("/");
  std::string out;
  int depth = 0;
  size_t i = (path[0] == '/') ? 1 : 0;
  std::string trimmed = path;
  if (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  while (i <= trimmed.size()) {
    size_t j = trimmed.find('/', i);
    if (j == std::string::npos) j = trimmed.size();
    std::string part = trimmed.substr(i, j - i);
    Status st = ValidateName(part);
    if (!st.ok()) return st.WithContext("invalid node path '" + path + "'");
    if (++depth > kMaxPathDepth)
      return Status::Invalid("node path '", path.substr(0, 100), "...' is nested more than ", kMaxPathDepth,
                             " groups deep (PyTables' MAX_TREE_DEPTH); flatten the hierarchy");
    out += "/";
    out += part;
    i = j + 1;
  }
  return out;
}

std::string ParentPath(const std::string& p) {
  if (p == "/") return "/";
  auto pos = p.rfind('/');
  return pos == 0 ? "/" : p.substr(0, pos);
}

std::string BaseName(const std::string& p) {
  if (p == "/") return "";
  return p.substr(p.rfind('/') + 1);
}

std::string JoinPath(const std::string& parent, const std::string& name) {
  return parent == "/" ? "/" + name : parent + "/" + name;
}

bool IsDescendant(const std::string& path, const std::string& ancestor) {
  if (ancestor == "/") return path != "/";
  return path.size() > ancestor.size() && path.compare(0, ancestor.size(), ancestor) == 0 &&
         path[ancestor.size()] == '/';
}

}  // namespace octavo
