#include "util/names.h"

namespace octavo {

Status ValidateName(const std::string& name) {
  if (name.empty()) return Status::Invalid("empty node name");
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
