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

// Parse JSON text; errors name `what` (a file or argument).
Result<Json> ParseJson(std::string_view text, const std::string& what);

}  // namespace octavo
