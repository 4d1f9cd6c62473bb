#pragma once

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "octavo/status.h"

namespace octavo {

using Json = nlohmann::ordered_json;

std::string Base64Encode(std::string_view data);
Result<std::string> Base64Decode(std::string_view text);
std::string RandomHex(int nbytes);  // for unique file names

// Deepest nesting of arrays/objects ParseJson accepts. nlohmann's serializer (dump) recurses
// once per level, so a deeper value would overflow the stack when written back; every Json
// octavo dumps comes from ParseJson or from code building shallow values, so bounding the
// parse bounds the dump too.
inline constexpr int kMaxJsonDepth = 512;

// `v` as an integer of type T. Throws std::out_of_range (a std::exception, which the decoders
// of files turn into Corruption) unless `v` is a JSON integer that T holds: nlohmann's
// get<T>() of a float (1e300) or of a wider integer is a cast with undefined behaviour.
template <typename T>
T IntegerOf(const Json& v) {
  static_assert(std::is_integral_v<T> && std::is_signed_v<T>);
  if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{INT64_MAX}))
    throw std::out_of_range("expected an integer, got " + v.dump(-1, ' ', false, Json::error_handler_t::replace).substr(0, 40));
  const int64_t i = v.get<int64_t>();
  if (i < std::numeric_limits<T>::min() || i > std::numeric_limits<T>::max())
    throw std::out_of_range("integer " + std::to_string(i) + " out of range");
  return static_cast<T>(i);
}

// Parse JSON text; errors name `what` (a file or argument). `code` is the error's code:
// kCorruption (default) for text read from a file, kInvalid for caller input.
Result<Json> ParseJson(std::string_view text, const std::string& what,
                       StatusCode code = StatusCode::kCorruption);

}  // namespace octavo
