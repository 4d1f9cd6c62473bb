#pragma once

#include <arrow/record_batch.h>

#include <cstdint>
#include <memory>
#include <string>

#include "octavo/options.h"

namespace octavo {

// Passes batches through, reporting the rows passed so far to a ProgressCallback (sort_by's
// passes, appends). `done` is shared so that several passes count on one scale.
class ProgressReader final : public arrow::RecordBatchReader {
 public:
  ProgressReader(arrow::RecordBatchReader* in, const ProgressCallback& cb, int64_t total, int64_t* done,
                 const std::string& item)
      : in_(in), cb_(cb), total_(total), done_(done), item_(item) {}
  std::shared_ptr<arrow::Schema> schema() const override { return in_->schema(); }
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    ARROW_RETURN_NOT_OK(in_->ReadNext(out));
    if (*out && cb_) {
      *done_ += (*out)->num_rows();
      cb_({"rows", *done_, total_, item_});
    }
    return arrow::Status::OK();
  }

 private:
  arrow::RecordBatchReader* in_;
  const ProgressCallback& cb_;
  int64_t total_;
  int64_t* done_;
  const std::string& item_;
};

}  // namespace octavo
