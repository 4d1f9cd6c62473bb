// N-d arrays: round trips, slicing, append/resize, snapshots, codecs, bad input, faults.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <numeric>

#include "array/zarr_meta.h"
#include "fault_env.h"
#include "test_util.h"
#include "util/crc32.h"
#include "util/json_util.h"

using namespace octavo;
using namespace octavo::testing;

namespace {

std::vector<int32_t> Iota(int64_t n, int32_t first = 0) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), first);
  return v;
}

template <typename T>
std::vector<T> ReadAll(const Array& a) {
  auto shape = a.shape().ValueOrDie();
  int64_t n = 1;
  for (auto s : shape) n *= s;
  std::vector<T> out(static_cast<size_t>(n));
  Status st = a.Read({}, out.data(), n * static_cast<int64_t>(sizeof(T)));
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

// The whole array as `T` words (for dtypes whose element is several T's: complex, strings).
template <typename T>
std::vector<T> ReadWords(const Array& a) {
  auto info = a.Info().ValueOrDie();
  int64_t bytes = info.logical_bytes;
  std::vector<T> out(static_cast<size_t>(bytes / static_cast<int64_t>(sizeof(T))));
  Status st = a.Read({}, out.data(), bytes);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

}  // namespace

TEST(Array, CreateReadSliceRoundTrip) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  auto data = Iota(6 * 7 * 8);
  ArrayOptions o;
  o.chunks = {4, 3, 5};
  ASSERT_OK_AND_ASSIGN(auto a, b->CreateArray("/g/cube", {6, 7, 8}, "int32", o, data.data(),
                                              static_cast<int64_t>(data.size() * 4)));
  EXPECT_EQ(ReadAll<int32_t>(*a), data);
  // a[1:5:2, 6:0:-3, 2] -> shape (2, 2, 1)
  std::vector<int32_t> out(4);
  ASSERT_OK(a->Read({{1, 5, 2}, {6, 0, -3}, {2, 3, 1}}, out.data(), 16));
  std::vector<int32_t> want;
  for (int i : {1, 3})
    for (int j : {6, 3}) want.push_back(i * 56 + j * 8 + 2);
  EXPECT_EQ(out, want);
  ASSERT_OK_AND_ASSIGN(auto info, a->Info());
  EXPECT_EQ(info.dtype, "int32");
  EXPECT_EQ(info.compressor, "zstd");
  EXPECT_EQ(info.num_chunks_stored, 2 * 3 * 2);
  EXPECT_NE(info.zarr_json.find("\"zarr_format\": 3"), std::string::npos);
  // Reopen from disk.
  ASSERT_OK(b->Close());
  ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(dir.Sub("b")));
  ASSERT_OK_AND_ASSIGN(auto a2, r->OpenArray("/g/cube"));
  EXPECT_EQ(ReadAll<int32_t>(*a2), data);
  ASSERT_OK_AND_ASSIGN(auto node, r->GetNode("/g/cube"));
  EXPECT_EQ(node.kind, NodeKind::kArray);
}

TEST(Array, WritesAreCommitsAndOldSnapshotsStay) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  ArrayOptions o;
  o.chunks = {4, 4};
  o.fill_value = "-1";
  ASSERT_OK_AND_ASSIGN(auto a, b->CreateArray("/m", {10, 10}, "int64", o));
  EXPECT_EQ(ReadAll<int64_t>(*a), std::vector<int64_t>(100, -1));
  ASSERT_OK_AND_ASSIGN(auto reader, Bundle::Open(dir.Sub("b")));
  std::vector<int64_t> block(3 * 3, 7);
  ASSERT_OK(a->Write({{2, 5, 1}, {2, 5, 1}}, block.data(), 72));
  auto all = ReadAll<int64_t>(*a);
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 10; ++j) EXPECT_EQ(all[i * 10 + j], (i >= 2 && i < 5 && j >= 2 && j < 5) ? 7 : -1);
  ASSERT_OK_AND_ASSIGN(auto ra, reader->OpenArray("/m"));
  EXPECT_EQ(ReadAll<int64_t>(*ra), std::vector<int64_t>(100, -1));  // the earlier snapshot
  ASSERT_OK(reader->Refresh());
  EXPECT_EQ(ReadAll<int64_t>(*ra), all);
  // Only the touched chunks (4 of 9) got files.
  ASSERT_OK_AND_ASSIGN(auto info, a->Info());
  EXPECT_EQ(info.num_chunks_stored, 4);
  // Writing fill_value back drops the chunk files again.
  std::vector<int64_t> back(9, -1);
  ASSERT_OK(a->Write({{2, 5, 1}, {2, 5, 1}}, back.data(), 72));
  ASSERT_OK_AND_ASSIGN(info, a->Info());
  EXPECT_EQ(info.num_chunks_stored, 0);
}

TEST(Array, AppendAndResize) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  ArrayOptions o;
  o.chunks = {3, 2};
  ASSERT_OK_AND_ASSIGN(auto a, b->CreateArray("/e", {0, 2}, "float64", o));
  std::vector<double> rows;
  for (int k = 0; k < 4; ++k) {
    std::vector<double> two = {k * 10.0, k * 10.0 + 1, k * 10.0 + 2, k * 10.0 + 3};
    ASSERT_OK(a->Append(two.data(), 32, {2, 2}, 0));
    rows.insert(rows.end(), two.begin(), two.end());
  }
  ASSERT_OK_AND_ASSIGN(auto shape, a->shape());
  EXPECT_EQ(shape, (std::vector<int64_t>{8, 2}));
  EXPECT_EQ(ReadAll<double>(*a), rows);
  // Append along axis 1.
  std::vector<double> col(8, 5.0);
  ASSERT_OK(a->Append(col.data(), 64, {8, 1}, 1));
  ASSERT_OK_AND_ASSIGN(shape, a->shape());
  EXPECT_EQ(shape, (std::vector<int64_t>{8, 3}));
  // Shrink then grow: the cut-off part reads as fill_value, not stale data.
  ASSERT_OK(a->Resize({4, 1}));
  ASSERT_OK(a->Resize({8, 3}));
  auto got = ReadAll<double>(*a);
  for (int i = 0; i < 8; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(got[i * 3 + j], (i < 4 && j < 1) ? rows[i * 2 + j] : 0.0) << i << "," << j;
  // Wrong shapes are refused.
  EXPECT_EQ(a->Append(col.data(), 64, {8, 1}, 0).code(), StatusCode::kInvalid);
  EXPECT_EQ(a->Resize({3}).code(), StatusCode::kInvalid);
}

TEST(Array, CodecsRoundTrip) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  auto data = Iota(1000, -500);
  for (const char* c : {"zstd", "lz4", "gzip", "zlib", "none"}) {
    for (bool shuffle : {false, true}) {
      ArrayOptions o;
      o.compressor = c;
      o.shuffle = shuffle;
      o.chunks = {300};
      std::string p = std::string("/c_") + c + (shuffle ? "_s" : "");
      ASSERT_OK_AND_ASSIGN(auto a, b->CreateArray(p, {1000}, "int32", o, data.data(), 4000));
      EXPECT_EQ(ReadAll<int32_t>(*a), data) << p;
      ASSERT_OK_AND_ASSIGN(auto info, a->Info());
      EXPECT_EQ(info.compressor, c);
      EXPECT_EQ(info.shuffle, shuffle);
    }
  }
  ArrayOptions bad;
  bad.compressor = "blosc:snappy";
  EXPECT_EQ(b->CreateArray("/x", {3}, "int32", bad).status().code(), StatusCode::kInvalid);
  bad.compressor = "brotli";
  EXPECT_EQ(b->CreateArray("/x", {3}, "int32", bad).status().code(), StatusCode::kInvalid);
  bad.compressor = "zstd";
  bad.bitshuffle = true;  // blosc only
  EXPECT_EQ(b->CreateArray("/x", {3}, "int32", bad).status().code(), StatusCode::kInvalid);
  bad.compressor = "blosc";
  bad.compression_level = 10;
  EXPECT_EQ(b->CreateArray("/x", {3}, "int32", bad).status().code(), StatusCode::kInvalid);
}

TEST(Array, BloscRoundTripAndCompresses) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  std::vector<double> data(20000);
  for (size_t i = 0; i < data.size(); ++i) data[i] = std::sin(static_cast<double>(i) * 1e-3);
  for (const char* c : {"blosc", "blosc:lz4", "blosc:lz4hc", "blosc:blosclz", "blosc:zlib", "blosc:zstd"}) {
    for (int shuffle = 0; shuffle < 3; ++shuffle) {
      ArrayOptions o;
      o.compressor = c;
      o.shuffle = shuffle == 1;
      o.bitshuffle = shuffle == 2;
      o.chunks = {6000};
      if (shuffle == 2) o.blocksize = 8192;
      std::string p = std::string("/") + (c + 5) + "_" + std::to_string(shuffle);
      ASSERT_OK_AND_ASSIGN(auto a, b->CreateArray(p, {20000}, "float64", o, data.data(), 160000));
      EXPECT_EQ(ReadAll<double>(*a), data) << p;
      ASSERT_OK_AND_ASSIGN(auto info, a->Info());
      EXPECT_EQ(info.compressor, std::string(c) == "blosc" ? "blosc:zstd" : c);
      EXPECT_EQ(info.compression_level, 5);
      EXPECT_EQ(info.shuffle, shuffle == 1);
      EXPECT_EQ(info.bitshuffle, shuffle == 2);
      EXPECT_EQ(info.logical_bytes, 160000);
      EXPECT_NE(info.codecs.find("blosc("), std::string::npos) << info.codecs;
      EXPECT_NE(info.zarr_json.find("\"typesize\": 8"), std::string::npos);
      if (shuffle) EXPECT_LT(info.size_bytes, info.logical_bytes) << p;  // smooth data shuffles well
      // Every stored chunk is a real blosc buffer: header nbytes = chunk bytes.
      ASSERT_OK_AND_ASSIGN(auto refs, a->ChunkRefs());
      ASSERT_EQ(refs.size(), 4u);
      std::string raw = ReadBytes(refs[0].file);
      ASSERT_GE(raw.size(), 16u);
      uint32_t nbytes;
      std::memcpy(&nbytes, raw.data() + 4, 4);
      EXPECT_EQ(nbytes, 6000u * 8);
      EXPECT_EQ(static_cast<uint8_t>(raw[0]), 2);  // blosc format version 2
    }
  }
}

TEST(Array, FillValuesAndDtypes) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  ArrayOptions o;
  o.fill_value = "\"NaN\"";
  ASSERT_OK_AND_ASSIGN(auto f, b->CreateArray("/f", {5}, "float32", o));
  for (float v : ReadAll<float>(*f)) EXPECT_TRUE(std::isnan(v));
  o.fill_value = "true";
  ASSERT_OK_AND_ASSIGN(auto bo, b->CreateArray("/b", {3}, "bool", o));
  EXPECT_EQ(ReadAll<uint8_t>(*bo), std::vector<uint8_t>(3, 1));
  o.fill_value = "300";
  EXPECT_EQ(b->CreateArray("/u", {3}, "uint8", o).status().code(), StatusCode::kInvalid);
  o.fill_value = "0";
  EXPECT_EQ(b->CreateArray("/s", {3}, "complex32", o).status().code(), StatusCode::kTypeError);
  EXPECT_EQ(b->CreateArray("/s", {3}, "S0", o).status().code(), StatusCode::kTypeError);
  // 0-d arrays
  int16_t v = 42;
  ASSERT_OK_AND_ASSIGN(auto z, b->CreateArray("/z", {}, "int16", o, &v, 2));
  EXPECT_EQ(ReadAll<int16_t>(*z), std::vector<int16_t>{42});
}

// The one home of the fill-value rules: a value as a program holds it, checked against the type.
TEST(Array, FillValueJsonChecksValuesAgainstTheType) {
  auto fill = [](FillValue::Kind k) {
    FillValue f;
    f.kind = k;
    return f;
  };
  FillValue i = fill(FillValue::Kind::kInt);
  i.int_value = 200;
  EXPECT_NE(FillValueJson(i, "int8").status().message().find("out of range"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(std::string j, FillValueJson(i, "uint8"));
  EXPECT_EQ(j, "200");
  ASSERT_OK_AND_ASSIGN(j, FillValueJson(i, "complex64"));
  EXPECT_EQ(j, "[200,0.0]");
  i.int_value = -1;
  EXPECT_EQ(FillValueJson(i, "uint64").status().code(), StatusCode::kInvalid);
  FillValue u = fill(FillValue::Kind::kUInt);
  u.uint_value = std::numeric_limits<uint64_t>::max();
  ASSERT_OK_AND_ASSIGN(j, FillValueJson(u, "uint64"));
  EXPECT_EQ(j, "18446744073709551615");
  EXPECT_EQ(FillValueJson(u, "int64").status().code(), StatusCode::kInvalid);
  FillValue f = fill(FillValue::Kind::kFloat);
  f.real = 1.5;
  EXPECT_NE(FillValueJson(f, "int32").status().message().find("use an integer"), std::string::npos);
  f.real = std::numeric_limits<double>::quiet_NaN();
  ASSERT_OK_AND_ASSIGN(j, FillValueJson(f, "float16"));
  EXPECT_EQ(j, "\"NaN\"");
  ASSERT_OK_AND_ASSIGN(j, FillValueJson(f, "complex128"));
  EXPECT_EQ(j, "[\"NaN\",0.0]");
  FillValue c = fill(FillValue::Kind::kComplex);
  c.real = 1;
  c.imag = -std::numeric_limits<double>::infinity();
  ASSERT_OK_AND_ASSIGN(j, FillValueJson(c, "complex64"));
  EXPECT_EQ(j, "[1.0,\"-Infinity\"]");
  EXPECT_EQ(FillValueJson(c, "float64").status().code(), StatusCode::kInvalid);
  FillValue b = fill(FillValue::Kind::kBool);
  b.boolean = true;
  EXPECT_EQ(FillValueJson(b, "int16").status().code(), StatusCode::kInvalid);  // not silently 1
  ASSERT_OK_AND_ASSIGN(j, FillValueJson(b, "bool"));
  EXPECT_EQ(j, "true");
  FillValue t = fill(FillValue::Kind::kText);
  t.data = "ab";
  ASSERT_OK_AND_ASSIGN(j, FillValueJson(t, "S3"));  // text for bytes: its UTF-8
  EXPECT_EQ(j, "\"YWI=\"");
  ASSERT_OK_AND_ASSIGN(j, FillValueJson(t, "U2"));
  EXPECT_EQ(j, "\"ab\"");
  EXPECT_EQ(FillValueJson(t, "U1").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(FillValueJson(t, "float32").status().code(), StatusCode::kInvalid);
  t.data = "\xff\xfe";
  EXPECT_NE(FillValueJson(t, "U4").status().message().find("UTF-8"), std::string::npos);
  FillValue by = fill(FillValue::Kind::kBytes);
  by.data = std::string("a\0b", 3);
  ASSERT_OK_AND_ASSIGN(j, FillValueJson(by, "S3"));
  EXPECT_EQ(j, "\"YQBi\"");
  EXPECT_EQ(FillValueJson(by, "U3").status().code(), StatusCode::kInvalid);  // never read as text
  EXPECT_EQ(FillValueJson(by, "S2").status().code(), StatusCode::kInvalid);
  for (const char* dt : {"bool", "int8", "uint64", "float16", "complex128", "S4", "U2"}) {
    ASSERT_OK_AND_ASSIGN(j, FillValueJson(FillValue{}, dt));
    // The default fill and "null" both read as all-zero elements.
    TempDir dir;
    ASSERT_OK_AND_ASSIGN(auto bundle, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
    ArrayOptions o;
    o.fill_value = j;
    ASSERT_OK_AND_ASSIGN(auto a, bundle->CreateArray("/a", {2}, dt, o));
    ASSERT_OK_AND_ASSIGN(auto info, a->Info());
    EXPECT_EQ(info.fill_element, std::string(static_cast<size_t>(info.itemsize), '\0')) << dt;
    ASSERT_OK_AND_ASSIGN(auto d, bundle->CreateArray("/d", {2}, dt, ArrayOptions{}));
    ASSERT_OK_AND_ASSIGN(auto dinfo, d->Info());
    EXPECT_EQ(dinfo.fill_value, info.fill_value) << dt;
  }
  EXPECT_EQ(FillValueJson(FillValue{}, "datetime64").status().code(), StatusCode::kInvalid);
}

TEST(Array, Float16ComplexAndStringDtypes) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  ArrayOptions o;
  o.chunks = {2};
  o.fill_value = "1.5";
  ASSERT_OK_AND_ASSIGN(auto h, b->CreateArray("/h", {3}, "float16", o));
  EXPECT_EQ(ReadAll<uint16_t>(*h), std::vector<uint16_t>(3, 0x3e00));  // 1.5 as IEEE half
  o.fill_value = "[1.0, \"NaN\"]";
  ASSERT_OK_AND_ASSIGN(auto c, b->CreateArray("/c", {3}, "complex64", o));
  auto cv = ReadWords<float>(*c);
  ASSERT_EQ(cv.size(), 6u);
  EXPECT_EQ(cv[0], 1.0f);
  EXPECT_TRUE(std::isnan(cv[1]));
  o.fill_value = "1.0";  // complex fill must be [re, im]
  EXPECT_EQ(b->CreateArray("/c2", {3}, "complex128", o).status().code(), StatusCode::kInvalid);
  o.fill_value = "\"YWI=\"";  // base64 "ab"
  ASSERT_OK_AND_ASSIGN(auto s, b->CreateArray("/s", {2}, "S3", o));
  EXPECT_EQ(ReadWords<char>(*s), (std::vector<char>{'a', 'b', 0, 'a', 'b', 0}));
  ASSERT_OK_AND_ASSIGN(auto si, s->Info());
  EXPECT_NE(si.zarr_json.find("null_terminated_bytes"), std::string::npos);
  o.fill_value = "\"\u00e9\"";
  ASSERT_OK_AND_ASSIGN(auto u, b->CreateArray("/u", {1}, "U2", o));
  EXPECT_EQ(ReadWords<uint32_t>(*u), (std::vector<uint32_t>{0xe9, 0}));
  ASSERT_OK_AND_ASSIGN(auto ui, u->Info());
  EXPECT_EQ(ui.itemsize, 8);
  EXPECT_NE(ui.zarr_json.find("fixed_length_utf32"), std::string::npos);
  o.fill_value = "\"abc\"";  // too long for U2
  EXPECT_EQ(b->CreateArray("/u2", {1}, "U2", o).status().code(), StatusCode::kInvalid);
  // Data round trip with a codec on top.
  std::vector<uint32_t> text = {'h', 'i', 0, 'y', 'o', 'u'};
  o.fill_value = "\"\"";
  o.compressor = "blosc:lz4";
  o.shuffle = true;
  ASSERT_OK_AND_ASSIGN(auto u3, b->CreateArray("/u3", {2}, "U3", o, text.data(), 24));
  EXPECT_EQ(ReadWords<uint32_t>(*u3), text);
}

TEST(Array, BadInputIsRefusedAndNothingIsWritten) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  ArrayOptions o;
  o.chunks = {2, 2};
  auto data = Iota(16);
  ASSERT_OK_AND_ASSIGN(auto a, b->CreateArray("/a", {4, 4}, "int32", o, data.data(), 64));
  int64_t commit = b->commit().id;
  auto files = ListFiles(dir.Sub("b"));
  std::vector<int32_t> out(4);
  EXPECT_EQ(a->Read({{0, 5, 1}, {0, 1, 1}}, out.data(), 20).code(), StatusCode::kIndexError);
  EXPECT_EQ(a->Read({{0, 2, 1}}, out.data(), 8).code(), StatusCode::kIndexError);
  EXPECT_EQ(a->Read({{0, 2, 1}, {0, 2, 1}}, out.data(), 12).code(), StatusCode::kInvalid);
  EXPECT_EQ(a->Read({{0, 2, 0}, {0, 2, 1}}, out.data(), 16).code(), StatusCode::kInvalid);
  EXPECT_EQ(a->Write({{0, 2, 1}, {0, 2, 1}}, out.data(), 15).code(), StatusCode::kInvalid);
  EXPECT_EQ(a->Write({{3, 5, 1}, {0, 2, 1}}, out.data(), 16).code(), StatusCode::kIndexError);
  EXPECT_EQ(b->CreateArray("/../x", {3}, "int32").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(b->CreateArray("/a", {3}, "int32").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(b->CreateArray("/y", {4}, "int32", {}, data.data(), 8).status().code(), StatusCode::kInvalid);
  EXPECT_EQ(b->commit().id, commit);
  EXPECT_EQ(ListFiles(dir.Sub("b")), files);
  ASSERT_OK_AND_ASSIGN(auto ro, Bundle::Open(dir.Sub("b")));
  ASSERT_OK_AND_ASSIGN(auto ra, ro->OpenArray("/a"));
  EXPECT_EQ(ra->Write({{0, 1, 1}, {0, 1, 1}}, out.data(), 4).code(), StatusCode::kReadOnly);
  EXPECT_EQ(ro->OpenTable("/a").status().code(), StatusCode::kTypeError);
}

TEST(Array, MissingOrCorruptChunkIsCorruption) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  ArrayOptions o;
  o.chunks = {10};
  auto data = Iota(30);
  ASSERT_OK_AND_ASSIGN(auto a, b->CreateArray("/a", {30}, "int32", o, data.data(), 120));
  ASSERT_OK_AND_ASSIGN(auto refs, a->ChunkRefs());
  ASSERT_EQ(refs.size(), 3u);
  // Damage chunk 1 (same size, garbage) and delete chunk 2.
  WriteBytes(refs[1].file, std::string(static_cast<size_t>(refs[1].size), 'x'));
  std::filesystem::remove(refs[2].file);
  std::vector<int32_t> out(10);
  EXPECT_OK(a->Read({{0, 10, 1}}, out.data(), 40));  // chunk 0 is fine
  Status st = a->Read({{10, 20, 1}}, out.data(), 40);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("chunk 1"), std::string::npos) << st.message();
  st = a->Read({{20, 30, 1}}, out.data(), 40);
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find("missing"), std::string::npos) << st.message();
}

TEST(Array, AutoChunksFavourLastAxes) {
  EXPECT_EQ(AutoChunks({1000, 1000}, 8), (std::vector<int64_t>{131, 1000}));
  EXPECT_EQ(AutoChunks({10, 2000, 2000}, 4), (std::vector<int64_t>{1, 131, 2000}));
  EXPECT_EQ(AutoChunks({0, 100}, 8), (std::vector<int64_t>{1310, 100}));
  EXPECT_EQ(AutoChunks({100000}, 1), (std::vector<int64_t>{100000}));
  EXPECT_EQ(AutoChunks({5}, 8), (std::vector<int64_t>{5}));
  EXPECT_EQ(AutoChunks({0}, 8), (std::vector<int64_t>{131072}));
}

TEST(Array, EveryFailedWriteLeavesOldOrNewCommit) {
  // Fail each mutating file operation of an array write in turn: the bundle must open at
  // the old commit (old contents) or the new one (new contents), never in between.
  TempDir dir;
  auto data = Iota(64);
  std::vector<int32_t> patch(16, -5);
  for (int64_t n = 0;; ++n) {
    std::string root = dir.Sub("b" + std::to_string(n));
    FaultInjectionEnv env;
    OpenOptions oo;
    oo.env = &env;
    ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(root, OpenMode::kAppend, oo));
    ArrayOptions o;
    o.chunks = {4, 4};
    ASSERT_OK_AND_ASSIGN(auto a, b->CreateArray("/a", {8, 8}, "int32", o, data.data(), 256));
    env.ResetCounter();
    env.FailAt(n);
    Status st = a->Write({{2, 6, 1}, {2, 6, 1}}, patch.data(), 64);
    bool injected = env.fault_injected();
    env.Disarm();
    ASSERT_OK(b->Close());
    ASSERT_OK_AND_ASSIGN(auto r, Bundle::Open(root));
    ASSERT_OK_AND_ASSIGN(auto ra, r->OpenArray("/a"));
    auto got = ReadAll<int32_t>(*ra);
    auto want = data;
    for (int i = 2; i < 6; ++i)
      for (int j = 2; j < 6; ++j) want[i * 8 + j] = -5;
    if (st.ok()) EXPECT_EQ(got, want) << "fault at op " << n;
    else EXPECT_TRUE(got == data || got == want) << "fault at op " << n;
    if (!injected) {
      EXPECT_TRUE(st.ok()) << st.ToString();
      EXPECT_GT(n, 4);
      break;
    }
  }
}

namespace {

std::string ZarrJson(const std::string& shape, const std::string& chunks, const std::string& dtype,
                     const std::string& endian, const std::string& sep = "/") {
  return R"({"zarr_format": 3, "node_type": "array", "shape": )" + shape + R"(, "data_type": )" + dtype +
         R"(, "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": )" + chunks +
         R"(}}, "chunk_key_encoding": {"name": "default", "configuration": {"separator": ")" + sep +
         R"("}}, "fill_value": 0, "codecs": [{"name": "bytes", "configuration": {"endian": ")" + endian +
         R"("}}], "attributes": {"units": "V"}})";
}

}  // namespace

TEST(Array, ImportZarrDirectoryBigEndianAndBadInput) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  // A big-endian int32 array, 2 chunks of 3 along one axis, keys c/0 and c/1.
  std::string z = dir.Sub("big.zarr");
  std::filesystem::create_directories(z + "/c");
  WriteBytes(z + "/zarr.json", ZarrJson("[5]", "[3]", "\"int32\"", "big"));
  auto be = [](std::vector<uint32_t> v) {
    std::string s;
    for (uint32_t x : v)
      for (int k = 3; k >= 0; --k) s += static_cast<char>((x >> (8 * k)) & 0xff);
    return s;
  };
  WriteBytes(z + "/c/0", be({1, 2, 3}));
  WriteBytes(z + "/c/1", be({4, 0x01020304, 0}));
  ASSERT_OK_AND_ASSIGN(auto a, ImportZarrArray(*b, z, "/imp/big"));
  EXPECT_EQ(ReadAll<int32_t>(*a), (std::vector<int32_t>{1, 2, 3, 4, 0x01020304}));
  ASSERT_OK_AND_ASSIGN(auto info, a->Info());
  EXPECT_NE(info.codecs.find("bytes(big)"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(auto node, b->GetNode("/imp/big"));
  EXPECT_EQ(node.kind, NodeKind::kArray);
  // Chunk files are copied byte for byte.
  ASSERT_OK_AND_ASSIGN(auto refs, a->ChunkRefs());
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_EQ(ReadBytes(refs[1].file), be({4, 0x01020304, 0}));
  // Writing keeps the array's big-endian encoding.
  int32_t v = -7;
  ASSERT_OK(a->Write({{0, 1, 1}}, &v, 4));
  EXPECT_EQ(ReadAll<int32_t>(*a)[0], -7);

  // "." separator, and a 2-d U1 (fixed_length_utf32) array.
  std::string z2 = dir.Sub("dot.zarr");
  std::filesystem::create_directories(z2);
  WriteBytes(z2 + "/zarr.json",
             ZarrJson("[2, 2]", "[1, 2]", R"({"name": "fixed_length_utf32", "configuration": {"length_bytes": 4}})",
                      "little", "."));
  WriteBytes(z2 + "/c.1.0", std::string("x\0\0\0y\0\0\0", 8));
  // fill_value 0 is not a string: invalid for a U dtype -> Corruption (bad source metadata).
  EXPECT_EQ(ImportZarrArray(*b, z2, "/dot").status().code(), StatusCode::kCorruption);
  std::string meta = ReadBytes(z2 + "/zarr.json");
  meta.replace(meta.find("\"fill_value\": 0"), 15, "\"fill_value\": \"\"");
  WriteBytes(z2 + "/zarr.json", meta);
  ASSERT_OK_AND_ASSIGN(auto u, ImportZarrArray(*b, z2, "/dot"));
  EXPECT_EQ(ReadWords<uint32_t>(*u), (std::vector<uint32_t>{0, 0, 'x', 'y'}));

  // Bad input: nothing is committed and no file stays behind.
  int64_t commit = b->commit().id;
  auto files = ListFiles(dir.Sub("b"));
  EXPECT_EQ(ImportZarrArray(*b, dir.Sub("nope.zarr"), "/x").status().code(), StatusCode::kNotFound);
  WriteBytes(z + "/c/1", be({4, 5}));  // truncated chunk: 8 bytes, 12 expected
  Status st = ImportZarrArray(*b, z, "/x").status();
  EXPECT_EQ(st.code(), StatusCode::kCorruption);
  EXPECT_NE(st.message().find(z + "/c/1"), std::string::npos) << st.message();
  WriteBytes(z + "/c/1", be({4, 5, 6}));
  WriteBytes(z + "/c/7", be({4, 5, 6}));  // outside the 2-chunk grid
  EXPECT_EQ(ImportZarrArray(*b, z, "/x").status().code(), StatusCode::kCorruption);
  std::filesystem::remove(z + "/c/7");
  WriteBytes(z + "/zarr.json", "{\"zarr_format\": 3, ");
  EXPECT_EQ(ImportZarrArray(*b, z, "/x").status().code(), StatusCode::kCorruption);
  WriteBytes(z + "/zarr.json", ZarrJson("[5]", "[0]", "\"int32\"", "big"));
  EXPECT_EQ(ImportZarrArray(*b, z, "/x").status().code(), StatusCode::kCorruption);
  WriteBytes(z + "/zarr.json", ZarrJson("[5]", "[3]", "\"datetime64\"", "big"));
  EXPECT_EQ(ImportZarrArray(*b, z, "/x").status().code(), StatusCode::kNotImplemented);
  WriteBytes(z + "/zarr.json", ZarrJson("[5]", "[3]", "\"int32\"", "big"));
  EXPECT_EQ(ImportZarrArray(*b, z, "/imp/big").status().code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(b->commit().id, commit);
  EXPECT_EQ(ListFiles(dir.Sub("b")), files);
  EXPECT_FALSE(b->GetNode("/x").ok());
}

TEST(Array, ReadsWithAndWithoutChunkCacheAgree) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  auto data = Iota(40 * 30 * 20);
  ArrayOptions o;
  o.chunks = {7, 8, 9};
  o.shuffle = true;
  ASSERT_OK_AND_ASSIGN(auto a, b->CreateArray("/a", {40, 30, 20}, "int32", o, data.data(), 4 * 24000));
  const int64_t saved = ArrayChunkCacheSize();
  std::vector<int32_t> sub(10 * 10 * 5);
  for (int64_t cache : {int64_t(0), saved, int64_t(1) << 30}) {
    SetArrayChunkCacheSize(cache);
    for (int pass = 0; pass < 2; ++pass) {  // the second pass hits the cache when there is one
      EXPECT_EQ(ReadAll<int32_t>(*a), data) << cache;
      ASSERT_OK(a->Read({{35, 5, -3}, {2, 22, 2}, {1, 20, 4}}, sub.data(), 4 * 500));
      size_t k = 0;
      for (int i = 35; i > 5; i -= 3)
        for (int j = 2; j < 22; j += 2)
          for (int l = 1; l < 20; l += 4) EXPECT_EQ(sub[k++], i * 600 + j * 20 + l);
    }
  }
  // A write makes new chunk files: cached old chunks are never served for the new commit.
  std::vector<int32_t> minus(40 * 30 * 20, -1);
  ASSERT_OK(a->Write({}, minus.data(), 4 * 24000));
  EXPECT_EQ(ReadAll<int32_t>(*a), minus);
  SetArrayChunkCacheSize(saved);
  EXPECT_EQ(ArrayChunkCacheSize(), saved);
}

TEST(Array, ForgedChunkEntriesAreCorruption) {
  // The manifest reader checks every chunk entry (typed ArrayEntry): a malformed entry or a
  // file name outside the array's data folder makes the commit unreadable, naming the chunk.
  TempDir dir;
  const std::string root = dir.Sub("b");
  {
    ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(root, OpenMode::kAppend));
    ArrayOptions o;
    o.chunks = {10};
    auto data = Iota(30);
    ASSERT_OK(b->CreateArray("/a", {30}, "int32", o, data.data(), 120).status());
    ASSERT_OK(b->Close());
  }
  Json original;
  ForgeManifest(root, [&](Json& m) { original = m["nodes"]["/a"]["payload"]["chunks"]; });
  struct Case {
    std::function<void(Json&)> edit;
    const char* says;
  };
  const std::vector<Case> cases = {
      {[](Json& c) { c["1"]["file"] = "../../../etc/passwd"; }, "chunk 1"},
      {[](Json& c) { c["1"]["file"] = "data/0123456789abcdef/aaaaaaaaaaaaaaaaaaaaaaaa"; }, "outside"},
      {[](Json& c) { c["2"] = Json{{"file", 7}}; }, "chunk 2 entry is malformed"},
      {[](Json& c) { c["1"]["size"] = -1; }, "chunk 1 entry is malformed"},
      {[](Json& c) { c["1"]["crc32"] = 1e12; }, "invalid crc32"},
      {[&](Json& c) { c["1/../2"] = c["1"]; }, "is not a chunk key"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.says);
    ForgeManifest(root, [&](Json& m) {
      m["nodes"]["/a"]["payload"]["chunks"] = original;
      c.edit(m["nodes"]["/a"]["payload"]["chunks"]);
    });
    auto b = Bundle::Open(root);
    EXPECT_STATUS_CODE(b, StatusCode::kCorruption);
    EXPECT_TRUE(Contains(b.status().message(), c.says)) << b.status().ToString();
  }
  // A chunk key of the wrong rank passes the manifest reader (it does not know the rank) and
  // is refused by the array code.
  ForgeManifest(root, [&](Json& m) {
    m["nodes"]["/a"]["payload"]["chunks"] = original;
    m["nodes"]["/a"]["payload"]["chunks"]["1.0"] = original["1"];
  });
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(root));
  EXPECT_STATUS_CODE(b->OpenArray("/a").ValueOrDie()->Info(), StatusCode::kCorruption);
}

// Element counts, chunk counts and byte sizes that overflow int64 are refused up front
// (before: [2^40, 2^40] int64 was accepted and later index arithmetic overflowed).
TEST(Array, ShapesThatOverflowAreRefused) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  const int64_t big = int64_t(1) << 40, max = std::numeric_limits<int64_t>::max();
  ArrayOptions one;
  one.chunks = {1, 1};
  EXPECT_EQ(b->CreateArray("/a", {big, big}, "int64").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(b->CreateArray("/a", {big, big}, "int64", one).status().code(), StatusCode::kInvalid);
  ArrayOptions c1;
  c1.chunks = {1};
  EXPECT_EQ(b->CreateArray("/a", {max}, "int64").status().code(), StatusCode::kInvalid);
  EXPECT_EQ(b->CreateArray("/a", {max}, "int8", c1).status().code(), StatusCode::kOK);
  EXPECT_EQ(b->CreateArray("/n", {-1}, "int8").status().code(), StatusCode::kInvalid);
  ArrayOptions zero;
  zero.chunks = {0};
  EXPECT_EQ(b->CreateArray("/z", {4}, "int8", zero).status().code(), StatusCode::kInvalid);
  ArrayOptions o;
  o.chunks = {2, 2};
  auto data = Iota(16);
  ASSERT_OK_AND_ASSIGN(auto a, b->CreateArray("/s", {4, 4}, "int32", o, data.data(), 64));
  EXPECT_EQ(a->Resize({big, big}).code(), StatusCode::kInvalid);
  EXPECT_EQ(a->Resize({-1, 4}).code(), StatusCode::kInvalid);
  EXPECT_EQ(a->Append(data.data(), 0, {max, 4}, 0).code(), StatusCode::kInvalid);
  ASSERT_OK_AND_ASSIGN(auto shape, a->shape());
  EXPECT_EQ(shape, (std::vector<int64_t>{4, 4}));
}

// JSON nested deeper than kMaxJsonDepth is an error, not a stack overflow in nlohmann.
TEST(Json, DeepNestingIsRefused) {
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  auto r = ParseJson(deep, "test.json");
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("test.json"), std::string::npos);
  EXPECT_EQ(ParseJson(deep, "attribute x", StatusCode::kInvalid).status().code(), StatusCode::kInvalid);
  // Brackets inside strings do not count.
  std::string s = "{\"a\": \"" + std::string(100000, '[') + "\\\"[\"}";
  ASSERT_OK_AND_ASSIGN(Json j, ParseJson(s, "s"));
  EXPECT_EQ(j["a"].get<std::string>().size(), 100002u);
  std::string ok;
  for (int i = 0; i < kMaxJsonDepth; ++i) ok += "[";
  ok += std::string(kMaxJsonDepth, ']');
  EXPECT_TRUE(ParseJson(ok, "ok").ok());
}

// JSON the caller passes (a fill value, an attribute value) is the caller's argument: bad or
// too deep text is InvalidArgument, never CorruptionError (which says a file is damaged).
TEST(Json, CallerJsonIsInvalidArgument) {
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  std::string deep(100000, '[');
  deep += std::string(100000, ']');
  for (const std::string& bad : {std::string("{"), std::string("nan"), deep}) {
    ArrayOptions o;
    o.fill_value = bad;
    auto r = b->CreateArray("/a", {4}, "float64", o);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalid) << r.status().ToString();
    EXPECT_NE(r.status().message().find("fill_value"), std::string::npos) << r.status().message();
    EXPECT_EQ(b->SetAttr("/", "k", bad).code(), StatusCode::kInvalid);
  }
  EXPECT_FALSE(b->Exists("/a"));
}

// ArrayRange comes from any caller: extreme int64 bounds and steps must neither overflow
// (UB) nor select the wrong elements.
TEST(Array, ExtremeRangesDoNotOverflow) {
  constexpr int64_t kMin = INT64_MIN, kMax = INT64_MAX;
  EXPECT_EQ((ArrayRange{kMin, kMax, 1}.count()), kMax);  // 2^64 - 1 coordinates: capped
  EXPECT_EQ((ArrayRange{kMax, kMin, -1}.count()), kMax);
  EXPECT_EQ((ArrayRange{9, -1, kMin}.count()), 1);
  EXPECT_EQ((ArrayRange{0, 10, kMax}.count()), 1);
  EXPECT_EQ((ArrayRange{kMin, kMin + 5, kMax}.count()), 1);
  EXPECT_EQ((ArrayRange{5, 2, 1}.count()), 0);
  TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto b, Bundle::Open(dir.Sub("b"), OpenMode::kAppend));
  ArrayOptions o;
  o.chunks = {4};
  auto data = Iota(10);
  ASSERT_OK_AND_ASSIGN(auto a, b->CreateArray("/a", {10}, "int32", o, data.data(), 40));
  int32_t one = -1;
  ASSERT_OK(a->Read({{9, -1, kMin}}, &one, 4));
  EXPECT_EQ(one, 9);
  ASSERT_OK(a->Read({{3, 10, kMax}}, &one, 4));
  EXPECT_EQ(one, 3);
  std::vector<int32_t> out(10);
  EXPECT_EQ(a->Read({{kMin, kMax, 1}}, out.data(), 40).code(), StatusCode::kIndexError);
  EXPECT_EQ(a->Read({{0, kMax, kMax / 2}}, out.data(), 8).code(), StatusCode::kIndexError);  // 2nd is far out
  EXPECT_EQ(a->Read({{kMax, kMin, -1}}, out.data(), 40).code(), StatusCode::kIndexError);
}

// Decompression bombs: a chunk whose header claims a huge decoded size (zstd frame content
// size, the lz4 size prefix, blosc's nbytes) is refused by the size the geometry gives
// (chunk shape x itemsize); nothing is allocated from the claim (2^62 bytes would throw).
TEST(Array, ChunkHeadersClaimingHugeSizesAreCorruption) {
  auto meta_for = [](const std::string& compressor) {
    ArrayOptions o;
    o.chunks = {100};
    o.compressor = compressor;
    auto z = MakeZarrJson({1000}, "float64", o, "array /a");
    EXPECT_TRUE(z.ok()) << z.status().ToString();
    auto m = ParseZarrJson(*z, "array /a");
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    return *m;
  };
  const uint64_t claim = uint64_t{1} << 62;
  // zstd: magic, a single-segment frame header with an 8-byte content size, one raw last block.
  std::string zstd("\x28\xb5\x2f\xfd\xe0", 5);
  for (int i = 0; i < 8; ++i) zstd += static_cast<char>(claim >> (8 * i));
  const uint32_t block = 1 | (8u << 3);  // last block, raw, 8 bytes
  zstd += std::string{static_cast<char>(block), static_cast<char>(block >> 8), static_cast<char>(block >> 16)};
  zstd += std::string(8, '\x01');
  // lz4 (numcodecs framing): a 4-byte little-endian decoded size, then the block.
  std::string lz4("\xff\xff\xff\x7f\x00\x00\x00\x00", 8);
  std::map<std::string, std::string> bombs{{"zstd", zstd}, {"lz4", lz4}};
  // blosc: a valid chunk of the right geometry whose header's nbytes is rewritten.
  {
    auto m = meta_for("blosc:lz4");
    auto enc = EncodeChunk(m, std::string(800, '\x02'));
    ASSERT_TRUE(enc.ok()) << enc.status().ToString();
    std::string b = *enc;
    const uint32_t nbytes = 0x7fffffff;
    std::memcpy(&b[4], &nbytes, 4);  // blosc header: version, versionlz, flags, typesize, nbytes
    bombs["blosc:lz4"] = b;
  }
  for (const auto& [compressor, chunk] : bombs) {
    auto r = DecodeChunk(meta_for(compressor), chunk, "array /a chunk 0");
    ASSERT_FALSE(r.ok()) << compressor;
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << r.status().ToString();
    EXPECT_NE(r.status().message().find("array /a chunk 0"), std::string::npos) << r.status().ToString();
  }
}
