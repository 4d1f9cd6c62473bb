// Shared helpers for the C++ tests.
#pragma once

#include <arrow/api.h>

#include <filesystem>
#include <memory>
#include <string>

#include "octavo/octavo.h"

namespace octavo::testing {

// A fresh temporary directory removed at scope exit.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// id: int64 = first..first+n-1, x: float64 = id * 0.5, name: string "r<id>"
std::shared_ptr<arrow::Table> MakeRows(int64_t first, int64_t n);

#define ASSERT_OK(expr)                                   \
  do {                                                    \
    ::octavo::Status _s = (expr);                         \
    ASSERT_TRUE(_s.ok()) << _s.ToString();                \
  } while (false)

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                               \
  auto OCTAVO_CONCAT(_r_, __LINE__) = (rexpr);                         \
  ASSERT_TRUE(OCTAVO_CONCAT(_r_, __LINE__).ok())                       \
      << OCTAVO_CONCAT(_r_, __LINE__).status().ToString();             \
  lhs = std::move(OCTAVO_CONCAT(_r_, __LINE__)).ValueOrDie();

}  // namespace octavo::testing
