#include "table/page_checksums.h"

#include <arrow/buffer.h>
#include <arrow/io/file.h>
#include <sys/uio.h>
#include <parquet/metadata.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "octavo/arrow_status.h"
#include "util/crc32.h"

namespace octavo {
namespace {

// Just enough of Thrift's compact protocol to skip any value and read a page header's
// leading i32 fields (parquet.thrift PageHeader: 1 type, 2 uncompressed_page_size,
// 3 compressed_page_size, 4 crc) and the dictionary page's value count (7.1 num_values).
struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;

  uint8_t Byte() {
    if (p >= end) {
      ok = false;
      return 0;
    }
    return *p++;
  }
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64 && ok; shift += 7) {
      const uint8_t b = Byte();
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  int64_t Zigzag() {
    const uint64_t v = Varint();
    return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
  }
  // The next field of a struct: its Thrift type and id (a delta from the previous id, or a
  // zigzag varint when the delta nibble is 0). False at the struct's end (STOP) or on damage.
  bool NextField(int64_t* id, int* type) {
    const uint8_t h = Byte();
    if (!ok || h == 0) return false;
    *type = h & 0x0f;
    *id = (h >> 4) ? *id + (h >> 4) : Zigzag();
    // Thrift field ids are 16-bit: a larger one is damage (and the next delta cannot overflow)
    if (*id < -32768 || *id > 32767) ok = false;
    return ok;
  }
  void Skip(uint64_t n) {
    if (static_cast<uint64_t>(end - p) < n) {
      ok = false;
      p = end;
    } else {
      p += n;
    }
  }
};

constexpr int kMaxDepth = 32;
void SkipStruct(Cursor* c, int depth);

void SkipValue(Cursor* c, int type, int depth) {
  if (depth > kMaxDepth) {
    c->ok = false;
    return;
  }
  switch (type) {
    case 1:
    case 2:  // booleans live in the field header
      return;
    case 3:  // i8
      c->Skip(1);
      return;
    case 4:
    case 5:
    case 6:  // i16, i32, i64
      c->Varint();
      return;
    case 7:  // double
      c->Skip(8);
      return;
    case 8:  // binary
      c->Skip(c->Varint());
      return;
    case 9:
    case 10: {  // list, set
      const uint8_t h = c->Byte();
      uint64_t size = h >> 4;
      const int elem = h & 0x0f;
      if (size == 15) size = c->Varint();
      for (uint64_t i = 0; i < size && c->ok; ++i) {
        if (elem == 1 || elem == 2) {
          c->Skip(1);  // a boolean element takes a byte
        } else {
          SkipValue(c, elem, depth + 1);
        }
      }
      return;
    }
    case 11: {  // map
      const uint64_t size = c->Varint();
      if (size == 0 || !c->ok) return;
      const uint8_t kv = c->Byte();
      for (uint64_t i = 0; i < size && c->ok; ++i) {
        for (int t : {kv >> 4, kv & 0x0f}) {
          if (t == 1 || t == 2) {
            c->Skip(1);
          } else {
            SkipValue(c, t, depth + 1);
          }
        }
      }
      return;
    }
    case 12:
      SkipStruct(c, depth + 1);
      return;
    default:
      c->ok = false;
  }
}

void SkipStruct(Cursor* c, int depth) {
  int64_t id = 0;
  int type = 0;
  while (c->NextField(&id, &type)) SkipValue(c, type, depth);
}

}  // namespace

bool ParsePageHeader(const uint8_t* data, int64_t n, PageHeaderInfo* out) {
  *out = PageHeaderInfo{};
  Cursor c{data, data + n};
  int64_t id = 0;
  int t = 0;
  while (c.NextField(&id, &t)) {
    if (t == 5 && id >= 1 && id <= 4) {
      const int64_t v = c.Zigzag();
      if (id == 1) out->type = v;
      if (id == 2) out->uncompressed = v;
      if (id == 3) out->compressed = v;
      if (id == 4) {
        out->crc = static_cast<uint32_t>(v);
        out->has_crc = true;
      }
    } else if (t == 12 && (id == 5 || id == 7 || id == 8)) {
      // DataPageHeader (5), DictionaryPageHeader (7), DataPageHeaderV2 (8): their i32 fields
      int64_t sub = 0;
      int st = 0;
      while (c.NextField(&sub, &st)) {
        if (st != 5) {
          SkipValue(&c, st, 2);
          continue;
        }
        const int64_t v = c.Zigzag();
        if (sub == 1) out->num_values = v;
        if (id == 5 && sub == 2) out->encoding = v;
        if (id == 5 && sub == 3) out->def_level_encoding = v;
        if (id == 8 && sub == 2) out->num_nulls = v;
        if (id == 8 && sub == 3) out->num_rows = v;
        if (id == 8 && sub == 4) out->encoding = v;
        if (id == 8 && sub == 5) out->def_levels_bytes = v;
        if (id == 8 && sub == 6) out->rep_levels_bytes = v;
      }
    } else {
      SkipValue(&c, t, 1);
    }
  }
  out->header_size = c.p - data;
  return c.ok && out->type >= 0 && out->compressed >= 0;
}

Status VerifyPageChecksums(const uint8_t* data, int64_t n, int64_t file_offset, int64_t max_uncompressed,
                           std::vector<int64_t>* data_page_values) {
  if (data_page_values) data_page_values->clear();
  int64_t pos = 0;
  while (pos < n) {
    PageHeaderInfo info;
    const bool parsed = ParsePageHeader(data + pos, n - pos, &info);
    const int64_t type = info.type, uncompressed = info.uncompressed, compressed = info.compressed;
    const int64_t dict_values = type == 2 ? info.num_values : -1, data_values = info.num_values;
    const bool has_crc = info.has_crc;
    const uint32_t crc = info.crc;
    const int64_t header = info.header_size;
    if (!parsed || compressed > n - pos - header)
      return Status::Corruption("the Parquet page header at byte ", file_offset + pos,
                                " cannot be read (the file is damaged)");
    // The reader allocates what the header claims before decoding (a decompression buffer of
    // uncompressed_page_size, a dictionary of num_values entries): a damaged header must not
    // make it allocate gigabytes. A page is never larger than its whole column chunk, and a
    // dictionary entry takes at least one byte.
    if (uncompressed < 0 || uncompressed > max_uncompressed)
      return Status::Corruption("the Parquet page header at byte ", file_offset + pos, " claims ", uncompressed,
                                " uncompressed bytes, more than its whole column chunk (", max_uncompressed,
                                "; the file is damaged)");
    if (dict_values > uncompressed)
      return Status::Corruption("the Parquet dictionary page at byte ", file_offset + pos, " claims ", dict_values,
                                " values in ", uncompressed, " bytes (the file is damaged)");
    // Data pages (v1, v2) and dictionary pages carry CRCs of their bytes after the header.
    if (has_crc && (type == 0 || type == 2 || type == 3)) {
      const uint32_t got = Crc32(0, data + pos + header, static_cast<size_t>(compressed));
      if (got != crc)
        return Status::Corruption("the Parquet page at byte ", file_offset + pos,
                                  " fails its checksum (the file is damaged)");
    }
    if (data_page_values && (type == 0 || type == 3)) data_page_values->push_back(data_values);
    pos += header + compressed;
  }
  return Status::OK();
}

std::shared_ptr<const ChecksummedFile::Chunks> ChecksummedFile::ComputeChunks(const parquet::FileMetaData& md) {
  auto chunks = std::make_shared<Chunks>();
  for (int g = 0; g < md.num_row_groups(); ++g) {
    auto rg = md.RowGroup(g);
    for (int i = 0; i < rg->num_columns(); ++i) {
      auto cc = rg->ColumnChunk(i);
      // As parquet's ComputeColumnChunkRange: the dictionary page, if any, comes first.
      int64_t start = cc->data_page_offset();
      if (cc->has_dictionary_page() && cc->dictionary_page_offset() > 0 && start > cc->dictionary_page_offset())
        start = cc->dictionary_page_offset();
      const int64_t len = cc->total_compressed_size();
      if (start >= 0 && len > 0) chunks->push_back(Chunk{start, start + len, cc->total_uncompressed_size()});
    }
  }
  std::sort(chunks->begin(), chunks->end(), [](const Chunk& a, const Chunk& b) { return a.first < b.first; });
  return chunks;
}

arrow::Status ChecksummedFile::Check(int64_t position, int64_t nbytes, const uint8_t* data) {
  const Chunks& chunks = *chunks_;
  const int64_t end = position + nbytes;
  // The first chunk that may overlap: chunks are sorted by start and do not overlap.
  auto it = std::upper_bound(chunks.begin(), chunks.end(), position,
                             [](int64_t p, const Chunk& c) { return p < c.first; });
  if (it != chunks.begin()) --it;
  for (; it != chunks.end() && it->first < end; ++it) {
    if (it->second <= position) continue;
    if (it->first >= position && it->second <= end) {
      Status st = VerifyPageChecksums(data + (it->first - position), it->second - it->first, it->first,
                                      it->max_uncompressed);
      if (!st.ok()) return ToArrow(st);
      continue;
    }
    const size_t index = static_cast<size_t>(it - chunks.begin());
    {
      std::lock_guard<std::mutex> l(mu_);
      if (checked_apart_.count(index)) continue;
    }
    ARROW_ASSIGN_OR_RAISE(auto whole, inner_->ReadAt(it->first, it->second - it->first));
    if (whole->size() != it->second - it->first)
      return arrow::Status::IOError("column chunk at byte ", it->first, " is cut short (the file is damaged)");
    Status st = VerifyPageChecksums(whole->data(), whole->size(), it->first, it->max_uncompressed);
    if (!st.ok()) return ToArrow(st);
    std::lock_guard<std::mutex> l(mu_);
    checked_apart_.insert(index);
  }
  return arrow::Status::OK();
}

Result<const ChecksummedFile::Chunk*> ChecksummedFile::ChunkHolding(int64_t position, int64_t nbytes) const {
  const Chunks& chunks = *chunks_;
  auto it = std::upper_bound(chunks.begin(), chunks.end(), position,
                             [](int64_t p, const Chunk& c) { return p < c.first; });
  if (it == chunks.begin() || position < 0 || nbytes < 0 || position + nbytes > (it - 1)->second)
    return Status::Corruption("the pages at bytes ", position, "..", position + nbytes,
                              " lie outside every column chunk (the page index is damaged)");
  return &*(it - 1);
}

Result<std::shared_ptr<arrow::Buffer>> ChecksummedFile::ReadPages(int64_t position, int64_t nbytes,
                                                                  std::vector<int64_t>* data_page_values) {
  OCTAVO_ASSIGN_OR_RETURN(const Chunk* chunk, ChunkHolding(position, nbytes));
  OCTAVO_ARROW_ASSIGN_OR_RETURN(auto buf, inner_->ReadAt(position, nbytes));
  if (buf->size() != nbytes)
    return Status::Corruption("the pages at bytes ", position, "..", position + nbytes,
                              " are cut short (the file is damaged)");
  OCTAVO_RETURN_NOT_OK(VerifyPageChecksums(buf->data(), nbytes, position, chunk->max_uncompressed, data_page_values));
  return buf;
}

Status ChecksummedFile::ReadPagesInto(int64_t position, int64_t nbytes, uint8_t* out,
                                      std::vector<int64_t>* data_page_values) {
  OCTAVO_ASSIGN_OR_RETURN(const Chunk* chunk, ChunkHolding(position, nbytes));
  OCTAVO_ARROW_ASSIGN_OR_RETURN(int64_t got, inner_->ReadAt(position, nbytes, out));
  if (got != nbytes)
    return Status::Corruption("the pages at bytes ", position, "..", position + nbytes,
                              " are cut short (the file is damaged)");
  return VerifyPageChecksums(out, nbytes, position, chunk->max_uncompressed, data_page_values);
}

Result<std::vector<PageHeaderInfo>> ChecksummedFile::ReadPagesScattered(int64_t position,
                                                                        const std::vector<ScatteredPage>& pages,
                                                                        std::string* heads) {
  int64_t total = 0, head_total = 0;
  for (const auto& p : pages) {
    if (p.values_size < 0 || p.values_size >= p.size) return Status::Invalid("a page's values must follow its header");
    total += p.size;
    head_total += p.size - p.values_size;
  }
  OCTAVO_RETURN_NOT_OK(ChunkHolding(position, total).status());
  auto* local = dynamic_cast<arrow::io::ReadableFile*>(inner_.get());
  if (!local || pages.size() > 512) return Status::NotImplemented("scattered reads: local files, 512 pages at most");
  heads->resize(static_cast<size_t>(head_total));
  std::vector<iovec> iov;
  iov.reserve(2 * pages.size());
  size_t at = 0;
  for (const auto& p : pages) {
    const size_t head = static_cast<size_t>(p.size - p.values_size);
    iov.push_back({heads->data() + at, head});
    iov.push_back({p.values, static_cast<size_t>(p.values_size)});
    at += head;
  }
  // One preadv; a short read (a signal, a file cut short) goes on from where it stopped.
  int64_t done = 0;
  size_t first = 0;
  while (done < total) {
    const ssize_t got = ::preadv(local->file_descriptor(), iov.data() + first, static_cast<int>(iov.size() - first),
                                 position + done);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Status::IOError("cannot read the pages at byte ", position + done, ": ", std::strerror(errno));
    if (got == 0)
      return Status::Corruption("the pages at bytes ", position, "..", position + total,
                                " are cut short (the file is damaged)");
    done += got;
    for (size_t k = static_cast<size_t>(got); k > 0;) {  // drop the pieces read, shorten a partial one
      const size_t take = std::min(k, iov[first].iov_len);
      iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + take;
      iov[first].iov_len -= take;
      k -= take;
      if (iov[first].iov_len == 0) ++first;
    }
  }
  std::vector<PageHeaderInfo> infos(pages.size());
  int64_t offset = position;
  at = 0;
  for (size_t i = 0; i < pages.size(); ++i) {
    const auto& p = pages[i];
    const int64_t head = p.size - p.values_size;
    const auto* h = reinterpret_cast<const uint8_t*>(heads->data()) + at;
    PageHeaderInfo& info = infos[i];
    if (!ParsePageHeader(h, head, &info) || info.compressed != p.size - info.header_size)
      return Status::Corruption("the Parquet page header at byte ", offset,
                                " does not match the offset index (the file is damaged)");
    // The page's CRC covers its bytes after the header: the levels here, then the values.
    if (info.has_crc && (info.type == 0 || info.type == 3)) {
      const uint32_t got = Crc32(Crc32(0, h + info.header_size, static_cast<size_t>(head - info.header_size)),
                                 p.values, static_cast<size_t>(p.values_size));
      if (got != info.crc)
        return Status::Corruption("the Parquet page at byte ", offset, " fails its checksum (the file is damaged)");
    }
    at += static_cast<size_t>(head);
    offset += p.size;
  }
  return infos;
}

arrow::Result<int64_t> ChecksummedFile::Read(int64_t nbytes, void* out) {
  ARROW_ASSIGN_OR_RAISE(int64_t at, inner_->Tell());
  ARROW_ASSIGN_OR_RAISE(int64_t got, inner_->Read(nbytes, out));
  ARROW_RETURN_NOT_OK(Check(at, got, static_cast<const uint8_t*>(out)));
  return got;
}

arrow::Result<std::shared_ptr<arrow::Buffer>> ChecksummedFile::Read(int64_t nbytes) {
  ARROW_ASSIGN_OR_RAISE(int64_t at, inner_->Tell());
  ARROW_ASSIGN_OR_RAISE(auto buf, inner_->Read(nbytes));
  ARROW_RETURN_NOT_OK(Check(at, buf->size(), buf->data()));
  return buf;
}

arrow::Result<int64_t> ChecksummedFile::ReadAt(int64_t position, int64_t nbytes, void* out) {
  ARROW_ASSIGN_OR_RAISE(int64_t got, inner_->ReadAt(position, nbytes, out));
  ARROW_RETURN_NOT_OK(Check(position, got, static_cast<const uint8_t*>(out)));
  return got;
}

arrow::Result<std::shared_ptr<arrow::Buffer>> ChecksummedFile::ReadAt(int64_t position, int64_t nbytes) {
  ARROW_ASSIGN_OR_RAISE(auto buf, inner_->ReadAt(position, nbytes));
  ARROW_RETURN_NOT_OK(Check(position, buf->size(), buf->data()));
  return buf;
}

}  // namespace octavo
