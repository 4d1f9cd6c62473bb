// Prototype (not part of octavo): read rows [off, off+len) of one row group of an octavo
// part, decompressing only the data pages that hold them. Uses the offset index (written by
// octavo's default write_page_index=true) + PageReader::set_data_page_filter +
// TypedColumnReader::Skip/ReadBatch, and compares with what octavo does today
// (parquet::arrow::FileReader::ReadRowGroup + Slice). Flat INT64/DOUBLE columns only.
//
// Build: bash bench/prototypes/build.sh
// Usage: page_range_read PART.parquet ROW_GROUP OFFSET_IN_ROW_GROUP LEN REPEATS
//        env BUFFERED=65536 reads column chunks through a buffered stream of that size.
//        The first two printed ids (first + last row of column 0) must match.
#include <arrow/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>
#include <parquet/column_reader.h>
#include <parquet/file_reader.h>
#include <parquet/page_index.h>
#include <chrono>
#include <iostream>

using Clock = std::chrono::steady_clock;

int64_t ReadRangeLowLevel(const std::string& path, int g, int64_t off, int64_t len, int64_t* checksum) {
  parquet::ReaderProperties props;
  if (getenv("BUFFERED")) { props.enable_buffered_stream(); props.set_buffer_size(atoi(getenv("BUFFERED"))); }
  auto t_open = Clock::now();
  auto reader = parquet::ParquetFileReader::OpenFile(path, /*memory_map=*/false, props);
  if (getenv("TIMING")) std::cerr << "open " << std::chrono::duration<double, std::milli>(Clock::now() - t_open).count() << " ms\n";
  auto rg = reader->RowGroup(g);
  auto pir = reader->GetPageIndexReader();
  auto rgpi = pir->RowGroup(g);
  const int64_t rg_rows = rg->metadata()->num_rows();
  int64_t pages_read = 0;
  std::vector<int16_t> def(len);
  std::vector<int64_t> ivals(len);
  std::vector<double> dvals(len);
  for (int c = 0; c < rg->metadata()->num_columns(); ++c) {
    auto oi = rgpi->GetOffsetIndex(c);
    const auto& locs = oi->page_locations();
    int64_t kept_first = -1;
    size_t page_i = 0;
    auto pager = rg->GetColumnPageReader(c);
    pager->set_data_page_filter([&](const parquet::DataPageStats&) {
      size_t i = page_i++;
      int64_t first = locs[i].first_row_index;
      int64_t last = i + 1 < locs.size() ? locs[i + 1].first_row_index : rg_rows;
      bool skip = last <= off || first >= off + len;
      if (!skip) { ++pages_read; if (kept_first < 0) kept_first = first; }
      return skip;
    });
    auto descr = reader->metadata()->schema()->Column(c);
    auto col = parquet::ColumnReader::Make(descr, std::move(pager));
    int64_t values_read = 0;
    if (descr->physical_type() == parquet::Type::INT64) {
      auto* r = static_cast<parquet::Int64Reader*>(col.get());
      // HasNext() loads the first kept page, so kept_first is known before skipping.
      r->HasNext();
      r->Skip(off - kept_first);
      while (values_read < len) {
        int64_t got = 0;
        r->ReadBatch(len - values_read, def.data() + values_read, nullptr, ivals.data() + values_read, &got);
        if (got == 0) break;
        values_read += got;
      }
      if (c == 0) *checksum += ivals[0] + ivals[len - 1];
    } else {
      auto* r = static_cast<parquet::DoubleReader*>(col.get());
      r->HasNext();
      r->Skip(off - kept_first);
      while (values_read < len) {
        int64_t got = 0;
        r->ReadBatch(len - values_read, def.data() + values_read, nullptr, dvals.data() + values_read, &got);
        if (got == 0) break;
        values_read += got;
      }
    }
    if (values_read != len) { std::cerr << "short read col " << c << ": " << values_read << "\n"; exit(1); }
  }
  return pages_read;
}

double ArrowRowGroup(const std::string& path, int g, int64_t off, int64_t len, int64_t* checksum) {
  auto file = arrow::io::ReadableFile::Open(path).ValueOrDie();
  parquet::ArrowReaderProperties ap;
  ap.set_use_threads(true);
  ap.set_pre_buffer(true);
  auto fr = parquet::arrow::FileReader::Make(arrow::default_memory_pool(), parquet::ParquetFileReader::Open(file), ap).ValueOrDie();
  auto t = fr->ReadRowGroup(g).ValueOrDie()->Slice(off, len);
  auto ids = std::static_pointer_cast<arrow::Int64Array>(t->column(0)->chunk(0));
  *checksum += ids->Value(0) + ids->Value(len - 1);
  return 0;
}

int main(int argc, char** argv) {
  std::string path = argv[1];
  int g = atoi(argv[2]);
  int64_t off = atoll(argv[3]), len = atoll(argv[4]);
  int reps = atoi(argv[5]);
  int64_t cs1 = 0, cs2 = 0, pages = 0;
  for (int mode = 0; mode < 2; ++mode) {
    double best = 1e9;
    for (int r = 0; r < reps; ++r) {
      auto t0 = Clock::now();
      if (mode == 0) pages = ReadRangeLowLevel(path, g, off, len, &cs1);
      else ArrowRowGroup(path, g, off, len, &cs2);
      best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::cout << (mode == 0 ? "page-skipping low-level read: " : "arrow ReadRowGroup + slice:   ") << best << " ms"
              << (mode == 0 ? "  (data pages decoded: " + std::to_string(pages) + ")" : "") << "\n";
  }
  std::cout << "first id: " << cs1 / reps << " vs " << cs2 / reps << "\n";
}
