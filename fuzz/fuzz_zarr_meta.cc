// Zarr v3 metadata: any bytes parsed as JSON, then as zarr.json; a valid one also decodes a
// chunk taken from the input's tail (the codec pipeline on hostile bytes).
#include "array/zarr_meta.h"
#include "util/json_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t split = in.find('\0');
  std::string_view meta = in.substr(0, split);
  auto json = octavo::ParseJson(meta, "fuzz zarr.json");
  if (!json.ok()) return 0;
  auto parsed = octavo::ParseZarrJson(*json, "/fuzz");
  if (!parsed.ok() || split == std::string_view::npos) return 0;
  std::string chunk(in.substr(split + 1));
  (void)octavo::DecodeChunk(*parsed, chunk, "/fuzz chunk 0");
  return 0;
}
