#pragma once
#include <string>
namespace octavo {
std::string NowIso8601();  // UTC, microseconds: 2026-11-21T16:40:00.123456Z
}
