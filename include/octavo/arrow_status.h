// Bridge between arrow::Status / arrow::Result and octavo::Status, for code that mixes the
// two (the CLI, the bindings, RecordBatchReaders that octavo hands out or consumes).
#pragma once

#include <arrow/result.h>
#include <arrow/status.h>

#include "octavo/status.h"

namespace octavo {

Status FromArrow(const arrow::Status& st);

}  // namespace octavo

#define OCTAVO_RETURN_NOT_ARROW_OK(expr)                   \
  do {                                                     \
    ::arrow::Status _ast = (expr);                         \
    if (!_ast.ok()) return ::octavo::FromArrow(_ast);      \
  } while (false)

#define OCTAVO_ARROW_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                       \
  if (!tmp.ok()) return ::octavo::FromArrow(tmp.status());  \
  lhs = std::move(tmp).ValueOrDie();

#define OCTAVO_ARROW_ASSIGN_OR_RETURN(lhs, rexpr) \
  OCTAVO_ARROW_ASSIGN_OR_RETURN_IMPL(OCTAVO_CONCAT(_ares_, __COUNTER__), lhs, rexpr)

// Converting the other way, for code that implements Arrow interfaces.
#define OCTAVO_TO_ARROW(st) ::octavo::ToArrow(st)
namespace octavo {
arrow::Status ToArrow(const Status& st);
}
