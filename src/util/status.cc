#include "octavo/status.h"

#include "util/names.h"

namespace octavo {

const char* StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOK: return "OK";
    case StatusCode::kInvalid: return "Invalid";
    case StatusCode::kNotFound: return "NotFound";
    case StatusCode::kAlreadyExists: return "AlreadyExists";
    case StatusCode::kTypeError: return "TypeError";
    case StatusCode::kIOError: return "IOError";
    case StatusCode::kCorruption: return "Corruption";
    case StatusCode::kLocked: return "Locked";
    case StatusCode::kNotImplemented: return "NotImplemented";
    case StatusCode::kIndexError: return "IndexError";
    case StatusCode::kUnsupportedVersion: return "UnsupportedVersion";
    case StatusCode::kReadOnly: return "ReadOnly";
    case StatusCode::kConflict: return "Conflict";
  }
  return "Unknown";
}

Status::Status(StatusCode code, std::string msg) {
  // Messages quote file content and caller input: escape stray bytes here, once for every
  // message, so no caller has to remember to (Python and JSON need valid UTF-8).
  if (code != StatusCode::kOK) state_ = std::make_shared<State>(State{code, EscapeInvalidUtf8(std::move(msg))});
}

const std::string& Status::message() const {
  static const std::string kEmpty;
  return state_ ? state_->msg : kEmpty;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(StatusCodeName(code())) + ": " + message();
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(code(), context + ": " + message());
}

}  // namespace octavo
