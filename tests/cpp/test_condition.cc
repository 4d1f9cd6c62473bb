// Conditions: parser, compiler errors, statistics pruning, and Table::Where end to end.
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <cmath>
#include <gtest/gtest.h>

#include "query/condition.h"
#include "test_util.h"

namespace octavo {
namespace {

using query::ColumnBounds;
using query::Parse;
using query::ToSExpr;
using testing::TempDir;

std::string S(const std::string& cond) {
  auto r = Parse(cond);
  if (!r.ok()) return "ERROR: " + r.status().message();
  return ToSExpr(**r);
}

TEST(ConditionParser, PyTablesSyntax) {
  EXPECT_EQ(S("(TDCcount > 3) & (20 <= pressure) & (pressure < 50)"),
            "(and (> TDCcount 3) (<= 20 pressure) (< pressure 50))");
  EXPECT_EQ(S("~(x > 1) | (y == 'a')"), "(or (not (> x 1)) (== y 'a'))");
  EXPECT_EQ(S("name == b'foo'"), "(== name b'foo')");
  EXPECT_EQ(S("x + 2 * y ** 2 > -3"), "(> (+ x (* 2 (** y 2))) -3)");
  EXPECT_EQ(S("-x ** 2 < 1"), "(< (- (** x 2)) 1)");
  EXPECT_EQ(S("abs(x - 1) < sqrt(y)"), "(< (abs (- x 1)) (sqrt y))");
  EXPECT_EQ(S("where(x > 0, x, -x) >= 1"), "(>= (where (> x 0) x (- x)) 1)");
  EXPECT_EQ(S("x % 3 == 1"), "(== (% x 3) 1)");
}

TEST(ConditionParser, ChainedComparisons) {
  EXPECT_EQ(S("0 < x < 1"), "(and (< 0 x) (< x 1))");
  EXPECT_EQ(S("0 < x <= y < 5"), "(and (and (< 0 x) (<= x y)) (< y 5))");
}

TEST(ConditionParser, SqlSyntax) {
  EXPECT_EQ(S("x > 1 AND y = 2 OR NOT z <> 3"), "(or (and (> x 1) (== y 2)) (not (!= z 3)))");
  EXPECT_EQ(S("x IN (1, 2, 3)"), "(in x 1 2 3)");
  EXPECT_EQ(S("x not in ('a')"), "(not-in x 'a')");
  EXPECT_EQ(S("x BETWEEN 1 AND 2 AND y IS NULL"), "(and (between x 1 2) (is_null y))");
  EXPECT_EQ(S("x NOT BETWEEN 1 AND 2"), "(not-between x 1 2)");
  EXPECT_EQ(S("y IS NOT NULL"), "(not-is_null y)");
  EXPECT_EQ(S("`odd name` > 1"), "(> odd name 1)");
  EXPECT_EQ(S("s == 'it''s'"), "(== s 'it's')");
}

TEST(ConditionParser, LikeAndStringFunctions) {
  EXPECT_EQ(S("name LIKE 'r1%'"), "(like name 'r1%')");
  EXPECT_EQ(S("name NOT ILIKE '%X_' AND x > 1"), "(and (not (ilike name '%X_')) (> x 1))");
  EXPECT_EQ(S("contains(host, 'glidein') & ~startswith(name, 'r')"),
            "(and (contains host 'glidein') (not (startswith name 'r')))");
  EXPECT_FALSE(query::Parse("name LIKE").ok());
}

TEST(ConditionParser, ErrorsPointAtThePosition) {
  auto r = Parse("(x > 3) & (y < )");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalid);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("position 15"), std::string::npos) << m;
  EXPECT_NE(m.find("\n  (x > 3) & (y < )\n                 ^"), std::string::npos) << m;

  r = Parse("(x > 3");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("never closed"), std::string::npos) << r.status().message();
  r = Parse("x > 3)");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unbalanced ')'"), std::string::npos);
  r = Parse("x > 'abc");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unterminated string"), std::string::npos);
  r = Parse("x >> 3");
  ASSERT_FALSE(r.ok());
  r = Parse("");
  ASSERT_FALSE(r.ok());
  r = Parse("x > 3 y");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("position 6"), std::string::npos) << r.status().message();
}

std::shared_ptr<arrow::Schema> TestSchema() {
  return arrow::schema({arrow::field("id", arrow::int64()), arrow::field("x", arrow::float64()),
                        arrow::field("name", arrow::utf8()), arrow::field("flag", arrow::boolean()),
                        arrow::field("small", arrow::int8())});
}

// Hostile sizes: each is an answer or an octavo error, never a stack overflow.
TEST(ConditionCompiler, HugeAndDeepConditions) {
  auto schema = TestSchema();
  auto repeat = [](const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
  };
  auto is_depth_error = [](const Status& st) {
    return st.code() == StatusCode::kInvalid && st.message().find("nests deeper than 256") != std::string::npos;
  };
  // 30,000 ids in an IN list (a real use) and 3,000 | / & terms compile.
  std::string in = "id IN (";
  for (int i = 0; i < 30000; ++i) in += (i ? "," : "") + std::to_string(i * 7);
  in += ")";
  ASSERT_TRUE(query::Compile(in, *schema, {}).ok());
  ASSERT_TRUE(query::Compile("id NOT " + in.substr(3), *schema, {}).ok());
  std::string ors = "(id == 0)";
  for (int i = 1; i < 3000; ++i) ors += " | (id == " + std::to_string(i) + ")";
  auto c = query::Compile(ors, *schema, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->prune->args.size(), 3000u);  // one n-ary OR for pruning
  std::string ands = "(x > 0)" + repeat(" AND (x > 0)", 3000);
  ASSERT_TRUE(query::Compile(ands, *schema, {}).ok());
  // Nesting is bounded with a clear error.
  EXPECT_TRUE(is_depth_error(Parse(repeat("~", 3000) + "flag").status()));
  EXPECT_TRUE(is_depth_error(Parse(repeat("NOT ", 3000) + "flag").status()));
  EXPECT_TRUE(is_depth_error(Parse(repeat("(", 10000) + "flag" + repeat(")", 10000)).status()));
  EXPECT_TRUE(is_depth_error(Parse(repeat("-", 10000) + "x > 0").status()));
  EXPECT_TRUE(is_depth_error(Parse("x" + repeat(" + 1", 3000) + " > 0").status()));
  EXPECT_TRUE(is_depth_error(Parse("x" + repeat(" ** x", 3000) + " > 0").status()));
  EXPECT_TRUE(is_depth_error(Parse(repeat("abs(", 3000) + "x" + repeat(")", 3000) + " > 0").status()));
  EXPECT_TRUE(is_depth_error(Parse(repeat("0 < ", 3000) + "x").status()));
  // Below the bound it still works.
  EXPECT_TRUE(query::Compile(repeat("(", 100) + "x > 0" + repeat(")", 100), *schema, {}).ok());
  EXPECT_TRUE(query::Compile(repeat("~", 100) + "flag", *schema, {}).ok());
  // Huge literals, long names, NUL bytes and invalid UTF-8: an answer or an error.
  EXPECT_TRUE(query::Compile("x > 1" + std::string(5000, '0'), *schema, {}).ok());
  (void)query::Compile("id > 1" + std::string(5000, '0') + ".5e99999", *schema, {});
  EXPECT_TRUE(query::Compile("name == '" + std::string(1 << 20, 'a') + "'", *schema, {}).ok());
  EXPECT_TRUE(query::Compile(std::string(1 << 20, 'a') + " > 1", *schema, {}).status().code() == StatusCode::kNotFound);
  (void)query::Compile(std::string("name == 'a\0b'"), *schema, {});
  (void)query::Compile(std::string("name == 'a") + std::string(1, '\0') + "b'", *schema, {});
  (void)query::Compile(std::string("name == '\xff\xfe'"), *schema, {});
  (void)query::Compile(std::string("name == '") + "\xff\xfe\xc0" + "'", *schema, {});
  (void)query::Compile(std::string("\xff\xfe > 1"), *schema, {});
}

TEST(ConditionCompiler, UnknownColumnListsColumns) {
  auto r = query::Compile("presure > 3", *TestSchema(), {}, "/readout");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("'presure'"), std::string::npos) << m;
  EXPECT_NE(m.find("id, x, name, flag, small"), std::string::npos) << m;
  EXPECT_NE(m.find("^^^^^^^"), std::string::npos) << m;
}

// A megabyte condition (an IN list of ids with a typo at the end) gives a message of a few
// hundred bytes that still points at the error, and cuts only at character boundaries.
TEST(ConditionCompiler, ErrorsQuoteAWindowOfLongConditions) {
  std::string in = "id IN (";
  for (int i = 0; i < 100000; ++i) in += std::to_string(i) + ", ";
  auto r = query::Compile(in + "7 8)", *TestSchema(), {});
  ASSERT_FALSE(r.ok());
  std::string m = r.status().message();
  EXPECT_LT(m.size(), 1000u) << m.size();
  EXPECT_NE(m.find("99998, 99999, 7 8)"), std::string::npos) << m;
  EXPECT_EQ(m.find("IN (0, 1, 2"), std::string::npos) << m;  // the start is cut
  auto nl = m.rfind('\n');
  ASSERT_NE(nl, std::string::npos);
  const std::string caret = m.substr(nl + 1);
  const std::string line = m.substr(m.rfind('\n', nl - 1) + 1, nl - m.rfind('\n', nl - 1) - 1);
  EXPECT_EQ(line.substr(caret.find('^'), 1), "8") << m;  // the caret stands under the error

  auto s = query::Compile("name == '" + std::string(1 << 20, 'a') + "' + 1", *TestSchema(), {});
  ASSERT_FALSE(s.ok());
  EXPECT_LT(s.status().message().size(), 1000u);
  auto u = query::Compile(std::string(1 << 20, 'a') + " > 1", *TestSchema(), {});
  ASSERT_FALSE(u.ok());
  EXPECT_LT(u.status().message().size(), 1000u);
  // a window edge inside a multi-byte character moves to the character's start
  std::string greek;
  for (int i = 0; i < 200; ++i) greek += "\xce\xb1";  // alpha
  auto g = query::Compile("name == '" + greek + "' &", *TestSchema(), {});
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().message().find("\\x"), std::string::npos) << g.status().message();
}

TEST(ConditionCompiler, TypeErrorsNameTheColumn) {
  auto r = query::Compile("(id > 0) & (name > 3)", *TestSchema(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTypeError);
  const std::string& m = r.status().message();
  EXPECT_NE(m.find("column 'name'"), std::string::npos) << m;
  EXPECT_NE(m.find("position 12"), std::string::npos) << m;

  r = query::Compile("x & (id > 1)", *TestSchema(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTypeError);
  EXPECT_NE(r.status().message().find("must be conditions"), std::string::npos) << r.status().message();

  r = query::Compile("x + name > 1", *TestSchema(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("column 'name'"), std::string::npos) << r.status().message();

  r = query::Compile("nosuchfn(x) > 1", *TestSchema(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown function"), std::string::npos);

  r = query::Compile("x", *TestSchema(), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("expected a condition"), std::string::npos);
}

TEST(ConditionCompiler, CondVarsAndColumns) {
  CondVars vars{{"lo", QueryValue::Int(3)}, {"label", QueryValue::String("a")}};
  auto r = query::Compile("(id > lo) & (name == label) | flag", *TestSchema(), vars);
  ASSERT_OK(r);
  EXPECT_EQ(r->columns, (std::vector<int>{0, 2, 3}));
  // int literal adopts the int8 column's type; out of range falls back to a wider compare
  ASSERT_OK(query::Compile("small < 1000", *TestSchema(), {}));
  ASSERT_OK(query::Compile("small < 3.5", *TestSchema(), {}));
}

ColumnBounds Bounds(int64_t lo, int64_t hi, bool missing = false) {
  ColumnBounds b;
  b.known = true;
  b.min = arrow::MakeScalar(lo);
  b.max = arrow::MakeScalar(hi);
  b.may_missing = missing;
  b.has_values = true;
  return b;
}

bool MayTrue(const std::string& cond, const ColumnBounds& id_bounds) {
  auto c = query::Compile(cond, *TestSchema(), {});
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  std::vector<ColumnBounds> b(5);
  b[0] = id_bounds;
  return query::Evaluate(*c->prune, b).may_true;
}

TEST(ConditionPruning, Intervals) {
  auto b = Bounds(100, 199);
  EXPECT_FALSE(MayTrue("id == 5", b));
  EXPECT_TRUE(MayTrue("id == 150", b));
  EXPECT_FALSE(MayTrue("id < 100", b));
  EXPECT_TRUE(MayTrue("id <= 100", b));
  EXPECT_FALSE(MayTrue("id > 199", b));
  EXPECT_FALSE(MayTrue("(id > 10) & (id < 50)", b));
  EXPECT_TRUE(MayTrue("(id < 10) | (id > 150)", b));
  EXPECT_FALSE(MayTrue("~(id >= 100)", b));
  EXPECT_FALSE(MayTrue("id IN (1, 2, 300)", b));
  EXPECT_TRUE(MayTrue("id NOT IN (1, 2, 300)", b));
  EXPECT_FALSE(MayTrue("id BETWEEN 0 AND 99", b));
  EXPECT_FALSE(MayTrue("300 < id", b));
  EXPECT_FALSE(MayTrue("id IS NULL", b));
  EXPECT_TRUE(MayTrue("id + 0 == 5", b));  // not a plain column: unknown
  // Missing values: a comparison is false for them, != and ~ are true.
  auto bm = Bounds(100, 199, true);
  EXPECT_FALSE(MayTrue("id == 5", bm));
  EXPECT_TRUE(MayTrue("~(id >= 100)", bm));
  EXPECT_TRUE(MayTrue("id IS NULL", bm));
  auto single = Bounds(7, 7);
  EXPECT_FALSE(MayTrue("id != 7", single));
  EXPECT_TRUE(MayTrue("id != 7", Bounds(7, 7, true)));
  ColumnBounds unknown;
  EXPECT_TRUE(MayTrue("id == 5", unknown));
}

// contains / startswith / endswith / LIKE / ILIKE / match (regex); startswith and LIKE 'p%'
// prune by min/max; a missing value matches nothing; a pattern must be a string literal.
TEST(TableWhere, StringConditions) {
  TempDir dir;
  auto b = Bundle::Open(dir.Sub("b.octavo"), OpenMode::kAppend).ValueOrDie();
  auto t = b->CreateTable("/t", testing::ReaderOf(testing::MakeRows(0, 1000))).ValueOrDie();
  ASSERT_OK(t->Append(testing::MakeRows(1000, 1000)));
  ASSERT_OK(t->Append(testing::MakeRows(2000, 1000)));
  auto count = [&](const std::string& cond, QueryStats* st = nullptr) -> int64_t {
    auto r = t->GetWhereList(cond, {}, st);
    EXPECT_TRUE(r.ok()) << cond << ": " << r.status().ToString();
    return r.ok() ? static_cast<int64_t>(r->size()) : -1;
  };
  QueryStats st;
  EXPECT_EQ(count("startswith(name, 'r2')", &st), 111 + 1000);  // r2, r20..r29, r200..r299, r2000..r2999
  EXPECT_EQ(st.parts_skipped, 1);                                // [r1000, r1999] cannot hold one
  QueryStats st2;
  EXPECT_EQ(count("name LIKE 'r2%'", &st2), 1111);
  EXPECT_EQ(st2.parts_skipped, 1);
  EXPECT_EQ(count("name NOT LIKE 'r2%'"), 3000 - 1111);
  EXPECT_EQ(count("contains(name, '99')"), count("name LIKE '%99%'"));
  EXPECT_EQ(count("endswith(name, '00')"), 29);   // r100..r2900 (r0 does not end in 00)
  EXPECT_EQ(count("name ILIKE 'R12_'"), 10);      // r120..r129
  EXPECT_EQ(count("name LIKE 'r12_'"), 10);
  EXPECT_EQ(count("match(name, '^r1[0-9]$')"), 10);
  EXPECT_EQ(count("(x > 100) & startswith(name, 'r1') & ~contains(name, '5')"),
            count("(x > 100) & (name LIKE 'r1%') & (name NOT LIKE '%5%')"));
  auto bad = t->GetWhereList("contains(x, 'a')");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().message().find("needs strings") != std::string::npos) << bad.status().ToString();
  bad = t->GetWhereList("contains(name, x)");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().message().find("string literal") != std::string::npos) << bad.status().ToString();
}

TEST(TableWhere, PushdownSkipsPartsAndRowGroups) {
  TempDir dir;
  auto b = Bundle::Open(dir.Sub("b.octavo"), OpenMode::kAppend).ValueOrDie();
  TableOptions opts;
  opts.row_group_size = 100;
  auto t = b->CreateTable("/data/readout", testing::ReaderOf(testing::MakeRows(0, 1000)), opts).ValueOrDie();
  ASSERT_OK(t->Append(testing::MakeRows(1000, 1000)));
  ASSERT_OK(t->Append(testing::MakeRows(2000, 1000)));

  QueryStats st;
  auto rows = t->GetWhereList("id == 1234", {}, &st);
  ASSERT_OK(rows);
  EXPECT_EQ(*rows, (std::vector<int64_t>{1234}));
  EXPECT_EQ(st.parts_total, 3);
  EXPECT_EQ(st.parts_skipped, 2);
  EXPECT_EQ(st.row_groups_total, 30);
  EXPECT_EQ(st.row_groups_skipped, 29);
  EXPECT_EQ(st.rows_scanned, 100);
  EXPECT_EQ(st.rows_selected, 1);
  EXPECT_GT(st.bytes_read, 0);
  EXPECT_EQ(st.columns_read, (std::vector<std::string>{"id"}));

  // Projection + row range + condvars; batches of 64 rows.
  WhereOptions wo;
  wo.columns = {"name"};
  wo.start = 500;
  wo.stop = 2500;
  wo.batch_size = 64;
  wo.condvars = {{"lo", QueryValue::Float(600.0)}};
  std::shared_ptr<const QueryStats> live;
  auto reader = t->Where("(x >= lo) & (id % 2 == 0)", wo, &live).ValueOrDie();
  int64_t n = 0;
  std::shared_ptr<arrow::RecordBatch> batch;
  std::string first;
  while (true) {
    ASSERT_TRUE(reader->ReadNext(&batch).ok());
    if (!batch) break;
    EXPECT_LE(batch->num_rows(), 64);
    EXPECT_EQ(batch->num_columns(), 1);
    if (n == 0) first = std::static_pointer_cast<arrow::StringArray>(batch->column(0))->GetString(0);
    n += batch->num_rows();
  }
  // x = id * 0.5 >= 600 -> id >= 1200; even ids in [1200, 2500)
  EXPECT_EQ(n, 650);
  EXPECT_EQ(first, "r1200");
  EXPECT_EQ(live->rows_selected, 650);
  EXPECT_EQ(live->parts_total, 3);

  auto coords = t->ReadCoordinates({2999, 5, 5, 1500}, {"id"}).ValueOrDie();
  auto ids = std::static_pointer_cast<arrow::Int64Array>(coords->column(0)->chunk(0));
  ASSERT_EQ(coords->num_rows(), 4);
  auto col = coords->column(0);
  std::vector<int64_t> got;
  for (const auto& ch : col->chunks()) {
    auto a = std::static_pointer_cast<arrow::Int64Array>(ch);
    for (int64_t i = 0; i < a->length(); ++i) got.push_back(a->Value(i));
  }
  EXPECT_EQ(got, (std::vector<int64_t>{2999, 5, 5, 1500}));
  auto bad = t->ReadCoordinates({3000});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kIndexError);
}

}  // namespace
}  // namespace octavo

namespace octavo {
namespace {
// A comparison with a missing value is false; != is true; ~ flips (pandas on NaN).
TEST(ConditionCompiler, MissingValuesFollowPandas) {
  auto schema = arrow::schema({arrow::field("x", arrow::float64())});
  arrow::DoubleBuilder b;
  ASSERT_TRUE(b.AppendNull().ok());
  ASSERT_TRUE(b.Append(10).ok());
  ASSERT_TRUE(b.Append(200).ok());
  ASSERT_TRUE(b.Append(std::nan("")).ok());
  auto rb = arrow::RecordBatch::Make(schema, 4, {b.Finish().ValueOrDie()});
  auto eb = arrow::compute::MakeExecBatch(*schema, rb).ValueOrDie();
  auto eval = [&](const std::string& cond) {
    auto c = query::Compile(cond, *schema, {}).ValueOrDie();
    auto bound = c.filter.Bind(*schema).ValueOrDie();
    auto out = arrow::compute::ExecuteScalarExpression(bound, eb).ValueOrDie().make_array();
    EXPECT_EQ(out->null_count(), 0) << cond;
    std::string bits;
    auto ba = std::static_pointer_cast<arrow::BooleanArray>(out);
    for (int64_t i = 0; i < ba->length(); ++i) bits += ba->Value(i) ? '1' : '0';
    return bits;
  };
  EXPECT_EQ(eval("x > 100"), "0010");
  EXPECT_EQ(eval("~(x > 100)"), "1101");
  EXPECT_EQ(eval("x != 10"), "1011");
  EXPECT_EQ(eval("x == 10"), "0100");
  EXPECT_EQ(eval("x IS NULL"), "1001");
  EXPECT_EQ(eval("x NOT IN (10, 200)"), "1001");
}
}  // namespace
}  // namespace octavo
