#include "table/block_cache.h"

#include <arrow/api.h>
#include <arrow/util/byte_size.h>

#include <algorithm>

#include "octavo/table.h"
#include "table/row_group_slice.h"
#include "util/lru_cache.h"

namespace octavo {
namespace {

constexpr int64_t kBlockRows = 8192;  // the writer's most rows per data page (docs/format.md 4.5)

using ArrayPtr = std::shared_ptr<arrow::Array>;

LruCache<ArrayPtr>& Blocks() {
  static auto* cache = new LruCache<ArrayPtr>(int64_t(32) << 20);  // never destroyed: readers may outlive it
  return *cache;
}

// Blocks read lately but not in Blocks(): kOnce, read once (the next read admits it), or
// kTooBig, a column of it takes over a quarter of the cache (its reads stay exact).
enum BlockSeen { kNotSeen = 0, kOnce, kTooBig };
LruCache<int>& Seen() {
  static auto* seen = new LruCache<int>(int64_t(1) << 20, 4096);
  return *seen;
}

std::string BlockKey(const std::string& part_key, int g, int64_t block) {
  return part_key + '\0' + std::to_string(g) + ':' + std::to_string(block);
}

std::string ColumnKey(const std::string& block_key, const arrow::Field& field) {
  return block_key + '\0' + field.name() + '\0' + field.type()->ToString();
}

}  // namespace

void SetTableBlockCacheSize(int64_t bytes) { Blocks().SetCapacity(bytes); }
int64_t TableBlockCacheSize() { return Blocks().capacity(); }

Result<std::vector<std::vector<ArrayPtr>>> ReadRowGroupSliceCached(
    const std::string& part_key, int g, int64_t rg_rows, const arrow::Schema& schema, const std::vector<int>& fields,
    int64_t first, int64_t count, const std::function<Result<RowGroupSliceReader*>()>& open) {
  std::vector<std::vector<ArrayPtr>> out(fields.size());
  auto read_exact = [&]() -> Status {
    OCTAVO_ASSIGN_OR_RETURN(RowGroupSliceReader * reader, open());
    OCTAVO_ASSIGN_OR_RETURN(auto cols, reader->Read(g, first, count));
    for (size_t c = 0; c < fields.size(); ++c) out[c] = {std::move(cols[c])};
    return Status::OK();
  };
  if (count <= 0 || Blocks().capacity() == 0) {
    OCTAVO_RETURN_NOT_OK(read_exact());
    return out;
  }
  struct Block {
    int64_t start = 0, rows = 0;
    std::string key;
    std::vector<ArrayPtr> cols;  // per field; null where not cached
    bool complete = true;
  };
  std::vector<Block> blocks;
  bool all_cached = true, all_seen = true;
  for (int64_t b = first / kBlockRows; b <= (first + count - 1) / kBlockRows; ++b) {
    Block blk;
    blk.start = b * kBlockRows;
    blk.rows = std::min(kBlockRows, rg_rows - blk.start);
    blk.key = BlockKey(part_key, g, b);
    for (int f : fields) {
      blk.cols.push_back(Blocks().Find(ColumnKey(blk.key, *schema.field(f))));
      blk.complete = blk.complete && blk.cols.back();
    }
    if (!blk.complete) {
      all_cached = false;
      all_seen = all_seen && Seen().Find(blk.key) == kOnce;
    }
    blocks.push_back(std::move(blk));
  }
  if (!all_cached && !all_seen) {  // a first read: only the rows asked for
    for (const auto& blk : blocks)
      if (Seen().Find(blk.key) == kNotSeen) Seen().Put(blk.key, kOnce, 1);
    OCTAVO_RETURN_NOT_OK(read_exact());
    return out;
  }
  for (auto& blk : blocks) {
    if (!blk.complete) {
      OCTAVO_ASSIGN_OR_RETURN(RowGroupSliceReader * reader, open());
      OCTAVO_ASSIGN_OR_RETURN(blk.cols, reader->Read(g, blk.start, blk.rows));
      bool kept = true;
      for (size_t c = 0; c < fields.size(); ++c)
        kept = Blocks().Put(ColumnKey(blk.key, *schema.field(fields[c])), blk.cols[c],
                            arrow::util::TotalBufferSize(*blk.cols[c]->data())) && kept;
      if (!kept) Seen().Put(blk.key, kTooBig, 1);
    }
    const int64_t lo = std::max(first, blk.start) - blk.start;
    const int64_t hi = std::min(first + count, blk.start + blk.rows) - blk.start;
    for (size_t c = 0; c < fields.size(); ++c) out[c].push_back(blk.cols[c]->Slice(lo, hi - lo));
  }
  return out;
}

}  // namespace octavo
