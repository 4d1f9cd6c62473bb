#include "format/sealed_json.h"

#include <cstdio>

#include "util/crc32.h"

namespace octavo {
namespace {
constexpr std::string_view kSealKey = "\"checksum\": \"crc32:";
constexpr size_t kHexDigits = 8;
}  // namespace

std::string SealJson(std::string dumped) {
  // Strip the closing brace (and the whitespace before it), then append the seal.
  while (!dumped.empty() && (dumped.back() == '\n' || dumped.back() == ' ')) dumped.pop_back();
  if (!dumped.empty() && dumped.back() == '}') dumped.pop_back();
  while (!dumped.empty() && (dumped.back() == '\n' || dumped.back() == ' ')) dumped.pop_back();
  const bool empty_object = !dumped.empty() && dumped.back() == '{';
  dumped += empty_object ? "\n " : ",\n ";
  dumped += kSealKey;
  char hex[16];
  std::snprintf(hex, sizeof(hex), "%08x", Crc32(dumped));
  dumped += hex;
  dumped += "\"\n}\n";
  return dumped;
}

Status VerifySealedJson(std::string_view text, const std::string& file, bool* sealed) {
  *sealed = false;
  const size_t pos = text.rfind(kSealKey);
  // No seal: a file from before seals (the caller decides whether that is allowed; a
  // manifest of format version 2 must have one).
  if (pos == std::string_view::npos) return Status::OK();
  *sealed = true;
  const size_t digits = pos + kSealKey.size();
  if (text.size() < digits + kHexDigits || text.substr(digits + kHexDigits) != "\"\n}\n")
    return Status::Corruption(file, " is damaged: its checksum is not the last thing in the file");
  uint32_t want = 0;
  for (size_t i = 0; i < kHexDigits; ++i) {
    const char c = text[digits + i];
    uint32_t v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else return Status::Corruption(file, " is damaged: its checksum is not hexadecimal");
    want = want << 4 | v;
  }
  if (Crc32(text.substr(0, digits)) != want)
    return Status::Corruption(file, " fails its checksum (the file is corrupt)");
  return Status::OK();
}

}  // namespace octavo
