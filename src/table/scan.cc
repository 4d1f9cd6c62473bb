// Table::Scan: a streaming RecordBatchReader with bounded memory.
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <parquet/arrow/reader.h>

#include <algorithm>


#include "table/conform.h"
#include "table/parquet_io.h"
#include "table/page_checksums.h"
#include "table/rechunk.h"
#include "table/row_group_slice.h"
#include "table/row_range.h"
#include "table/table_impl.h"
#include "octavo/arrow_status.h"

namespace octavo {
namespace {

// Reads the projected columns piece by piece (within one row group: the rows that complete the
// next batch, or kMinPieceRows for batches smaller than that) and re-chunks the rows into batches of exactly
// batch_size, across row-group and part boundaries. Flat columns read only the pages holding a
// piece's rows (RowGroupSliceReader), so memory follows the batch size, not the row group
// size: a part written as one 20M-row row group used to take 789 MiB to iterate.
// Batches (and the buffers they are decoded through) come from the system allocator: Arrow's
// default mimalloc pool kept freed batches' pages mapped, and iterating 20M rows in 100k-row
// chunks peaked at 70 MiB of RSS instead of 40.
arrow::MemoryPool* ScanPool() {
  static arrow::MemoryPool* pool = [] {
    arrow::MemoryPool* p = nullptr;
    return arrow::jemalloc_memory_pool(&p).ok() ? p : arrow::system_memory_pool();
  }();
  return pool;
}

class TableScanReader final : public arrow::RecordBatchReader {
 public:
  TableScanReader(std::string root, std::string table_path, std::shared_ptr<const TableEntry> entry,
                  std::vector<PartSlice> slices, std::vector<int> fields, std::shared_ptr<arrow::Schema> schema,
                  int64_t batch_size, bool use_threads)
      : root_(std::move(root)), table_path_(std::move(table_path)), entry_(std::move(entry)),
        slices_(std::move(slices)), fields_(std::move(fields)), schema_(std::move(schema)),
        use_threads_(use_threads), batch_size_(batch_size), rechunker_(batch_size, ScanPool()) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    while (!rechunker_.full()) {
      ARROW_ASSIGN_OR_RAISE(bool more, LoadNextPiece());
      if (!more) break;
    }
    ARROW_ASSIGN_OR_RAISE(*out, rechunker_.Pop());
    return arrow::Status::OK();
  }

 private:
  // Pages hold at most 8,192 rows (docs/format.md 4.5): pieces that end on a multiple of it
  // rarely split a page between two pieces (each would read and decompress it).
  static constexpr int64_t kPageRows = 8192;
  // Smaller pieces would read and decompress the same pages again for every batch.
  static constexpr int64_t kMinPieceRows = 8 * kPageRows;

  // Pushes the next piece's rows (already trimmed to the requested range) to rechunker_.
  arrow::Result<bool> LoadNextPiece() {
    while (slice_ < slices_.size()) {
      const PartSlice& s = slices_[slice_];
      const PartEntry& part = entry_->parts[s.part];
      if (!reader_) {
        std::shared_ptr<ChecksummedFile> source;
        auto r = OpenPart(root_, table_path_, part, use_threads_, false, ScanPool(), &source);
        if (!r.ok()) return ToArrow(r.status());
        reader_ = std::move(*r);
        slice_reader_ = std::make_unique<RowGroupSliceReader>(reader_.get(), source, entry_->schema, fields_,
                                                              "table " + table_path_ + ": part file " + root_ + "/" +
                                                                  part.file,
                                                              ScanPool());
        rg_ = 0;
        pos_ = s.offset;
        emitted_in_slice_ = 0;
      }
      if (rg_ >= s.row_groups.size() || emitted_in_slice_ >= s.length) {
        slice_reader_.reset();
        reader_.reset();
        ++slice_;
        continue;
      }
      const int g = s.row_groups[rg_];
      const int64_t rg_rows = part.row_group_rows[static_cast<size_t>(g)];
      const int64_t end_in_rg = std::min(rg_rows, pos_ + (s.length - emitted_in_slice_));
      // A batch-sized piece becomes the batch as it is (no copy); small batches are sliced from
      // a piece that ends on a page boundary.
      int64_t end = batch_size_ >= kMinPieceRows
                        ? pos_ + (batch_size_ - rechunker_.pending_rows())
                        : (pos_ + kMinPieceRows + kPageRows - 1) / kPageRows * kPageRows;
      end = std::min(end_in_rg, end);
      const int64_t first = pos_;
      if (end >= end_in_rg) {
        end = end_in_rg;
        ++rg_;
        pos_ = 0;
      } else {
        pos_ = end;
      }
      if (end <= first) continue;
      auto cols = slice_reader_->Read(g, first, end - first);
      if (!cols.ok()) return ToArrow(cols.status());
      emitted_in_slice_ += end - first;
      // Carry the table's schema (with its metadata) on every batch.
      rechunker_.Push(arrow::RecordBatch::Make(schema_, end - first, std::move(*cols)));
      return true;
    }
    return false;
  }

  std::string root_, table_path_;
  std::shared_ptr<const TableEntry> entry_;  // pins the snapshot being scanned
  std::vector<PartSlice> slices_;
  std::vector<int> fields_;
  std::shared_ptr<arrow::Schema> schema_;
  bool use_threads_;
  int64_t batch_size_;

  size_t slice_ = 0;
  size_t rg_ = 0;     // index into the slice's row groups
  int64_t pos_ = 0;   // next row to read in that row group
  int64_t emitted_in_slice_ = 0;
  std::unique_ptr<parquet::arrow::FileReader> reader_;
  std::unique_ptr<RowGroupSliceReader> slice_reader_;
  BatchRechunker rechunker_;
};

}  // namespace

Result<std::shared_ptr<arrow::RecordBatchReader>> TableImpl::Scan(const ReadOptions& options,
                                                                  int64_t batch_size) const {
  if (batch_size <= 0) return Status::Invalid("chunk size must be positive, got ", batch_size);
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  OCTAVO_ASSIGN_OR_RETURN(auto fields, ResolveColumns(*e->schema, options.columns, path_));
  auto schema = ProjectSchema(*e->schema, fields);
  OCTAVO_ASSIGN_OR_RETURN(auto slices, ResolveRowRange(*e, options.start, options.stop));
  return std::shared_ptr<arrow::RecordBatchReader>(std::make_shared<TableScanReader>(
      bundle_->path(), path_, e, std::move(slices), std::move(fields), std::move(schema), batch_size,
      options.use_threads));
}

// Rows by number, in the order asked (Table::ReadCoordinates).
Result<std::shared_ptr<arrow::Table>> TableImpl::ReadCoordinates(const std::vector<int64_t>& rows,
                                                                 const std::vector<std::string>& columns) const {
  OCTAVO_ASSIGN_OR_RETURN(auto e, entry());
  OCTAVO_ASSIGN_OR_RETURN(auto fields, ResolveColumns(*e->schema, columns, path_));
  auto out_schema = ProjectSchema(*e->schema, fields);
  const int64_t n = e->num_rows();
  for (int64_t r : rows)
    if (r < 0 || r >= n)
      return Status::IndexError("row ", r, " is out of range for table ", path_, " (", n, " rows)");
  // Sorted distinct rows, and where each requested row lands among them.
  std::vector<int64_t> uniq(rows);
  std::sort(uniq.begin(), uniq.end());
  uniq.erase(std::unique(uniq.begin(), uniq.end()), uniq.end());

  std::vector<arrow::ArrayVector> chunks(fields.size());
  size_t k = 0;
  int64_t part_first = 0;
  for (size_t pi = 0; pi < e->parts.size() && k < uniq.size(); ++pi) {
    const PartEntry& part = e->parts[pi];
    const int64_t part_end = part_first + part.num_rows;
    if (uniq[k] >= part_end) {
      part_first = part_end;
      continue;
    }
    OCTAVO_ASSIGN_OR_RETURN(auto reader, OpenPart(bundle_->path(), path_, part, true, true));
    OCTAVO_ASSIGN_OR_RETURN(auto leaves, LeafIndices(*reader, fields));
    int64_t rg_first = part_first;
    for (size_t g = 0; g < part.row_group_rows.size() && k < uniq.size() && uniq[k] < part_end; ++g) {
      const int64_t rg_end = rg_first + part.row_group_rows[g];
      arrow::UInt64Builder ib;
      while (k < uniq.size() && uniq[k] < rg_end) {
        OCTAVO_RETURN_NOT_ARROW_OK(ib.Append(static_cast<uint64_t>(uniq[k] - rg_first)));
        ++k;
      }
      if (ib.length() > 0) {
        std::shared_ptr<arrow::Array> idx;
        OCTAVO_RETURN_NOT_ARROW_OK(ib.Finish(&idx));
        auto tr = reader->ReadRowGroup(static_cast<int>(g), leaves);
        if (!tr.ok())
          return Status::Corruption("table ", path_, ": part file ", bundle_->AbsPath(part.file),
                                    " cannot be decoded: ", tr.status().message());
        auto t = *tr;
        for (size_t c = 0; c < fields.size(); ++c) {
          const auto& field = out_schema->field(static_cast<int>(c));
          OCTAVO_ASSIGN_OR_RETURN(auto col, CastToDeclaredType(t->column(static_cast<int>(c)), field->type(),
                                                               "table " + path_ + " column '" + field->name() + "'"));
          OCTAVO_ARROW_ASSIGN_OR_RETURN(auto taken, arrow::compute::Take(col, idx));
          for (const auto& ch : taken.chunked_array()->chunks()) chunks[c].push_back(ch);
        }
      }
      rg_first = rg_end;
    }
    part_first = part_end;
  }
  std::vector<std::shared_ptr<arrow::ChunkedArray>> cols;
  for (size_t c = 0; c < fields.size(); ++c)
    cols.push_back(std::make_shared<arrow::ChunkedArray>(chunks[c], out_schema->field(static_cast<int>(c))->type()));
  auto sorted = arrow::Table::Make(out_schema, cols, static_cast<int64_t>(uniq.size()));
  if (rows.size() == uniq.size() && std::is_sorted(rows.begin(), rows.end())) return sorted;
  arrow::UInt64Builder pb;
  for (int64_t r : rows)
    OCTAVO_RETURN_NOT_ARROW_OK(
        pb.Append(static_cast<uint64_t>(std::lower_bound(uniq.begin(), uniq.end(), r) - uniq.begin())));
  std::shared_ptr<arrow::Array> perm;
  OCTAVO_RETURN_NOT_ARROW_OK(pb.Finish(&perm));
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto out, arrow::compute::Take(sorted, perm));
  return out.table();
}

}  // namespace octavo
