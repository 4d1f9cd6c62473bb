// Checksums: the carry-less-multiply CRC-32 equals zlib's for every length, alignment and
// split; the page-CRC check passes intact Parquet column chunks and names the damaged page
// (dictionary or data) in a damaged one.
#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <gtest/gtest.h>
#include <parquet/arrow/writer.h>
#include <parquet/file_reader.h>
#include <parquet/metadata.h>
#include <zlib.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "table/page_checksums.h"
#include "util/crc32.h"

using namespace octavo;

TEST(Crc32, MatchesZlibForEveryLengthOffsetAndSplit) {
  std::mt19937_64 rng(7);
  std::vector<uint8_t> data(70000);
  for (auto& b : data) b = static_cast<uint8_t>(rng());
  for (size_t off : {0, 1, 3, 8, 15}) {
    for (size_t n = 0; n < 600; ++n) {
      const uint32_t want = static_cast<uint32_t>(crc32(0, data.data() + off, static_cast<uInt>(n)));
      ASSERT_EQ(Crc32(0, data.data() + off, n), want) << "offset " << off << " length " << n;
    }
  }
  const uint32_t whole = static_cast<uint32_t>(crc32(0, data.data(), static_cast<uInt>(data.size())));
  EXPECT_EQ(Crc32(0, data.data(), data.size()), whole);
  for (size_t cut : {1, 64, 65, 1000, 65537}) {  // chaining, as zlib's crc32(crc, ...)
    EXPECT_EQ(Crc32(Crc32(0, data.data(), cut), data.data() + cut, data.size() - cut), whole) << cut;
  }
  EXPECT_EQ(Crc32(std::string_view("123456789")), 0xCBF43926u);  // the CRC-32 check value
}

namespace {

// A Parquet file as octavo writes it: page CRCs, a dictionary column and a float column.
std::shared_ptr<arrow::Buffer> WriteFile() {
  arrow::StringBuilder words;
  arrow::DoubleBuilder xs;
  for (int i = 0; i < 20000; ++i) {
    EXPECT_TRUE(words.Append(i % 3 == 0 ? "alpha" : "beta").ok());
    EXPECT_TRUE(xs.Append(i * 0.25).ok());
  }
  auto table = arrow::Table::Make(arrow::schema({arrow::field("w", arrow::utf8()), arrow::field("x", arrow::float64())}),
                                  {words.Finish().ValueOrDie(), xs.Finish().ValueOrDie()});
  parquet::WriterProperties::Builder b;
  b.enable_page_checksum();
  b.max_rows_per_page(4096);
  b.compression(arrow::Compression::UNCOMPRESSED);
  auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
  EXPECT_TRUE(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink, 10000, b.build()).ok());
  return sink->Finish().ValueOrDie();
}

struct Chunk {
  int64_t start, length;
};

std::vector<Chunk> Chunks(const std::shared_ptr<arrow::Buffer>& file) {
  auto reader = parquet::ParquetFileReader::Open(std::make_shared<arrow::io::BufferReader>(file));
  std::vector<Chunk> out;
  auto md = reader->metadata();
  for (int g = 0; g < md->num_row_groups(); ++g)
    for (int c = 0; c < md->num_columns(); ++c) {
      auto cc = md->RowGroup(g)->ColumnChunk(c);
      const int64_t start = cc->has_dictionary_page() ? cc->dictionary_page_offset() : cc->data_page_offset();
      out.push_back({start, cc->total_compressed_size()});
    }
  return out;
}

}  // namespace

TEST(PageChecksums, IntactChunksPassAndADamagedPageIsNamed) {
  auto file = WriteFile();
  auto chunks = Chunks(file);
  ASSERT_EQ(chunks.size(), 4u);  // 2 row groups x 2 columns
  for (const auto& c : chunks)
    EXPECT_TRUE(VerifyPageChecksums(file->data() + c.start, c.length, c.start).ok());

  // The last byte of a chunk is page data: of the dictionary column's last data page, and of
  // the float column's last page.
  for (const auto& c : chunks) {
    std::vector<uint8_t> bytes(file->data() + c.start, file->data() + c.start + c.length);
    bytes.back() ^= 0x01;
    auto st = VerifyPageChecksums(bytes.data(), c.length, c.start);
    EXPECT_EQ(st.code(), StatusCode::kCorruption);
    EXPECT_NE(st.message().find("fails its checksum"), std::string::npos) << st.ToString();
  }
  // The dictionary page's values (the first page of the string column).
  {
    const auto& c = chunks[0];
    std::vector<uint8_t> bytes(file->data() + c.start, file->data() + c.start + c.length);
    auto at = std::string(bytes.begin(), bytes.end()).find("alpha");
    ASSERT_NE(at, std::string::npos);
    bytes[at] = 'A';
    auto st = VerifyPageChecksums(bytes.data(), c.length, c.start);
    EXPECT_NE(st.message().find("at byte " + std::to_string(c.start) + " fails its checksum"), std::string::npos)
        << st.ToString();
  }
  // A chunk cut short inside a page: the header claims bytes that are not there.
  {
    const auto& c = chunks[1];
    auto st = VerifyPageChecksums(file->data() + c.start, c.length - 10, c.start);
    EXPECT_NE(st.message().find("cannot be read"), std::string::npos) << st.ToString();
  }
}

TEST(PageChecksums, ReadsThroughTheFileWrapperAreChecked) {
  auto file = WriteFile();
  auto chunks = Chunks(file);
  std::vector<uint8_t> bytes(file->data(), file->data() + file->size());
  bytes[chunks[3].start + chunks[3].length - 1] ^= 0x10;  // the float column of row group 1
  auto damaged = std::make_shared<arrow::Buffer>(bytes.data(), static_cast<int64_t>(bytes.size()));
  auto checked = std::make_shared<ChecksummedFile>(std::make_shared<arrow::io::BufferReader>(damaged));
  auto reader = parquet::ParquetFileReader::Open(checked);
  checked->SetChunks(ChecksummedFile::ComputeChunks(*reader->metadata()));
  // Whole chunk, several chunks at once (pre-buffering), and a part of a chunk.
  EXPECT_TRUE(checked->ReadAt(chunks[0].start, chunks[0].length).ok());
  EXPECT_TRUE(checked->ReadAt(chunks[0].start, chunks[2].start + chunks[2].length - chunks[0].start).ok());
  EXPECT_FALSE(checked->ReadAt(chunks[3].start, chunks[3].length).ok());
  EXPECT_FALSE(checked->ReadAt(chunks[2].start, chunks[3].start + chunks[3].length - chunks[2].start).ok());
  auto part = checked->ReadAt(chunks[3].start + 100, 50);
  ASSERT_FALSE(part.ok());
  EXPECT_NE(part.status().message().find("fails its checksum"), std::string::npos) << part.status().ToString();
  // Bytes outside every chunk (the footer) are not checked.
  EXPECT_TRUE(checked->ReadAt(static_cast<int64_t>(bytes.size()) - 8, 8).ok());
}

namespace {

// The first page header of `chunk` with i32 field `id` (inside struct field `in`, 0: the
// PageHeader itself) set to `value`, re-encoded (Thrift compact: zigzag varints), then the
// rest of the chunk. Handles the fields a dictionary page header has: i32, bool, struct.
std::vector<uint8_t> WithHeaderField(const uint8_t* chunk, int64_t n, int in, int id, int64_t value) {
  std::vector<uint8_t> out;
  size_t p = 0;
  auto varint = [&](uint64_t v) {
    do {
      uint8_t b = v & 0x7f;
      v >>= 7;
      out.push_back(b | (v ? 0x80 : 0));
    } while (v);
  };
  std::function<void(int)> walk = [&](int outer) {
    int fid = 0;
    while (true) {
      uint8_t h = chunk[p++];
      out.push_back(h);
      if (h == 0) return;
      EXPECT_NE(h >> 4, 0) << "long field ids are not handled";
      fid += h >> 4;
      const int t = h & 0x0f;
      if (t == 12) {
        walk(fid);
      } else if (t == 5) {
        uint64_t v = 0;
        for (int s = 0;; s += 7) {
          uint8_t b = chunk[p++];
          v |= uint64_t(b & 0x7f) << s;
          if (!(b & 0x80)) break;
        }
        if (outer == in && fid == id) v = (uint64_t(value) << 1) ^ uint64_t(value >> 63);
        varint(v);
      } else {
        EXPECT_TRUE(t == 1 || t == 2) << "field type " << t;
      }
    }
  };
  walk(0);
  out.insert(out.end(), chunk + p, chunk + n);
  return out;
}

}  // namespace

// A damaged page header must not make the reader allocate what it claims: the uncompressed
// size is bounded by the column chunk's (from the checksummed footer), a dictionary's value
// count by its bytes. The CRC covers only the page data, so these bytes have no other guard.
TEST(PageChecksums, HeadersClaimingHugeSizesAreRefusedBeforeDecoding) {
  auto file = WriteFile();
  auto reader = parquet::ParquetFileReader::Open(std::make_shared<arrow::io::BufferReader>(file));
  auto cc = reader->metadata()->RowGroup(0)->ColumnChunk(0);
  ASSERT_TRUE(cc->has_dictionary_page());
  const int64_t start = cc->dictionary_page_offset(), len = cc->total_compressed_size();
  const int64_t max = cc->total_uncompressed_size();
  const uint8_t* chunk = file->data() + start;
  ASSERT_TRUE(VerifyPageChecksums(chunk, len, start, max).ok());
  auto same = WithHeaderField(chunk, len, 0, 2, -7);  // the re-encoder itself round-trips
  auto again = WithHeaderField(same.data(), static_cast<int64_t>(same.size()), 0, 2, 0);
  EXPECT_NE(same, again);

  for (int64_t huge : {max + 1, int64_t{INT32_MAX}, int64_t{-5}}) {
    auto bad = WithHeaderField(chunk, len, 0, 2, huge);  // uncompressed_page_size
    auto st = VerifyPageChecksums(bad.data(), static_cast<int64_t>(bad.size()), start, max);
    EXPECT_EQ(st.code(), StatusCode::kCorruption) << huge;
    EXPECT_NE(st.message().find("uncompressed bytes"), std::string::npos) << st.ToString();
  }
  auto bad = WithHeaderField(chunk, len, 7, 1, INT32_MAX);  // DictionaryPageHeader.num_values
  auto st = VerifyPageChecksums(bad.data(), static_cast<int64_t>(bad.size()), start, max);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("dictionary page"), std::string::npos) << st.ToString();

  // Every page of every chunk of a real file is within both bounds.
  for (int g = 0; g < reader->metadata()->num_row_groups(); ++g)
    for (int c = 0; c < reader->metadata()->num_columns(); ++c) {
      auto m = reader->metadata()->RowGroup(g)->ColumnChunk(c);
      const int64_t s = m->has_dictionary_page() ? m->dictionary_page_offset() : m->data_page_offset();
      EXPECT_TRUE(VerifyPageChecksums(file->data() + s, m->total_compressed_size(), s, m->total_uncompressed_size()).ok());
    }
}
