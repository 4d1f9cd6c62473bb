#pragma once

namespace octavo {
constexpr const char* kVersion = "0.1.0";
// On-disk format version written into every bundle (docs/format.md). A bundle whose
// version is higher than this is refused with kUnsupportedVersion.
constexpr int kFormatVersion = 2;  // 2: checksummed manifests, CURRENT, snapshots, Parquet footers
// The OCTAVO marker of a bundle that has had a branch (docs/format.md 5.2) says 3: an older
// octavo would number its commits over branch commits and collect their data, so it must
// refuse the bundle. Manifests stay at kFormatVersion.
constexpr int kBranchesFormatVersion = 3;
}  // namespace octavo
