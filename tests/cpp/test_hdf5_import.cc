// Generic HDF5 import (src/hdf5/pytables.cc) and migration naming (src/hdf5/migrate.cc).
// Files are written here with the HDF5 C API: a big-endian compound with a nested compound,
// an array field and an enum; a deflate+shuffle chunked 2-d dataset; a soft link;
// attributes; then truncated copies.
#include <arrow/api.h>
#include <gtest/gtest.h>
#include <hdf5.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <ctime>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fault_env.h"
#include "hdf5/h5util.h"
#include "octavo/hdf5.h"
#include "test_util.h"

namespace octavo::testing {
namespace {

struct Row {
  int32_t id;
  double grid[2][3];
  struct {
    int16_t a;
    float b;
  } inner;
  uint8_t color;
  char name[6];
};

void WriteSample(const std::string& path, int n) {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  // file type: big-endian members
  hsize_t adims[2] = {2, 3};
  hid_t grid_t = H5Tarray_create2(H5T_IEEE_F64BE, 2, adims);
  hid_t inner_t = H5Tcreate(H5T_COMPOUND, 8);
  H5Tinsert(inner_t, "a", 0, H5T_STD_I16BE);
  H5Tinsert(inner_t, "b", 4, H5T_IEEE_F32BE);
  hid_t enum_t = H5Tenum_create(H5T_STD_U8LE);
  uint8_t v0 = 0, v1 = 1, v2 = 2;
  H5Tenum_insert(enum_t, "red", &v0);
  H5Tenum_insert(enum_t, "green", &v1);
  H5Tenum_insert(enum_t, "blue", &v2);
  hid_t str_t = H5Tcopy(H5T_C_S1);
  H5Tset_size(str_t, 6);
  H5Tset_strpad(str_t, H5T_STR_NULLPAD);
  hid_t ft = H5Tcreate(H5T_COMPOUND, 4 + 48 + 8 + 1 + 6);
  H5Tinsert(ft, "id", 0, H5T_STD_I32BE);
  H5Tinsert(ft, "grid", 4, grid_t);
  H5Tinsert(ft, "inner", 52, inner_t);
  H5Tinsert(ft, "color", 60, enum_t);
  H5Tinsert(ft, "name", 61, str_t);
  // memory type: native layout of Row
  hid_t mgrid_t = H5Tarray_create2(H5T_NATIVE_DOUBLE, 2, adims);
  hid_t minner_t = H5Tcreate(H5T_COMPOUND, sizeof(Row::inner));
  H5Tinsert(minner_t, "a", HOFFSET(decltype(Row::inner), a), H5T_NATIVE_INT16);
  H5Tinsert(minner_t, "b", HOFFSET(decltype(Row::inner), b), H5T_NATIVE_FLOAT);
  hid_t mt = H5Tcreate(H5T_COMPOUND, sizeof(Row));
  H5Tinsert(mt, "id", HOFFSET(Row, id), H5T_NATIVE_INT32);
  H5Tinsert(mt, "grid", HOFFSET(Row, grid), mgrid_t);
  H5Tinsert(mt, "inner", HOFFSET(Row, inner), minner_t);
  H5Tinsert(mt, "color", HOFFSET(Row, color), enum_t);
  H5Tinsert(mt, "name", HOFFSET(Row, name), str_t);
  std::vector<Row> rows(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    Row& r = rows[static_cast<size_t>(i)];
    std::memset(&r, 0, sizeof r);
    r.id = i;
    for (int a = 0; a < 2; ++a)
      for (int b = 0; b < 3; ++b) r.grid[a][b] = i + a * 10 + b;
    r.inner.a = static_cast<int16_t>(-i);
    r.inner.b = i * 0.25f;
    r.color = static_cast<uint8_t>(i % 3);
    std::snprintf(r.name, sizeof r.name, "n%d", i % 1000);
  }
  hid_t g = H5Gcreate2(f, "/grp", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[1] = {static_cast<hsize_t>(n)};
  hid_t sp = H5Screate_simple(1, dims, nullptr);
  hid_t d = H5Dcreate2(g, "table", ft, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows.data());
  // attributes: a float scalar and an int vector
  hid_t asp = H5Screate(H5S_SCALAR);
  hid_t at = H5Acreate2(d, "gain", H5T_IEEE_F64LE, asp, H5P_DEFAULT, H5P_DEFAULT);
  double gain = 1.5;
  H5Awrite(at, H5T_NATIVE_DOUBLE, &gain);
  H5Aclose(at);
  hsize_t three = 3;
  hid_t vsp = H5Screate_simple(1, &three, nullptr);
  at = H5Acreate2(g, "channels", H5T_STD_I64BE, vsp, H5P_DEFAULT, H5P_DEFAULT);
  int64_t ch[3] = {4, 5, 6};
  H5Awrite(at, H5T_NATIVE_INT64, ch);
  H5Aclose(at);
  // deflate + shuffle chunked 2-d array
  hsize_t adims2[2] = {100, 37}, chunk[2] = {16, 37};
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 2, chunk);
  H5Pset_shuffle(dcpl);
  H5Pset_deflate(dcpl, 6);
  hid_t sp2 = H5Screate_simple(2, adims2, nullptr);
  hid_t d2 = H5Dcreate2(f, "/volume", H5T_STD_I32BE, sp2, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  std::vector<int32_t> vol(100 * 37);
  for (size_t k = 0; k < vol.size(); ++k) vol[k] = static_cast<int32_t>(k * 7 - 1000);
  H5Dwrite(d2, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, vol.data());
  H5Lcreate_soft("/grp/table", f, "/shortcut", H5P_DEFAULT, H5P_DEFAULT);
  for (hid_t x : {d, d2}) H5Dclose(x);
  for (hid_t x : {sp, sp2, asp, vsp}) H5Sclose(x);
  for (hid_t x : {grid_t, inner_t, enum_t, str_t, ft, mgrid_t, minner_t, mt}) H5Tclose(x);
  H5Pclose(dcpl);
  H5Gclose(g);
  H5Fclose(f);
}

std::shared_ptr<Bundle> NewBundle(const TempDir& dir) {
  auto b = Bundle::Open(dir.Sub("b.octavo"), OpenMode::kAppend);
  EXPECT_TRUE(b.ok()) << b.status().ToString();
  return *b;
}

TEST(Hdf5Import, CompoundArraysLinksAttributes) {
  TempDir dir;
  const std::string h5 = dir.Sub("sample.h5");
  WriteSample(h5, 300);
  auto rep = hdf5::InspectFile(h5);
  ASSERT_OK(rep);
  EXPECT_EQ(rep->num_unsupported(), 0);
  auto b = NewBundle(dir);
  auto imp = hdf5::ImportFile(h5, *b, "/x");
  ASSERT_OK(imp);
  EXPECT_EQ(imp->rows, 300);

  auto t = ReadTable(*b, "/x/grp/table");
  ASSERT_OK(t);
  const arrow::Table& tab = **t;
  ASSERT_EQ(tab.num_rows(), 300);
  EXPECT_TRUE(tab.schema()->GetFieldByName("id")->type()->Equals(arrow::int32()));
  EXPECT_TRUE(tab.schema()->GetFieldByName("grid")->type()->Equals(
      arrow::fixed_size_list(arrow::fixed_size_list(arrow::float64(), 3), 2)));
  EXPECT_TRUE(tab.schema()->GetFieldByName("inner")->type()->Equals(
      arrow::struct_({arrow::field("a", arrow::int16()), arrow::field("b", arrow::float32())})));
  EXPECT_TRUE(tab.schema()->GetFieldByName("color")->type()->Equals(arrow::dictionary(arrow::int32(), arrow::utf8())));
  auto row = [&](const std::string& col, int64_t i) { return tab.GetColumnByName(col)->GetScalar(i).ValueOrDie(); };
  EXPECT_EQ(row("id", 123)->ToString(), "123");  // big-endian -> native
  const std::string grid = row("grid", 5)->ToString();
  EXPECT_NE(grid.find("[3][5, 6, 7], "), std::string::npos) << grid;
  EXPECT_NE(grid.find("[3][15, 16, 17]]"), std::string::npos) << grid;
  EXPECT_EQ(row("inner", 8)->ToString(), "{a:int16 = -8, b:float = 2}");
  auto color = std::static_pointer_cast<arrow::DictionaryScalar>(row("color", 4));
  EXPECT_EQ(color->GetEncodedValue().ValueOrDie()->ToString(), "green");
  EXPECT_EQ(row("name", 42)->ToString(), "n42");

  auto arr = b->OpenArray("/x/volume");
  ASSERT_OK(arr);
  auto info = (*arr)->Info();
  ASSERT_OK(info);
  EXPECT_EQ(info->dtype, "int32");
  EXPECT_EQ(info->shape, (std::vector<int64_t>{100, 37}));
  std::vector<int32_t> back(100 * 37);
  ASSERT_OK((*arr)->Read({}, back.data(), static_cast<int64_t>(back.size() * 4)));
  for (size_t k = 0; k < back.size(); ++k) ASSERT_EQ(back[k], static_cast<int32_t>(k * 7 - 1000)) << k;

  auto target = b->LinkTarget("/x/shortcut");
  ASSERT_OK(target);
  EXPECT_EQ(*target, "/x/grp/table");
  auto attrs = nlohmann::json::parse(b->GetAttrs("/x/grp/table").ValueOrDie());
  EXPECT_EQ(attrs["gain"], 1.5);
  auto gattrs = nlohmann::json::parse(b->GetAttrs("/x/grp").ValueOrDie());
  EXPECT_EQ(gattrs["channels"], nlohmann::json::array({4, 5, 6}));
}

TEST(Hdf5Import, TruncatedFilesFailCleanlyAndCommitNothing) {
  TempDir dir;
  const std::string h5 = dir.Sub("sample.h5");
  WriteSample(h5, 5000);
  const std::string bytes = ReadBytes(h5);
  auto b = NewBundle(dir);
  const int64_t before = b->commit().id;
  for (size_t cut : {size_t(0), size_t(100), bytes.size() / 3, bytes.size() / 2, bytes.size() - 100}) {
    const std::string bad = dir.Sub("cut" + std::to_string(cut) + ".h5");
    WriteBytes(bad, bytes.substr(0, cut));
    auto r = hdf5::ImportFile(bad, *b, "/y");
    EXPECT_FALSE(r.ok()) << "cut at " << cut;
    if (!r.ok()) EXPECT_NE(r.status().message().find("cut"), std::string::npos) << r.status().ToString();
    EXPECT_FALSE(b->InTransaction());
    EXPECT_EQ(b->commit().id, before);
    EXPECT_FALSE(b->Exists("/y"));
  }
  auto missing = hdf5::InspectFile(dir.Sub("nope.h5"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(Hdf5Migrate, NamingRules) {
  EXPECT_EQ(hdf5::ParquetPathFor("/d/CollectedData_me.h5", "/df_with_missing", 1), "/d/CollectedData_me.parquet");
  EXPECT_EQ(hdf5::ParquetPathFor("/d/x.hdf5", "/a/b", 2), "/d/x.a.b.parquet");
  EXPECT_EQ(hdf5::ParquetPathFor("rel.HDF", "k", 3), "rel.k.parquet");
  EXPECT_TRUE(hdf5::IsHdf5Path("a/B.H5"));
  EXPECT_FALSE(hdf5::IsHdf5Path("a/b.parquet"));
}

// A pandas HDFStore file written by pandas itself (python3 with pandas and PyTables, which
// the Python suite needs too); false when there is none.
bool WritePandasFile(const std::string& path, int64_t rows) {
  const std::string cmd = "python3 -c \"import numpy as np, pandas as pd; n = " + std::to_string(rows) +
                          "; pd.DataFrame({'a': np.arange(n, dtype='float64'), 'b': np.arange(n) * 3})"
                          ".to_hdf('" + path + "', key='df', format='table', mode='w')\" 2>/dev/null";
  return std::system(cmd.c_str()) == 0;
}

// The migration reads back every Parquet file it wrote and compares it with the HDF5 data:
// a byte damaged on its way to the disk (through Env::WriteAt, as a disk or a bug might)
// fails the file, leaves no output and no temp file, and --remove-h5 keeps the source.
TEST(Hdf5Migrate, VerificationCatchesAByteDamagedOnItsWayToTheDisk) {
  namespace fs = std::filesystem;
  TempDir dir;
  const std::string h5 = dir.Sub("big.h5");
  // > the 8 MiB stage: streamed to the disk and read back from it (a smaller file is
  // verified from the bytes in memory, before they are written)
  if (!WritePandasFile(h5, 700000)) GTEST_SKIP() << "needs python3 with pandas and PyTables";
  testing::FaultInjectionEnv env;
  int damaged = 0;
  env.SetWriteAtDamage([&](const std::string&, char* bytes, size_t n, int64_t) {
    if (damaged++ == 0 && n > 0) bytes[n / 2] ^= 0x10;
  });
  hdf5::MigrateOptions o;
  o.compression = "none";
  o.remove_h5 = true;
  auto r = hdf5::MigrateFileLocal(&env, h5, o);
  if (damaged == 0) GTEST_SKIP() << "no O_DIRECT here: buffered writes do not go through Env::WriteAt";
  EXPECT_EQ(r.status, "failed") << r.message;
  EXPECT_NE(r.message.find("big.parquet"), std::string::npos) << r.message;
  EXPECT_FALSE(fs::exists(dir.Sub("big.parquet")));
  EXPECT_TRUE(fs::exists(h5));
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find("octavo-tmp"), std::string::npos) << e.path();
  env.SetWriteAtDamage(nullptr);
  r = hdf5::MigrateFileLocal(&env, h5, o);
  EXPECT_EQ(r.status, "converted") << r.message;
  EXPECT_EQ(r.rows, 700000);
  EXPECT_TRUE(fs::exists(dir.Sub("big.parquet")));
  EXPECT_FALSE(fs::exists(h5));
}

// The worker is a separate process: a stand-in that dies after announcing a group leaves
// the bundle at its last commit, and the error names the file.
TEST(Hdf5Worker, ImportWhoseWorkerDiesCommitsNothing) {
  TempDir dir;
  const std::string src = dir.Sub("in.h5");
  WriteSample(src, 10);
  const std::string stub = dir.Sub("worker.sh");
  {
    std::ofstream f(stub);
    // one valid frame ({"op":"group","dest":"/imp"}), then SIGSEGV
    f << "#!/bin/sh\nprintf 'J\\034\\0\\0\\0\\0\\0\\0\\0{\"op\":\"group\",\"dest\":\"/imp\"}' >&3\nkill -SEGV $$\n";
  }
  ::chmod(stub.c_str(), 0755);
  auto b = NewBundle(dir);
  const int64_t before = b->commit().id;
  hdf5::ImportOptions o;
  o.worker.executable = stub;
  auto r = hdf5::ImportFile(src, *b, "/imp", o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("in.h5"), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("signal 11"), std::string::npos) << r.status().ToString();
  EXPECT_FALSE(b->InTransaction());
  EXPECT_EQ(b->commit().id, before);
  EXPECT_FALSE(b->Exists("/imp"));
  // and the real worker imports the same file into the same bundle
  ASSERT_TRUE(hdf5::ImportFile(src, *b, "/imp").ok());
  EXPECT_TRUE(b->Exists("/imp/grp/table"));

  o.worker.executable = dir.Sub("no-such-worker");
  EXPECT_EQ(hdf5::InspectFile(src, o.worker).status().code(), StatusCode::kNotFound);
}

TEST(Hdf5Worker, ElementCountsThatOverflowAreRefused) {
  EXPECT_EQ(hdf5::ElementCount(std::vector<hsize_t>{3, 4}), 12);
  EXPECT_EQ(hdf5::ElementCount(std::vector<hsize_t>{}), 1);
  EXPECT_EQ(hdf5::ElementCount(std::vector<hsize_t>{hsize_t(1) << 40, hsize_t(1) << 40}), -1);
  EXPECT_EQ(hdf5::ElementCount(std::vector<hsize_t>{~hsize_t(0)}), -1);
  EXPECT_EQ(hdf5::ElementCount(std::vector<hsize_t>{0, ~hsize_t(0)}), -1);  // an invalid dim even next to 0
}

}  // namespace
}  // namespace octavo::testing

// The worker's per-file CPU budget: a process that spins past it is ended by SIGXCPU, and the
// budget counts from the call (a worker that already used CPU time on earlier files gets the
// full budget again).
TEST(Hdf5Worker, CpuBudgetEndsASpinningProcess) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    volatile uint64_t x = 0;
    const auto t0 = std::clock();
    while (std::clock() - t0 < 2 * CLOCKS_PER_SEC) x = x + 1;  // 2 s of CPU first
    octavo::hdf5::LimitCpuFromNow(1);
    for (;;) x = x + 1;
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGXCPU);
}
