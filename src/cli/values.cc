// Arrow scalars as JSON values and as text cells.
#include <arrow/api.h>
#include <arrow/util/float16.h>

#include <cmath>
#include <cstdio>

#include "cli/cli.h"

namespace octavo::cli {

namespace {

// Binary data as text: printable ASCII kept, every other byte as \xNN.
std::string BinaryText(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (unsigned char c : v) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

Json DoubleJson(double v) {
  if (std::isfinite(v)) return v;
  return nullptr;  // JSON has no NaN / Infinity
}

Json ArrayToJson(const arrow::Array& arr) {
  Json out = Json::array();
  for (int64_t i = 0; i < arr.length(); ++i) {
    auto s = arr.GetScalar(i);
    out.push_back(s.ok() ? ScalarToJson(**s) : Json(nullptr));
  }
  return out;
}

std::string FallbackText(const arrow::Scalar& s) {
  try {
    return s.ToString();
  } catch (const std::exception& e) {
    return std::string("<") + s.type->ToString() + ">";
  }
}

}  // namespace

bool IsNumericType(const arrow::DataType& type) {
  if (arrow::is_integer(type.id()) || arrow::is_floating(type.id()) || arrow::is_decimal(type.id())) return true;
  if (type.id() == arrow::Type::DICTIONARY)
    return IsNumericType(*static_cast<const arrow::DictionaryType&>(type).value_type());
  return false;
}

Json ScalarToJson(const arrow::Scalar& s) {
  if (!s.is_valid) return nullptr;
  using T = arrow::Type;
  switch (s.type->id()) {
    case T::NA: return nullptr;
    case T::BOOL: return static_cast<const arrow::BooleanScalar&>(s).value;
    case T::INT8: return static_cast<const arrow::Int8Scalar&>(s).value;
    case T::INT16: return static_cast<const arrow::Int16Scalar&>(s).value;
    case T::INT32: return static_cast<const arrow::Int32Scalar&>(s).value;
    case T::INT64: return static_cast<const arrow::Int64Scalar&>(s).value;
    case T::UINT8: return static_cast<const arrow::UInt8Scalar&>(s).value;
    case T::UINT16: return static_cast<const arrow::UInt16Scalar&>(s).value;
    case T::UINT32: return static_cast<const arrow::UInt32Scalar&>(s).value;
    case T::UINT64: return static_cast<const arrow::UInt64Scalar&>(s).value;
    case T::HALF_FLOAT:
      return DoubleJson(arrow::util::Float16::FromBits(static_cast<const arrow::HalfFloatScalar&>(s).value).ToDouble());
    case T::FLOAT: return DoubleJson(static_cast<const arrow::FloatScalar&>(s).value);
    case T::DOUBLE: return DoubleJson(static_cast<const arrow::DoubleScalar&>(s).value);
    case T::STRING:
    case T::LARGE_STRING:
    case T::STRING_VIEW:
      return std::string(static_cast<const arrow::BaseBinaryScalar&>(s).view());
    case T::BINARY:
    case T::LARGE_BINARY:
    case T::BINARY_VIEW:
    case T::FIXED_SIZE_BINARY:
      return BinaryText(static_cast<const arrow::BaseBinaryScalar&>(s).view());
    case T::LIST:
    case T::LARGE_LIST:
    case T::LIST_VIEW:
    case T::LARGE_LIST_VIEW:
    case T::FIXED_SIZE_LIST:
    case T::MAP: {
      const auto& v = static_cast<const arrow::BaseListScalar&>(s).value;
      return v ? ArrayToJson(*v) : Json(nullptr);
    }
    case T::STRUCT: {
      const auto& st = static_cast<const arrow::StructScalar&>(s);
      const auto& type = static_cast<const arrow::StructType&>(*s.type);
      Json out = Json::object();
      for (int i = 0; i < type.num_fields() && i < static_cast<int>(st.value.size()); ++i)
        out[type.field(i)->name()] = st.value[i] ? ScalarToJson(*st.value[i]) : Json(nullptr);
      return out;
    }
    case T::DICTIONARY: {
      auto v = static_cast<const arrow::DictionaryScalar&>(s).GetEncodedValue();
      return v.ok() ? ScalarToJson(**v) : Json(FallbackText(s));
    }
    case T::RUN_END_ENCODED: {
      const auto& v = static_cast<const arrow::RunEndEncodedScalar&>(s).value;
      return v ? ScalarToJson(*v) : Json(nullptr);
    }
    case T::EXTENSION: {
      const auto& v = static_cast<const arrow::ExtensionScalar&>(s).value;
      return v ? ScalarToJson(*v) : Json(nullptr);
    }
    default:
      // Decimals (exact as text), dates, times, timestamps, durations, intervals, unions.
      return FallbackText(s);
  }
}

std::string ScalarToText(const arrow::Scalar& s) {
  if (!s.is_valid) return "null";
  using T = arrow::Type;
  switch (s.type->id()) {
    case T::STRING:
    case T::LARGE_STRING:
    case T::STRING_VIEW:
      return Printable(std::string(static_cast<const arrow::BaseBinaryScalar&>(s).view()));
    case T::BINARY:
    case T::LARGE_BINARY:
    case T::BINARY_VIEW:
    case T::FIXED_SIZE_BINARY:
      return BinaryText(static_cast<const arrow::BaseBinaryScalar&>(s).view());
    case T::HALF_FLOAT: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%g",
                    arrow::util::Float16::FromBits(static_cast<const arrow::HalfFloatScalar&>(s).value).ToDouble());
      return buf;
    }
    case T::LIST:
    case T::LARGE_LIST:
    case T::LIST_VIEW:
    case T::LARGE_LIST_VIEW:
    case T::FIXED_SIZE_LIST:
    case T::MAP:
    case T::STRUCT:
      return Printable(DumpJson(ScalarToJson(s)));
    case T::DICTIONARY: {
      auto v = static_cast<const arrow::DictionaryScalar&>(s).GetEncodedValue();
      return v.ok() ? ScalarToText(**v) : Printable(FallbackText(s));
    }
    case T::RUN_END_ENCODED: {
      const auto& v = static_cast<const arrow::RunEndEncodedScalar&>(s).value;
      return v ? ScalarToText(*v) : "null";
    }
    case T::EXTENSION: {
      const auto& v = static_cast<const arrow::ExtensionScalar&>(s).value;
      return v ? ScalarToText(*v) : "null";
    }
    default:
      return Printable(FallbackText(s));
  }
}

}  // namespace octavo::cli
