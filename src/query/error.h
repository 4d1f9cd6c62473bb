// Error messages for conditions: the message, then the condition with a caret line.
#pragma once

#include <algorithm>
#include <string>

#include "octavo/status.h"

namespace octavo::query {

// "  (x > 3) & (y <"  /  "              ^^"
inline std::string CaretLines(const std::string& text, size_t pos, size_t end) {
  pos = std::min(pos, text.size());
  end = std::max(end, pos + 1);
  std::string line = text;
  for (auto& c : line)
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
  return "\n  " + line + "\n  " + std::string(pos, ' ') + std::string(end - pos, '^');
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
