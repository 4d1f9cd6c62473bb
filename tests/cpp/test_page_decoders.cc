// Page decoders and late-column gathering: octavo's own DELTA_BINARY_PACKED and RLE/bit-packed
// readers return what Arrow's encoders wrote, at any chosen positions; GatherRows returns
// exactly the rows a full read would (and ReadRowRange the same ranges), for every encoding,
// page version and null pattern
// (including the ones it leaves to Arrow's reader); damaged pages give errors, not crashes.
#include <arrow/api.h>
#include <arrow/compute/api.h>
#include <arrow/io/file.h>
#include <arrow/io/memory.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/encoding.h>
#include <parquet/file_reader.h>
#include <parquet/page_index.h>
#include <parquet/schema.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "table/page_checksums.h"
#include "table/page_decoders.h"
#include "table/row_gather.h"

using namespace octavo;

namespace {

// Ascending distinct positions below `n`, each kept with probability `p`, plus the ends.
std::vector<int64_t> Choose(std::mt19937_64& rng, int64_t n, double p) {
  std::bernoulli_distribution keep(p);
  std::vector<int64_t> rows;
  for (int64_t i = 0; i < n; ++i)
    if (keep(rng) || (p > 0 && (i == 0 || i == n - 1))) rows.push_back(i);
  return rows;
}

template <typename DType>
std::shared_ptr<arrow::Buffer> Encode(const std::vector<typename DType::c_type>& values, parquet::Type::type physical,
                                      parquet::Encoding::type encoding, bool dictionary) {
  auto node = parquet::schema::PrimitiveNode::Make("x", parquet::Repetition::REQUIRED, physical);
  parquet::ColumnDescriptor descr(node, 0, 0);
  auto encoder = parquet::MakeTypedEncoder<DType>(encoding, dictionary, &descr);
  encoder->Put(values.data(), static_cast<int>(values.size()));
  if (!dictionary) return encoder->FlushValues();
  auto* dict = dynamic_cast<parquet::DictEncoder<DType>*>(encoder.get());
  auto buffer = *arrow::AllocateResizableBuffer(dict->EstimatedDataEncodedSize());
  const int n = dict->WriteIndices(buffer->mutable_data(), static_cast<int>(buffer->size()));
  EXPECT_GT(n, 0);
  EXPECT_TRUE(buffer->Resize(n).ok());
  return std::shared_ptr<arrow::Buffer>(std::move(buffer));
}

template <typename T>
void CheckDelta(const std::vector<T>& values, std::mt19937_64& rng) {
  using DType = std::conditional_t<sizeof(T) == 4, parquet::Int32Type, parquet::Int64Type>;
  const auto physical = sizeof(T) == 4 ? parquet::Type::INT32 : parquet::Type::INT64;
  auto page = Encode<DType>(values, physical, parquet::Encoding::DELTA_BINARY_PACKED, false);
  const int64_t n = static_cast<int64_t>(values.size());
  for (double p : {1.0, 0.5, 0.01, 0.0}) {
    for (int64_t first : {int64_t{0}, int64_t{1000}}) {  // positions are rows minus the page's first row
      std::vector<int64_t> rows = Choose(rng, n, p);
      for (auto& r : rows) r += first;
      std::vector<T> got(rows.size());
      ASSERT_TRUE(GatherDeltaBinaryPacked<T>(page->data(), page->size(), rows.data(),
                                             static_cast<int64_t>(rows.size()), first, got.data()));
      for (size_t i = 0; i < rows.size(); ++i)
        ASSERT_EQ(got[i], values[static_cast<size_t>(rows[i] - first)]) << "position " << rows[i] - first;
    }
  }
}

TEST(PageDecoders, DeltaBinaryPackedMatchesArrowsEncoder) {
  std::mt19937_64 rng(11);
  for (int64_t n : {1, 2, 31, 129, 1000, 8192, 20001}) {
    std::vector<int64_t> sequential(n), jitter(n), wild(n), constant(n, -5);
    for (int64_t i = 0; i < n; ++i) {
      sequential[i] = 1'700'000'000'000'000'000 + i * 1'000'000;  // a regular clock: bit width 0
      jitter[i] = i * 40 + static_cast<int64_t>(rng() % 7);       // small widths
      wild[i] = static_cast<int64_t>(rng());                      // up to 64 bits, wrapping deltas
    }
    if (n > 3) {
      wild[1] = std::numeric_limits<int64_t>::min();
      wild[2] = std::numeric_limits<int64_t>::max();
    }
    CheckDelta(sequential, rng);
    CheckDelta(jitter, rng);
    CheckDelta(wild, rng);
    CheckDelta(constant, rng);
    std::vector<int32_t> small(n);
    for (int64_t i = 0; i < n; ++i) small[i] = static_cast<int32_t>(rng());
    if (n > 3) small[1] = std::numeric_limits<int32_t>::min(), small[2] = std::numeric_limits<int32_t>::max();
    CheckDelta(small, rng);
  }
}

TEST(PageDecoders, RleHybridMatchesArrowsDictionaryIndices) {
  std::mt19937_64 rng(12);
  for (int distinct : {1, 2, 5, 300, 70000}) {
    // runs of a repeated value (RLE runs) between stretches of random ones (bit-packed runs)
    std::vector<int64_t> values;
    while (values.size() < 50000) {
      const int64_t v = static_cast<int64_t>(rng() % static_cast<uint64_t>(distinct));
      const size_t repeat = rng() % 3 == 0 ? 1 + rng() % 40 : 1;
      values.insert(values.end(), repeat, v);
    }
    // the dictionary encoder numbers values in order of first appearance
    std::vector<uint32_t> index(values.size());
    std::vector<int64_t> seen(static_cast<size_t>(distinct), -1);
    uint32_t next = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      auto& s = seen[static_cast<size_t>(values[i])];
      if (s < 0) s = next++;
      index[i] = static_cast<uint32_t>(s);
    }
    auto page = Encode<parquet::Int64Type>(values, parquet::Type::INT64, parquet::Encoding::PLAIN, true);
    const int bit_width = page->data()[0];
    for (double p : {1.0, 0.3, 0.001}) {
      std::vector<int64_t> rows = Choose(rng, static_cast<int64_t>(values.size()), p);
      std::vector<uint32_t> got(rows.size());
      ASSERT_TRUE(GatherRleHybrid(page->data() + 1, page->size() - 1, bit_width, rows.data(),
                                  static_cast<int64_t>(rows.size()), 0, got.data()));
      for (size_t i = 0; i < rows.size(); ++i) ASSERT_EQ(got[i], index[static_cast<size_t>(rows[i])]) << rows[i];
    }
    // consecutive positions, decoded in one pass
    const int64_t total = static_cast<int64_t>(values.size());
    for (int trial = 0; trial < 20; ++trial) {
      const int64_t from = static_cast<int64_t>(rng() % static_cast<uint64_t>(total));
      const int64_t count = trial == 0 ? total - from : static_cast<int64_t>(rng() % static_cast<uint64_t>(total - from + 1));
      std::vector<uint32_t> got(static_cast<size_t>(count));
      ASSERT_TRUE(DecodeRleHybrid(page->data() + 1, page->size() - 1, bit_width, from, count, got.data()));
      for (int64_t i = 0; i < count; ++i) ASSERT_EQ(got[static_cast<size_t>(i)], index[static_cast<size_t>(from + i)]) << from + i;
    }
    std::vector<uint32_t> all(values.size() + 64);
    EXPECT_FALSE(DecodeRleHybrid(page->data() + 1, page->size() - 1, bit_width, 0, total + 64, all.data()));
    // past the end of the section: false, not a read outside it
    const int64_t beyond = static_cast<int64_t>(values.size()) + 64;
    uint32_t out = 0;
    EXPECT_FALSE(GatherRleHybrid(page->data() + 1, page->size() - 1, bit_width, &beyond, 1, 0, &out));
  }
}

TEST(PageDecoders, RleHybridAllEqual) {
  // one RLE run of 10 ones (header 10 << 1, value byte 1), then a bit-packed group of 8 ones
  const uint8_t ones[] = {20, 1, 3, 0xff};
  EXPECT_TRUE(RleHybridAllEqual(ones, sizeof ones, 1, 18, 1));
  EXPECT_TRUE(RleHybridAllEqual(ones, sizeof ones, 1, 12, 1));
  EXPECT_FALSE(RleHybridAllEqual(ones, sizeof ones, 1, 19, 1));  // too few levels
  EXPECT_FALSE(RleHybridAllEqual(ones, sizeof ones, 1, 10, 0));
  const uint8_t one_null[] = {20, 1, 3, 0xfe};
  EXPECT_FALSE(RleHybridAllEqual(one_null, sizeof one_null, 1, 18, 1));
  EXPECT_TRUE(RleHybridAllEqual(one_null, sizeof one_null, 1, 10, 1));
}

TEST(PageDecoders, DamagedSectionsNeverReadOutside) {
  // Random damage must give false or some values, never a crash (run under ASan to see reads).
  std::mt19937_64 rng(13);
  std::vector<int64_t> values(5000);
  for (auto& v : values) v = static_cast<int64_t>(rng() % 100000);
  auto delta = Encode<parquet::Int64Type>(values, parquet::Type::INT64, parquet::Encoding::DELTA_BINARY_PACKED, false);
  auto dict = Encode<parquet::Int64Type>(values, parquet::Type::INT64, parquet::Encoding::PLAIN, true);
  std::vector<int64_t> rows = Choose(rng, 5000, 0.2);
  std::vector<int64_t> out64(rows.size());
  std::vector<uint32_t> out32(rows.size());
  for (int trial = 0; trial < 3000; ++trial) {
    for (const auto& page : {delta, dict}) {
      std::vector<uint8_t> bytes(page->data(), page->data() + page->size());
      bytes.resize(rng() % 2 ? bytes.size() : rng() % bytes.size());  // cut short
      for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0 && !bytes.empty(); --flips)
        bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
      const auto n = static_cast<int64_t>(rows.size());
      if (page == delta) {
        (void)GatherDeltaBinaryPacked<int64_t>(bytes.data(), static_cast<int64_t>(bytes.size()), rows.data(), n, 0,
                                               out64.data());
      } else if (!bytes.empty()) {
        (void)GatherRleHybrid(bytes.data() + 1, static_cast<int64_t>(bytes.size()) - 1, bytes[0] % 40, rows.data(),
                              n, 0, out32.data());
        std::vector<uint32_t> dense(5000);
        (void)DecodeRleHybrid(bytes.data() + 1, static_cast<int64_t>(bytes.size()) - 1, bytes[0] % 40,
                              static_cast<int64_t>(rng() % 100), 4900, dense.data());
      }
    }
  }
  // a truncated delta page is refused
  EXPECT_FALSE(GatherDeltaBinaryPacked<int64_t>(delta->data(), delta->size() / 2, rows.data(),
                                                static_cast<int64_t>(rows.size()), 0, out64.data()));
}

// --- GatherRows on whole Parquet files ---

struct Written {
  std::shared_ptr<arrow::Table> table;
  std::unique_ptr<parquet::ParquetFileReader> reader;
};

std::shared_ptr<arrow::Buffer> WriteBytes(const std::shared_ptr<arrow::Table>& table,
                                          const std::shared_ptr<parquet::WriterProperties>& props) {
  auto sink = *arrow::io::BufferOutputStream::Create();
  auto arrow_props = parquet::ArrowWriterProperties::Builder().store_schema()->build();
  EXPECT_TRUE(
      parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), sink, 100000, props, arrow_props).ok());
  return *sink->Finish();
}

Written Write(const std::shared_ptr<arrow::Table>& table, const std::shared_ptr<parquet::WriterProperties>& props) {
  return Written{table,
                 parquet::ParquetFileReader::Open(std::make_shared<arrow::io::BufferReader>(WriteBytes(table, props)))};
}

// Small pages, `id` delta-encoded, the other columns as Arrow chooses.
std::shared_ptr<parquet::WriterProperties> DeltaIdProps(int64_t page_size, bool page_index) {
  parquet::WriterProperties::Builder b;
  b.data_pagesize(page_size)->encoding("id", parquet::Encoding::DELTA_BINARY_PACKED)->disable_dictionary("id");
  if (page_index) {
    b.enable_write_page_index();
  } else {
    b.disable_write_page_index();
  }
  return b.build();
}

std::shared_ptr<arrow::Table> Sample(int64_t n, bool with_nulls, std::mt19937_64& rng) {
  arrow::Int64Builder ids, jittered;
  arrow::Int32Builder small;
  arrow::DoubleBuilder v;
  arrow::StringBuilder label, text;
  arrow::StringDictionary32Builder cat;  // dictionary in order of first appearance, as a writer's page
  arrow::TimestampBuilder ts(arrow::timestamp(arrow::TimeUnit::NANO), arrow::default_memory_pool());
  const char* cats[] = {"alpha", "beta", "gamma", "delta-with-a-long-name", ""};
  for (int64_t i = 0; i < n; ++i) {
    const bool null = with_nulls && rng() % 5 == 0;
    EXPECT_TRUE(ids.Append(1000 + i).ok());
    EXPECT_TRUE((null ? jittered.AppendNull() : jittered.Append(i * 50 + static_cast<int64_t>(rng() % 9))).ok());
    EXPECT_TRUE(small.Append(static_cast<int32_t>(rng())).ok());
    EXPECT_TRUE((null ? v.AppendNull() : v.Append(static_cast<double>(rng() % 1000) / 7)).ok());
    EXPECT_TRUE((null && rng() % 2 ? label.AppendNull() : label.Append(cats[rng() % 5])).ok());
    EXPECT_TRUE(text.Append(std::string(rng() % 30, static_cast<char>('a' + rng() % 26))).ok());
    EXPECT_TRUE(ts.Append(1'700'000'000'000'000'000 + i * 1'000'000).ok());
    EXPECT_TRUE((null && rng() % 3 == 0 ? cat.AppendNull() : cat.Append(cats[rng() % 4])).ok());
  }
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("jittered", arrow::int64()),
                               arrow::field("small", arrow::int32()), arrow::field("v", arrow::float64()),
                               arrow::field("label", arrow::utf8()), arrow::field("text", arrow::large_utf8()),
                               arrow::field("ts", arrow::timestamp(arrow::TimeUnit::NANO)),
                               arrow::field("cat", arrow::dictionary(arrow::int32(), arrow::utf8()))});
  std::vector<std::shared_ptr<arrow::Array>> columns(8);
  EXPECT_TRUE(ids.Finish(&columns[0]).ok());
  EXPECT_TRUE(jittered.Finish(&columns[1]).ok());
  EXPECT_TRUE(small.Finish(&columns[2]).ok());
  EXPECT_TRUE(v.Finish(&columns[3]).ok());
  EXPECT_TRUE(label.Finish(&columns[4]).ok());
  std::shared_ptr<arrow::Array> t;
  EXPECT_TRUE(text.Finish(&t).ok());
  columns[5] = (*arrow::compute::Cast(t, arrow::large_utf8())).make_array();
  EXPECT_TRUE(ts.Finish(&columns[6]).ok());
  EXPECT_TRUE(cat.Finish(&columns[7]).ok());
  return arrow::Table::Make(schema, columns);
}

// `got` holds the values of `want`; a dictionary-typed result also keeps the column's dictionary
// when the chunk was written dictionary-encoded (`dictionary_pages`), as parquet::arrow does.
void ExpectSame(const std::shared_ptr<arrow::Array>& got, const std::shared_ptr<arrow::Array>& want,
                bool dictionary_pages, const std::string& what) {
  ASSERT_TRUE(got->type()->Equals(*want->type())) << what << ": " << got->type()->ToString();
  if (got->type()->id() != arrow::Type::DICTIONARY) {
    ASSERT_TRUE(got->Equals(*want)) << what << "\ngot " << got->ToString().substr(0, 300) << "\nwant "
                                    << want->ToString().substr(0, 300);
    return;
  }
  const auto& value_type = static_cast<const arrow::DictionaryType&>(*got->type()).value_type();
  auto got_values = (*arrow::compute::Cast(got, value_type)).make_array();
  auto want_values = (*arrow::compute::Cast(want, value_type)).make_array();
  ASSERT_TRUE(got_values->Equals(*want_values)) << what << "\ngot " << got_values->ToString().substr(0, 300);
  if (dictionary_pages)
    ASSERT_TRUE(static_cast<const arrow::DictionaryArray&>(*got).dictionary()->Equals(
        *static_cast<const arrow::DictionaryArray&>(*want).dictionary()))
        << what << ": the dictionary is not the page's";
}

void CheckGather(const Written& w, std::mt19937_64& rng) {
  auto* file = w.reader.get();
  int64_t start = 0;
  for (int g = 0; g < file->metadata()->num_row_groups(); ++g) {
    const int64_t rg_rows = file->metadata()->RowGroup(g)->num_rows();
    for (double p : {1.0, 0.2, 0.003}) {
      std::vector<int64_t> rows = Choose(rng, rg_rows, p);
      arrow::Int64Builder take;
      for (int64_t r : rows) ASSERT_TRUE(take.Append(start + r).ok());
      auto take_indices = *take.Finish();
      for (int c = 0; c < w.table->num_columns(); ++c) {
        const auto& field = w.table->schema()->field(c);
        GatherStats stats;
        auto got = GatherRows(file, g, c, field->type(), rows, arrow::default_memory_pool(), &stats);
        ASSERT_TRUE(got.ok()) << field->name() << ": " << got.status().ToString();
        auto want = *arrow::compute::Take(w.table->column(c), take_indices);
        auto want_array = *arrow::Concatenate(want.chunked_array()->chunks());
        const bool dictionary_pages = file->metadata()->RowGroup(g)->ColumnChunk(c)->has_dictionary_page();
        ExpectSame(*got, want_array, dictionary_pages,
                   field->name() + " row group " + std::to_string(g) + " p " + std::to_string(p));
        EXPECT_GE(stats.pages_total, stats.pages_skipped);
      }
    }
    // ReadRowRange: a contiguous range, every column (PLAIN copy, octavo's decoders, Arrow's reader)
    for (int trial = 0; trial < 4; ++trial) {
      const int64_t a = static_cast<int64_t>(rng() % static_cast<uint64_t>(rg_rows));
      const int64_t count = trial == 0 ? rg_rows - a : static_cast<int64_t>(rng() % static_cast<uint64_t>(rg_rows - a + 1));
      for (int c = 0; c < w.table->num_columns(); ++c) {
        const auto& field = w.table->schema()->field(c);
        auto got = ReadRowRange(file, g, c, field->type(), a, count, arrow::default_memory_pool());
        ASSERT_TRUE(got.ok()) << field->name() << ": " << got.status().ToString();
        auto want = *arrow::Concatenate(w.table->column(c)->Slice(start + a, count)->chunks());
        ExpectSame(*got, want, file->metadata()->RowGroup(g)->ColumnChunk(c)->has_dictionary_page(),
                   field->name() + " rows " + std::to_string(a) + "+" + std::to_string(count));
      }
    }
    start += rg_rows;
  }
}

std::shared_ptr<parquet::WriterProperties> Props(parquet::ParquetDataPageVersion version, bool dictionary,
                                                 bool statistics) {
  parquet::WriterProperties::Builder b;
  // without statistics a chunk's null count is unknown: octavo's decoders start, and hand the
  // chunk to Arrow's reader at the first page with nulls
  if (!statistics) b.disable_statistics();
  b.data_page_version(version)->data_pagesize(2000)->write_batch_size(500)->enable_write_page_index();
  if (dictionary) {
    b.enable_dictionary();
  } else {
    b.disable_dictionary();
  }
  for (const char* c : {"id", "jittered", "small", "ts"}) b.encoding(c, parquet::Encoding::DELTA_BINARY_PACKED);
  b.disable_dictionary("id")->disable_dictionary("jittered")->disable_dictionary("small")->disable_dictionary("ts");
  return b.build();
}

TEST(GatherRows, EqualsTakeForEveryEncodingAndPageVersion) {
  std::mt19937_64 rng(21);
  for (bool nulls : {false, true}) {
    auto table = Sample(250000, nulls, rng);
    for (auto version : {parquet::ParquetDataPageVersion::V1, parquet::ParquetDataPageVersion::V2}) {
      for (bool dictionary : {true, false}) {
        for (bool statistics : {true, false}) {
          SCOPED_TRACE(::testing::Message()
                       << "nulls " << nulls << " V" << (version == parquet::ParquetDataPageVersion::V1 ? 1 : 2)
                       << " dictionary " << dictionary << " statistics " << statistics);
          CheckGather(Write(table, Props(version, dictionary, statistics)), rng);
        }
      }
    }
  }
}

TEST(GatherRows, WithoutAnOffsetIndex) {
  std::mt19937_64 rng(22);
  auto table = Sample(30000, false, rng);
  CheckGather(Write(table, DeltaIdProps(2000, false)), rng);
}

TEST(GatherRows, DamagedDeltaAndDictionaryPagesAreCorruptionNamingTheRowGroup) {
  // No page CRCs here (Arrow's default), so the damage reaches the decoders.
  std::mt19937_64 rng(23);
  auto table = Sample(20000, false, rng);
  auto intact = WriteBytes(table, DeltaIdProps(4000, true));
  auto file = parquet::ParquetFileReader::Open(std::make_shared<arrow::io::BufferReader>(intact));
  std::vector<int64_t> rows(20000);
  std::iota(rows.begin(), rows.end(), 0);
  const std::string intact_bytes(reinterpret_cast<const char*>(intact->data()), static_cast<size_t>(intact->size()));
  for (int leaf : {0, 4, 7}) {  // id (delta), label (dictionary pages), cat (dictionary-typed)
    auto chunk = file->metadata()->RowGroup(0)->ColumnChunk(leaf);
    std::string bytes = intact_bytes;
    int64_t start = chunk->data_page_offset() + 24, n = 200;  // page headers and values
    if (leaf == 0) {
      // Inside the values of the first delta page, past its header (the block size, 128 or
      // 256 = 80 01 / 80 02, 4 miniblocks, the value count and the first value): a min-delta
      // varint that never ends reaches octavo's decoder, not Arrow's.
      start = static_cast<int64_t>(bytes.find(std::string("\x80\x02\x04", 3), chunk->data_page_offset()));
      if (start < 0) start = static_cast<int64_t>(bytes.find(std::string("\x80\x01\x04", 3), chunk->data_page_offset()));
      ASSERT_GT(start, 0);
      for (int varint = 0; varint < 4; ++varint)
        while (static_cast<uint8_t>(bytes[static_cast<size_t>(start++)]) & 0x80) {
        }
      n = 12;
    }
    ASSERT_LT(start + n, chunk->data_page_offset() + chunk->total_compressed_size());
    std::memset(bytes.data() + start, 0xff, static_cast<size_t>(n));
    auto damaged = parquet::ParquetFileReader::Open(
        std::make_shared<arrow::io::BufferReader>(std::make_shared<arrow::Buffer>(bytes)));
    GatherStats stats;
    auto got = GatherRows(damaged.get(), 0, leaf, table->schema()->field(leaf)->type(), rows,
                          arrow::default_memory_pool(), &stats);
    ASSERT_FALSE(got.ok()) << "leaf " << leaf;
    EXPECT_EQ(got.status().code(), StatusCode::kCorruption) << got.status().ToString();
    EXPECT_NE(got.status().ToString().find("row group 0"), std::string::npos) << got.status().ToString();
    if (leaf == 0)
      EXPECT_NE(got.status().ToString().find("DELTA_BINARY_PACKED values of the data page starting at row 0"),
                std::string::npos)
          << got.status().ToString();
  }
}

}  // namespace

namespace {

// ReadPageRange through a ChecksummedFile over a local file, as table reads use it (the
// scattered read of plain pages needs a file descriptor).
struct CheckedFile {
  std::shared_ptr<ChecksummedFile> source;
  std::unique_ptr<parquet::ParquetFileReader> reader;
};

CheckedFile OpenChecked(const std::shared_ptr<arrow::Buffer>& bytes, const std::string& name) {
  const std::string path = ::testing::TempDir() + "/octavo_page_range_" + name + ".parquet";
  {
    auto out = *arrow::io::FileOutputStream::Open(path);
    EXPECT_TRUE(out->Write(bytes->data(), bytes->size()).ok());
    EXPECT_TRUE(out->Close().ok());
  }
  CheckedFile f;
  f.source = std::make_shared<ChecksummedFile>(*arrow::io::ReadableFile::Open(path));
  parquet::ReaderProperties props;
  props.set_page_checksum_verification(false);
  f.reader = parquet::ParquetFileReader::Open(f.source, props);
  f.source->SetChunks(ChecksummedFile::ComputeChunks(*f.reader->metadata()));
  return f;
}

// Small pages (many per column chunk), CRCs, the page index; three columns uncompressed.
std::shared_ptr<parquet::WriterProperties> PageRangeProps(parquet::ParquetDataPageVersion version,
                                                          bool dictionary = false) {
  parquet::WriterProperties::Builder b;
  b.data_page_version(version)->enable_write_page_index()->enable_page_checksum();
  if (dictionary) {
    b.enable_dictionary()->disable_dictionary("v")->disable_dictionary("small")->disable_dictionary("jittered");
  } else {
    b.disable_dictionary();
  }
  b.data_pagesize(4096)->write_batch_size(256);
  b.compression(arrow::Compression::ZSTD)->compression("v", arrow::Compression::UNCOMPRESSED);
  b.compression("small", arrow::Compression::UNCOMPRESSED)->compression("jittered", arrow::Compression::UNCOMPRESSED);
  return b.build();
}

}  // namespace

TEST(PageRange, PlainPagesAreReadStraightIntoTheResultAndEqualARangeRead) {
  // Uncompressed PLAIN pages without nulls, read (mostly) whole, come back as a slice of the
  // buffer their values were read straight into (one scattered read, no copy out of pages).
  // Every range of every column equals the table's rows either way, with and without nulls,
  // V1 and V2 pages, within a page and across many.
  std::mt19937_64 rng(31);
  for (bool nulls : {false, true}) {
    auto table = Sample(40000, nulls, rng);
    for (auto version : {parquet::ParquetDataPageVersion::V1, parquet::ParquetDataPageVersion::V2}) {
      auto bytes = WriteBytes(table, PageRangeProps(version));
      auto f = OpenChecked(bytes, "intact");
      int64_t start = 0;
      int direct = 0;
      for (int g = 0; g < f.reader->metadata()->num_row_groups(); ++g) {
        const int64_t rg_rows = f.reader->metadata()->RowGroup(g)->num_rows();
        auto index = f.reader->GetPageIndexReader()->RowGroup(g);
        for (int c : {1, 2, 3, 6}) {  // jittered (int64), small (int32), v (double): uncompressed; ts: zstd
          const auto& field = table->schema()->field(c);
          auto locs = index->GetOffsetIndex(c)->page_locations();
          ASSERT_GT(locs.size(), 4u);
          std::vector<std::pair<int64_t, int64_t>> ranges = {
              {0, rg_rows}, {37, rg_rows - 37}, {rg_rows / 3, rg_rows / 3}, {rg_rows / 2, 700}};
          for (size_t pi = 0; pi < locs.size(); pi += 3) {
            const int64_t a = locs[pi].first_row_index;
            const int64_t end = pi + 1 < locs.size() ? locs[pi + 1].first_row_index : rg_rows;
            ranges.insert(ranges.end(), {{a, end - a}, {a + 1, end - a - 1}, {a, 3}});
          }
          for (auto [first, count] : ranges) {
            auto got = ReadPageRange(f.reader.get(), f.source.get(), g, c, field->type(), first, count,
                                     arrow::default_memory_pool(), index.get());
            ASSERT_TRUE(got.ok()) << got.status().ToString();
            auto want = *arrow::Concatenate(table->column(c)->Slice(start + first, count)->chunks());
            ASSERT_TRUE((*got)->Equals(*want)) << field->name() << " rows " << first << "+" << count;
            if ((*got)->data()->buffers[1]->parent()) ++direct;
            if (c != 6 && !nulls && count >= rg_rows - 37)  // most of the pages' rows, no nulls
              EXPECT_TRUE((*got)->data()->buffers[1]->parent() != nullptr)
                  << field->name() << " rows " << first << "+" << count << ": read straight into the result";
          }
        }
        start += rg_rows;
      }
      if (!nulls) EXPECT_GT(direct, 0);
      // A flipped value byte in an uncompressed page fails its CRC, read straight or not.
      auto chunk = f.reader->metadata()->RowGroup(0)->ColumnChunk(3);
      std::string damaged(reinterpret_cast<const char*>(bytes->data()), static_cast<size_t>(bytes->size()));
      damaged[static_cast<size_t>(chunk->data_page_offset() + 2000)] ^= 0x10;
      auto d = OpenChecked(std::make_shared<arrow::Buffer>(damaged), "damaged");
      const int64_t rows = d.reader->metadata()->RowGroup(0)->num_rows();
      for (auto [first, count] : {std::pair<int64_t, int64_t>{0, rows}, {0, 10}}) {
        auto got = ReadPageRange(d.reader.get(), d.source.get(), 0, 3, table->schema()->field(3)->type(), first,
                                 count, arrow::default_memory_pool());
        ASSERT_FALSE(got.ok());
        EXPECT_NE(got.status().ToString().find("checksum"), std::string::npos) << got.status().ToString();
      }
    }
  }
}

TEST(PageRange, PageHeadersParseWithinTheirBytes) {
  // Random bytes and cut-short headers parse or fail, never read past the end (run under
  // ASan); a real header parses to its page's fields.
  std::mt19937_64 rng(32);
  for (int trial = 0; trial < 20000; ++trial) {
    std::vector<uint8_t> bytes(rng() % 64);
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
    PageHeaderInfo info;
    if (ParsePageHeader(bytes.data(), static_cast<int64_t>(bytes.size()), &info))
      EXPECT_LE(info.header_size, static_cast<int64_t>(bytes.size()));
  }
  // fuzz_page_decoders found this one: a field id of 2^62 by zigzag, then a delta added to it
  // (a signed overflow under UBSan before ids were held to Thrift's 16 bits)
  const uint8_t huge_id[] = {0x00, 0x21, 0xfc, 0x01, 0x3b, 0x00, 0x02, 0xfc, 0xff, 0xff, 0xff, 0xff, 0xff,
                             0xff, 0xff, 0xff, 0x01, 0x3b, 0x00, 0x02, 0x00, 0xff, 0x3d};
  for (size_t skip = 0; skip < sizeof huge_id; ++skip) {
    PageHeaderInfo info;
    (void)ParsePageHeader(huge_id + skip, static_cast<int64_t>(sizeof huge_id - skip), &info);
    (void)VerifyPageChecksums(huge_id + skip, static_cast<int64_t>(sizeof huge_id - skip), 0, 1 << 20);
  }
  auto table = Sample(1000, false, rng);
  auto bytes = WriteBytes(table, PageRangeProps(parquet::ParquetDataPageVersion::V2));
  auto f = OpenChecked(bytes, "header");
  auto chunk = f.reader->metadata()->RowGroup(0)->ColumnChunk(3);
  PageHeaderInfo info;
  ASSERT_TRUE(ParsePageHeader(bytes->data() + chunk->data_page_offset(), 256, &info));
  EXPECT_EQ(info.type, 3);  // DATA_PAGE_V2
  EXPECT_GT(info.num_values, 0);
  EXPECT_EQ(info.num_rows, info.num_values);
  EXPECT_EQ(info.num_nulls, 0);
  EXPECT_TRUE(info.has_crc);
  EXPECT_EQ(info.compressed, info.uncompressed);
  for (int64_t cut = 0; cut < info.header_size; ++cut)  // every shorter prefix fails
    EXPECT_FALSE(ParsePageHeader(bytes->data() + chunk->data_page_offset(), cut, &info)) << cut;
}

namespace {

// A local file that counts the bytes read through it.
class CountingFile final : public arrow::io::RandomAccessFile {
 public:
  explicit CountingFile(std::shared_ptr<arrow::io::RandomAccessFile> inner) : inner_(std::move(inner)) {}
  std::atomic<int64_t> bytes{0};
  arrow::Status Close() override { return inner_->Close(); }
  bool closed() const override { return inner_->closed(); }
  arrow::Result<int64_t> Tell() const override { return inner_->Tell(); }
  arrow::Status Seek(int64_t p) override { return inner_->Seek(p); }
  arrow::Result<int64_t> GetSize() override { return inner_->GetSize(); }
  arrow::Result<int64_t> Read(int64_t n, void* out) override {
    bytes += n;
    return inner_->Read(n, out);
  }
  arrow::Result<std::shared_ptr<arrow::Buffer>> Read(int64_t n) override {
    bytes += n;
    return inner_->Read(n);
  }
  arrow::Result<int64_t> ReadAt(int64_t p, int64_t n, void* out) override {
    bytes += n;
    return inner_->ReadAt(p, n, out);
  }
  arrow::Result<std::shared_ptr<arrow::Buffer>> ReadAt(int64_t p, int64_t n) override {
    bytes += n;
    return inner_->ReadAt(p, n);
  }

 private:
  std::shared_ptr<arrow::io::RandomAccessFile> inner_;
};

}  // namespace

TEST(GatherRows, SparseRowsReadOnlyTheirPagesFromACheckedFile) {
  // A few rows per row group: only the pages holding them (and the dictionary page) are read
  // from the file, for plain, zstd and dictionary columns; the values equal Take either way.
  std::mt19937_64 rng(33);
  auto table = Sample(60000, false, rng);
  for (bool dictionary : {false, true}) {
  auto bytes = WriteBytes(table, PageRangeProps(parquet::ParquetDataPageVersion::V1, dictionary));
  const std::string path = ::testing::TempDir() + "/octavo_sparse_gather_" + std::to_string(dictionary) + ".parquet";
  {
    auto out = *arrow::io::FileOutputStream::Open(path);
    ASSERT_TRUE(out->Write(bytes->data(), bytes->size()).ok());
    ASSERT_TRUE(out->Close().ok());
  }
  auto counting = std::make_shared<CountingFile>(*arrow::io::ReadableFile::Open(path));
  auto source = std::make_shared<ChecksummedFile>(counting);
  parquet::ReaderProperties props;
  props.set_page_checksum_verification(false);
  auto reader = parquet::ParquetFileReader::Open(source, props);
  source->SetChunks(ChecksummedFile::ComputeChunks(*reader->metadata()));
  for (double p : {0.0005, 0.003, 0.3}) {
    int64_t start = 0;
    for (int g = 0; g < reader->metadata()->num_row_groups(); ++g) {
      const int64_t rg_rows = reader->metadata()->RowGroup(g)->num_rows();
      std::vector<int64_t> rows = Choose(rng, rg_rows, p);
      arrow::Int64Builder take;
      for (int64_t r : rows) ASSERT_TRUE(take.Append(start + r).ok());
      auto take_indices = *take.Finish();
      for (int c : {0, 3, 4, 6, 7}) {  // id (delta), v (plain), label (dictionary pages), ts (zstd), cat
        const auto& field = table->schema()->field(c);
        const int64_t chunk_bytes = reader->metadata()->RowGroup(g)->ColumnChunk(c)->total_compressed_size();
        counting->bytes = 0;
        GatherStats stats;
        auto got = GatherRows(reader.get(), g, c, field->type(), rows, arrow::default_memory_pool(), &stats,
                              source.get());
        ASSERT_TRUE(got.ok()) << field->name() << ": " << got.status().ToString();
        auto want = *arrow::Concatenate((*arrow::compute::Take(table->column(c), take_indices)).chunked_array()->chunks());
        ExpectSame(*got, want, reader->metadata()->RowGroup(g)->ColumnChunk(c)->has_dictionary_page(),
                   field->name() + " p " + std::to_string(p));
        if (p < 0.001 && stats.pages_skipped * 2 > stats.pages_total)  // most pages hold no chosen row
          EXPECT_LT(counting->bytes.load(), chunk_bytes / 2)
              << field->name() << " (dictionary " << dictionary << "): read only the pages it needs";
      }
      start += rg_rows;
    }
  }
  }
}
