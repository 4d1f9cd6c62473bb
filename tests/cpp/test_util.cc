#include "test_util.h"

#include <cstdlib>

namespace octavo::testing {

TempDir::TempDir() {
  char tmpl[] = "/tmp/octavo-test-XXXXXX";
  path_ = mkdtemp(tmpl);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::shared_ptr<arrow::Table> MakeRows(int64_t first, int64_t n) {
  arrow::Int64Builder ids;
  arrow::DoubleBuilder xs;
  arrow::StringBuilder names;
  for (int64_t i = first; i < first + n; ++i) {
    (void)ids.Append(i);
    (void)xs.Append(static_cast<double>(i) * 0.5);
    (void)names.Append("r" + std::to_string(i));
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("x", arrow::float64()),
                               arrow::field("name", arrow::utf8())});
  return arrow::Table::Make(schema, {*ids.Finish(), *xs.Finish(), *names.Finish()});
}

}  // namespace octavo::testing
