// Conditions: one language for PyTables-style (`(x > 3) & (name == "foo")`) and SQL-style
// (`x > 3 AND name IN ('a', 'b')`) filters, parsed here and compiled to an Arrow compute
// expression with pandas semantics (a comparison with a missing value is false, `!=` true).
// Grammar and semantics are specified in docs/queries.md.
#pragma once

#include <arrow/compute/expression.h>
#include <arrow/type_fwd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "octavo/query.h"
#include "octavo/status.h"

namespace octavo::query {

// --- syntax tree ---------------------------------------------------------------------

enum class NodeKind {
  kLiteral,   // value
  kName,      // column or condvar: text
  kUnary,     // op: "-", "+"
  kBinary,    // op: "+", "-", "*", "/", "%", "**"
  kCompare,   // op: "<", "<=", ">", ">=", "==", "!=" (chains are split into AND of pairs)
  kAnd,
  kOr,
  kNot,
  kCall,      // text: function name, args
  kIn,        // args[0] IN (args[1..]); negated for NOT IN
  kBetween,   // args[0] BETWEEN args[1] AND args[2]; negated
  kIsNull,    // args[0] IS NULL; negated for IS NOT NULL
};

struct Node {
  NodeKind kind = NodeKind::kLiteral;
  size_t pos = 0, end = 0;  // byte span in the condition text
  std::string text;         // name, operator or function
  QueryValue value;         // literal
  bool negated = false;
  std::vector<std::shared_ptr<Node>> args;
};

// How deeply a condition may nest (parser recursion and tree depth); deeper is kInvalid.
// Far below what overflows a 2 MiB pool-thread stack in every recursive walker of the tree.
inline constexpr int kMaxConditionDepth = 256;

// Parses `text`; errors are kInvalid with a caret line under the offending position.
Result<std::shared_ptr<Node>> Parse(const std::string& text);

// Debug form, e.g. "(and (> x 3) (== name 'foo'))"; used by tests.
std::string ToSExpr(const Node& node);

// --- pruning -------------------------------------------------------------------------

// What statistics say about one column within a part or a row group.
struct ColumnBounds {
  bool known = false;              // false: nothing known, anything is possible
  std::shared_ptr<arrow::Scalar> min, max;  // bounds of the valid, non-NaN values (both or neither)
  bool may_missing = true;         // some value may be null (or NaN)
  bool has_values = true;          // some value may be valid and not NaN
  bool exact = true;               // min/max are attained (not truncated Parquet bounds)
};

// A condition reduced to what statistics can decide: comparisons of a column with a
// literal, IN lists of literals, IS NULL tests and boolean connectives. Anything else is
// "unknown".
struct PruneNode {
  enum class Kind { kUnknown, kConst, kCompare, kIn, kIsNull, kAnd, kOr, kNot } kind = Kind::kUnknown;
  bool const_value = false;
  int column = -1;                      // table field index
  std::string op;                       // kCompare
  std::shared_ptr<arrow::Scalar> literal;  // kCompare: in the column's type (may be null/NaN)
  std::shared_ptr<arrow::Array> values;    // kIn: in the column's type, ascending, distinct, no null/NaN
  std::vector<std::shared_ptr<PruneNode>> args;
};

struct Possible {
  bool may_true = true, may_false = true;
};

// bounds[i] is for table field i (index with the table schema).
Possible Evaluate(const PruneNode& node, const std::vector<ColumnBounds>& bounds);

// --- compilation ---------------------------------------------------------------------

struct CompiledCondition {
  std::string text;
  arrow::compute::Expression filter;  // unbound; a non-null boolean for every row
  std::vector<int> columns;           // table field indices the condition reads, ascending
  std::shared_ptr<PruneNode> prune;
};

// Resolves names against `schema` (columns) and `condvars`, type-checks, and compiles.
// Unknown names are kNotFound listing the columns; type errors kTypeError naming the column;
// both with a caret line.
Result<CompiledCondition> Compile(const std::string& text, const arrow::Schema& schema, const CondVars& condvars,
                                  const std::string& table_path = "");

}  // namespace octavo::query
