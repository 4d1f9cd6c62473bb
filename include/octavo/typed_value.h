// Typed numpy values in attributes (docs/format.md 4.2.1), one codec for every writer and reader:
// the Python API (numpy scalars and arrays, non-finite floats) and the HDF5 importer.
//
//   {"@ndarray": {"dtype": "<f4", "shape": [2, 3], "data": [1.0, 2.0, ...]}}
//   {"@ndarray": {"dtype": "<c16", "shape": [], "base64": "..."}}
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "octavo/status.h"

namespace octavo {

inline constexpr std::string_view kTypedValueKey = "@ndarray";
inline constexpr int64_t kMaxTypedValueBytes = 1 << 20;  // attributes are metadata; larger arrays are arrays

struct TypedValue {
  // numpy's dtype.str, little-endian or byte-order-free: <i1..<i8, <u1..<u8, |b1, <f2, <f4, <f8,
  // <c8, <c16, <M8[unit], <m8[unit], |S<n>, <U<n> (n characters, 4 bytes each).
  std::string dtype;
  std::vector<int64_t> shape;  // [] for a scalar
  std::string bytes;           // the elements in C order, little-endian
};

// The JSON text of the typed form: `data` (a JSON list) for bool, integer and finite float
// (itemsize >= 4) values, `base64` otherwise. Invalid (kTypeError) for a dtype outside the list
// above, bytes that do not match dtype and shape, or more than kMaxTypedValueBytes.
Result<std::string> EncodeTypedValue(const TypedValue& value, const std::string& where);

// Parses the text of a whole {"@ndarray": {...}} object, checking dtype, shape and elements
// (integers in range, lengths). A malformed one is kTypeError naming `where`.
Result<TypedValue> DecodeTypedValue(std::string_view json_text, const std::string& where);

}  // namespace octavo
