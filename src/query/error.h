// Error messages for conditions: the message, then the condition with a caret line.
#pragma once

#include <algorithm>
#include <string>

#include "octavo/status.h"

namespace octavo::query {

// How much of a condition an error message quotes: a condition can be megabytes (an IN list of
// a million ids), the message should stay readable and small.
inline constexpr size_t kConditionQuoteWidth = 120;

inline bool IsUtf8Continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// "  (x > 3) & (y <"  /  "              ^^"; a long condition is quoted as a window of about
// kConditionQuoteWidth bytes around the error, cut at character boundaries, "..." marking the cuts.
inline std::string CaretLines(const std::string& text, size_t pos, size_t end) {
  pos = std::min(pos, text.size());
  end = std::max(end, pos + 1);
  size_t from = 0, to = text.size();
  if (text.size() > kConditionQuoteWidth) {
    from = pos > kConditionQuoteWidth / 3 ? pos - kConditionQuoteWidth / 3 : 0;
    to = std::min(text.size(), from + kConditionQuoteWidth);
    while (from > 0 && from < text.size() && IsUtf8Continuation(text[from])) --from;
    while (to < text.size() && IsUtf8Continuation(text[to])) ++to;
  }
  std::string line = (from > 0 ? "..." : "") + text.substr(from, to - from) + (to < text.size() ? "..." : "");
  for (auto& c : line)
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
  const size_t col = pos - from + (from > 0 ? 3 : 0);
  const size_t width = std::min(end, to) > pos ? std::min(end, to) - pos : 1;
  return "\n  " + line + "\n  " + std::string(col, ' ') + std::string(width, '^');
}

// A token or name quoted inside a message, shortened the same way.
inline std::string Quoted(const std::string& token) {
  if (token.size() <= kConditionQuoteWidth) return token;
  size_t to = kConditionQuoteWidth;
  while (to < token.size() && IsUtf8Continuation(token[to])) ++to;
  return token.substr(0, to) + "... (" + std::to_string(token.size()) + " bytes)";
}

inline std::string At(const std::string& text, size_t pos, size_t end) {
  return " (at position " + std::to_string(pos) + ")" + CaretLines(text, pos, end);
}

inline Status SyntaxError(const std::string& text, size_t pos, size_t end, const std::string& msg) {
  return Status::Invalid("invalid condition: ", msg, At(text, pos, end));
}

inline Status CondTypeError(const std::string& text, size_t pos, size_t end, const std::string& msg) {
  return Status::TypeError("condition type error: ", msg, At(text, pos, end));
}

}  // namespace octavo::query
