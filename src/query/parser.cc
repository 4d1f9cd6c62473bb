// The condition tokenizer and recursive-descent parser (grammar: docs/queries.md).
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <sstream>

#include "query/condition.h"
#include "query/error.h"

namespace octavo::query {
namespace {

enum class Tok { kEnd, kNumber, kString, kBytes, kIdent, kQuotedIdent, kOp };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;   // identifier / operator / decoded string
  size_t pos = 0, end = 0;
  bool is_float = false;
  int64_t int_value = 0;
  double float_value = 0;
};

std::string Upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

class Lexer {
 public:
  explicit Lexer(const std::string& text) : s_(text) {}

  Result<std::vector<Token>> Run() {
    std::vector<Token> out;
    while (true) {
      while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
      Token t;
      t.pos = i_;
      if (i_ >= s_.size()) {
        t.kind = Tok::kEnd;
        t.end = i_;
        out.push_back(t);
        return out;
      }
      char c = s_[i_];
      if ((c == 'b' || c == 'B') && i_ + 1 < s_.size() && (s_[i_ + 1] == '\'' || s_[i_ + 1] == '"')) {
        ++i_;
        OCTAVO_ASSIGN_OR_RETURN(t.text, QuotedString(t.pos));
        t.kind = Tok::kBytes;
      } else if (c == '\'' || c == '"') {
        OCTAVO_ASSIGN_OR_RETURN(t.text, QuotedString(t.pos));
        t.kind = Tok::kString;
      } else if (c == '`') {
        size_t close = s_.find('`', i_ + 1);
        if (close == std::string::npos) return SyntaxError(s_, t.pos, s_.size(), "unterminated `quoted` column name");
        t.kind = Tok::kQuotedIdent;
        t.text = s_.substr(i_ + 1, close - i_ - 1);
        i_ = close + 1;
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 (c == '.' && i_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_ + 1])))) {
        OCTAVO_RETURN_NOT_OK(Number(&t));
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80) {
        size_t j = i_;
        while (j < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[j])) || s_[j] == '_' ||
                                 static_cast<unsigned char>(s_[j]) >= 0x80))
          ++j;
        t.kind = Tok::kIdent;
        t.text = s_.substr(i_, j - i_);
        i_ = j;
      } else {
        static const char* kOps[] = {"**", "<=", ">=", "==", "!=", "<>", "<", ">", "=", "+", "-",
                                     "*",  "/",  "%",  "&",  "|",  "~",  "(", ")", ","};
        bool found = false;
        for (const char* op : kOps) {
          size_t n = std::char_traits<char>::length(op);
          if (s_.compare(i_, n, op) == 0) {
            t.kind = Tok::kOp;
            t.text = op;
            i_ += n;
            found = true;
            break;
          }
        }
        if (!found) {
          if (c == '[' || c == ']' || c == '{' || c == '}' || c == '!' || c == '^' || c == '@' || c == '$' || c == '?' || c == ';' || c == ':' || c == '#' || c == '\\' || c == '.')
            return SyntaxError(s_, i_, i_ + 1, std::string("unexpected character '") + c + "'");
          return SyntaxError(s_, i_, i_ + 1, "unexpected character");
        }
        if (t.text == "=") t.text = "==";
        if (t.text == "<>") t.text = "!=";
      }
      t.end = i_;
      out.push_back(std::move(t));
    }
  }

 private:
  Result<std::string> QuotedString(size_t start) {
    char q = s_[i_];
    std::string out;
    size_t j = i_ + 1;
    while (j < s_.size()) {
      char c = s_[j];
      if (c == q) {
        // SQL style doubled quote inside a string: 'it''s'
        if (j + 1 < s_.size() && s_[j + 1] == q) {
          out += q;
          j += 2;
          continue;
        }
        i_ = j + 1;
        return out;
      }
      if (c == '\\' && j + 1 < s_.size()) {
        char e = s_[j + 1];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case '0': out += '\0'; break;
          case '\\': out += '\\'; break;
          case '\'': out += '\''; break;
          case '"': out += '"'; break;
          default: out += '\\'; out += e; break;
        }
        j += 2;
        continue;
      }
      out += c;
      ++j;
    }
    return SyntaxError(s_, start, s_.size(), "unterminated string");
  }

  Status Number(Token* t) {
    size_t j = i_;
    bool is_float = false;
    while (j < s_.size() && std::isdigit(static_cast<unsigned char>(s_[j]))) ++j;
    if (j < s_.size() && s_[j] == '.') {
      is_float = true;
      ++j;
      while (j < s_.size() && std::isdigit(static_cast<unsigned char>(s_[j]))) ++j;
    }
    if (j < s_.size() && (s_[j] == 'e' || s_[j] == 'E')) {
      size_t k = j + 1;
      if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
      if (k < s_.size() && std::isdigit(static_cast<unsigned char>(s_[k]))) {
        is_float = true;
        j = k;
        while (j < s_.size() && std::isdigit(static_cast<unsigned char>(s_[j]))) ++j;
      }
    }
    if (j < s_.size() && (std::isalpha(static_cast<unsigned char>(s_[j])) || s_[j] == '_'))
      return SyntaxError(s_, i_, j + 1, "malformed number");
    std::string lit = s_.substr(i_, j - i_);
    t->kind = Tok::kNumber;
    t->text = lit;
    t->is_float = is_float;
    errno = 0;
    if (!is_float) {
      char* endp = nullptr;
      long long v = std::strtoll(lit.c_str(), &endp, 10);
      if (errno == ERANGE) {
        t->is_float = true;  // too large for int64: like Python, it is still a number
        t->float_value = std::strtod(lit.c_str(), nullptr);
      } else {
        t->int_value = v;
      }
    } else {
      t->float_value = std::strtod(lit.c_str(), nullptr);
    }
    i_ = j;
    return Status::OK();
  }

  const std::string& s_;
  size_t i_ = 0;
};

using NodePtr = std::shared_ptr<Node>;

Status DepthError(const std::string& text, size_t pos, size_t end) {
  return SyntaxError(text, pos, std::max(end, pos + 1),
                     "the condition nests deeper than " + std::to_string(kMaxConditionDepth) +
                         " levels (parentheses, ~/NOT, signs, ** or a long chain of arithmetic); rewrite it "
                         "flatter, e.g. drop redundant parentheses, or use `x IN (...)` for many alternatives");
}

class Parser {
 public:
  Parser(const std::string& text, std::vector<Token> toks) : s_(text), t_(std::move(toks)) {}

  Result<NodePtr> Run() {
    if (Peek().kind == Tok::kEnd) return SyntaxError(s_, 0, s_.size(), "empty condition");
    OCTAVO_ASSIGN_OR_RETURN(auto n, Or());
    if (Peek().kind != Tok::kEnd) {
      const Token& k = Peek();
      if (IsOp(")")) return SyntaxError(s_, k.pos, k.end, "unbalanced ')'");
      return SyntaxError(s_, k.pos, k.end, "unexpected '" + Quoted(s_.substr(k.pos, k.end - k.pos)) +
                                               "' (a missing operator, or '&' / '|' between conditions?)");
    }
    return n;
  }

 private:
  const Token& Peek(size_t ahead = 0) const { return t_[std::min(p_ + ahead, t_.size() - 1)]; }
  bool IsOp(const char* op, size_t ahead = 0) const {
    const Token& k = Peek(ahead);
    return k.kind == Tok::kOp && k.text == op;
  }
  bool IsKw(const char* kw, size_t ahead = 0) const {
    const Token& k = Peek(ahead);
    return k.kind == Tok::kIdent && Upper(k.text) == kw;
  }
  const Token& Take() { return t_[p_ < t_.size() - 1 ? p_++ : p_]; }

  static NodePtr Make(NodeKind kind, size_t pos, size_t end, std::string text = {}) {
    auto n = std::make_shared<Node>();
    n->kind = kind;
    n->pos = pos;
    n->end = end;
    n->text = std::move(text);
    return n;
  }
  static NodePtr Bin(NodeKind kind, std::string op, NodePtr a, NodePtr b) {
    auto n = Make(kind, a->pos, b->end, std::move(op));
    n->args = {std::move(a), std::move(b)};
    return n;
  }

  Status Expect(const char* op, const char* what) {
    if (IsOp(op)) {
      Take();
      return Status::OK();
    }
    const Token& k = Peek();
    if (k.kind == Tok::kEnd) return SyntaxError(s_, k.pos, k.pos + 1, std::string("expected ") + what + ", the condition ended");
    return SyntaxError(s_, k.pos, k.end, std::string("expected ") + what);
  }

  // Every recursion of the parser goes through Nested, so a deeply nested condition is an
  // error instead of a stack overflow (the parser may run on a pool thread's small stack).
  template <typename F>
  Result<NodePtr> Nested(size_t pos, F&& f) {
    if (depth_ >= kMaxConditionDepth) return DepthError(s_, pos, Peek().end);
    ++depth_;
    auto r = f();
    --depth_;
    return r;
  }

  // Chains of | / & are one n-ary node: no depth proportional to the number of terms.
  Result<NodePtr> Or() {
    OCTAVO_ASSIGN_OR_RETURN(auto a, And());
    if (!(IsOp("|") || IsKw("OR"))) return a;
    auto n = Make(NodeKind::kOr, a->pos, a->end, "or");
    n->args.push_back(a);
    while (IsOp("|") || IsKw("OR")) {
      Take();
      OCTAVO_ASSIGN_OR_RETURN(auto b, And());
      n->end = b->end;
      n->args.push_back(b);
    }
    return n;
  }

  Result<NodePtr> And() {
    OCTAVO_ASSIGN_OR_RETURN(auto a, Not());
    if (!(IsOp("&") || IsKw("AND"))) return a;
    auto n = Make(NodeKind::kAnd, a->pos, a->end, "and");
    n->args.push_back(a);
    while (IsOp("&") || IsKw("AND")) {
      Take();
      OCTAVO_ASSIGN_OR_RETURN(auto b, Not());
      n->end = b->end;
      n->args.push_back(b);
    }
    return n;
  }

  Result<NodePtr> Not() {
    if (IsOp("~") || IsKw("NOT")) {
      size_t pos = Take().pos;
      OCTAVO_ASSIGN_OR_RETURN(auto a, Nested(pos, [&] { return Not(); }));
      auto n = Make(NodeKind::kNot, pos, a->end, "not");
      n->args = {a};
      return n;
    }
    return Comparison();
  }

  static bool IsCmp(const Token& k) {
    return k.kind == Tok::kOp &&
           (k.text == "<" || k.text == "<=" || k.text == ">" || k.text == ">=" || k.text == "==" || k.text == "!=");
  }

  Result<NodePtr> Comparison() {
    OCTAVO_ASSIGN_OR_RETURN(auto a, Additive());
    if (IsCmp(Peek())) {
      // a < b < c  ==  (a < b) & (b < c)
      NodePtr result;
      NodePtr left = a;
      while (IsCmp(Peek())) {
        std::string op = Take().text;
        OCTAVO_ASSIGN_OR_RETURN(auto right, Additive());
        auto cmp = Bin(NodeKind::kCompare, op, left, right);
        result = result ? Bin(NodeKind::kAnd, "and", result, cmp) : cmp;
        left = right;
      }
      return result;
    }
    bool negated = false;
    if (IsKw("NOT") && (IsKw("IN", 1) || IsKw("BETWEEN", 1) || IsKw("LIKE", 1) || IsKw("ILIKE", 1))) {
      Take();
      negated = true;
    }
    if (IsKw("LIKE") || IsKw("ILIKE")) {
      // a LIKE 'p%'  ==  like(a, 'p%'); NOT LIKE negates it
      std::string fn = Upper(Take().text) == "LIKE" ? "like" : "ilike";
      OCTAVO_ASSIGN_OR_RETURN(auto pattern, Additive());
      auto n = Make(NodeKind::kCall, a->pos, pattern->end, fn);
      n->args = {a, pattern};
      if (!negated) return n;
      auto neg = Make(NodeKind::kNot, a->pos, pattern->end, "not");
      neg->args = {n};
      return neg;
    }
    if (IsKw("IN")) {
      Take();
      OCTAVO_RETURN_NOT_OK(Expect("(", "'(' after IN"));
      auto n = Make(NodeKind::kIn, a->pos, a->end, "in");
      n->negated = negated;
      n->args.push_back(a);
      if (IsOp(")")) return SyntaxError(s_, Peek().pos, Peek().end, "IN needs at least one value");
      while (true) {
        OCTAVO_ASSIGN_OR_RETURN(auto v, Additive());
        n->args.push_back(v);
        if (IsOp(",")) {
          Take();
          continue;
        }
        break;
      }
      n->end = Peek().end;
      OCTAVO_RETURN_NOT_OK(Expect(")", "')' or ',' in the IN list"));
      return n;
    }
    if (IsKw("BETWEEN")) {
      Take();
      OCTAVO_ASSIGN_OR_RETURN(auto lo, Additive());
      if (!IsKw("AND")) return SyntaxError(s_, Peek().pos, Peek().end, "expected AND in BETWEEN ... AND ...");
      Take();
      OCTAVO_ASSIGN_OR_RETURN(auto hi, Additive());
      auto n = Make(NodeKind::kBetween, a->pos, hi->end, "between");
      n->negated = negated;
      n->args = {a, lo, hi};
      return n;
    }
    if (IsKw("IS")) {
      Take();
      bool neg = false;
      if (IsKw("NOT")) {
        Take();
        neg = true;
      }
      if (!IsKw("NULL") && !IsKw("NONE")) return SyntaxError(s_, Peek().pos, Peek().end, "expected NULL after IS");
      size_t end = Take().end;
      auto n = Make(NodeKind::kIsNull, a->pos, end, "is_null");
      n->negated = neg;
      n->args = {a};
      return n;
    }
    return a;
  }

  Result<NodePtr> Additive() {
    OCTAVO_ASSIGN_OR_RETURN(auto a, Term());
    while (IsOp("+") || IsOp("-")) {
      std::string op = Take().text;
      OCTAVO_ASSIGN_OR_RETURN(auto b, Term());
      a = Bin(NodeKind::kBinary, op, a, b);
    }
    return a;
  }

  Result<NodePtr> Term() {
    OCTAVO_ASSIGN_OR_RETURN(auto a, Unary());
    while (IsOp("*") || IsOp("/") || IsOp("%")) {
      std::string op = Take().text;
      OCTAVO_ASSIGN_OR_RETURN(auto b, Unary());
      a = Bin(NodeKind::kBinary, op, a, b);
    }
    return a;
  }

  Result<NodePtr> Unary() {
    if (IsOp("-") || IsOp("+")) {
      const Token& k = Take();
      size_t pos = k.pos;
      std::string op = k.text;
      OCTAVO_ASSIGN_OR_RETURN(auto a, Nested(pos, [&] { return Unary(); }));
      // Fold signs into numeric literals so `x > -3` compares with the literal -3.
      if (a->kind == NodeKind::kLiteral && (a->value.kind == QueryValue::Kind::kInt || a->value.kind == QueryValue::Kind::kFloat)) {
        if (op == "-") {
          if (a->value.kind == QueryValue::Kind::kInt) a->value.int_value = -a->value.int_value;
          else a->value.float_value = -a->value.float_value;
        }
        a->pos = pos;
        return a;
      }
      auto n = Make(NodeKind::kUnary, pos, a->end, op);
      n->args = {a};
      return n;
    }
    if (IsOp("~")) {  // `~` inside an operand, e.g. (a > 1) == ~(b > 2)
      size_t pos = Take().pos;
      OCTAVO_ASSIGN_OR_RETURN(auto a, Nested(pos, [&] { return Unary(); }));
      auto n = Make(NodeKind::kNot, pos, a->end, "not");
      n->args = {a};
      return n;
    }
    return Power();
  }

  Result<NodePtr> Power() {
    OCTAVO_ASSIGN_OR_RETURN(auto a, Primary());
    if (IsOp("**")) {
      size_t pos = Take().pos;
      OCTAVO_ASSIGN_OR_RETURN(auto b, Nested(pos, [&] { return Unary(); }));  // right associative; 2 ** -1 is fine
      return Bin(NodeKind::kBinary, "**", a, b);
    }
    return a;
  }

  Result<NodePtr> Primary() {
    const Token& k = Peek();
    switch (k.kind) {
      case Tok::kNumber: {
        Take();
        auto n = Make(NodeKind::kLiteral, k.pos, k.end, k.text);
        n->value = k.is_float ? QueryValue::Float(k.float_value) : QueryValue::Int(k.int_value);
        return n;
      }
      case Tok::kString:
      case Tok::kBytes: {
        Take();
        auto n = Make(NodeKind::kLiteral, k.pos, k.end);
        n->value = k.kind == Tok::kString ? QueryValue::String(k.text) : QueryValue::Bytes(k.text);
        return n;
      }
      case Tok::kQuotedIdent: {
        Take();
        return Make(NodeKind::kName, k.pos, k.end, k.text);
      }
      case Tok::kIdent: {
        std::string up = Upper(k.text);
        if (up == "TRUE" || up == "FALSE") {
          Take();
          auto n = Make(NodeKind::kLiteral, k.pos, k.end, k.text);
          n->value = QueryValue::Bool(up == "TRUE");
          return n;
        }
        if (up == "NULL" || up == "NONE") {
          Take();
          return Make(NodeKind::kLiteral, k.pos, k.end, k.text);
        }
        if (up == "AND" || up == "OR" || up == "IN" || up == "BETWEEN" || up == "IS" || up == "LIKE" ||
            up == "ILIKE")
          return SyntaxError(s_, k.pos, k.end, "expected a value, found the keyword " + up);
        Take();
        if (IsOp("(")) {
          Take();
          auto n = Make(NodeKind::kCall, k.pos, k.end, k.text);
          if (!IsOp(")")) {
            while (true) {
              OCTAVO_ASSIGN_OR_RETURN(auto a, Nested(k.pos, [&] { return Or(); }));
              n->args.push_back(a);
              if (IsOp(",")) {
                Take();
                continue;
              }
              break;
            }
          }
          n->end = Peek().end;
          OCTAVO_RETURN_NOT_OK(Expect(")", "')' or ',' in the function call"));
          return n;
        }
        return Make(NodeKind::kName, k.pos, k.end, k.text);
      }
      case Tok::kOp: {
        if (k.text == "(") {
          Take();
          OCTAVO_ASSIGN_OR_RETURN(auto a, Nested(k.pos, [&] { return Or(); }));
          if (!IsOp(")")) {
            const Token& c = Peek();
            if (c.kind == Tok::kEnd) return SyntaxError(s_, k.pos, k.pos + 1, "'(' is never closed");
            return SyntaxError(s_, c.pos, c.end, "expected ')'");
          }
          Take();
          return a;
        }
        return SyntaxError(s_, k.pos, k.end, "expected a value, found '" + Quoted(k.text) + "'");
      }
      case Tok::kEnd:
        return SyntaxError(s_, k.pos, k.pos + 1, "the condition ended where a value was expected");
    }
    return SyntaxError(s_, k.pos, k.end, "unexpected token");
  }

  const std::string& s_;
  std::vector<Token> t_;
  size_t p_ = 0;
  int depth_ = 0;
};

// The depth of the tree, without recursion: chained arithmetic (a + b + c ...) and comparison
// chains are left-deep, and every walker of the tree (compile, pruning, ToSExpr) recurses.
Status CheckTreeDepth(const std::string& text, const Node& root) {
  std::vector<std::pair<const Node*, int>> stack{{&root, 1}};
  while (!stack.empty()) {
    auto [n, d] = stack.back();
    stack.pop_back();
    if (d > kMaxConditionDepth) return DepthError(text, n->pos, n->end);
    for (const auto& a : n->args) stack.push_back({a.get(), d + 1});
  }
  return Status::OK();
}

void SExpr(const Node& n, std::ostringstream& o) {
  switch (n.kind) {
    case NodeKind::kLiteral:
      switch (n.value.kind) {
        case QueryValue::Kind::kNull: o << "null"; break;
        case QueryValue::Kind::kBool: o << (n.value.bool_value ? "true" : "false"); break;
        case QueryValue::Kind::kInt: o << n.value.int_value; break;
        case QueryValue::Kind::kFloat: o << n.value.float_value; break;
        case QueryValue::Kind::kString: o << "'" << n.value.string_value << "'"; break;
        case QueryValue::Kind::kBytes: o << "b'" << n.value.string_value << "'"; break;
      }
      return;
    case NodeKind::kName: o << n.text; return;
    default: break;
  }
  o << "(";
  if (n.negated) o << "not-";
  o << n.text;
  for (const auto& a : n.args) {
    o << " ";
    SExpr(*a, o);
  }
  o << ")";
}

}  // namespace

Result<std::shared_ptr<Node>> Parse(const std::string& text) {
  Lexer lex(text);
  OCTAVO_ASSIGN_OR_RETURN(auto toks, lex.Run());
  Parser p(text, std::move(toks));
  OCTAVO_ASSIGN_OR_RETURN(auto root, p.Run());
  OCTAVO_RETURN_NOT_OK(CheckTreeDepth(text, *root));
  return root;
}

std::string ToSExpr(const Node& node) {
  std::ostringstream o;
  SExpr(node, o);
  return o.str();
}

}  // namespace octavo::query
