// The array node kind of the engine's Bundle (src/api/engine_bundle.cc): BundleImpl's commit
// machinery plus Zarr v3 chunks (array.cc).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bundle/bundle_impl.h"
#include "octavo/array.h"

namespace octavo {

Result<std::shared_ptr<Array>> CreateArrayNode(BundleImpl* b, const std::string& path, const std::vector<int64_t>& shape,
                                               const std::string& dtype, const ArrayOptions& options,
                                               const void* data, int64_t data_bytes, const CreateNodeOptions& node);
Result<std::shared_ptr<Array>> OpenArrayNode(const BundleImpl& b, const std::string& path);

}  // namespace octavo
