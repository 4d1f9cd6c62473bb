// The file node kind of the engine's Bundle (src/api/engine_bundle.cc): BundleImpl's commit
// machinery plus immutable content files with per-block checksums (file_node.cc).
#pragma once

#include <memory>
#include <string>

#include "bundle/bundle_impl.h"
#include "octavo/file.h"

namespace octavo {

// A writer whose Close() commits the node.
Result<std::unique_ptr<FileWriter>> CreateFileNode(BundleImpl* b, const std::string& path,
                                                    const FileWriteOptions& options);
Result<std::shared_ptr<FileReader>> OpenFileNode(const BundleImpl& b, const std::string& path);
Result<FileNodeInfo> FileNodeInfoOf(const BundleImpl& b, const std::string& path);

}  // namespace octavo
