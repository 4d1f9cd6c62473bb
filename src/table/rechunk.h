// Re-chunking a stream of record batches into batches of exactly `batch_size` rows
// (the last may be shorter), across row-group and part boundaries. Used by Scan and Where.
// batch_size 0 keeps batches of kPassRows or more as they come and merges only runs of
// smaller ones (up to kCoalesceRows): for callers that collect everything anyway, exact sizes
// would cost a copy of the data, and so did merging a 60K-row batch into its neighbour.
#pragma once

#include <arrow/array/concatenate.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>

#include <deque>
#include <memory>
#include <vector>

namespace octavo {

class BatchRechunker {
 public:
  // `pool`: where batches merged from several pieces are allocated (null: Arrow's default).
  explicit BatchRechunker(int64_t batch_size, arrow::MemoryPool* pool = nullptr)
      : batch_size_(batch_size), pool_(pool ? pool : arrow::default_memory_pool()) {}

  void Push(std::shared_ptr<arrow::RecordBatch> b) {
    pending_rows_ += b->num_rows();
    pending_.push_back(std::move(b));
  }
  static constexpr int64_t kCoalesceRows = 64 * 1024;
  static constexpr int64_t kPassRows = 8 * 1024;
  bool full() const {
    if (batch_size_ > 0) return pending_rows_ >= batch_size_;
    return pending_rows_ >= kCoalesceRows || (!pending_.empty() && pending_.back()->num_rows() >= kPassRows);
  }
  bool empty() const { return pending_rows_ == 0; }
  int64_t pending_rows() const { return pending_rows_; }

  // The next min(batch_size, pending) rows; nullptr when nothing is pending.
  arrow::Result<std::shared_ptr<arrow::RecordBatch>> Pop() {
    if (pending_rows_ == 0) return nullptr;
    int64_t want = batch_size_ > 0 ? std::min(batch_size_, pending_rows_) : 0;
    if (batch_size_ == 0) {  // a large batch alone, or the run of small ones before the next large one
      for (const auto& b : pending_) {
        if (want > 0 && (b->num_rows() >= kPassRows || want >= kCoalesceRows)) break;
        want += b->num_rows();
        if (b->num_rows() >= kPassRows) break;
      }
    }
    std::vector<std::shared_ptr<arrow::RecordBatch>> parts;
    int64_t got = 0;
    while (got < want) {
      auto& front = pending_.front();
      const int64_t take = std::min(want - got, front->num_rows());
      if (take == front->num_rows()) {
        parts.push_back(front);
        pending_.pop_front();
      } else {
        parts.push_back(front->Slice(0, take));
        front = front->Slice(take);
      }
      got += take;
    }
    pending_rows_ -= want;
    if (parts.size() == 1) return parts[0];
    // Column by column, each input column dropped once copied: the peak is one batch plus a
    // column more, not two batches (ConcatenateRecordBatches holds every input to the end).
    auto schema = parts[0]->schema();
    std::vector<arrow::ArrayVector> inputs(static_cast<size_t>(schema->num_fields()));
    for (const auto& p : parts)
      for (int c = 0; c < schema->num_fields(); ++c) inputs[static_cast<size_t>(c)].push_back(p->column(c));
    parts.clear();
    arrow::ArrayVector out;
    for (auto& in : inputs) {
      ARROW_ASSIGN_OR_RAISE(auto joined, arrow::Concatenate(in, pool_));
      out.push_back(std::move(joined));
      in.clear();
    }
    return arrow::RecordBatch::Make(std::move(schema), want, std::move(out));
  }

 private:
  int64_t batch_size_;
  arrow::MemoryPool* pool_;
  std::deque<std::shared_ptr<arrow::RecordBatch>> pending_;
  int64_t pending_rows_ = 0;
};

}  // namespace octavo
