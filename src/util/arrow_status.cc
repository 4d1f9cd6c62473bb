#include "octavo/arrow_status.h"

#include <memory>
#include <string>
#include <string_view>

namespace octavo {

namespace {

// The octavo code of a Status that travels through Arrow (a RecordBatchReader octavo hands
// out, an Arrow callback): FromArrow recovers it exactly. Across the Arrow C stream interface
// only text survives: Arrow writes the detail after the message (". Detail: octavo:Corruption"),
// which the Python package reads back (python/octavo/errors.py).
class OctavoStatusDetail final : public arrow::StatusDetail {
 public:
  static constexpr const char* kTypeId = "octavo::StatusDetail";
  explicit OctavoStatusDetail(StatusCode code) : code_(code) {}
  const char* type_id() const override { return kTypeId; }
  std::string ToString() const override { return std::string("octavo:") + StatusCodeName(code_); }
  StatusCode code() const { return code_; }

 private:
  StatusCode code_;
};

}  // namespace

Status FromArrow(const arrow::Status& st) {
  if (st.ok()) return Status::OK();
  if (const auto& d = st.detail(); d && std::string_view(d->type_id()) == OctavoStatusDetail::kTypeId)
    return Status(static_cast<const OctavoStatusDetail&>(*d).code(), st.message());
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
  arrow::StatusCode code = arrow::StatusCode::Invalid;
  switch (st.code()) {
    case StatusCode::kIOError: code = arrow::StatusCode::IOError; break;
    case StatusCode::kTypeError: code = arrow::StatusCode::TypeError; break;
    case StatusCode::kNotFound: code = arrow::StatusCode::KeyError; break;
    case StatusCode::kIndexError: code = arrow::StatusCode::IndexError; break;
    case StatusCode::kNotImplemented: code = arrow::StatusCode::NotImplemented; break;
    default: break;
  }
  return arrow::Status(code, st.message(), std::make_shared<OctavoStatusDetail>(st.code()));
}

}  // namespace octavo
