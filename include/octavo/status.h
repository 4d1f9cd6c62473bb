// Errors are values: every fallible octavo call returns a Status or a Result<T>.
// Modelled on arrow::Status / arrow::Result, but octavo's own codes map one-to-one
// onto Python exceptions and CLI exit codes, and public headers stay Arrow-free.
#pragma once

#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <variant>

namespace octavo {

enum class StatusCode : int {
  kOK = 0,
  kInvalid = 1,          // bad argument or bad name
  kNotFound = 2,         // missing bundle, node, column, file
  kAlreadyExists = 3,    // node exists
  kTypeError = 4,        // wrong node kind, schema / dtype mismatch
  kIOError = 5,          // the OS said no (disk full, permission, ...)
  kCorruption = 6,       // a file does not hold what the manifest says
  kLocked = 7,           // another writer holds the bundle
  kNotImplemented = 8,
  kIndexError = 9,       // out-of-range rows / slices
  kUnsupportedVersion = 10,  // bundle written by a newer octavo
  kReadOnly = 11,        // write attempted on a read-only bundle
  kConflict = 12,        // another writer changed the same node since this change's base commit
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string msg);

  static Status OK() { return Status(); }

  template <typename... Args>
  static Status Invalid(Args&&... args) { return Make(StatusCode::kInvalid, std::forward<Args>(args)...); }
  template <typename... Args>
  static Status NotFound(Args&&... args) { return Make(StatusCode::kNotFound, std::forward<Args>(args)...); }
  template <typename... Args>
  static Status AlreadyExists(Args&&... args) { return Make(StatusCode::kAlreadyExists, std::forward<Args>(args)...); }
  template <typename... Args>
  static Status TypeError(Args&&... args) { return Make(StatusCode::kTypeError, std::forward<Args>(args)...); }
  template <typename... Args>
  static Status IOError(Args&&... args) { return Make(StatusCode::kIOError, std::forward<Args>(args)...); }
  template <typename... Args>
  static Status Corruption(Args&&... args) { return Make(StatusCode::kCorruption, std::forward<Args>(args)...); }
  template <typename... Args>
  static Status Locked(Args&&... args) { return Make(StatusCode::kLocked, std::forward<Args>(args)...); }
  template <typename... Args>
  static Status NotImplemented(Args&&... args) { return Make(StatusCode::kNotImplemented, std::forward<Args>(args)...); }
  template <typename... Args>
  static Status IndexError(Args&&... args) { return Make(StatusCode::kIndexError, std::forward<Args>(args)...); }
  template <typename... Args>
  static Status UnsupportedVersion(Args&&... args) { return Make(StatusCode::kUnsupportedVersion, std::forward<Args>(args)...); }
  template <typename... Args>
  static Status Conflict(Args&&... args) { return Make(StatusCode::kConflict, std::forward<Args>(args)...); }
  template <typename... Args>
  static Status ReadOnly(Args&&... args) { return Make(StatusCode::kReadOnly, std::forward<Args>(args)...); }

  bool ok() const { return state_ == nullptr; }
  StatusCode code() const { return state_ ? state_->code : StatusCode::kOK; }
  const std::string& message() const;
  std::string ToString() const;

  // Prefix the message with where it happened ("table /data/readout: ...").
  Status WithContext(const std::string& context) const;

 private:
  template <typename... Args>
  static Status Make(StatusCode code, Args&&... args) {
    std::ostringstream ss;
    (ss << ... << std::forward<Args>(args));
    return Status(code, ss.str());
  }
  struct State {
    StatusCode code;
    std::string msg;
  };
  std::shared_ptr<const State> state_;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : storage_(std::move(value)) {}  // NOLINT implicit
  Result(Status status) : storage_(std::move(status)) {  // NOLINT implicit
    if (std::get<Status>(storage_).ok()) storage_ = Status::Invalid("Result constructed from an OK Status");
  }

  bool ok() const { return std::holds_alternative<T>(storage_); }
  Status status() const { return ok() ? Status::OK() : std::get<Status>(storage_); }
  const T& ValueOrDie() const& { return std::get<T>(storage_); }
  T& ValueOrDie() & { return std::get<T>(storage_); }
  T ValueOrDie() && { return std::move(std::get<T>(storage_)); }
  T MoveValueUnsafe() { return std::move(std::get<T>(storage_)); }
  const T& operator*() const& { return ValueOrDie(); }
  T& operator*() & { return ValueOrDie(); }
  const T* operator->() const { return &std::get<T>(storage_); }
  T* operator->() { return &std::get<T>(storage_); }

 private:
  std::variant<Status, T> storage_;
};

}  // namespace octavo

#define OCTAVO_CONCAT_INNER(a, b) a##b
#define OCTAVO_CONCAT(a, b) OCTAVO_CONCAT_INNER(a, b)

#define OCTAVO_RETURN_NOT_OK(expr)                 \
  do {                                             \
    ::octavo::Status _st = (expr);                 \
    if (!_st.ok()) return _st;                     \
  } while (false)

#define OCTAVO_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                 \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).ValueOrDie();

#define OCTAVO_ASSIGN_OR_RETURN(lhs, rexpr) \
  OCTAVO_ASSIGN_OR_RETURN_IMPL(OCTAVO_CONCAT(_res_, __COUNTER__), lhs, rexpr)
