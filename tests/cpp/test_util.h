// Shared helpers for the C++ tests.
#pragma once

#include <arrow/api.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>

#include <nlohmann/json.hpp>
#include <memory>
#include <string>
#include <vector>

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

// A RecordBatchReader over an in-memory table (what CreateTable(path, data) takes).
std::shared_ptr<arrow::RecordBatchReader> ReaderOf(const std::shared_ptr<arrow::Table>& t);

inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Whole-file helpers; I/O errors fail the current test.
std::string ReadBytes(const std::string& path);
void WriteBytes(const std::string& path, const std::string& data);

// Every regular file under `dir`, as sorted paths relative to it.
std::vector<std::string> ListFiles(const std::string& dir);

// Rewrites the manifest CURRENT names through `edit` (the whole manifest JSON), re-sealed,
// and points CURRENT at it with a matching size and checksums: a hand edit that keeps every
// checksum valid, as a buggy or hostile writer would make. Returns the manifest's file name.
std::string ForgeManifest(const std::string& root, const std::function<void(nlohmann::ordered_json&)>& edit);

// All rows of table `path` as a reader of bundle `b` sees them.
Result<std::shared_ptr<arrow::Table>> ReadTable(const Bundle& b, const std::string& path,
                                                const ReadOptions& options = {});

// Table equality by value (chunking and schema metadata ignored), with both tables in
// the failure message.
::testing::AssertionResult TablesEqual(const arrow::Table& got, const arrow::Table& want);

inline Status ToStatus(const Status& s) { return s; }
template <typename T>
Status ToStatus(const Result<T>& r) { return r.status(); }

#define ASSERT_OK(expr)                                   \
  do {                                                    \
    ::octavo::Status _s = ::octavo::testing::ToStatus(expr); \
    ASSERT_TRUE(_s.ok()) << _s.ToString();                \
  } while (false)

#define EXPECT_OK(expr)                                   \
  do {                                                    \
    ::octavo::Status _s = ::octavo::testing::ToStatus(expr); \
    EXPECT_TRUE(_s.ok()) << _s.ToString();                \
  } while (false)

#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                               \
  auto OCTAVO_CONCAT(_r_, __LINE__) = (rexpr);                         \
  ASSERT_TRUE(OCTAVO_CONCAT(_r_, __LINE__).ok())                       \
      << OCTAVO_CONCAT(_r_, __LINE__).status().ToString();             \
  lhs = std::move(OCTAVO_CONCAT(_r_, __LINE__)).ValueOrDie();

// The status (of a Status or a Result) has exactly this code.
#define EXPECT_STATUS_CODE(expr, expected)                                        \
  do {                                                                            \
    ::octavo::Status _s = ::octavo::testing::ToStatus(expr);                      \
    EXPECT_EQ(std::string(::octavo::StatusCodeName(_s.code())),                 \
              std::string(::octavo::StatusCodeName(expected)))                    \
        << _s.ToString();                                                         \
  } while (false)

}  // namespace octavo::testing
