// Manifest reader: any bytes as manifests/000000000001.json.
#include "format/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)octavo::ParseManifest(std::string_view(reinterpret_cast<const char*>(data), size),
                              "manifests/000000000001.json");
  return 0;
}
