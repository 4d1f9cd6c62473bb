// Safe unpickler: see unpickle.h. Nothing here ever imports or calls Python code.
#include "hdf5/unpickle.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>
#include <unordered_map>

namespace octavo::pickle {

const char* KindName(Kind k) {
  switch (k) {
    case Kind::kNone: return "None";
    case Kind::kBool: return "bool";
    case Kind::kInt: return "int";
    case Kind::kFloat: return "float";
    case Kind::kStr: return "str";
    case Kind::kBytes: return "bytes";
    case Kind::kList: return "list";
    case Kind::kTuple: return "tuple";
    case Kind::kDict: return "dict";
    case Kind::kSet: return "set";
    case Kind::kNdarray: return "ndarray";
    case Kind::kOpaque: return "opaque";
    case Kind::kGlobal: return "global";
    case Kind::kDtype: return "dtype";
  }
  return "?";
}

const Value* Value::Get(std::string_view key) const {
  if (kind != Kind::kDict) return nullptr;
  for (size_t j = 0; j + 1 < items.size(); j += 2)
    if (items[j]->kind == Kind::kStr && items[j]->str == key) return items[j + 1];
  return nullptr;
}

const Value* Value::GetInt(int64_t key) const {
  if (kind != Kind::kDict) return nullptr;
  for (size_t j = 0; j + 1 < items.size(); j += 2)
    if (items[j]->kind == Kind::kInt && items[j]->i == key) return items[j + 1];
  return nullptr;
}

int64_t Value::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // validated against overflow when built
  return n;
}

namespace {

bool IsNumpyModule(std::string_view mod, std::string_view sub) {
  // numpy.core.<sub> or numpy._core.<sub>
  return mod == std::string("numpy.core.") + std::string(sub) || mod == std::string("numpy._core.") + std::string(sub);
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Python's raw-unicode-escape decoding (protocol 0 UNICODE): \uXXXX and \UXXXXXXXX are
// escapes when preceded by an odd number of backslashes; every other byte is Latin-1.
Result<std::string> DecodeRawUnicodeEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c != '\\') {
      AppendUtf8(&out, c);
      ++i;
      continue;
    }
    size_t run = 0;
    while (i + run < s.size() && s[i + run] == '\\') ++run;
    size_t after = i + run;
    if (run % 2 == 1 && after < s.size() && (s[after] == 'u' || s[after] == 'U')) {
      out.append(run - 1, '\\');
      size_t n = s[after] == 'u' ? 4 : 8;
      if (after + 1 + n > s.size()) return Status::Invalid("pickle: truncated \\u escape");
      uint32_t cp = 0;
      for (size_t k = 0; k < n; ++k) {
        int h = HexVal(s[after + 1 + k]);
        if (h < 0) return Status::Invalid("pickle: bad \\u escape");
        cp = cp * 16 + static_cast<uint32_t>(h);
      }
      if (cp > 0x10FFFF) return Status::Invalid("pickle: \\U escape out of range");
      AppendUtf8(&out, cp);
      i = after + 1 + n;
    } else {
      out.append(run, '\\');
      i = after;
    }
  }
  return out;
}

// Python 2 string literal (protocol 0 STRING): quoted, with backslash escapes.
Result<std::string> DecodeStringLiteral(std::string_view s) {
  if (s.size() < 2 || (s.front() != '\'' && s.front() != '"') || s.back() != s.front())
    return Status::Invalid("pickle: STRING argument is not a quoted literal");
  s = s.substr(1, s.size() - 2);
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i >= s.size()) return Status::Invalid("pickle: trailing backslash in STRING");
    char e = s[i];
    switch (e) {
      case 'n': out.push_back('\n'); break;
      case 't': out.push_back('\t'); break;
      case 'r': out.push_back('\r'); break;
      case 'a': out.push_back('\a'); break;
      case 'b': out.push_back('\b'); break;
      case 'f': out.push_back('\f'); break;
      case 'v': out.push_back('\v'); break;
      case '\\': out.push_back('\\'); break;
      case '\'': out.push_back('\''); break;
      case '"': out.push_back('"'); break;
      case '\n': break;
      case 'x': {
        if (i + 2 >= s.size()) return Status::Invalid("pickle: bad \\x escape");
        int h1 = HexVal(s[i + 1]);
        int h2 = HexVal(s[i + 2]);
        if (h1 < 0 || h2 < 0) return Status::Invalid("pickle: bad \\x escape");
        out.push_back(static_cast<char>(h1 * 16 + h2));
        i += 2;
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int v = e - '0';
          for (int k = 0; k < 2 && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7'; ++k) v = v * 8 + (s[++i] - '0');
          out.push_back(static_cast<char>(v & 0xFF));
        } else {
          out.push_back('\\');
          out.push_back(e);
        }
    }
  }
  return out;
}

// UTF-8 check (surrogates allowed: Python pickles them with 'surrogatepass').
bool ValidUtf8(std::string_view s) {
  size_t i = 0, n = s.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > n || (len == 2 && c < 0xC2) || (len == 4 && c > 0xF4)) return false;
    for (size_t k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    if (len == 3 && c == 0xE0 && static_cast<unsigned char>(s[i + 1]) < 0xA0) return false;
    if (len == 4 && c == 0xF0 && static_cast<unsigned char>(s[i + 1]) < 0x90) return false;
    if (len == 4 && c == 0xF4 && static_cast<unsigned char>(s[i + 1]) > 0x8F) return false;
    i += len;
  }
  return true;
}

bool IsAscii(std::string_view s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  return true;
}

bool ParseDecimalInt64(std::string_view s, int64_t* out, bool* overflow) {
  *overflow = false;
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ')) ++i;
  bool neg = false;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
  if (i >= s.size()) return false;
  unsigned __int128 v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
    if (v > (static_cast<unsigned __int128>(1) << 64)) *overflow = true;
  }
  if (*overflow) return true;
  if (!neg && v > static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max())) {
    *overflow = true;
  } else if (neg && v > (static_cast<unsigned __int128>(1) << 63)) {
    *overflow = true;
  } else {
    *out = neg ? static_cast<int64_t>(-static_cast<__int128>(v)) : static_cast<int64_t>(v);
  }
  return true;
}

struct DtypeInfo {
  bool object = false;
  char kind = 0;    // 'O','U','S','b','i','u','f','M','m'
  int64_t itemsize = 0;
};

// Parse a numpy dtype string like "|O", "<U3", "|S5", "<f8", "|b1", "O8".
bool ParseDtype(std::string_view d, DtypeInfo* info) {
  if (!d.empty() && (d[0] == '<' || d[0] == '>' || d[0] == '|' || d[0] == '=')) d.remove_prefix(1);
  if (d.empty()) return false;
  char k = d[0];
  std::string_view num = d.substr(1);
  int64_t n = 0;
  if (!num.empty()) {
    // strip datetime unit suffix "[us]"
    size_t br = num.find('[');
    if (br != std::string_view::npos) num = num.substr(0, br);
    for (char c : num) {
      if (c < '0' || c > '9') return false;
      n = n * 10 + (c - '0');
      if (n > (int64_t(1) << 30)) return false;
    }
  }
  info->kind = k;
  switch (k) {
    case 'O': info->object = true; info->itemsize = 8; return true;
    case 'U': info->itemsize = 4 * n; return n >= 0;
    case 'S': case 'a': info->kind = 'S'; info->itemsize = n; return true;
    case 'b': case '?': info->kind = 'b'; info->itemsize = 1; return true;
    case 'i': case 'u': case 'f': case 'M': case 'm':
      info->itemsize = n;
      return n == 1 || n == 2 || n == 4 || n == 8;
    default: return false;
  }
}

}  // namespace

class Unpickler {
 public:
  Unpickler(std::string_view data, const Limits& limits)
      : p_(data), limits_(limits), arena_(std::make_shared<std::vector<std::unique_ptr<Value>>>()) {}

  Result<Object> Run();

 private:
  Value* New(Kind k) {
    if (arena_->size() >= limits_.max_values) {
      too_many_ = true;
      return nullptr;
    }
    arena_->push_back(std::make_unique<Value>());
    Value* v = arena_->back().get();
    v->kind = k;
    return v;
  }
  Status Err(const std::string& msg) const {
    std::ostringstream ss;
    ss << "pickle: " << msg << " (at byte " << pos_ << ")";
    return Status::Invalid(ss.str());
  }
  Status Need(size_t n) const {
    if (pos_ + n > p_.size() || pos_ + n < pos_) return Err("truncated data");
    return Status::OK();
  }
  Result<std::string_view> ReadBytes(size_t n) {
    OCTAVO_RETURN_NOT_OK(Need(n));
    std::string_view s = p_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  Result<std::string_view> ReadLine() {
    size_t nl = p_.find('\n', pos_);
    if (nl == std::string_view::npos) return Err("truncated line");
    std::string_view s = p_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    return s;
  }
  template <typename T>
  Result<T> ReadLE() {
    OCTAVO_RETURN_NOT_OK(Need(sizeof(T)));
    T v;
    std::memcpy(&v, p_.data() + pos_, sizeof(T));  // x86/ARM little-endian hosts
    pos_ += sizeof(T);
    return v;
  }
  Status Push(Value* v) {
    if (!v) return too_many_ ? Err("too many objects") : Err("internal error");
    if (stack_.size() >= limits_.max_stack) return Err("stack too deep");
    stack_.push_back(v);
    return Status::OK();
  }
  Result<Value*> Pop() {
    if (stack_.size() <= Floor()) return Err("stack underflow");
    Value* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  size_t Floor() const { return marks_.empty() ? 0 : marks_.back(); }
  Result<Value*> Top() {
    if (stack_.size() <= Floor()) return Err("stack underflow");
    return stack_.back();
  }
  // Pop everything down to the last MARK.
  Result<std::vector<Value*>> PopMark() {
    if (marks_.empty()) return Err("MARK missing");
    size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Value*> out(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
    stack_.resize(m);
    return out;
  }
  Status MemoPut(uint64_t idx) {
    if (stack_.empty()) return Err("memo store on empty stack");
    if (memo_.size() >= limits_.max_memo && !memo_.count(idx)) return Err("memo too large");
    memo_[idx] = stack_.back();
    return Status::OK();
  }
  Status MemoGet(uint64_t idx) {
    auto it = memo_.find(idx);
    if (it == memo_.end()) return Err("memo key " + std::to_string(idx) + " missing");
    return Push(it->second);
  }
  Value* MakeInt(int64_t i) {
    Value* v = New(Kind::kInt);
    if (v) v->i = i;
    return v;
  }
  Value* MakeStr(Kind k, std::string s) {
    Value* v = New(k);
    if (v) v->str = std::move(s);
    return v;
  }
  Value* MakeTextOrBytes(std::string_view raw) {  // py2 str: ASCII -> str, else bytes
    return MakeStr(IsAscii(raw) ? Kind::kStr : Kind::kBytes, std::string(raw));
  }
  Value* MakeOpaque(const std::string& name) {
    Value* v = New(Kind::kOpaque);
    if (v) v->name = name;
    return v;
  }
  Result<Value*> MakeBigInt(std::string_view le_bytes);
  Result<Value*> MakeGlobal(std::string module, std::string name);
  Result<Value*> Call(Value* callable, Value* args);
  Status Build(Value* obj, Value* state);
  Result<Value*> NewObj(Value* cls);
  Result<Value*> MakeNdarray(const std::string& dtype_str, const Value* shape, bool fortran, const Value* data);
  Status CheckFinished(const Value* root);

  std::string_view p_;
  size_t pos_ = 0;
  Limits limits_;
  std::shared_ptr<std::vector<std::unique_ptr<Value>>> arena_;
  std::vector<Value*> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value*> memo_;
  bool too_many_ = false;
};

Result<Value*> Unpickler::MakeBigInt(std::string_view b) {
  // little-endian two's complement
  if (b.empty()) return MakeInt(0);
  bool neg = static_cast<unsigned char>(b.back()) & 0x80;
  // strip redundant sign bytes
  size_t n = b.size();
  while (n > 1 && static_cast<unsigned char>(b[n - 1]) == (neg ? 0xFF : 0x00) &&
         ((static_cast<unsigned char>(b[n - 2]) & 0x80) != 0) == neg)
    --n;
  if (n <= 8) {
    uint64_t u = neg ? ~uint64_t(0) : 0;
    for (size_t k = 0; k < n; ++k) {
      u &= ~(uint64_t(0xFF) << (8 * k));
      u |= uint64_t(static_cast<unsigned char>(b[k])) << (8 * k);
    }
    return MakeInt(static_cast<int64_t>(u));
  }
  if (!limits_.allow_opaque) return Err("integer does not fit in 64 bits");
  Value* v = MakeOpaque("builtins.int");
  if (v) v->str = std::string(b.substr(0, n));
  return v;
}

Result<Value*> Unpickler::MakeGlobal(std::string module, std::string name) {
  if (module.size() > 1000 || name.size() > 1000) return Err("global name too long");
  if (!ValidUtf8(module) || !ValidUtf8(name)) return Err("global name is not valid UTF-8");
  Value* v = New(Kind::kGlobal);
  if (!v) return Err("too many objects");
  // Normalize Python 2 names.
  if (module == "__builtin__") module = "builtins";
  if (module == "copy_reg") module = "copyreg";
  v->name = module + "." + name;
  return v;
}

Status Unpickler::CheckFinished(const Value* root) {
  // Iterative post-order walk: rejects cycles and results nested deeper than max_depth,
  // and makes internal kinds (global/dtype) opaque so consumers never see them.
  std::unordered_map<const Value*, int> height;  // -1 = on the path (gray)
  struct Frame {
    const Value* v;
    size_t next;
    int h;
  };
  std::vector<Frame> st;
  st.push_back({root, 0, 0});
  height[root] = -1;
  while (!st.empty()) {
    Frame& f = st.back();
    if (f.next < f.v->items.size()) {
      const Value* c = f.v->items[f.next++];
      auto it = height.find(c);
      if (it != height.end()) {
        if (it->second < 0) return Err("recursive (self-referencing) structure is not supported");
        f.h = std::max(f.h, it->second + 1);
        continue;
      }
      if (static_cast<int>(st.size()) >= limits_.max_depth) return Err("structure nested too deeply");
      height[c] = -1;
      st.push_back({c, 0, 0});
      continue;
    }
    int h = f.h;
    const Value* v = f.v;
    height[v] = h;
    if (h > limits_.max_depth) return Err("structure nested too deeply");
    if (v->kind == Kind::kGlobal || v->kind == Kind::kDtype ||
        (v->kind == Kind::kNdarray && !v->initialized)) {
      Value* mv = const_cast<Value*>(v);
      if (!limits_.allow_opaque) return Err("pickle holds a bare reference to '" + mv->name + "'");
      if (mv->kind == Kind::kDtype) mv->name = "numpy.dtype";
      if (mv->kind == Kind::kNdarray) mv->name = "numpy.ndarray";
      mv->kind = Kind::kOpaque;
    }
    st.pop_back();
    if (!st.empty()) st.back().h = std::max(st.back().h, h + 1);
  }
  return Status::OK();
}

Result<Value*> Unpickler::MakeNdarray(const std::string& dtype_str, const Value* shape, bool fortran, const Value* data) {
  DtypeInfo di;
  if (!ParseDtype(dtype_str, &di)) return Err("unsupported numpy dtype '" + dtype_str + "'");
  Value* arr = New(Kind::kNdarray);
  if (!arr) return Err("too many objects");
  arr->dtype = dtype_str;
  if (di.object) arr->dtype = "|O";
  if (!shape->is_seq()) return Err("ndarray shape is not a tuple");
  if (shape->items.size() > 32) return Err("ndarray has too many dimensions");
  int64_t n = 1;
  for (const Value* d : shape->items) {
    if (d->kind != Kind::kInt || d->i < 0) return Err("ndarray shape holds a non-integer");
    if (d->i != 0 && n > std::numeric_limits<int64_t>::max() / d->i) return Err("ndarray shape overflows");
    n *= d->i;
    arr->shape.push_back(d->i);
  }
  arr->fortran = fortran;
  if (di.object) {
    if (data->kind != Kind::kList && data->kind != Kind::kTuple) return Err("object ndarray data is not a list");
    if (static_cast<int64_t>(data->items.size()) != n) return Err("object ndarray has the wrong number of elements");
    arr->items = data->items;
  } else {
    std::string raw;
    if (data->kind == Kind::kBytes) {
      raw = data->str;
    } else if (data->kind == Kind::kStr) {
      // Python 2 str decoded as text: only Latin-1 round trips.
      const std::string& s = data->str;
      for (size_t k = 0; k < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[k]);
        if (c < 0x80) {
          raw.push_back(static_cast<char>(c));
          ++k;
        } else if ((c & 0xE0) == 0xC0 && k + 1 < s.size()) {
          uint32_t cp = ((c & 0x1F) << 6) | (static_cast<unsigned char>(s[k + 1]) & 0x3F);
          if (cp > 0xFF) return Err("ndarray data is not Latin-1");
          raw.push_back(static_cast<char>(cp));
          k += 2;
        } else {
          return Err("ndarray data is not Latin-1");
        }
      }
    } else {
      return Err("ndarray data is not bytes");
    }
    if (di.itemsize != 0 && n > std::numeric_limits<int64_t>::max() / di.itemsize) return Err("ndarray too large");
    if (static_cast<int64_t>(raw.size()) != n * di.itemsize) return Err("ndarray buffer has the wrong size");
    arr->data = std::move(raw);
  }
  arr->initialized = true;
  return arr;
}

Result<Value*> Unpickler::Call(Value* callable, Value* args) {
  if (callable->kind != Kind::kGlobal) {
    if (!limits_.allow_opaque) return Err("call of a non-callable " + std::string(KindName(callable->kind)));
    return MakeOpaque(callable->kind == Kind::kOpaque ? callable->name : "<call>");
  }
  const std::string& name = callable->name;
  size_t dot = name.rfind('.');
  std::string mod = name.substr(0, dot), fn = name.substr(dot + 1);
  if (!args->is_seq()) return Err("REDUCE arguments are not a tuple");
  const auto& a = args->items;
  if (IsNumpyModule(mod, "multiarray") && fn == "_reconstruct") {
    // _reconstruct(numpy.ndarray, (0,), b'b'): an empty array, filled by BUILD.
    if (a.size() != 3 || a[0]->kind != Kind::kGlobal || a[0]->name != "numpy.ndarray") {
      if (!limits_.allow_opaque) return Err("unsupported numpy._reconstruct call");
      return MakeOpaque(a.empty() || a[0]->kind != Kind::kGlobal ? "numpy.ndarray" : a[0]->name);
    }
    Value* v = New(Kind::kNdarray);
    if (v) v->name = "numpy.ndarray";
    return v;
  }
  if (mod == "numpy" && fn == "dtype") {
    if (a.empty() || a[0]->kind != Kind::kStr) return Err("numpy.dtype called without a type string");
    Value* v = New(Kind::kDtype);
    if (!v) return Err("too many objects");
    v->str = a[0]->str;
    v->name = "numpy.dtype";
    DtypeInfo di;
    if (!ParseDtype(v->str, &di)) {
      if (!limits_.allow_opaque) return Err("unsupported numpy dtype '" + v->str + "'");
      v->kind = Kind::kOpaque;
      v->name = "numpy.dtype[" + v->str.substr(0, 40) + "]";
    }
    return v;
  }
  if (IsNumpyModule(mod, "numeric") && fn == "_frombuffer") {
    // _frombuffer(buffer, dtype, shape, order)
    if (a.size() != 4 || a[1]->kind != Kind::kDtype || a[3]->kind != Kind::kStr)
      return Err("unsupported numpy._frombuffer call");
    DtypeInfo di;
    if (!ParseDtype(a[1]->str, &di) || di.object) return Err("unsupported dtype in numpy._frombuffer");
    return MakeNdarray(a[1]->str, a[2], a[3]->str == "F", a[0]);
  }
  if (IsNumpyModule(mod, "multiarray") && fn == "scalar") {
    // scalar(dtype, bytes): a numpy scalar, becomes a plain bool / int / float.
    if (a.size() == 2 && a[0]->kind == Kind::kDtype && (a[1]->kind == Kind::kBytes || a[1]->kind == Kind::kStr)) {
      DtypeInfo di;
      const std::string& raw = a[1]->str;
      if (ParseDtype(a[0]->str, &di) && !di.object && static_cast<int64_t>(raw.size()) == di.itemsize &&
          (a[0]->str.empty() || a[0]->str[0] != '>')) {
        if (di.kind == 'b') {
          Value* v = New(Kind::kBool);
          if (v) v->b = raw[0] != 0;
          return v;
        }
        if (di.kind == 'f' && (di.itemsize == 8 || di.itemsize == 4)) {
          Value* v = New(Kind::kFloat);
          if (!v) return Err("too many objects");
          if (di.itemsize == 8) {
            std::memcpy(&v->f, raw.data(), 8);
          } else {
            float f;
            std::memcpy(&f, raw.data(), 4);
            v->f = f;
          }
          return v;
        }
        if (di.kind == 'i' || (di.kind == 'u' && di.itemsize < 8)) {
          int64_t x = 0;
          if (di.kind == 'i') {
            if (di.itemsize == 1) x = static_cast<int8_t>(raw[0]);
            if (di.itemsize == 2) { int16_t t; std::memcpy(&t, raw.data(), 2); x = t; }
            if (di.itemsize == 4) { int32_t t; std::memcpy(&t, raw.data(), 4); x = t; }
            if (di.itemsize == 8) { std::memcpy(&x, raw.data(), 8); }
          } else {
            uint64_t t = 0;
            std::memcpy(&t, raw.data(), static_cast<size_t>(di.itemsize));
            x = static_cast<int64_t>(t);
          }
          return MakeInt(x);
        }
      }
    }
    if (!limits_.allow_opaque) return Err("unsupported numpy scalar");
    return MakeOpaque("numpy.scalar");
  }
  if (mod == "_codecs" && fn == "encode") {
    // Python 2 byte strings in protocol 2 pickles: _codecs.encode(text, 'latin1').
    if (a.size() == 2 && a[0]->kind == Kind::kStr && a[1]->kind == Kind::kStr &&
        (a[1]->str == "latin1" || a[1]->str == "latin-1" || a[1]->str == "iso-8859-1")) {
      std::string raw;
      const std::string& s = a[0]->str;
      for (size_t k = 0; k < s.size();) {
        unsigned char c = static_cast<unsigned char>(s[k]);
        if (c < 0x80) {
          raw.push_back(static_cast<char>(c));
          ++k;
        } else if ((c & 0xE0) == 0xC0 && k + 1 < s.size()) {
          uint32_t cp = ((c & 0x1F) << 6) | (static_cast<unsigned char>(s[k + 1]) & 0x3F);
          if (cp > 0xFF) return Err("_codecs.encode: text is not Latin-1");
          raw.push_back(static_cast<char>(cp));
          k += 2;
        } else {
          return Err("_codecs.encode: text is not Latin-1");
        }
      }
      return MakeStr(Kind::kBytes, std::move(raw));
    }
    return Err("unsupported _codecs.encode call");
  }
  if ((mod == "builtins") && (fn == "set" || fn == "frozenset")) {
    Value* v = New(Kind::kSet);
    if (!v) return Err("too many objects");
    if (a.size() == 1 && (a[0]->is_seq() || a[0]->kind == Kind::kSet)) v->items = a[0]->items;
    else if (!a.empty()) return Err("unsupported set() call");
    return v;
  }
  if (!limits_.allow_opaque) return Err("pickle calls '" + name + "', which is not allowed");
  return MakeOpaque(name);
}

Status Unpickler::Build(Value* obj, Value* state) {
  if (obj->kind == Kind::kNdarray && !obj->initialized) {
    // state = (version, shape, dtype, is_fortran, data)
    if (!state->is_seq() || state->items.size() != 5) return Err("unsupported ndarray state");
    const auto& s = state->items;
    if (s[2]->kind != Kind::kDtype) {
      if (!limits_.allow_opaque) return Err("ndarray of an unsupported dtype");
      obj->kind = Kind::kOpaque;
      obj->name = "numpy.ndarray";
      return Status::OK();
    }
    bool fortran = (s[3]->kind == Kind::kBool && s[3]->b) || (s[3]->kind == Kind::kInt && s[3]->i != 0);
    OCTAVO_ASSIGN_OR_RETURN(Value * built, MakeNdarray(s[2]->str, s[1], fortran, s[4]));
    *obj = *built;
    return Status::OK();
  }
  if (obj->kind == Kind::kDtype) {
    // state = (version, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
    if (!state->is_seq() || state->items.size() < 8) return Err("unsupported dtype state");
    const auto& s = state->items;
    if (!s[2]->is_none() || !s[3]->is_none() || !s[4]->is_none()) {
      if (!limits_.allow_opaque) return Err("structured numpy dtypes are not supported");
      obj->kind = Kind::kOpaque;
      obj->name = "numpy.dtype[structured]";
      return Status::OK();
    }
    std::string order = s[1]->kind == Kind::kStr ? s[1]->str : "|";
    if (order != "<" && order != ">" && order != "|" && order != "=") return Err("bad dtype byte order");
    if (order == "=") order = "<";
    std::string base = obj->str;
    if (!base.empty() && (base[0] == '<' || base[0] == '>' || base[0] == '|' || base[0] == '=')) base.erase(0, 1);
    // 'U' dtypes pickle as "U3" with elsize 12; keep numpy's character count.
    obj->str = order + base;
    if (base == "O8" || base == "O4" || base == "O") obj->str = "|O";
    return Status::OK();
  }
  if (obj->kind == Kind::kOpaque) return Status::OK();  // state of an object we never build
  if (obj->kind == Kind::kDict && state->kind == Kind::kDict) {  // __dict__ update
    obj->items.insert(obj->items.end(), state->items.begin(), state->items.end());
    return Status::OK();
  }
  return Err(std::string("BUILD on a ") + KindName(obj->kind));
}

Result<Object> Unpickler::Run() {
  if (p_.size() > limits_.max_input_bytes) return Status::Invalid("pickle: input too large");
  while (true) {
    if (pos_ >= p_.size()) return Err("truncated data (no STOP)");
    unsigned char op = static_cast<unsigned char>(p_[pos_++]);
    switch (op) {
      case '(':  // MARK
        if (marks_.size() >= limits_.max_stack) return Err("too many marks");
        marks_.push_back(stack_.size());
        break;
      case '.': {  // STOP
        if (!marks_.empty()) return Err("STOP inside a MARK");
        if (stack_.size() != 1) return Err("STOP with " + std::to_string(stack_.size()) + " values on the stack");
        Value* root = stack_.back();
        OCTAVO_RETURN_NOT_OK(CheckFinished(root));
        Object out;
        out.arena_ = arena_;
        out.root_ = root;
        return out;
      }
      case '0': {  // POP
        if (stack_.size() > Floor()) {
          stack_.pop_back();
        } else if (!marks_.empty()) {  // POP of a MARK (as CPython allows)
          marks_.pop_back();
        } else {
          return Err("stack underflow");
        }
        break;
      }
      case '1': {  // POP_MARK
        OCTAVO_ASSIGN_OR_RETURN(auto items, PopMark());
        (void)items;
        break;
      }
      case '2': {  // DUP
        OCTAVO_ASSIGN_OR_RETURN(Value * v, Top());
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      case 'F': {  // FLOAT
        OCTAVO_ASSIGN_OR_RETURN(auto line, ReadLine());
        std::string s(line);
        char* end = nullptr;
        double d = std::strtod(s.c_str(), &end);
        if (s.empty() || end != s.c_str() + s.size()) return Err("bad FLOAT");
        Value* v = New(Kind::kFloat);
        if (v) v->f = d;
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      case 'I':    // INT
      case 'L': {  // LONG
        OCTAVO_ASSIGN_OR_RETURN(auto line, ReadLine());
        if (op == 'L' && !line.empty() && line.back() == 'L') line.remove_suffix(1);
        if (op == 'I' && (line == "00" || line == "01")) {
          Value* v = New(Kind::kBool);
          if (v) v->b = line == "01";
          OCTAVO_RETURN_NOT_OK(Push(v));
          break;
        }
        int64_t x = 0;
        bool overflow = false;
        if (!ParseDecimalInt64(line, &x, &overflow)) return Err("bad INT/LONG");
        if (overflow) {
          if (!limits_.allow_opaque) return Err("integer does not fit in 64 bits");
          Value* v = MakeOpaque("builtins.int");
          if (v) v->str = std::string(line.substr(0, 200));
          OCTAVO_RETURN_NOT_OK(Push(v));
        } else {
          OCTAVO_RETURN_NOT_OK(Push(MakeInt(x)));
        }
        break;
      }
      case 'J': {  // BININT
        OCTAVO_ASSIGN_OR_RETURN(int32_t x, ReadLE<int32_t>());
        OCTAVO_RETURN_NOT_OK(Push(MakeInt(x)));
        break;
      }
      case 'K': {  // BININT1
        OCTAVO_ASSIGN_OR_RETURN(uint8_t x, ReadLE<uint8_t>());
        OCTAVO_RETURN_NOT_OK(Push(MakeInt(x)));
        break;
      }
      case 'M': {  // BININT2
        OCTAVO_ASSIGN_OR_RETURN(uint16_t x, ReadLE<uint16_t>());
        OCTAVO_RETURN_NOT_OK(Push(MakeInt(x)));
        break;
      }
      case 0x8a: {  // LONG1
        OCTAVO_ASSIGN_OR_RETURN(uint8_t n, ReadLE<uint8_t>());
        OCTAVO_ASSIGN_OR_RETURN(auto b, ReadBytes(n));
        OCTAVO_ASSIGN_OR_RETURN(Value * v, MakeBigInt(b));
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      case 0x8b: {  // LONG4
        OCTAVO_ASSIGN_OR_RETURN(int32_t n, ReadLE<int32_t>());
        if (n < 0) return Err("negative LONG4 length");
        OCTAVO_ASSIGN_OR_RETURN(auto b, ReadBytes(static_cast<size_t>(n)));
        OCTAVO_ASSIGN_OR_RETURN(Value * v, MakeBigInt(b));
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      case 'N':
        OCTAVO_RETURN_NOT_OK(Push(New(Kind::kNone)));
        break;
      case 0x88:
      case 0x89: {  // NEWTRUE / NEWFALSE
        Value* v = New(Kind::kBool);
        if (v) v->b = op == 0x88;
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      case 'P':
      case 'Q':
        return Err("persistent IDs are not supported");
      case 0x82:
      case 0x83:
      case 0x84:
        return Err("extension-registry opcodes (EXT1/2/4) are not supported");
      case 0x97:
        return Err("out-of-band buffers (NEXT_BUFFER) are not supported");
      case 0x98:  // READONLY_BUFFER: no-op for us
        OCTAVO_RETURN_NOT_OK(Top().status());
        break;
      case 'S': {  // STRING
        OCTAVO_ASSIGN_OR_RETURN(auto line, ReadLine());
        OCTAVO_ASSIGN_OR_RETURN(std::string s, DecodeStringLiteral(line));
        OCTAVO_RETURN_NOT_OK(Push(MakeTextOrBytes(s)));
        break;
      }
      case 'T': {  // BINSTRING
        OCTAVO_ASSIGN_OR_RETURN(int32_t n, ReadLE<int32_t>());
        if (n < 0) return Err("negative BINSTRING length");
        OCTAVO_ASSIGN_OR_RETURN(auto b, ReadBytes(static_cast<size_t>(n)));
        OCTAVO_RETURN_NOT_OK(Push(MakeTextOrBytes(b)));
        break;
      }
      case 'U': {  // SHORT_BINSTRING
        OCTAVO_ASSIGN_OR_RETURN(uint8_t n, ReadLE<uint8_t>());
        OCTAVO_ASSIGN_OR_RETURN(auto b, ReadBytes(n));
        OCTAVO_RETURN_NOT_OK(Push(MakeTextOrBytes(b)));
        break;
      }
      case 'V': {  // UNICODE
        OCTAVO_ASSIGN_OR_RETURN(auto line, ReadLine());
        OCTAVO_ASSIGN_OR_RETURN(std::string s, DecodeRawUnicodeEscape(line));
        OCTAVO_RETURN_NOT_OK(Push(MakeStr(Kind::kStr, std::move(s))));
        break;
      }
      case 'X':
      case 0x8c:
      case 0x8d: {  // BINUNICODE / SHORT_BINUNICODE / BINUNICODE8
        uint64_t n = 0;
        if (op == 'X') {
          OCTAVO_ASSIGN_OR_RETURN(uint32_t m, ReadLE<uint32_t>());
          n = m;
        } else if (op == 0x8c) {
          OCTAVO_ASSIGN_OR_RETURN(uint8_t m, ReadLE<uint8_t>());
          n = m;
        } else {
          OCTAVO_ASSIGN_OR_RETURN(uint64_t m, ReadLE<uint64_t>());
          n = m;
        }
        if (n > p_.size()) return Err("truncated data");
        OCTAVO_ASSIGN_OR_RETURN(auto b, ReadBytes(static_cast<size_t>(n)));
        if (!ValidUtf8(b)) return Err("str is not valid UTF-8");
        OCTAVO_RETURN_NOT_OK(Push(MakeStr(Kind::kStr, std::string(b))));
        break;
      }
      case 'B':
      case 'C':
      case 0x8e:
      case 0x96: {  // BINBYTES / SHORT_BINBYTES / BINBYTES8 / BYTEARRAY8
        uint64_t n = 0;
        if (op == 'B') {
          OCTAVO_ASSIGN_OR_RETURN(uint32_t m, ReadLE<uint32_t>());
          n = m;
        } else if (op == 'C') {
          OCTAVO_ASSIGN_OR_RETURN(uint8_t m, ReadLE<uint8_t>());
          n = m;
        } else {
          OCTAVO_ASSIGN_OR_RETURN(uint64_t m, ReadLE<uint64_t>());
          n = m;
        }
        if (n > p_.size()) return Err("truncated data");
        OCTAVO_ASSIGN_OR_RETURN(auto b, ReadBytes(static_cast<size_t>(n)));
        OCTAVO_RETURN_NOT_OK(Push(MakeStr(Kind::kBytes, std::string(b))));
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        OCTAVO_ASSIGN_OR_RETURN(uint64_t be, ReadLE<uint64_t>());
        uint64_t le = __builtin_bswap64(be);
        Value* v = New(Kind::kFloat);
        if (v) std::memcpy(&v->f, &le, 8);
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      case ']':
        OCTAVO_RETURN_NOT_OK(Push(New(Kind::kList)));
        break;
      case ')':
        OCTAVO_RETURN_NOT_OK(Push(New(Kind::kTuple)));
        break;
      case '}':
        OCTAVO_RETURN_NOT_OK(Push(New(Kind::kDict)));
        break;
      case 0x8f:
        OCTAVO_RETURN_NOT_OK(Push(New(Kind::kSet)));
        break;
      case 'l':
      case 't':
      case 0x91: {  // LIST / TUPLE / FROZENSET
        OCTAVO_ASSIGN_OR_RETURN(auto items, PopMark());
        Value* v = New(op == 'l' ? Kind::kList : op == 't' ? Kind::kTuple : Kind::kSet);
        if (v) v->items.assign(items.begin(), items.end());
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1/2/3
        size_t n = op - 0x84;
        if (stack_.size() < Floor() + n) return Err("stack underflow");
        Value* v = New(Kind::kTuple);
        if (!v) return Err("too many objects");
        v->items.assign(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
        stack_.resize(stack_.size() - n);
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      case 'd': {  // DICT
        OCTAVO_ASSIGN_OR_RETURN(auto items, PopMark());
        if (items.size() % 2) return Err("odd number of items for DICT");
        Value* v = New(Kind::kDict);
        if (v) v->items.assign(items.begin(), items.end());
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      case 'a': {  // APPEND
        OCTAVO_ASSIGN_OR_RETURN(Value * x, Pop());
        OCTAVO_ASSIGN_OR_RETURN(Value * l, Top());
        if (l->kind != Kind::kList) {
          if (l->kind == Kind::kOpaque) break;
          return Err("APPEND to a non-list");
        }
        l->items.push_back(x);
        break;
      }
      case 'e': {  // APPENDS
        OCTAVO_ASSIGN_OR_RETURN(auto items, PopMark());
        OCTAVO_ASSIGN_OR_RETURN(Value * l, Top());
        if (l->kind != Kind::kList) {
          if (l->kind == Kind::kOpaque) break;
          return Err("APPENDS to a non-list");
        }
        l->items.insert(l->items.end(), items.begin(), items.end());
        break;
      }
      case 0x90: {  // ADDITEMS
        OCTAVO_ASSIGN_OR_RETURN(auto items, PopMark());
        OCTAVO_ASSIGN_OR_RETURN(Value * s, Top());
        if (s->kind != Kind::kSet) return Err("ADDITEMS to a non-set");
        s->items.insert(s->items.end(), items.begin(), items.end());
        break;
      }
      case 's': {  // SETITEM
        OCTAVO_ASSIGN_OR_RETURN(Value * val, Pop());
        OCTAVO_ASSIGN_OR_RETURN(Value * key, Pop());
        OCTAVO_ASSIGN_OR_RETURN(Value * d, Top());
        if (d->kind != Kind::kDict) {
          if (d->kind == Kind::kOpaque) break;
          return Err("SETITEM on a non-dict");
        }
        d->items.push_back(key);
        d->items.push_back(val);
        break;
      }
      case 'u': {  // SETITEMS
        OCTAVO_ASSIGN_OR_RETURN(auto items, PopMark());
        if (items.size() % 2) return Err("odd number of items for SETITEMS");
        OCTAVO_ASSIGN_OR_RETURN(Value * d, Top());
        if (d->kind != Kind::kDict) {
          if (d->kind == Kind::kOpaque) break;
          return Err("SETITEMS on a non-dict");
        }
        d->items.insert(d->items.end(), items.begin(), items.end());
        break;
      }
      case 'g': {  // GET
        OCTAVO_ASSIGN_OR_RETURN(auto line, ReadLine());
        int64_t idx = 0;
        bool of = false;
        if (!ParseDecimalInt64(line, &idx, &of) || of || idx < 0) return Err("bad GET index");
        OCTAVO_RETURN_NOT_OK(MemoGet(static_cast<uint64_t>(idx)));
        break;
      }
      case 'h': {
        OCTAVO_ASSIGN_OR_RETURN(uint8_t idx, ReadLE<uint8_t>());
        OCTAVO_RETURN_NOT_OK(MemoGet(idx));
        break;
      }
      case 'j': {
        OCTAVO_ASSIGN_OR_RETURN(uint32_t idx, ReadLE<uint32_t>());
        OCTAVO_RETURN_NOT_OK(MemoGet(idx));
        break;
      }
      case 'p': {  // PUT
        OCTAVO_ASSIGN_OR_RETURN(auto line, ReadLine());
        int64_t idx = 0;
        bool of = false;
        if (!ParseDecimalInt64(line, &idx, &of) || of || idx < 0) return Err("bad PUT index");
        OCTAVO_RETURN_NOT_OK(MemoPut(static_cast<uint64_t>(idx)));
        break;
      }
      case 'q': {
        OCTAVO_ASSIGN_OR_RETURN(uint8_t idx, ReadLE<uint8_t>());
        OCTAVO_RETURN_NOT_OK(MemoPut(idx));
        break;
      }
      case 'r': {
        OCTAVO_ASSIGN_OR_RETURN(uint32_t idx, ReadLE<uint32_t>());
        OCTAVO_RETURN_NOT_OK(MemoPut(idx));
        break;
      }
      case 0x94:  // MEMOIZE
        OCTAVO_RETURN_NOT_OK(MemoPut(memo_.size()));
        break;
      case 0x80: {  // PROTO
        OCTAVO_ASSIGN_OR_RETURN(uint8_t proto, ReadLE<uint8_t>());
        if (proto > 5) return Err("unsupported pickle protocol " + std::to_string(proto));
        break;
      }
      case 0x95: {  // FRAME: framing is transparent
        OCTAVO_ASSIGN_OR_RETURN(uint64_t n, ReadLE<uint64_t>());
        (void)n;
        break;
      }
      case 'c': {  // GLOBAL
        OCTAVO_ASSIGN_OR_RETURN(auto mod, ReadLine());
        OCTAVO_ASSIGN_OR_RETURN(auto name, ReadLine());
        OCTAVO_ASSIGN_OR_RETURN(Value * g, MakeGlobal(std::string(mod), std::string(name)));
        OCTAVO_RETURN_NOT_OK(Push(g));
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        OCTAVO_ASSIGN_OR_RETURN(Value * name, Pop());
        OCTAVO_ASSIGN_OR_RETURN(Value * mod, Pop());
        if (name->kind != Kind::kStr || mod->kind != Kind::kStr) return Err("STACK_GLOBAL needs two str");
        OCTAVO_ASSIGN_OR_RETURN(Value * g, MakeGlobal(mod->str, name->str));
        OCTAVO_RETURN_NOT_OK(Push(g));
        break;
      }
      case 'R': {  // REDUCE
        OCTAVO_ASSIGN_OR_RETURN(Value * args, Pop());
        OCTAVO_ASSIGN_OR_RETURN(Value * callable, Pop());
        OCTAVO_ASSIGN_OR_RETURN(Value * v, Call(callable, args));
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      case 'b': {  // BUILD
        OCTAVO_ASSIGN_OR_RETURN(Value * state, Pop());
        OCTAVO_ASSIGN_OR_RETURN(Value * obj, Top());
        OCTAVO_RETURN_NOT_OK(Build(obj, state));
        break;
      }
      case 0x81: {  // NEWOBJ cls.__new__(cls, *args)
        OCTAVO_ASSIGN_OR_RETURN(Value * args, Pop());
        OCTAVO_ASSIGN_OR_RETURN(Value * cls, Pop());
        (void)args;
        OCTAVO_ASSIGN_OR_RETURN(Value * v, NewObj(cls));
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      case 0x92: {  // NEWOBJ_EX
        OCTAVO_ASSIGN_OR_RETURN(Value * kwargs, Pop());
        OCTAVO_ASSIGN_OR_RETURN(Value * args, Pop());
        OCTAVO_ASSIGN_OR_RETURN(Value * cls, Pop());
        (void)kwargs;
        (void)args;
        OCTAVO_ASSIGN_OR_RETURN(Value * v, NewObj(cls));
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      case 'i': {  // INST module\nname\n, args from MARK
        OCTAVO_ASSIGN_OR_RETURN(auto mod, ReadLine());
        OCTAVO_ASSIGN_OR_RETURN(auto name, ReadLine());
        OCTAVO_ASSIGN_OR_RETURN(auto items, PopMark());
        (void)items;
        OCTAVO_ASSIGN_OR_RETURN(Value * g, MakeGlobal(std::string(mod), std::string(name)));
        OCTAVO_ASSIGN_OR_RETURN(Value * v, NewObj(g));
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      case 'o': {  // OBJ: MARK cls args... OBJ
        OCTAVO_ASSIGN_OR_RETURN(auto items, PopMark());
        if (items.empty()) return Err("OBJ without a class");
        OCTAVO_ASSIGN_OR_RETURN(Value * v, NewObj(items[0]));
        OCTAVO_RETURN_NOT_OK(Push(v));
        break;
      }
      default: {
        char buf[8];
        std::snprintf(buf, sizeof buf, "0x%02x", op);
        --pos_;
        return Err(std::string("unknown opcode ") + buf);
      }
    }
  }
}

Result<Value*> Unpickler::NewObj(Value* cls) {
  std::string name = cls->kind == Kind::kGlobal ? cls->name : std::string("<") + KindName(cls->kind) + ">";
  if (cls->kind == Kind::kGlobal && (name == "builtins.object" || name == "builtins.dict")) {
    Value* v = New(name == "builtins.dict" ? Kind::kDict : Kind::kOpaque);
    if (v) v->name = name;
    return v;
  }
  if (!limits_.allow_opaque) return Err("pickle instantiates '" + name + "', which is not allowed");
  return MakeOpaque(name);
}

Result<Object> Unpickle(std::string_view data, const Limits& limits) {
  Unpickler u(data, limits);
  return u.Run();
}

// --- repr ----------------------------------------------------------------------

namespace {

void ReprInto(const Value& v, std::string* out, size_t max_len, int depth) {
  if (out->size() > max_len) return;
  if (depth > 64) {
    out->append("...");
    return;
  }
  auto seq = [&](const char* open, const char* close) {
    out->append(open);
    for (size_t k = 0; k < v.items.size() && out->size() <= max_len; ++k) {
      if (k) out->append(", ");
      ReprInto(*v.items[k], out, max_len, depth + 1);
    }
    if (v.kind == Kind::kTuple && v.items.size() == 1) out->append(",");
    out->append(close);
  };
  switch (v.kind) {
    case Kind::kNone: out->append("None"); break;
    case Kind::kBool: out->append(v.b ? "True" : "False"); break;
    case Kind::kInt: out->append(std::to_string(v.i)); break;
    case Kind::kFloat: {
      if (std::isnan(v.f)) {
        out->append("nan");
      } else {
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.17g", v.f);
        out->append(buf);
      }
      break;
    }
    case Kind::kStr: out->append("'" + v.str.substr(0, max_len) + "'"); break;
    case Kind::kBytes: out->append("b'" + v.str.substr(0, max_len) + "'"); break;
    case Kind::kList: seq("[", "]"); break;
    case Kind::kTuple: seq("(", ")"); break;
    case Kind::kSet: seq("{", "}"); break;
    case Kind::kDict: {
      out->append("{");
      for (size_t k = 0; k + 1 < v.items.size() && out->size() <= max_len; k += 2) {
        if (k) out->append(", ");
        ReprInto(*v.items[k], out, max_len, depth + 1);
        out->append(": ");
        ReprInto(*v.items[k + 1], out, max_len, depth + 1);
      }
      out->append("}");
      break;
    }
    case Kind::kNdarray: {
      out->append("ndarray(dtype=" + v.dtype + ", shape=(");
      for (size_t k = 0; k < v.shape.size(); ++k) out->append((k ? "," : "") + std::to_string(v.shape[k]));
      out->append("))");
      break;
    }
    default: out->append("<opaque " + v.name + ">"); break;
  }
}

}  // namespace

std::string Repr(const Value& v, size_t max_len) {
  std::string out;
  ReprInto(v, &out, max_len, 0);
  if (out.size() > max_len) {
    out.resize(max_len);
    out.append("...");
  }
  return out;
}

Object Object::FromValue(Value v) {
  Object o;
  o.arena_ = std::make_shared<std::vector<std::unique_ptr<Value>>>();
  o.arena_->push_back(std::make_unique<Value>(std::move(v)));
  o.root_ = o.arena_->back().get();
  return o;
}

Object Object::StrList(const std::vector<std::string>& items) {
  Object o;
  o.arena_ = std::make_shared<std::vector<std::unique_ptr<Value>>>();
  auto list = std::make_unique<Value>();
  list->kind = Kind::kList;
  for (const auto& s : items) {
    auto v = std::make_unique<Value>();
    v->kind = Kind::kStr;
    v->str = s;
    list->items.push_back(v.get());
    o.arena_->push_back(std::move(v));
  }
  o.root_ = list.get();
  o.arena_->push_back(std::move(list));
  return o;
}

std::string Object::Repr(size_t max_len) const { return root_ ? pickle::Repr(*root_, max_len) : "<empty>"; }

std::vector<std::string> Object::OpaqueNames() const {
  std::vector<std::string> out;
  if (!arena_) return out;
  for (const auto& v : *arena_) {
    if (v->kind == Kind::kOpaque && out.size() < 100) {
      bool seen = false;
      for (auto& s : out) seen = seen || s == v->name;
      if (!seen) out.push_back(v->name);
    }
  }
  return out;
}

Result<bool> NdarrayText(const Value& arr, int64_t i, std::string* out) {
  if (arr.kind != Kind::kNdarray) return Status::TypeError("not an ndarray");
  int64_t n = arr.num_elements();
  if (i < 0 || i >= n) return Status::IndexError("ndarray index out of range");
  char k = arr.dtype.size() > 1 ? arr.dtype[1] : 0;
  if (k == 'O') {
    const Value* e = arr.items[static_cast<size_t>(i)];
    switch (e->kind) {
      case Kind::kNone: return false;
      case Kind::kFloat:
        if (std::isnan(e->f)) return false;
        return Status::TypeError("object array element is a float, not text");
      case Kind::kStr:
      case Kind::kBytes:
        *out = e->str;
        return true;
      default:
        return Status::TypeError(std::string("object array element is a ") + KindName(e->kind) + ", not text");
    }
  }
  DtypeInfo di;
  if (!ParseDtype(arr.dtype, &di)) return Status::TypeError("bad dtype");
  const char* p = arr.data.data() + i * di.itemsize;
  if (di.kind == 'S') {
    size_t len = static_cast<size_t>(di.itemsize);
    while (len > 0 && p[len - 1] == 0) --len;
    out->assign(p, len);
    return true;
  }
  if (di.kind == 'U') {
    bool big = arr.dtype[0] == '>';
    out->clear();
    size_t nchar = static_cast<size_t>(di.itemsize / 4);
    while (nchar > 0) {
      const unsigned char* q = reinterpret_cast<const unsigned char*>(p + (nchar - 1) * 4);
      if (q[0] | q[1] | q[2] | q[3]) break;
      --nchar;
    }
    for (size_t c = 0; c < nchar; ++c) {
      const unsigned char* q = reinterpret_cast<const unsigned char*>(p + c * 4);
      uint32_t cp = big ? (uint32_t(q[0]) << 24 | uint32_t(q[1]) << 16 | uint32_t(q[2]) << 8 | q[3])
                        : (uint32_t(q[3]) << 24 | uint32_t(q[2]) << 16 | uint32_t(q[1]) << 8 | q[0]);
      if (cp > 0x10FFFF) return Status::Invalid("bad code point in numpy str array");
      AppendUtf8(out, cp);
    }
    return true;
  }
  return Status::TypeError("ndarray of dtype " + arr.dtype + " does not hold text");
}

}  // namespace octavo::pickle
