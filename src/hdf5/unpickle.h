// A small, safe unpickler for the data pandas and PyTables store in HDF5 files.
//
// It understands pickle protocols 0-5 but only ever *builds* plain data: None, bool,
// int (bigints outside int64 become opaque), float, str, bytes, list, tuple, dict, set,
// and numpy arrays of object / str / bytes / bool / numeric dtype (the
// numpy.core.multiarray._reconstruct pattern, numpy.core.numeric._frombuffer and
// numpy.dtype, under either numpy.core or numpy._core). Every other GLOBAL /
// STACK_GLOBAL / REDUCE / BUILD / INST / OBJ / NEWOBJ is never executed: it yields an
// opaque value carrying the class name (or an error when opaque values are refused).
// Memory is bounded by the input size (times a constant) and by explicit limits;
// the unpickling loop is iterative, cycles created through the memo are rejected.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "octavo/status.h"

namespace octavo::pickle {

enum class Kind : uint8_t {
  kNone,
  kBool,
  kInt,
  kFloat,
  kStr,    // UTF-8 text in `str`
  kBytes,  // raw bytes in `str`
  kList,
  kTuple,
  kDict,   // items = k0, v0, k1, v1, ...
  kSet,
  kNdarray,
  kOpaque,  // anything else; `name` is the class / callable ("module.qualname")
  // Internal (never in a finished result unless opaque-wrapped):
  kGlobal,  // a reference to a callable/class; `name`
  kDtype,   // numpy dtype; `str` is the numpy dtype string, e.g. "<f8", "|O", "<U3"
};

const char* KindName(Kind k);

struct Value {
  Kind kind = Kind::kNone;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string str;                 // str / bytes payload, dtype string
  std::string name;                // class name for opaque / global
  std::vector<const Value*> items; // list / tuple / dict / set / object-array elements
  // ndarray
  std::string dtype;               // numpy dtype string: "|O", "<U3", "|S5", "<f8", "|b1", ...
  std::vector<int64_t> shape;
  bool fortran = false;
  bool initialized = false;        // ndarray state set
  std::string data;                // raw buffer for non-object dtypes

  bool is_none() const { return kind == Kind::kNone; }
  bool is_str() const { return kind == Kind::kStr; }
  bool is_int() const { return kind == Kind::kInt; }
  bool is_seq() const { return kind == Kind::kList || kind == Kind::kTuple; }
  // dict lookup by str key; nullptr if absent or not a dict.
  const Value* Get(std::string_view key) const;
  // dict lookup by int key
  const Value* GetInt(int64_t key) const;
  int64_t num_elements() const;  // ndarray: product of shape
};

struct Limits {
  size_t max_input_bytes = size_t(1) << 31;
  size_t max_values = size_t(1) << 26;   // objects created
  size_t max_memo = size_t(1) << 24;
  size_t max_stack = size_t(1) << 24;
  int max_depth = 1000;                  // nesting depth of the result
  bool allow_opaque = true;              // false: unknown globals are an error
};

// The result: a root value plus the arena owning every value (values share structure,
// exactly as the memo made them share it).
class Object {
 public:
  Object() = default;
  // A standalone value (not from a pickle).
  static Object FromValue(Value v);
  // A list of str.
  static Object StrList(const std::vector<std::string>& items);
  const Value& root() const { return *root_; }
  const Value* operator->() const { return root_; }
  // Python-like repr (bounded length), for messages and tests.
  std::string Repr(size_t max_len = 2000) const;
  // Names of the opaque classes anywhere in the value (bounded).
  std::vector<std::string> OpaqueNames() const;

 private:
  friend class Unpickler;
  std::shared_ptr<std::vector<std::unique_ptr<Value>>> arena_;
  const Value* root_ = nullptr;
};

std::string Repr(const Value& v, size_t max_len = 2000);

Result<Object> Unpickle(std::string_view data, const Limits& limits = {});

// Element i of a str/object/bytes ndarray as text. Returns false for None / NaN (missing).
// Errors for non-text elements.
Result<bool> NdarrayText(const Value& arr, int64_t i, std::string* out);

}  // namespace octavo::pickle
