// Condition parser + compiler: any string, against a fixed schema of every column type.
#include <arrow/api.h>

#include "query/condition.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto schema = arrow::schema({
      arrow::field("x", arrow::int64()), arrow::field("y", arrow::float64()),
      arrow::field("s", arrow::utf8()), arrow::field("b", arrow::boolean()),
      arrow::field("t", arrow::timestamp(arrow::TimeUnit::MICRO)), arrow::field("i8", arrow::int8()),
      arrow::field("u", arrow::uint32()), arrow::field("d", arrow::date32())});
  static const octavo::CondVars vars = {{"lim", octavo::QueryValue::Int(3)}};
  std::string text(reinterpret_cast<const char*>(data), size);
  (void)octavo::query::Parse(text);
  (void)octavo::query::Compile(text, *schema, vars, "/fuzz");
  return 0;
}
