#include <arrow/compute/initialize.h>
#include <arrow/dataset/plan.h>

#include <mutex>

#include "octavo/bundle.h"
#include "octavo/arrow_status.h"
#include "util/threads.h"

namespace octavo {

// Since Arrow 21 the compute kernels live in libarrow_compute and must be registered
// explicitly; pyarrow does this for Python, a standalone C++ program must do it itself.
Status Initialize() {
  static std::once_flag once;
  static arrow::Status result;
  std::call_once(once, [] {
    result = arrow::compute::Initialize();
    if (result.ok()) arrow::dataset::internal::Initialize();
  });
  OCTAVO_RETURN_NOT_OK(FromArrow(result));
  // The pool's size, before anything runs on it (an unusable OCTAVO_NUM_THREADS is reported here).
  return InitThreads();
}

}  // namespace octavo
