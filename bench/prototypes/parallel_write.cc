#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/io/buffered.h>
#include <arrow/ipc/api.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>
#include <chrono>
#include <iostream>

// Prototype (not part of octavo): write an Arrow IPC file to Parquet the way octavo's
// PartWriter does (buffered row groups via FileWriter::WriteRecordBatch, zstd-1, 128Ki-row
// row groups, page index, 8Mi-row batches) with ArrowWriterProperties::use_threads off/on,
// to measure parallel column encoding. No fsync and no manifest statistics.
//
// Build: bash bench/prototypes/build.sh
// Usage: parallel_write bench/data/source_4000000.arrow OUT.parquet USE_THREADS(0|1) DICTIONARY(0|1)
//        [DICTIONARY_PAGE_LIMIT bytes, default 65536 as in octavo]
int main(int argc, char** argv) {
  auto in = arrow::io::ReadableFile::Open(argv[1]).ValueOrDie();
  auto rd = arrow::ipc::RecordBatchFileReader::Open(in).ValueOrDie();
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  for (int i = 0; i < rd->num_record_batches(); ++i) batches.push_back(rd->ReadRecordBatch(i).ValueOrDie());
  auto table = arrow::Table::FromRecordBatches(batches).ValueOrDie()->CombineChunks().ValueOrDie();
  bool threads = atoi(argv[3]), dict = atoi(argv[4]);
  for (int rep = 0; rep < 2; ++rep) {
    auto t0 = std::chrono::steady_clock::now();
    auto raw = arrow::io::FileOutputStream::Open(argv[2]).ValueOrDie(); auto out = arrow::io::BufferedOutputStream::Create(1 << 20, arrow::default_memory_pool(), raw).ValueOrDie();
    parquet::WriterProperties::Builder b;
    b.compression(arrow::Compression::ZSTD)->compression_level(1)->max_row_group_length(128 * 1024)
        ->data_pagesize(1 << 20)->version(parquet::ParquetVersion::PARQUET_2_6)->enable_write_page_index();
    if (!dict) b.disable_dictionary();
    b.dictionary_pagesize_limit(argc > 5 ? atol(argv[5]) : 64 * 1024);
    auto ap = parquet::ArrowWriterProperties::Builder().store_schema()->set_use_threads(threads)->build();
    auto w = parquet::arrow::FileWriter::Open(*table->schema(), arrow::default_memory_pool(), out, b.build(), ap).ValueOrDie();
    arrow::TableBatchReader tbr(*table);
    tbr.set_chunksize(8 * 1024 * 1024);
    std::shared_ptr<arrow::RecordBatch> batch;
    while (tbr.ReadNext(&batch).ok() && batch) { auto st = w->WriteRecordBatch(*batch); if (!st.ok()) { std::cerr << st.ToString(); return 1; } }
    if (!w->Close().ok()) return 1;
    if (!out->Close().ok()) return 1;
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::cout << "threads=" << threads << " dict=" << dict << " rows=" << table->num_rows() << " write " << s << " s\n";
  }
}
