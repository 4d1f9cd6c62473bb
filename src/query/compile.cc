// Compiling a condition's syntax tree to an Arrow compute expression with pandas
// semantics, plus the reduced tree used to rule parts and row groups out from statistics.
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/compute/cast.h>

#include <cmath>
#include <limits>
#include <set>

#include "query/condition.h"
#include "query/error.h"

namespace octavo::query {
namespace cp = arrow::compute;
namespace {

bool IsStringLike(const arrow::DataType& t) {
  return t.id() == arrow::Type::STRING || t.id() == arrow::Type::LARGE_STRING || t.id() == arrow::Type::STRING_VIEW;
}
bool IsBinaryLike(const arrow::DataType& t) {
  return t.id() == arrow::Type::BINARY || t.id() == arrow::Type::LARGE_BINARY ||
         t.id() == arrow::Type::BINARY_VIEW || t.id() == arrow::Type::FIXED_SIZE_BINARY;
}
bool IsNumeric(const arrow::DataType& t) {
  return arrow::is_integer(t.id()) || arrow::is_floating(t.id()) || arrow::is_decimal(t.id());
}
bool IsNullType(const arrow::DataType& t) { return t.id() == arrow::Type::NA; }

std::string Describe(const arrow::DataType& t) {
  if (IsStringLike(t)) return "string";
  if (IsBinaryLike(t)) return "bytes";
  if (t.id() == arrow::Type::BOOL) return "boolean";
  if (arrow::is_integer(t.id())) return "integer (" + t.ToString() + ")";
  if (arrow::is_floating(t.id())) return "float (" + t.ToString() + ")";
  return t.ToString();
}

// One compiled sub-expression.
struct Typed {
  cp::Expression expr;                 // unbound
  std::shared_ptr<arrow::DataType> type;
  int column = -1;                     // a plain column reference (table field index)
  std::string column_name;
  bool literal = false;                // a literal or condvar: coerced to the other side's type
  QueryValue value;                    // the literal's value
  bool is_cond = false;                // a non-null boolean (a compiled condition)
  std::shared_ptr<PruneNode> prune;    // for conditions
  const Node* node = nullptr;

  std::string What() const {
    if (column >= 0) return "column '" + column_name + "' (" + Describe(*type) + ")";
    if (literal) {
      switch (value.kind) {
        case QueryValue::Kind::kNull: return "null";
        case QueryValue::Kind::kBool: return "the boolean " + std::string(value.bool_value ? "True" : "False");
        case QueryValue::Kind::kInt: return "the number " + std::to_string(value.int_value);
        case QueryValue::Kind::kFloat: return "the number " + std::to_string(value.float_value);
        case QueryValue::Kind::kString: return "the string '" + Quoted(value.string_value) + "'";
        case QueryValue::Kind::kBytes: return "the bytes b'" + Quoted(value.string_value) + "'";
      }
    }
    return "a " + Describe(*type) + " expression";
  }
};

std::shared_ptr<PruneNode> Unknown() { return std::make_shared<PruneNode>(); }

std::shared_ptr<PruneNode> PruneOf(PruneNode::Kind kind, std::vector<std::shared_ptr<PruneNode>> args) {
  auto p = std::make_shared<PruneNode>();
  p->kind = kind;
  p->args = std::move(args);
  return p;
}

const char* CmpFunction(const std::string& op) {
  if (op == "<") return "less";
  if (op == "<=") return "less_equal";
  if (op == ">") return "greater";
  if (op == ">=") return "greater_equal";
  if (op == "==") return "equal";
  return "not_equal";
}

std::string FlipOp(const std::string& op) {
  if (op == "<") return ">";
  if (op == "<=") return ">=";
  if (op == ">") return "<";
  if (op == ">=") return "<=";
  return op;
}

bool IsNanScalar(const arrow::Scalar& s) {
  if (!s.is_valid) return false;
  if (s.type->id() == arrow::Type::DOUBLE) return std::isnan(static_cast<const arrow::DoubleScalar&>(s).value);
  if (s.type->id() == arrow::Type::FLOAT) return std::isnan(static_cast<const arrow::FloatScalar&>(s).value);
  return false;
}

// Types whose IN lists become a set lookup (is_in supports them, and == on them is plain
// value equality).
bool SetLookupType(const arrow::DataType& t) {
  switch (t.id()) {
    case arrow::Type::INT8: case arrow::Type::INT16: case arrow::Type::INT32: case arrow::Type::INT64:
    case arrow::Type::UINT8: case arrow::Type::UINT16: case arrow::Type::UINT32: case arrow::Type::UINT64:
    case arrow::Type::FLOAT: case arrow::Type::DOUBLE: case arrow::Type::BOOL:
    case arrow::Type::STRING: case arrow::Type::LARGE_STRING: case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY: case arrow::Type::DATE32: case arrow::Type::DATE64:
    case arrow::Type::TIMESTAMP:
      return true;
    default:
      return false;
  }
}

// For a float zero, the zero of the other sign.
std::shared_ptr<arrow::Scalar> OtherZero(const arrow::Scalar& s) {
  if (s.type->id() == arrow::Type::DOUBLE) {
    double v = static_cast<const arrow::DoubleScalar&>(s).value;
    if (v == 0) return std::make_shared<arrow::DoubleScalar>(-v);
  }
  if (s.type->id() == arrow::Type::FLOAT) {
    float v = static_cast<const arrow::FloatScalar&>(s).value;
    if (v == 0) return std::make_shared<arrow::FloatScalar>(-v);
  }
  return nullptr;
}

class Compiler {
 public:
  Compiler(const std::string& text, const arrow::Schema& schema, const CondVars& vars, std::string table_path)
      : text_(text), schema_(schema), vars_(vars), table_path_(std::move(table_path)) {}

  Result<CompiledCondition> Run(const Node& root) {
    OCTAVO_ASSIGN_OR_RETURN(Typed t, Cond(root));
    CompiledCondition out;
    out.text = text_;
    out.filter = t.expr;
    out.columns.assign(columns_.begin(), columns_.end());
    out.prune = t.prune ? t.prune : Unknown();
    // A final bind against the whole schema catches anything the pieces missed.
    auto bound = out.filter.Bind(schema_);
    if (!bound.ok()) return CondTypeError(text_, root.pos, root.end, bound.status().message());
    return out;
  }

 private:
  Status TypeErr(const Node& n, const std::string& msg) const { return CondTypeError(text_, n.pos, n.end, msg); }

  // Binds `e` to learn its type; a kernel lookup failure is a type error at `n`.
  Result<std::shared_ptr<arrow::DataType>> TypeOf(const cp::Expression& e, const Node& n, const std::string& what) {
    auto bound = e.Bind(schema_);
    if (!bound.ok()) return TypeErr(n, what + ": " + bound.status().message());
    return bound->type()->GetSharedPtr();
  }

  Result<std::shared_ptr<arrow::Scalar>> LiteralScalar(const QueryValue& v) {
    switch (v.kind) {
      case QueryValue::Kind::kNull: return std::shared_ptr<arrow::Scalar>(std::make_shared<arrow::NullScalar>());
      case QueryValue::Kind::kBool: return arrow::MakeScalar(v.bool_value);
      case QueryValue::Kind::kInt: return arrow::MakeScalar(v.int_value);
      case QueryValue::Kind::kFloat: return arrow::MakeScalar(v.float_value);
      case QueryValue::Kind::kString: return std::shared_ptr<arrow::Scalar>(std::make_shared<arrow::StringScalar>(v.string_value));
      case QueryValue::Kind::kBytes:
        return std::shared_ptr<arrow::Scalar>(std::make_shared<arrow::BinaryScalar>(arrow::Buffer::FromString(v.string_value)));
    }
    return Status::Invalid("bad literal");
  }

  Result<Typed> MakeLiteral(const QueryValue& v, const Node& n) {
    Typed t;
    t.literal = true;
    t.value = v;
    t.node = &n;
    OCTAVO_ASSIGN_OR_RETURN(auto s, LiteralScalar(v));
    t.type = s->type;
    t.expr = cp::literal(s);
    if (v.kind == QueryValue::Kind::kBool) {
      t.is_cond = true;
      auto p = std::make_shared<PruneNode>();
      p->kind = PruneNode::Kind::kConst;
      p->const_value = v.bool_value;
      t.prune = p;
    }
    return t;
  }

  // The literal `lit` in type `to` (the other operand's), numpy-2 style: a Python scalar
  // adopts the array's type when it fits. nullopt: keep the literal's own type.
  Result<std::optional<std::shared_ptr<arrow::Scalar>>> Coerce(const Typed& lit, const Typed& other,
                                                                const Node& where) {
    const auto& to = other.type;
    const QueryValue& v = lit.value;
    using K = QueryValue::Kind;
    if (v.kind == K::kNull) return std::optional<std::shared_ptr<arrow::Scalar>>(arrow::MakeNullScalar(to));
    auto cast = [&](std::shared_ptr<arrow::Scalar> s) -> std::optional<std::shared_ptr<arrow::Scalar>> {
      auto r = s->CastTo(to);
      if (!r.ok()) return std::nullopt;
      return *r;
    };
    OCTAVO_ASSIGN_OR_RETURN(auto s, LiteralScalar(v));
    if (arrow::is_integer(to->id())) {
      if (v.kind == K::kInt) {
        // Fits the column's type? (the cast is checked: overflow fails)
        return cast(s);
      }
      if (v.kind == K::kFloat) {
        double d = v.float_value;
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.0e15) {
          return cast(arrow::MakeScalar(static_cast<int64_t>(d)));
        }
        return std::optional<std::shared_ptr<arrow::Scalar>>();
      }
      if (v.kind == K::kBool) return cast(arrow::MakeScalar(static_cast<int64_t>(v.bool_value)));
      return TypeErr(where, "cannot compare " + other.What() + " with " + lit.What());
    }
    if (arrow::is_floating(to->id())) {
      if (v.kind == K::kInt || v.kind == K::kFloat) {
        double d = v.kind == K::kInt ? static_cast<double>(v.int_value) : v.float_value;
        return cast(arrow::MakeScalar(d));
      }
      if (v.kind == K::kBool) return cast(arrow::MakeScalar(v.bool_value ? 1.0 : 0.0));
      return TypeErr(where, "cannot compare " + other.What() + " with " + lit.What());
    }
    if (arrow::is_decimal(to->id())) {
      if (v.kind == K::kInt || v.kind == K::kFloat) return std::optional<std::shared_ptr<arrow::Scalar>>();
      return TypeErr(where, "cannot compare " + other.What() + " with " + lit.What());
    }
    if (IsStringLike(*to)) {
      if (v.kind == K::kString || v.kind == K::kBytes)
        return cast(std::make_shared<arrow::StringScalar>(v.string_value));
      return TypeErr(where, "cannot compare " + other.What() + " with " + lit.What() +
                                    " (quote the value: \"...\")");
    }
    if (IsBinaryLike(*to)) {
      if (v.kind == K::kString || v.kind == K::kBytes)
        return cast(std::make_shared<arrow::BinaryScalar>(arrow::Buffer::FromString(v.string_value)));
      return TypeErr(where, "cannot compare " + other.What() + " with " + lit.What());
    }
    if (to->id() == arrow::Type::BOOL) {
      if (v.kind == K::kBool) return std::optional<std::shared_ptr<arrow::Scalar>>(s);
      if (v.kind == K::kInt && (v.int_value == 0 || v.int_value == 1))
        return std::optional<std::shared_ptr<arrow::Scalar>>(arrow::MakeScalar(v.int_value == 1));
      return TypeErr(where, "cannot compare " + other.What() + " with " + lit.What());
    }
    if (arrow::is_temporal(to->id())) {
      if (v.kind == K::kString) {
        auto r = cast(std::make_shared<arrow::StringScalar>(v.string_value));
        if (!r) return TypeErr(where, "cannot read " + lit.What() + " as a " + to->ToString() +
                                              " (use ISO 8601, e.g. '2024-01-31' or '2024-01-31 12:00:00')");
        return r;
      }
      return TypeErr(where, "cannot compare " + other.What() + " with " + lit.What() +
                                    " (write times as ISO 8601 strings)");
    }
    return std::optional<std::shared_ptr<arrow::Scalar>>();
  }

  void ApplyCoerced(Typed& lit, const std::shared_ptr<arrow::Scalar>& s) {
    lit.expr = cp::literal(s);
    lit.type = s->type;
  }

  // Makes two operands type-compatible (literal adoption, dictionary decoding, checks).
  Status Harmonize(Typed& a, Typed& b, const Node& n, bool ordering, const char* verb) {
    for (Typed* t : {&a, &b}) {
      if (t->type->id() == arrow::Type::DICTIONARY) {
        auto vt = static_cast<const arrow::DictionaryType&>(*t->type).value_type();
        t->expr = cp::call("cast", {t->expr}, cp::CastOptions::Safe(vt));
        t->type = vt;
      }
    }
    if (a.literal && !b.literal) {
      OCTAVO_ASSIGN_OR_RETURN(auto c, Coerce(a, b, n));
      if (c) ApplyCoerced(a, *c);
    } else if (b.literal && !a.literal) {
      OCTAVO_ASSIGN_OR_RETURN(auto c, Coerce(b, a, n));
      if (c) ApplyCoerced(b, *c);
    }
    const auto& ta = *a.type;
    const auto& tb = *b.type;
    if (IsNullType(ta) || IsNullType(tb)) return Status::OK();
    auto kind = [](const arrow::DataType& t) {
      if (IsNumeric(t)) return 1;
      if (IsStringLike(t) || IsBinaryLike(t)) return 2;
      if (t.id() == arrow::Type::BOOL) return 3;
      if (arrow::is_temporal(t.id())) return 4;
      return 5;
    };
    if (kind(ta) != kind(tb) || kind(ta) == 5) {
      return TypeErr(n, std::string("cannot ") + verb + " " + a.What() + " with " + b.What());
    }
    (void)ordering;
    return Status::OK();
  }

  Result<Typed> Value(const Node& n) {
    switch (n.kind) {
      case NodeKind::kLiteral: return MakeLiteral(n.value, n);
      case NodeKind::kName: return Name(n);
      case NodeKind::kUnary: {
        OCTAVO_ASSIGN_OR_RETURN(Typed a, Value(*n.args[0]));
        if (!IsNumeric(*a.type)) return TypeErr(n, "unary '" + n.text + "' needs a number, got " + a.What());
        Typed t;
        t.node = &n;
        t.expr = n.text == "-" ? cp::call("negate", {a.expr}) : a.expr;
        OCTAVO_ASSIGN_OR_RETURN(t.type, TypeOf(t.expr, n, "unary " + n.text));
        return t;
      }
      case NodeKind::kBinary: return Arith(n);
      case NodeKind::kCall: return Call(n);
      default: return Cond(n);  // comparisons etc. are boolean values too
    }
  }

  Result<Typed> Name(const Node& n) {
    int i = schema_.GetFieldIndex(n.text);
    if (i >= 0) {
      Typed t;
      t.node = &n;
      t.column = i;
      t.column_name = n.text;
      t.type = schema_.field(i)->type();
      t.expr = cp::field_ref(n.text);
      columns_.insert(i);
      return t;
    }
    if (auto it = vars_.find(n.text); it != vars_.end()) {
      OCTAVO_ASSIGN_OR_RETURN(Typed t, MakeLiteral(it->second, n));
      return t;
    }
    std::string names;  // the first few: a table can have thousands of columns
    constexpr int kNamesListed = 40;
    for (int i = 0; i < std::min(schema_.num_fields(), kNamesListed); ++i)
      names += (names.empty() ? "" : ", ") + Quoted(schema_.field(i)->name());
    if (schema_.num_fields() > kNamesListed)
      names += ", ... " + std::to_string(schema_.num_fields() - kNamesListed) + " more";
    std::string where = table_path_.empty() ? "the table" : "table " + table_path_;
    return Status::NotFound("unknown name '", Quoted(n.text), "' in the condition: ", where, " has no such column (its columns are: ",
                            names, ") and no condvar of that name was given", At(text_, n.pos, n.end));
  }

  Result<Typed> Arith(const Node& n) {
    OCTAVO_ASSIGN_OR_RETURN(Typed a, Value(*n.args[0]));
    OCTAVO_ASSIGN_OR_RETURN(Typed b, Value(*n.args[1]));
    for (Typed* t : {&a, &b}) {
      if (t->type->id() == arrow::Type::DICTIONARY) {
        auto vt = static_cast<const arrow::DictionaryType&>(*t->type).value_type();
        t->expr = cp::call("cast", {t->expr}, cp::CastOptions::Safe(vt));
        t->type = vt;
      }
      if (!IsNumeric(*t->type) && !IsNullType(*t->type))
        return TypeErr(*t->node, "'" + n.text + "' needs numbers, got " + t->What());
    }
    // numpy-2 rule: a Python literal adopts the array operand's type.
    if (a.literal && !b.literal && a.value.kind != QueryValue::Kind::kNull) {
      OCTAVO_ASSIGN_OR_RETURN(auto c, Coerce(a, b, n));
      if (c && !(arrow::is_integer(b.type->id()) && a.value.kind == QueryValue::Kind::kFloat)) ApplyCoerced(a, *c);
    } else if (b.literal && !a.literal && b.value.kind != QueryValue::Kind::kNull) {
      OCTAVO_ASSIGN_OR_RETURN(auto c, Coerce(b, a, n));
      if (c && !(arrow::is_integer(a.type->id()) && b.value.kind == QueryValue::Kind::kFloat)) ApplyCoerced(b, *c);
    }
    bool both_int = arrow::is_integer(a.type->id()) && arrow::is_integer(b.type->id());
    auto to_f64 = [](Typed& t) {
      if (!arrow::is_floating(t.type->id())) {
        t.expr = cp::call("cast", {t.expr}, cp::CastOptions::Safe(arrow::float64()));
        t.type = arrow::float64();
      }
    };
    std::string fn;
    const std::string& op = n.text;
    if (op == "+") fn = "add";
    else if (op == "-") fn = "subtract";
    else if (op == "*") fn = "multiply";
    else if (op == "/") {
      fn = "divide";
      if (both_int) { to_f64(a); to_f64(b); }  // true division, like Python
    } else if (op == "%") {
      fn = "modulo";  // sign of the divisor, like Python; x % 0 is NaN like pandas
      if (both_int) { to_f64(a); to_f64(b); }
    } else {
      fn = "power";
      to_f64(a);
      to_f64(b);
    }
    Typed t;
    t.node = &n;
    t.expr = cp::call(fn, {a.expr, b.expr});
    OCTAVO_ASSIGN_OR_RETURN(t.type, TypeOf(t.expr, n, "'" + op + "'"));
    return t;
  }

  Result<Typed> Call(const Node& n) {
    std::string f = n.text;
    for (auto& c : f) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto arity = [&](size_t k) -> Status {
      if (n.args.size() != k)
        return TypeErr(n, f + "() takes " + std::to_string(k) + " argument" + (k == 1 ? "" : "s") + ", got " +
                              std::to_string(n.args.size()));
      return Status::OK();
    };
    Typed t;
    t.node = &n;
    if (f == "where") {
      OCTAVO_RETURN_NOT_OK(arity(3));
      OCTAVO_ASSIGN_OR_RETURN(Typed c, Cond(*n.args[0]));
      OCTAVO_ASSIGN_OR_RETURN(Typed a, Value(*n.args[1]));
      OCTAVO_ASSIGN_OR_RETURN(Typed b, Value(*n.args[2]));
      OCTAVO_RETURN_NOT_OK(Harmonize(a, b, n, false, "choose between"));
      t.expr = cp::call("if_else", {c.expr, a.expr, b.expr});
      OCTAVO_ASSIGN_OR_RETURN(t.type, TypeOf(t.expr, n, "where()"));
      return t;
    }
    static const std::pair<const char*, const char*> kUnaryFns[] = {
        {"abs", "abs"}, {"sqrt", "sqrt"}, {"exp", "exp"}, {"log", "ln"},    {"log10", "log10"},
        {"sin", "sin"}, {"cos", "cos"},   {"tan", "tan"}, {"arcsin", "asin"}, {"arccos", "acos"},
        {"arctan", "atan"}, {"floor", "floor"}, {"ceil", "ceil"}};
    for (const auto& [name, arrow_fn] : kUnaryFns) {
      if (f != name) continue;
      OCTAVO_RETURN_NOT_OK(arity(1));
      OCTAVO_ASSIGN_OR_RETURN(Typed a, Value(*n.args[0]));
      if (!IsNumeric(*a.type) && !IsNullType(*a.type))
        return TypeErr(*n.args[0], f + "() needs a number, got " + a.What());
      cp::Expression arg = a.expr;
      if (f != "abs" && !arrow::is_floating(a.type->id()))
        arg = cp::call("cast", {arg}, cp::CastOptions::Safe(arrow::float64()));
      t.expr = cp::call(arrow_fn, {arg});
      OCTAVO_ASSIGN_OR_RETURN(t.type, TypeOf(t.expr, n, f + "()"));
      return t;
    }
    if (f == "contains" || f == "startswith" || f == "endswith" || f == "like" || f == "ilike" || f == "match")
      return StringMatch(n, f);
    if (f == "isnan" || f == "isnull" || f == "isna" || f == "notnull" || f == "notna") {
      OCTAVO_RETURN_NOT_OK(arity(1));
      auto is = std::make_shared<Node>();
      is->kind = NodeKind::kIsNull;
      is->pos = n.pos;
      is->end = n.end;
      is->args = n.args;
      is->negated = f == "notnull" || f == "notna";
      if (f != "isnan") return Cond(*KeepAlive(is));
      OCTAVO_ASSIGN_OR_RETURN(Typed a, Value(*n.args[0]));
      if (!arrow::is_floating(a.type->id())) {
        t.expr = cp::literal(false);
      } else {
        t.expr = cp::call("coalesce", {cp::call("is_nan", {a.expr}), cp::literal(false)});
      }
      t.type = arrow::boolean();
      t.is_cond = true;
      t.prune = Unknown();
      return t;
    }
    return TypeErr(n, "unknown function '" + Quoted(n.text) +
                          "'; available: abs, sqrt, exp, log, log10, sin, cos, tan, arcsin, arccos, arctan, "
                          "floor, ceil, where, isnan, isnull, notnull, contains, startswith, endswith, like, "
                          "ilike, match");
  }

  // contains(s, 'x'), startswith, endswith, like (SQL: s LIKE 'a%_'), ilike, match (RE2 regex,
  // searched anywhere). A missing value matches nothing. startswith and a LIKE pattern with a
  // literal prefix prune by the column's min/max.
  Result<Typed> StringMatch(const Node& n, const std::string& f) {
    if (n.args.size() != 2)
      return TypeErr(n, f + "() takes 2 arguments (a string column or expression, a string), got " +
                            std::to_string(n.args.size()));
    OCTAVO_ASSIGN_OR_RETURN(Typed a, Value(*n.args[0]));
    OCTAVO_ASSIGN_OR_RETURN(Typed pat, Value(*n.args[1]));
    if (!pat.literal || pat.value.kind != QueryValue::Kind::kString)
      return TypeErr(*n.args[1], f + "() needs a string literal as its pattern, got " + pat.What());
    cp::Expression subject = a.expr;
    std::shared_ptr<arrow::DataType> st = a.type;
    if (st->id() == arrow::Type::DICTIONARY) {
      st = static_cast<const arrow::DictionaryType&>(*st).value_type();
      subject = cp::call("cast", {subject}, cp::CastOptions::Safe(st));
    }
    const bool stringy = st->id() == arrow::Type::STRING || st->id() == arrow::Type::LARGE_STRING ||
                         st->id() == arrow::Type::STRING_VIEW;
    if (!stringy && !IsNullType(*st)) return TypeErr(*n.args[0], f + "() needs strings, got " + a.What());
    if (st->id() == arrow::Type::STRING_VIEW) subject = cp::call("cast", {subject}, cp::CastOptions::Safe(arrow::utf8()));
    const std::string& p = pat.value.string_value;
    static const std::pair<const char*, const char*> kFns[] = {
        {"contains", "match_substring"}, {"startswith", "starts_with"}, {"endswith", "ends_with"},
        {"like", "match_like"},          {"ilike", "match_like"},       {"match", "match_substring_regex"}};
    std::string fn;
    for (const auto& [name, arrow_fn] : kFns)
      if (f == name) fn = arrow_fn;
    Typed t;
    t.node = &n;
    t.is_cond = true;
    t.type = arrow::boolean();
    if (IsNullType(*st)) {
      t.expr = cp::literal(false);
    } else {
      t.expr = cp::call("coalesce", {cp::call(fn, {subject}, cp::MatchSubstringOptions(p, f == "ilike")),
                                     cp::literal(false)});
      OCTAVO_ASSIGN_OR_RETURN(auto ty, TypeOf(t.expr, n, f + "()"));
      (void)ty;
    }
    t.prune = Unknown();
    // The literal prefix every match starts with: startswith's pattern, LIKE's up to a wildcard.
    std::string prefix;
    if (f == "startswith") {
      prefix = p;
    } else if (f == "like") {
      for (size_t i = 0; i < p.size() && p[i] != '%' && p[i] != '_'; ++i) {
        if (p[i] == '\\') break;  // escapes: keep it simple, stop the prefix here
        prefix += p[i];
      }
    }
    if (a.column >= 0 && !prefix.empty() && a.type->Equals(*st) && st->id() != arrow::Type::STRING_VIEW) {
      auto lit = [&](const std::string& v) -> std::shared_ptr<arrow::Scalar> {
        auto sc = arrow::MakeScalar(v);
        auto cast = sc->CastTo(st);
        return cast.ok() ? *cast : nullptr;
      };
      auto ge = std::make_shared<PruneNode>();
      ge->kind = PruneNode::Kind::kCompare;
      ge->column = a.column;
      ge->op = ">=";
      ge->literal = lit(prefix);
      // below the prefix's successor (its last byte + 1), when that byte is ASCII
      std::string succ = prefix;
      while (!succ.empty() && static_cast<unsigned char>(succ.back()) >= 0x7f) succ.pop_back();
      std::shared_ptr<PruneNode> lt;
      if (!succ.empty()) {
        succ.back() = static_cast<char>(succ.back() + 1);
        lt = std::make_shared<PruneNode>();
        lt->kind = PruneNode::Kind::kCompare;
        lt->column = a.column;
        lt->op = "<";
        lt->literal = lit(succ);
      }
      if (ge->literal && (!lt || lt->literal))
        t.prune = lt ? PruneOf(PruneNode::Kind::kAnd, {ge, lt}) : ge;
    }
    return t;
  }

  // The set of an IN list: `values` (all of `type`) ascending and distinct.
  Result<std::shared_ptr<arrow::Array>> SortedDistinct(const arrow::ScalarVector& values,
                                                       const std::shared_ptr<arrow::DataType>& type, const Node& n) {
    auto fail = [&](const arrow::Status& st) { return TypeErr(n, "cannot build the IN list's set: " + st.message()); };
    std::unique_ptr<arrow::ArrayBuilder> builder;
    auto st = arrow::MakeBuilder(arrow::default_memory_pool(), type, &builder);
    if (st.ok()) st = builder->AppendScalars(values);
    std::shared_ptr<arrow::Array> all;
    if (st.ok()) st = builder->Finish(&all);
    if (!st.ok()) return fail(st);
    auto uniq = cp::Unique(all);
    if (!uniq.ok()) return fail(uniq.status());
    auto order = cp::SortIndices(**uniq);
    if (!order.ok()) return fail(order.status());
    auto sorted = cp::Take(**uniq, **order);
    if (!sorted.ok()) return fail(sorted.status());
    return *sorted;
  }

  const Node* KeepAlive(std::shared_ptr<Node> n) {
    keep_.push_back(n);
    return n.get();
  }

  // fn over exprs[lo, hi) as a balanced tree of binary calls (depth log2 of the count).
  static cp::Expression Balanced(const std::string& fn, const std::vector<cp::Expression>& exprs, size_t lo,
                                 size_t hi) {
    if (hi - lo == 1) return exprs[lo];
    size_t mid = lo + (hi - lo) / 2;
    return cp::call(fn, {Balanced(fn, exprs, lo, mid), Balanced(fn, exprs, mid, hi)});
  }

  // A condition: a non-null boolean per row (pandas semantics).
  Result<Typed> Cond(const Node& n) {
    Typed t;
    t.node = &n;
    t.is_cond = true;
    t.type = arrow::boolean();
    switch (n.kind) {
      case NodeKind::kAnd:
      case NodeKind::kOr: {
        // n-ary (the parser flattens chains)
        std::vector<cp::Expression> exprs;
        std::vector<std::shared_ptr<PruneNode>> prunes;
        for (const auto& arg : n.args) {
          OCTAVO_ASSIGN_OR_RETURN(Typed a, CondOperand(*arg, n));
          exprs.push_back(a.expr);
          prunes.push_back(a.prune);
        }
        bool is_and = n.kind == NodeKind::kAnd;
        t.expr = Balanced(is_and ? "and_kleene" : "or_kleene", exprs, 0, exprs.size());
        t.prune = PruneOf(is_and ? PruneNode::Kind::kAnd : PruneNode::Kind::kOr, prunes);
        return t;
      }
      case NodeKind::kNot: {
        OCTAVO_ASSIGN_OR_RETURN(Typed a, CondOperand(*n.args[0], n));
        t.expr = cp::call("invert", {a.expr});
        t.prune = PruneOf(PruneNode::Kind::kNot, {a.prune});
        return t;
      }
      case NodeKind::kCompare: {
        OCTAVO_ASSIGN_OR_RETURN(Typed a, Value(*n.args[0]));
        OCTAVO_ASSIGN_OR_RETURN(Typed b, Value(*n.args[1]));
        return Compare(n, n.text, a, b);
      }
      case NodeKind::kIn: {
        OCTAVO_ASSIGN_OR_RETURN(Typed x, Value(*n.args[0]));
        // Literals that take x's type are looked up in one set (is_in): a list of 200,000 ids
        // is one hash table, not 200,000 comparisons to bind and evaluate. Anything else
        // (columns, expressions, literals compared in another type) stays an == comparison.
        // Rows get what the chain of == gives (pandas semantics): null and NaN never match.
        std::vector<cp::Expression> eqs;
        std::vector<std::shared_ptr<PruneNode>> prunes;
        arrow::ScalarVector set;
        std::optional<Typed> set_x;  // x as the set is looked up in (dictionaries decoded)
        for (size_t i = 1; i < n.args.size(); ++i) {
          const Node& item = *n.args[i];
          OCTAVO_ASSIGN_OR_RETURN(Typed v, Value(item));
          if (!x.literal && v.literal) {
            Typed a = x, b = v;
            OCTAVO_RETURN_NOT_OK(Harmonize(a, b, item, false, "compare"));
            const auto& lit = b.expr.literal();
            if (SetLookupType(*a.type) && lit && lit->is_scalar() && lit->scalar()->type->Equals(*a.type)) {
              const auto& s = lit->scalar();
              if (s->is_valid && !IsNanScalar(*s)) {
                set.push_back(s);
                // -0.0 == 0.0, but the set hashes their bits: list both.
                if (auto z = OtherZero(*s)) set.push_back(z);
              }
              if (!set_x) set_x = a;
              continue;
            }
            // A float that is not a whole number never equals an integer (the == would
            // cast the column to float64, which fails beyond 2**53).
            if (arrow::is_integer(a.type->id()) && v.value.kind == QueryValue::Kind::kFloat &&
                !(std::isfinite(v.value.float_value) && v.value.float_value == std::floor(v.value.float_value)))
              continue;
          }
          OCTAVO_ASSIGN_OR_RETURN(Typed eq, Compare(item, "==", x, v));
          eqs.push_back(eq.expr);
          prunes.push_back(eq.prune);
        }
        if (!set.empty()) {
          OCTAVO_ASSIGN_OR_RETURN(auto values, SortedDistinct(set, set_x->type, n));
          cp::Expression lookup = cp::call("is_in", {set_x->expr}, cp::SetLookupOptions(values));
          eqs.push_back(cp::call("coalesce", {lookup, cp::literal(false)}));
          auto p = std::make_shared<PruneNode>();
          if (set_x->column >= 0 && set_x->type->Equals(*schema_.field(set_x->column)->type())) {
            p->kind = PruneNode::Kind::kIn;
            p->column = set_x->column;
            p->values = values;
          }
          prunes.push_back(p);
        }
        cp::Expression any = cp::literal(false);
        std::shared_ptr<PruneNode> p;
        if (eqs.empty()) {  // only nulls, NaN, fractions against integers: nothing matches
          p = std::make_shared<PruneNode>();
          p->kind = PruneNode::Kind::kConst;
          p->const_value = false;
        } else {
          // A balanced tree: Arrow binds and simplifies expressions recursively.
          any = Balanced("or_kleene", eqs, 0, eqs.size());
          p = prunes.size() == 1 ? prunes[0] : PruneOf(PruneNode::Kind::kOr, prunes);
        }
        if (n.negated) {
          t.expr = cp::call("invert", {any});
          t.prune = PruneOf(PruneNode::Kind::kNot, {p});
        } else {
          t.expr = any;
          t.prune = p;
        }
        return t;
      }
      case NodeKind::kBetween: {
        OCTAVO_ASSIGN_OR_RETURN(Typed x, Value(*n.args[0]));
        OCTAVO_ASSIGN_OR_RETURN(Typed lo, Value(*n.args[1]));
        OCTAVO_ASSIGN_OR_RETURN(Typed hi, Value(*n.args[2]));
        OCTAVO_ASSIGN_OR_RETURN(Typed ge, Compare(n, ">=", x, lo));
        OCTAVO_ASSIGN_OR_RETURN(Typed le, Compare(n, "<=", x, hi));
        cp::Expression both = cp::call("and_kleene", {ge.expr, le.expr});
        auto p = PruneOf(PruneNode::Kind::kAnd, {ge.prune, le.prune});
        if (n.negated) {
          t.expr = cp::call("invert", {both});
          t.prune = PruneOf(PruneNode::Kind::kNot, {p});
        } else {
          t.expr = both;
          t.prune = p;
        }
        return t;
      }
      case NodeKind::kIsNull: {
        OCTAVO_ASSIGN_OR_RETURN(Typed x, Value(*n.args[0]));
        // pandas' isna(): null, and NaN in float columns, are both missing.
        cp::Expression isnull = cp::call("is_null", {x.expr}, cp::NullOptions(/*nan_is_null=*/true));
        auto p = std::make_shared<PruneNode>();
        if (x.column >= 0) {
          p->kind = PruneNode::Kind::kIsNull;
          p->column = x.column;
        }
        if (n.negated) {
          t.expr = cp::call("invert", {isnull});
          t.prune = PruneOf(PruneNode::Kind::kNot, {p});
        } else {
          t.expr = isnull;
          t.prune = p;
        }
        return t;
      }
      default: {
        OCTAVO_ASSIGN_OR_RETURN(Typed v, Value(n));
        if (v.is_cond) return v;
        if (v.type->id() == arrow::Type::BOOL) {
          // A boolean column (or expression) used as a condition: missing is false.
          t.expr = cp::call("coalesce", {v.expr, cp::literal(false)});
          if (v.column >= 0) {
            auto p = std::make_shared<PruneNode>();
            p->kind = PruneNode::Kind::kCompare;
            p->column = v.column;
            p->op = "==";
            p->literal = arrow::MakeScalar(true);
            t.prune = p;
          } else {
            t.prune = Unknown();
          }
          return t;
        }
        return TypeErr(n, "expected a condition (a comparison or a boolean column), got " + v.What());
      }
    }
  }

  // Operands of & | ~ must be conditions; a clearer message than a kernel error.
  Result<Typed> CondOperand(const Node& operand, const Node& op) {
    auto r = Cond(operand);
    if (!r.ok() && r.status().code() == StatusCode::kTypeError &&
        r.status().message().find("expected a condition") != std::string::npos) {
      std::string sym = op.kind == NodeKind::kAnd ? "&/AND" : op.kind == NodeKind::kOr ? "|/OR" : "~/NOT";
      return TypeErr(operand, "the operands of " + sym +
                                  " must be conditions (comparisons or boolean columns); parenthesise "
                                  "comparisons: (a > 1) & (b < 2)");
    }
    return r;
  }

  Result<Typed> Compare(const Node& n, const std::string& op_in, Typed a, Typed b) {
    std::string op = op_in;
    bool ordering = !(op == "==" || op == "!=");
    OCTAVO_RETURN_NOT_OK(Harmonize(a, b, n, ordering, "compare"));
    if (ordering && (a.type->id() == arrow::Type::BOOL || b.type->id() == arrow::Type::BOOL) &&
        !(IsNullType(*a.type) || IsNullType(*b.type))) {
      // allowed (False < True), like numpy
    }
    Typed t;
    t.node = &n;
    t.is_cond = true;
    t.type = arrow::boolean();
    cp::Expression cmp = cp::call(CmpFunction(op), {a.expr, b.expr});
    OCTAVO_ASSIGN_OR_RETURN(auto ty, TypeOf(cmp, n, "compare " + a.What() + " with " + b.What()));
    (void)ty;
    // A comparison with a missing value is false, except != which is true (pandas / IEEE NaN).
    t.expr = cp::call("coalesce", {cmp, cp::literal(op == "!=")});
    // Pruning: column OP literal (literal already in the column's type).
    const Typed* col = nullptr;
    const Typed* lit = nullptr;
    if (a.column >= 0 && b.literal) {
      col = &a;
      lit = &b;
    } else if (b.column >= 0 && a.literal) {
      col = &b;
      lit = &a;
      op = FlipOp(op);
    }
    if (col && lit && lit->expr.literal() && lit->expr.literal()->is_scalar() &&
        lit->expr.literal()->scalar()->type->Equals(*col->type)) {
      auto p = std::make_shared<PruneNode>();
      p->kind = PruneNode::Kind::kCompare;
      p->column = col->column;
      p->op = op;
      p->literal = lit->expr.literal()->scalar();
      t.prune = p;
    } else {
      t.prune = Unknown();
    }
    return t;
  }

  const std::string& text_;
  const arrow::Schema& schema_;
  const CondVars& vars_;
  std::string table_path_;
  std::set<int> columns_;
  std::vector<std::shared_ptr<Node>> keep_;
};

// --- pruning evaluation ----------------------------------------------------------------

// -1, 0, 1, or nullopt when the two cannot be compared.
std::optional<int> Compare3(const std::shared_ptr<arrow::Scalar>& a, const std::shared_ptr<arrow::Scalar>& b) {
  auto eq = cp::CallFunction("equal", {a, b});
  auto lt = cp::CallFunction("less", {a, b});
  if (!eq.ok() || !lt.ok()) return std::nullopt;
  const auto& e = eq->scalar_as<arrow::BooleanScalar>();
  const auto& l = lt->scalar_as<arrow::BooleanScalar>();
  if (!e.is_valid || !l.is_valid) return std::nullopt;
  if (e.value) return 0;
  return l.value ? -1 : 1;
}

}  // namespace

Possible Evaluate(const PruneNode& node, const std::vector<ColumnBounds>& bounds) {
  Possible any;  // {true, true}
  switch (node.kind) {
    case PruneNode::Kind::kUnknown: return any;
    case PruneNode::Kind::kConst: return Possible{node.const_value, !node.const_value};
    case PruneNode::Kind::kAnd: {
      Possible out{true, false};
      for (const auto& a : node.args) {
        Possible p = Evaluate(*a, bounds);
        out.may_true = out.may_true && p.may_true;
        out.may_false = out.may_false || p.may_false;
      }
      return out;
    }
    case PruneNode::Kind::kOr: {
      Possible out{false, true};
      for (const auto& a : node.args) {
        Possible p = Evaluate(*a, bounds);
        out.may_true = out.may_true || p.may_true;
        out.may_false = out.may_false && p.may_false;
      }
      return out;
    }
    case PruneNode::Kind::kNot: {
      Possible p = Evaluate(*node.args[0], bounds);
      return Possible{p.may_false, p.may_true};
    }
    case PruneNode::Kind::kIsNull: {
      if (node.column < 0 || node.column >= static_cast<int>(bounds.size())) return any;
      const ColumnBounds& b = bounds[node.column];
      if (!b.known) return any;
      return Possible{b.may_missing, b.has_values};
    }
    case PruneNode::Kind::kIn: {
      if (node.column < 0 || node.column >= static_cast<int>(bounds.size()) || !node.values) return any;
      const ColumnBounds& b = bounds[node.column];
      if (!b.known) return any;
      bool t = false, f = b.may_missing;  // null / NaN are in no list
      if (b.has_values) {
        if (!b.min || !b.max) return any;
        // The first listed value >= min (binary search): any value in [min, max]?
        const arrow::Array& v = *node.values;
        int64_t lo = 0, hi = v.length();
        while (lo < hi) {
          const int64_t mid = lo + (hi - lo) / 2;
          auto s = v.GetScalar(mid);
          if (!s.ok()) return any;
          auto c = Compare3(*s, b.min);
          if (!c) return any;
          if (*c < 0) lo = mid + 1; else hi = mid;
        }
        bool inside = false;
        if (lo < v.length()) {
          auto s = v.GetScalar(lo);
          if (!s.ok()) return any;
          auto c = Compare3(*s, b.max);
          if (!c) return any;
          inside = *c <= 0;
        }
        auto same = Compare3(b.min, b.max);
        if (!same) return any;
        t = t || inside;
        // Every value provably listed: one exact value, and it is in the list.
        f = f || !(b.exact && *same == 0 && inside);
      }
      return Possible{t, f};
    }
    case PruneNode::Kind::kCompare: {
      if (node.column < 0 || node.column >= static_cast<int>(bounds.size())) return any;
      const ColumnBounds& b = bounds[node.column];
      if (!b.known) return any;
      const bool ne = node.op == "!=";
      // Missing values (null/NaN): every comparison is false, != is true.
      bool t = b.may_missing && ne;
      bool f = b.may_missing && !ne;
      if (b.has_values) {
        const auto& c = node.literal;
        if (!c || !c->is_valid || IsNanScalar(*c)) {
          // comparing with null / NaN: false for every value (true for !=)
          t = t || ne;
          f = f || !ne;
        } else if (!b.min || !b.max) {
          return any;
        } else {
          auto lo = Compare3(b.min, c);  // sign of (min - c)
          auto hi = Compare3(b.max, c);  // sign of (max - c)
          if (!lo || !hi) return any;
          bool vt, vf;
          const std::string& op = node.op;
          if (op == "<") { vt = *lo < 0; vf = *hi >= 0; }
          else if (op == "<=") { vt = *lo <= 0; vf = *hi > 0; }
          else if (op == ">") { vt = *hi > 0; vf = *lo <= 0; }
          else if (op == ">=") { vt = *hi >= 0; vf = *lo < 0; }
          else if (op == "==") { vt = *lo <= 0 && *hi >= 0; vf = !(b.exact && *lo == 0 && *hi == 0); }
          else { vt = !(b.exact && *lo == 0 && *hi == 0); vf = *lo <= 0 && *hi >= 0; }
          t = t || vt;
          f = f || vf;
        }
      }
      return Possible{t, f};
    }
  }
  return any;
}

Result<CompiledCondition> Compile(const std::string& text, const arrow::Schema& schema, const CondVars& condvars,
                                  const std::string& table_path) {
  OCTAVO_ASSIGN_OR_RETURN(auto root, Parse(text));
  Compiler c(text, schema, condvars, table_path);
  return c.Run(*root);
}

}  // namespace octavo::query
