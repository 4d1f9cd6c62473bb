#pragma once

namespace octavo {
constexpr const char* kVersion = "0.1.0";
// On-disk format version written into every bundle (docs/format.md). A bundle whose
// version is higher than this is refused with kUnsupportedVersion.
constexpr int kFormatVersion = 2;  // 2: checksummed manifests, CURRENT, snapshots, Parquet footers
}  // namespace octavo
