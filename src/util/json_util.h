#pragma once

#include <cstdint>
#include <string>
#include <string_view>

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

// Parse JSON text; errors name `what` (a file or argument). `code` is the error's code:
// kCorruption (default) for text read from a file, kInvalid for caller input.
Result<Json> ParseJson(std::string_view text, const std::string& what,
                       StatusCode code = StatusCode::kCorruption);

}  // namespace octavo
