// Parquet page CRCs, checked as column chunks are read.
//
// octavo writes a CRC-32 into every page header (docs/format.md): an uncompressed float
// page has no other guard, and a flipped byte would read back as a wrong value. Arrow's
// reader can check them, but with a table-driven CRC that took 30% of a selective query's
// CPU (50M rows, 0.01%). ChecksummedFile checks them instead, with the carry-less-multiply CRC
// (util/crc32.h), on the bytes of each column chunk as the reader fetches them.
#pragma once

#include <arrow/io/interfaces.h>
#include <arrow/result.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "octavo/status.h"

namespace parquet {
class FileMetaData;
}

namespace octavo {

// Walks the pages of one column chunk (`data`, `n` bytes, starting at `file_offset` in the
// file) and checks the CRC of every data and dictionary page whose header carries one.
// Corruption names the page's offset on a mismatch or an unreadable page header, and on a
// header that claims more than `max_uncompressed` bytes (the chunk's total_uncompressed_size
// from the footer) or more dictionary values than bytes: the reader would allocate that much.
// `data_page_values`, when given, gets each data page's num_values from its header, in order
// (-1 where the header has none).
Status VerifyPageChecksums(const uint8_t* data, int64_t n, int64_t file_offset,
                           int64_t max_uncompressed = INT64_MAX, std::vector<int64_t>* data_page_values = nullptr);

// The fields of a Parquet page header (parquet.thrift PageHeader) that octavo's readers use;
// -1 where absent. Enums as their Thrift numbers (type: 0 data, 2 dictionary, 3 data V2).
struct PageHeaderInfo {
  int64_t header_size = 0;  // bytes of the Thrift header itself
  int64_t type = -1, uncompressed = -1, compressed = -1;
  bool has_crc = false;
  uint32_t crc = 0;
  int64_t num_values = -1;                            // data and dictionary pages
  int64_t encoding = -1, def_level_encoding = -1;     // data pages (V1: both)
  int64_t num_nulls = -1, num_rows = -1;              // V2
  int64_t def_levels_bytes = -1, rep_levels_bytes = -1;  // V2
};

// Parses the page header at `data` (`n` bytes available); false when it is cut short or
// malformed (never reads outside [data, data + n)).
bool ParsePageHeader(const uint8_t* data, int64_t n, PageHeaderInfo* out);

// A file whose ReadAt checks the pages of every column chunk the read covers. Reads that
// cover a chunk only in part (a buffered stream) check the whole chunk once, read apart.
class ChecksummedFile final : public arrow::io::RandomAccessFile {
 public:
  explicit ChecksummedFile(std::shared_ptr<arrow::io::RandomAccessFile> inner) : inner_(std::move(inner)) {}

  struct Chunk {
    int64_t first, second;     // [start, end) in the file
    int64_t max_uncompressed;  // total_uncompressed_size: no page decodes to more
  };
  using Chunks = std::vector<Chunk>;  // sorted by start
  // The column chunk byte ranges, as Arrow's reader computes them (computed once per footer:
  // building every chunk's metadata object showed in point reads).
  static std::shared_ptr<const Chunks> ComputeChunks(const parquet::FileMetaData& metadata);
  // Call before reading data.
  void SetChunks(std::shared_ptr<const Chunks> chunks) { chunks_ = std::move(chunks); }

  // Reads [position, position + nbytes), which must be whole pages inside one column chunk
  // (from the offset index), and checks their CRCs: a page-level read that does not fetch the
  // rest of the chunk. Corruption when the range leaves the chunk or does not start and end
  // at page boundaries. `data_page_values` as VerifyPageChecksums'.
  Result<std::shared_ptr<arrow::Buffer>> ReadPages(int64_t position, int64_t nbytes,
                                                   std::vector<int64_t>* data_page_values);
  // The same, into the caller's `out` (nbytes of them).
  Status ReadPagesInto(int64_t position, int64_t nbytes, uint8_t* out, std::vector<int64_t>* data_page_values);
  // Consecutive data pages from `position`, each `size` bytes whose last `values_size` bytes
  // (PLAIN values without nulls end the page) go straight to `values`, the header and levels
  // to `heads` (in order): one preadv, no copy in between. Every page's header is parsed (the
  // result) and its CRC checked over levels and values. NotImplemented where the file is not
  // local (the caller reads the pages as usual); Corruption on a short read, a header that
  // disagrees with `size`, or a failed CRC.
  struct ScatteredPage {
    int64_t size;
    uint8_t* values;
    int64_t values_size;
  };
  Result<std::vector<PageHeaderInfo>> ReadPagesScattered(int64_t position, const std::vector<ScatteredPage>& pages,
                                                         std::string* heads);

  arrow::Status Close() override { return inner_->Close(); }
  bool closed() const override { return inner_->closed(); }
  arrow::Result<int64_t> Tell() const override { return inner_->Tell(); }
  arrow::Status Seek(int64_t position) override { return inner_->Seek(position); }
  arrow::Result<int64_t> GetSize() override { return inner_->GetSize(); }
  arrow::Result<int64_t> Read(int64_t nbytes, void* out) override;
  arrow::Result<std::shared_ptr<arrow::Buffer>> Read(int64_t nbytes) override;
  arrow::Result<int64_t> ReadAt(int64_t position, int64_t nbytes, void* out) override;
  arrow::Result<std::shared_ptr<arrow::Buffer>> ReadAt(int64_t position, int64_t nbytes) override;

 private:
  arrow::Status Check(int64_t position, int64_t nbytes, const uint8_t* data);
  // The column chunk that [position, position + nbytes) lies in; Corruption when none does.
  Result<const Chunk*> ChunkHolding(int64_t position, int64_t nbytes) const;

  std::shared_ptr<arrow::io::RandomAccessFile> inner_;
  std::shared_ptr<const Chunks> chunks_ = std::make_shared<const Chunks>();
  std::mutex mu_;
  std::set<size_t> checked_apart_;  // chunks checked by a read of their own
};

}  // namespace octavo
