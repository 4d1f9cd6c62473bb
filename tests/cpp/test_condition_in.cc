// `x IN (...)`: whatever the compiler makes of a list (a set lookup for literals), every row
// gets what the chain of == it abbreviates gives -- pandas' missing-value semantics, literal
// coercion to the column's type, NOT IN -- and pruning agrees with the values.
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "query/condition.h"

namespace octavo {
namespace {

using query::ColumnBounds;

std::shared_ptr<arrow::Array> Json(const std::shared_ptr<arrow::DataType>& type, const std::string& json) {
  auto r = arrow::json::ArrayFromJSONString(type, json);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return *r;
}

template <typename Builder, typename T>
std::shared_ptr<arrow::Array> Floats(const std::vector<std::optional<T>>& v) {
  Builder b;
  for (const auto& x : v) EXPECT_TRUE((x ? b.Append(*x) : b.AppendNull()).ok());
  return b.Finish().ValueOrDie();
}

// Ten rows of many types, with nulls, NaN, signed zeros and extremes.
std::shared_ptr<arrow::RecordBatch> Data() {
  const double nan = std::nan("");
  std::vector<std::shared_ptr<arrow::Field>> fields;
  std::vector<std::shared_ptr<arrow::Array>> cols;
  auto add = [&](const std::string& name, std::shared_ptr<arrow::Array> a) {
    fields.push_back(arrow::field(name, a->type()));
    cols.push_back(std::move(a));
  };
  add("i", Json(arrow::int64(),
                "[null, 0, 1, -5, 300, 2, 9223372036854775807, 10000000000000001, 10000000000000000, -1]"));
  add("i8", Json(arrow::int8(), "[null, 0, 1, -5, 100, 2, 127, -128, 44, -1]"));
  add("u", Json(arrow::uint64(), "[null, 0, 1, 5, 300, 2, 18446744073709551615, 7, 44, 1]"));
  add("f", Floats<arrow::DoubleBuilder, double>({std::nullopt, 0.0, -0.0, nan, 1.5, 2.0, 1e16, 0.1,
                                                 std::numeric_limits<double>::infinity(), -1.0}));
  add("g", Floats<arrow::FloatBuilder, float>({std::nullopt, 0.0f, -0.0f, static_cast<float>(nan), 1.5f, 2.0f,
                                               1e16f, 0.1f, 3.0f, -1.0f}));
  add("s", Json(arrow::utf8(), R"([null, "", "a", "b", "\u00e9", "a ", "A", "2", "zz", "a"])"));
  add("ls", Json(arrow::large_utf8(), R"([null, "", "a", "b", "\u00e9", "a ", "A", "2", "zz", "a"])"));
  add("bin", Json(arrow::binary(), R"([null, "", "a", "b", "c", "a ", "A", "2", "zz", "a"])"));
  add("b", Json(arrow::boolean(), "[null, true, false, true, false, true, false, true, false, null]"));
  add("d", arrow::DictionaryArray::FromArrays(arrow::dictionary(arrow::int32(), arrow::utf8()),
                                              Json(arrow::int32(), "[null, 0, 1, 2, 0, 1, 2, 0, 1, 2]"),
                                              Json(arrow::utf8(), R"(["a", "b", "c"])"))
                .ValueOrDie());
  add("ts", Json(arrow::timestamp(arrow::TimeUnit::MICRO),
                 R"([null, "2024-01-31", "2024-01-31 12:00:00", "1970-01-01", "2024-02-01", null,
                     "2024-01-31", "2000-01-01", "2024-01-31 00:00:01", "1999-12-31"])"));
  add("dt", Json(arrow::date32(), "[null, 0, 19753, 19754, 1, 2, 19753, 10957, 3, 4]"));
  return arrow::RecordBatch::Make(arrow::schema(fields), 10, cols);
}

struct Eval {
  std::string bits;  // one 0/1 per row, or "ERROR <code>"
};

std::string Run(const std::string& cond, const std::shared_ptr<arrow::RecordBatch>& rb, const CondVars& vars) {
  auto c = query::Compile(cond, *rb->schema(), vars);
  if (!c.ok()) return "ERROR " + std::to_string(static_cast<int>(c.status().code()));
  auto bound = c->filter.Bind(*rb->schema());
  if (!bound.ok()) return "BIND ERROR " + bound.status().ToString();
  auto eb = arrow::compute::MakeExecBatch(*rb->schema(), rb).ValueOrDie();
  auto out = arrow::compute::ExecuteScalarExpression(*bound, eb);
  if (!out.ok()) return "EXEC ERROR " + out.status().ToString();
  std::shared_ptr<arrow::Array> arr;
  if (out->is_scalar()) {
    arr = arrow::MakeArrayFromScalar(*out->scalar(), rb->num_rows()).ValueOrDie();
  } else {
    arr = out->make_array();
  }
  if (arr->null_count() != 0) return "NULLS in " + arr->ToString();
  std::string bits;
  const auto& ba = static_cast<const arrow::BooleanArray&>(*arr);
  for (int64_t i = 0; i < ba.length(); ++i) bits += ba.Value(i) ? '1' : '0';
  return bits;
}

std::vector<std::string> SplitList(const std::string& list) {
  std::vector<std::string> out;
  std::string cur;
  bool quoted = false;
  for (char ch : list) {
    if (ch == '\'') quoted = !quoted;
    if (ch == ',' && !quoted) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += ch;
    }
  }
  out.push_back(cur);
  return out;
}

std::string Short(const std::string& s) { return s.size() > 160 ? s.substr(0, 160) + "..." : s; }

// `got` is `want`, except where the == chain fails while it runs (comparing an int64 column
// holding values beyond 2**53 with a float that is not an integer casts the column to
// float64, which Arrow refuses): there IN may answer instead.
void ExpectSame(const std::string& got, const std::string& want, const std::string& what) {
  if (want.rfind("EXEC ERROR", 0) == 0 && got.find("ERROR") == std::string::npos) return;
  EXPECT_EQ(got, want) << Short(what);
}

// x IN (list) and x NOT IN (list) against the == chains.
void ExpectLikeEqualities(const std::string& x, const std::string& list, const std::shared_ptr<arrow::RecordBatch>& rb,
                          const CondVars& vars) {
  std::string ors;
  for (const auto& v : SplitList(list)) ors += (ors.empty() ? "" : " | ") + ("(" + x + " == " + v + ")");
  const std::string in = Run(x + " IN (" + list + ")", rb, vars);
  ExpectSame(in, Run(ors, rb, vars), x + " IN (" + list + ")");
  ExpectSame(Run(x + " NOT IN (" + list + ")", rb, vars), Run("~(" + ors + ")", rb, vars),
             x + " NOT IN (" + list + ")");
  ExpectSame(Run("~(" + x + " IN (" + list + "))", rb, vars), Run("~(" + ors + ")", rb, vars),
             "~(" + x + " IN (" + list + "))");
}

void ExpectSameError(const std::string& x, const std::string& list, const std::shared_ptr<arrow::RecordBatch>& rb,
                     const CondVars& vars) {
  std::string ors;
  for (const auto& v : SplitList(list)) ors += (ors.empty() ? "" : " | ") + ("(" + x + " == " + v + ")");
  const std::string in = Run(x + " IN (" + list + ")", rb, vars);
  EXPECT_EQ(in.rfind("ERROR", 0), 0u) << Short(x + " IN (" + list + "): " + in);
  EXPECT_EQ(in, Run(ors, rb, vars)) << Short(x + " IN (" + list + ")");
}

CondVars Vars() {
  return {{"nan", QueryValue::Float(std::nan(""))},
          {"inf", QueryValue::Float(std::numeric_limits<double>::infinity())},
          {"nothing", QueryValue::Null()},
          {"word", QueryValue::String("a")},
          {"raw", QueryValue::Bytes("a")}};
}

TEST(ConditionIn, SameRowsAsEqualityChains) {
  auto rb = Data();
  auto vars = Vars();
  const std::vector<std::string> numeric_lists = {
      "0",       "0, 1, 2",  "2.0, 2.5, -5",    "1e16, 10000000000000001", "300, -200",  "-0.0",
      "0.0, 1.5", "nan, 1",  "nothing, 2",      "nothing",                 "nan",        "inf, -1",
      "0.1",      "True, 7", "9223372036854775807, 18446744073709551615",  "44, 44, 44", "1, nothing, nan, 300",
      "-1, -128, 127, 128"};
  for (const std::string x : {"i", "i8", "u", "f", "g", "i + 0", "f * 1"})
    for (const auto& list : numeric_lists) ExpectLikeEqualities(x, list, rb, vars);
  const std::vector<std::string> string_lists = {"'a'",        "'a', 'b', ''", "'\xc3\xa9', 'zz'", "nothing, 'a'",
                                                 "word, 'A'", "raw",          "b'a', 'b'",         "'a', 'a', 'a'",
                                                 "'x'"};
  for (const std::string x : {"s", "ls", "bin", "d"})
    for (const auto& list : string_lists) ExpectLikeEqualities(x, list, rb, vars);
  for (const auto& list : {"True", "False, nothing", "True, False", "1", "0, True"})
    ExpectLikeEqualities("b", list, rb, vars);
  for (const auto& list : {"'2024-01-31'", "'2024-01-31', '1970-01-01', nothing", "'2024-01-31 12:00:00'"})
    ExpectLikeEqualities("ts", list, rb, vars);
  for (const auto& list : {"'2024-01-31'", "'1970-01-01', '2024-02-01', '2000-01-01'"})
    ExpectLikeEqualities("dt", list, rb, vars);
  // Items that are not literals, and literals on the left.
  ExpectLikeEqualities("i", "u, 2, i8", rb, vars);
  ExpectLikeEqualities("s", "ls, 'b'", rb, vars);
  ExpectLikeEqualities("1", "i, 2, u", rb, vars);
  ExpectLikeEqualities("'a'", "s, 'b'", rb, vars);
  ExpectLikeEqualities("2", "1, 2", rb, vars);
  // Type errors stay type errors.
  ExpectSameError("s", "'a', 1", rb, vars);
  ExpectSameError("i", "1, 'a'", rb, vars);
  ExpectSameError("ts", "'a'", rb, vars);
  ExpectSameError("b", "2", rb, vars);
}

TEST(ConditionIn, LongListsAgreeWithEqualityChains) {
  auto rb = Data();
  auto vars = Vars();
  std::string ints, strs;
  for (int k = 0; k < 3000; ++k) {
    ints += (k ? ", " : "") + std::to_string(k * 7 - 5000);
    strs += std::string(k ? ", " : "") + "'" + static_cast<char>('a' + k % 26) + std::to_string(k % 3) + "'";
  }
  ints += ", 300, 44, nothing, nan";
  strs += ", 'b', ''";
  for (const std::string x : {"i", "i8", "u", "f", "g"}) ExpectLikeEqualities(x, ints, rb, vars);
  for (const std::string x : {"s", "ls", "d", "bin"}) ExpectLikeEqualities(x, strs, rb, vars);
}

ColumnBounds IntBounds(int64_t lo, int64_t hi, bool missing = false, bool exact = true) {
  ColumnBounds b;
  b.known = true;
  b.min = arrow::MakeScalar(lo);
  b.max = arrow::MakeScalar(hi);
  b.may_missing = missing;
  b.has_values = true;
  b.exact = exact;
  return b;
}

query::Possible Possible(const std::string& cond, const ColumnBounds& b) {
  auto schema = arrow::schema({arrow::field("id", arrow::int64())});
  auto c = query::Compile(cond, *schema, {});
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  if (!c.ok()) return {};
  return query::Evaluate(*c->prune, {b});
}

// Literal lists become one set lookup with a prune node holding the sorted values; other
// items stay comparisons next to it.
TEST(ConditionIn, LiteralsBecomeOneSetLookup) {
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("j", arrow::int64())});
  std::string list;
  for (int k = 0; k < 200000; ++k) list += (k ? "," : "") + std::to_string((k * 7919) % 1000003);
  auto c = query::Compile("id IN (" + list + ")", *schema, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->prune->kind, query::PruneNode::Kind::kIn);
  EXPECT_EQ(c->prune->values->length(), 200000);
  EXPECT_EQ(c->prune->values->GetScalar(0).ValueOrDie()->ToString(), "0");
  EXPECT_NE(c->filter.ToString().find("is_in"), std::string::npos);
  c = query::Compile("id NOT IN (3, j, 2, 2, None)", *schema, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->prune->kind, query::PruneNode::Kind::kNot);
  const auto& any = *c->prune->args[0];
  ASSERT_EQ(any.kind, query::PruneNode::Kind::kOr);
  ASSERT_EQ(any.args.size(), 2u);  // id == j, and the set {2, 3}
  EXPECT_EQ(any.args[1]->kind, query::PruneNode::Kind::kIn);
  EXPECT_EQ(any.args[1]->values->ToString(), arrow::json::ArrayFromJSONString(arrow::int64(), "[2, 3]")
                                                 .ValueOrDie()->ToString());
  c = query::Compile("id IN (None, 2.5)", *schema, {});  // nothing can match
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->prune->kind, query::PruneNode::Kind::kConst);
}

// A row group is skipped when none of the listed values lies in its [min, max], even when
// the list's own range covers it.
TEST(ConditionIn, PruningFindsValuesInsideBounds) {
  std::string around = "id IN (";
  for (int k = 0; k < 30000; ++k) around += (k ? "," : "") + std::to_string(k < 15000 ? k : k + 1000);
  around += ")";  // 0..14999 and 16000..30999: nothing in [15000, 15999]
  EXPECT_FALSE(Possible(around, IntBounds(15000, 15999)).may_true);
  EXPECT_TRUE(Possible(around, IntBounds(15000, 16000)).may_true);
  EXPECT_TRUE(Possible(around, IntBounds(14999, 15500)).may_true);
  EXPECT_FALSE(Possible(around, IntBounds(40000, 50000)).may_true);
  EXPECT_FALSE(Possible(around, IntBounds(-10, -1)).may_true);
  EXPECT_TRUE(Possible("id NOT" + around.substr(2), IntBounds(15000, 15999)).may_true);
  EXPECT_FALSE(Possible("id NOT" + around.substr(2), IntBounds(15000, 15999)).may_false);
  // Every row provably in the list (one exact value): IN is true throughout, NOT IN false.
  EXPECT_FALSE(Possible(around, IntBounds(7, 7)).may_false);
  EXPECT_FALSE(Possible("~(" + around + ")", IntBounds(7, 7)).may_true);
  EXPECT_TRUE(Possible(around, IntBounds(7, 7, false, false)).may_false);  // truncated bounds prove nothing
  EXPECT_TRUE(Possible(around, IntBounds(7, 7, true)).may_false);           // nulls are not in any list
  EXPECT_TRUE(Possible("~(" + around + ")", IntBounds(7, 7, true)).may_true);
  // Only nulls: IN is false, NOT IN true.
  ColumnBounds nulls;
  nulls.known = true;
  nulls.has_values = false;
  nulls.may_missing = true;
  EXPECT_FALSE(Possible(around, nulls).may_true);
  EXPECT_FALSE(Possible("id NOT" + around.substr(2), nulls).may_false);
  EXPECT_TRUE(Possible("id IN (1, 2)", ColumnBounds{}).may_true);  // nothing known
}

}  // namespace
}  // namespace octavo
