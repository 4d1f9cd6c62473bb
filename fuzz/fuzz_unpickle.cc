// The restricted unpickler (pandas HDFStore attributes): any bytes, with small limits so a
// run explores structure rather than allocation.
#include "hdf5/unpickle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  octavo::pickle::Limits limits;
  limits.max_values = 1 << 16;
  limits.max_memo = 1 << 14;
  limits.max_stack = 1 << 14;
  auto obj = octavo::pickle::Unpickle(std::string_view(reinterpret_cast<const char*>(data), size), limits);
  if (obj.ok()) (void)obj->Repr();
  return 0;
}
