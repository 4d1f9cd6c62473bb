#include "util/json_util.h"


#include <algorithm>
#include <random>

namespace octavo {

static const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += (i + 1 < in.size()) ? kB64[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view in) {
  int8_t table[256];
  std::fill(std::begin(table), std::end(table), int8_t(-1));
  for (int i = 0; i < 64; ++i) table[uint8_t(kB64[i])] = int8_t(i);
  if (in.size() % 4 != 0) return Status::Corruption("base64 text has a length that is not a multiple of 4");
  std::string out;
  out.reserve(in.size() / 4 * 3);
  for (size_t i = 0; i < in.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=') {
        if (i + 4 != in.size() || k < 2) return Status::Corruption("misplaced base64 padding");
        ++pad;
        v <<= 6;
        continue;
      }
      if (pad) return Status::Corruption("misplaced base64 padding");
      int8_t d = table[uint8_t(c)];
      if (d < 0) return Status::Corruption("invalid base64 character");
      v = (v << 6) | uint32_t(d);
    }
    out += char(v >> 16);
    if (pad < 2) out += char((v >> 8) & 255);
    if (pad < 1) out += char(v & 255);
  }
  return out;
}

std::string RandomHex(int nbytes) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < nbytes; ++i) {
    auto b = static_cast<uint8_t>(rng());
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

// Deepest bracket nesting outside strings: a linear pre-scan, so that overly deep text is
// refused before nlohmann builds (and later recursively dumps) it.
static int64_t JsonNestingDepth(std::string_view text) {
  int64_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

Result<Json> ParseJson(std::string_view text, const std::string& what, StatusCode code) {
  if (int64_t depth = JsonNestingDepth(text); depth > kMaxJsonDepth) {
    return Status(code, what + " is JSON nested " + std::to_string(depth) +
                            " levels deep; at most " + std::to_string(kMaxJsonDepth) + " are allowed");
  }
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const std::exception& e) {
    return Status(code, what + " is not valid JSON: " + e.what());
  }
}

}  // namespace octavo
