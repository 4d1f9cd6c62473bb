#include "format/filename.h"

#include "format/manifest.h"
#include "util/json_util.h"

namespace octavo {

bool IsValidUid(std::string_view uid) {
  if (uid.empty() || uid.size() > 64) return false;
  for (char c : uid)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

Status CheckUid(std::string_view uid, const std::string& where) {
  if (!IsValidUid(uid))
    return Status::Corruption(where, ": invalid uid '", std::string(uid.substr(0, 80)),
                              "' (expected 1-64 lowercase hex digits); the manifest is damaged or was edited by hand");
  return Status::OK();
}

bool IsValidDataFileName(std::string_view rel) {
  const std::string_view prefix = "data/";
  if (rel.size() <= prefix.size() || rel.size() > 512 || rel.substr(0, prefix.size()) != prefix) return false;
  size_t start = prefix.size();
  while (start <= rel.size()) {
    size_t end = rel.find('/', start);
    if (end == std::string_view::npos) end = rel.size();
    std::string_view part = rel.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return false;
    for (char c : part) {
      const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                      c == '_' || c == '-';
      if (!ok) return false;
    }
    start = end + 1;
  }
  return true;
}

Status CheckDataFileName(std::string_view rel, const std::string& where) {
  if (!IsValidDataFileName(rel))
    return Status::Corruption(where, ": file name '", std::string(rel.substr(0, 200)),
                              "' is not a data file inside the bundle (expected data/...); the manifest is "
                              "damaged or was edited by hand: open an earlier commit with commit=N");
  return Status::OK();
}

bool IsValidDigest(std::string_view digest) {
  const std::string_view prefix = kDigestPrefix;
  if (digest.size() != prefix.size() + 64 || digest.substr(0, prefix.size()) != prefix) return false;
  for (char c : digest.substr(prefix.size()))
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string BlobFileName(const std::string& digest) {
  if (!IsValidDigest(digest)) return "";
  const std::string hex = digest.substr(std::string_view(kDigestPrefix).size());
  return std::string(kFilesDir) + "/" + hex.substr(0, 2) + "/" + hex;
}

std::string DataDirName(const std::string& uid) { return std::string(kDataDir) + "/" + uid; }

std::string NewPartFileName(const std::string& uid) { return DataDirName(uid) + "/" + RandomHex(12) + ".parquet"; }

}  // namespace octavo
