#include "octavo/arrow_status.h"

namespace octavo {

Status FromArrow(const arrow::Status& st) {
  if (st.ok()) return Status::OK();
  // ToArrow keeps octavo codes Arrow has no equivalent for as "<CodeName>: message"
  // inside an Invalid; recover them so a round trip through an Arrow stream keeps the code.
  if (st.code() == arrow::StatusCode::Invalid) {
    static const StatusCode kCarried[] = {StatusCode::kCorruption,         StatusCode::kLocked,
                                          StatusCode::kNotFound,           StatusCode::kTypeError,
                                          StatusCode::kAlreadyExists,      StatusCode::kReadOnly,
                                          StatusCode::kUnsupportedVersion, StatusCode::kInvalid};
    for (StatusCode c : kCarried) {
      const std::string prefix = std::string(StatusCodeName(c)) + ": ";
      if (st.message().rfind(prefix, 0) == 0) return Status(c, st.message().substr(prefix.size()));
    }
  }
  StatusCode code = StatusCode::kInvalid;
  switch (st.code()) {
    case arrow::StatusCode::IOError: code = StatusCode::kIOError; break;
    case arrow::StatusCode::TypeError: code = StatusCode::kTypeError; break;
    case arrow::StatusCode::KeyError: code = StatusCode::kNotFound; break;
    case arrow::StatusCode::IndexError: code = StatusCode::kIndexError; break;
    case arrow::StatusCode::NotImplemented: code = StatusCode::kNotImplemented; break;
    case arrow::StatusCode::SerializationError: code = StatusCode::kCorruption; break;
    default: code = StatusCode::kInvalid; break;
  }
  return Status(code, st.message());
}

arrow::Status ToArrow(const Status& st) {
  if (st.ok()) return arrow::Status::OK();
  switch (st.code()) {
    case StatusCode::kIOError: return arrow::Status::IOError(st.message());
    case StatusCode::kTypeError: return arrow::Status::TypeError(st.message());
    case StatusCode::kNotFound: return arrow::Status::KeyError(st.message());
    case StatusCode::kIndexError: return arrow::Status::IndexError(st.message());
    case StatusCode::kNotImplemented: return arrow::Status::NotImplemented(st.message());
    default: return arrow::Status::Invalid(st.ToString());
  }
}

}  // namespace octavo
