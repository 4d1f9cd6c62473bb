// N-d arrays: Zarr v3 chunks as immutable files; the chunk index is the manifest's ArrayEntry
// (format/manifest.h). A chunk key missing from it reads as fill_value. See docs/format.md 8.
#include <algorithm>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>

#include "array/array_node.h"
#include "array/zarr_meta.h"
#include "bundle/bundle_impl.h"
#include "octavo/array.h"
#include "util/crc32.h"
#include "util/json_util.h"
#include "util/lru_cache.h"
#include "util/names.h"
#include "util/threads.h"
#include "util/time_util.h"

namespace octavo {
namespace {

using ChunkFile = ChunkEntry;

struct ArrayState {
  std::string uid;
  Json zarr;
  ZarrArrayMeta meta;
  std::shared_ptr<const ArrayEntry> entry;  // as the manifest holds it (none for a new array)
  const NodeEntry* node = nullptr;
  const std::map<std::string, ChunkFile>& chunks() const {
    static const std::map<std::string, ChunkFile> kNone;
    return entry ? entry->chunks : kNone;
  }
};

// Every codec (zstd without its checksum, lz4, blosc, none) would decode a flipped byte to
// wrong numbers: the manifest's CRC of the stored bytes catches it first.
Status CheckChunkCrc(const ChunkFile& cf, std::string_view data, const std::string& where) {
  if (!cf.crc32) return Status::OK();
  uint32_t got = Crc32(data);
  if (got == *cf.crc32) return Status::OK();
  return Status::Corruption(where, " fails its checksum (CRC-32 ", got, ", the manifest recorded ", *cf.crc32,
                            "): the file is damaged; restore it or open an earlier commit");
}

// The stored chunk `key`; nullopt if the chunk is not stored (reads as fill_value).
std::optional<ChunkFile> FindChunk(const ArrayState& st, const std::string& key) {
  auto it = st.chunks().find(key);
  if (it == st.chunks().end()) return std::nullopt;
  return it->second;
}

// `index` = true also checks every chunk key against the array's rank (the manifest reader
// checked their syntax, file names and sizes); reads skip it, so opening an array and its
// first small read stay cheap in the chunk count.
Result<ArrayState> LoadState(const Manifest& m, const std::string& path, bool index = true) {
  OCTAVO_ASSIGN_OR_RETURN(const NodeEntry* n, FindNode(m, path));
  if (n->kind != NodeKind::kArray)
    return Status::TypeError("'", path, "' is ", NodeKindWithArticle(n->kind), ", not an array");
  if (!n->array) return Status::Corruption("array ", path, ": the manifest entry has no array entry");
  ArrayState st;
  st.node = n;
  st.entry = n->array;
  const std::string where = "array " + path;
  st.uid = n->array->uid;
  st.zarr = n->array->zarr;
  auto meta = ParseZarrJson(st.zarr, where);
  if (!meta.ok()) {
    if (meta.status().code() == StatusCode::kInvalid) return Status::Corruption(meta.status().message());
    return meta.status();
  }
  st.meta = std::move(*meta);
  if (!index) return st;
  for (const auto& [key, cf] : st.chunks()) {
    auto idx = ParseChunkKey(key, st.meta.ndim());
    if (!idx.ok()) return Status::Corruption(where, ": ", idx.status().message());
  }
  return st;
}

// One run of a selection inside one chunk along one axis: `count` coordinates, output
// positions out_start.., chunk positions in_start, in_start+step, ...
struct Seg {
  int64_t chunk;
  int64_t out_start;
  int64_t in_start;
  int64_t count;
};

std::vector<Seg> Segments(const ArrayRange& r, int64_t cs) {
  std::vector<Seg> out;
  const int64_t n = r.count();
  int64_t k = 0;
  while (k < n) {
    int64_t c = r.start + k * r.step;
    int64_t ci = c / cs;
    int64_t cnt;
    if (r.step > 0) cnt = ((ci + 1) * cs - 1 - c) / r.step + 1;
    else cnt = static_cast<int64_t>(static_cast<uint64_t>(c - ci * cs) / (0 - static_cast<uint64_t>(r.step))) + 1;  // step may be INT64_MIN
    cnt = std::min(cnt, n - k);
    out.push_back(Seg{ci, k, c - ci * cs, cnt});
    k += cnt;
  }
  return out;
}

// Copy between a chunk buffer and a C-ordered selection buffer.
struct CopyPlan {
  int ndim;
  int itemsize;
  std::vector<int64_t> step;
  std::vector<int64_t> cstride;  // bytes
  std::vector<int64_t> ostride;  // bytes
};

void CopyRec(const CopyPlan& p, const std::vector<const Seg*>& segs, int d, uint8_t* chunk, uint8_t* sel,
             bool to_chunk) {
  const Seg& s = *segs[d];
  uint8_t* c = chunk + s.in_start * p.cstride[d];
  uint8_t* o = sel + s.out_start * p.ostride[d];
  const int64_t cinc = p.step[d] * p.cstride[d];
  if (d == p.ndim - 1) {
    if (p.step[d] == 1) {
      if (to_chunk) std::memcpy(c, o, static_cast<size_t>(s.count * p.itemsize));
      else std::memcpy(o, c, static_cast<size_t>(s.count * p.itemsize));
      return;
    }
    for (int64_t i = 0; i < s.count; ++i, c += cinc, o += p.itemsize) {
      if (to_chunk) std::memcpy(c, o, p.itemsize);
      else std::memcpy(o, c, p.itemsize);
    }
    return;
  }
  // Inner axes: shift the base pointers by this axis' offsets and recurse.
  for (int64_t i = 0; i < s.count; ++i) CopyRec(p, segs, d + 1, c + i * cinc, o + i * p.ostride[d], to_chunk);
}

// Calls fn(chunk index vector, per-axis segments) for every chunk the selection touches.
template <typename Fn>
Status ForEachChunk(const std::vector<std::vector<Seg>>& segs, Fn&& fn) {
  const size_t nd = segs.size();
  for (const auto& s : segs)
    if (s.empty()) return Status::OK();
  std::vector<size_t> pos(nd, 0);
  std::vector<int64_t> idx(nd);
  std::vector<const Seg*> cur(nd);
  while (true) {
    for (size_t d = 0; d < nd; ++d) {
      cur[d] = &segs[d][pos[d]];
      idx[d] = cur[d]->chunk;
    }
    OCTAVO_RETURN_NOT_OK(fn(idx, cur));
    size_t d = nd;
    while (d > 0) {
      --d;
      if (++pos[d] < segs[d].size()) break;
      pos[d] = 0;
      if (d == 0) return Status::OK();
    }
    if (nd == 0) return Status::OK();
  }
}

CopyPlan MakePlan(const ZarrArrayMeta& meta, const std::vector<ArrayRange>& ranges) {
  CopyPlan p;
  p.ndim = meta.ndim();
  p.itemsize = meta.itemsize;
  p.step.resize(p.ndim);
  p.cstride.resize(p.ndim);
  p.ostride.resize(p.ndim);
  int64_t cs = meta.itemsize, os = meta.itemsize;
  for (int d = p.ndim - 1; d >= 0; --d) {
    p.step[d] = ranges[d].step;
    p.cstride[d] = cs;
    p.ostride[d] = os;
    cs *= meta.chunks[d];
    os *= ranges[d].count();
  }
  return p;
}

Result<std::vector<ArrayRange>> CheckSelection(const std::vector<int64_t>& shape, const std::vector<ArrayRange>& sel,
                                              const std::string& path) {
  if (sel.empty()) {
    std::vector<ArrayRange> all;
    for (auto s : shape) all.push_back(ArrayRange{0, s, 1});
    return all;
  }
  if (sel.size() != shape.size())
    return Status::IndexError("array ", path, " has ", shape.size(), " dimensions but the selection has ", sel.size());
  for (size_t d = 0; d < sel.size(); ++d) {
    const auto& r = sel[d];
    if (r.step == 0) return Status::Invalid("array ", path, ": slice step must not be 0 (axis ", d, ")");
    int64_t n = r.count();
    if (n == 0) continue;
    const __int128 last = r.start + static_cast<__int128>(n - 1) * r.step;  // no int64 overflow
    if (r.start < 0 || r.start >= shape[d] || last < 0 || last >= shape[d])
      return Status::IndexError("array ", path, ": selection ", r.start, ":", r.stop, ":", r.step, " on axis ", d,
                                " is out of range for size ", shape[d]);
  }
  // One coordinate: its step is irrelevant and may be huge (x[3::2**63-1]); step 1 keeps the
  // copy arithmetic (step * stride) in range. With two or more, |step| < the axis size.
  std::vector<ArrayRange> out = sel;
  for (auto& r : out)
    if (r.count() == 1) r = ArrayRange{r.start, r.start + 1, 1};
  return out;
}

int64_t SelectionBytes(const std::vector<ArrayRange>& ranges, int itemsize) {
  int64_t n = itemsize;
  for (const auto& r : ranges) n *= r.count();
  return n;
}

std::string JoinShape(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

class ArrayImpl;

// Decoded chunks, process-wide, least recently used first out. Chunk files are immutable
// and never reused (random names), so the absolute file path is a key that never goes
// stale, across handles, commits and bundles.
struct ChunkCache {
  using Buf = std::shared_ptr<const std::string>;
  static LruCache<Buf>& Get() {
    static auto* c = new LruCache<Buf>(int64_t(32) << 20);  // never destroyed: readers may outlive it
    return *c;
  }
};

// Writes chunk files for one change; the commit then swaps them into the manifest.
class ChunkWriter {
 public:
  ChunkWriter(BundleImpl* b, const std::string& path, const ArrayState& st, const ZarrArrayMeta& meta)
      : b_(b), path_(path), st_(st), meta_(meta), fill_(FillChunk(meta)) {}

  // The chunk's current contents (fill_value if it has no file).
  Result<std::string> Load(const std::string& key) const {
    auto it = st_.chunks().find(key);
    if (it == st_.chunks().end()) return fill_;
    return ReadChunk(b_, path_, st_.meta, key, it->second);
  }

  // Put, PutEncoded and Drop may be called from several threads at once.
  Status Put(const std::string& key, const std::string& raw) {
    if (raw == fill_) {
      std::lock_guard<std::mutex> g(mu_);
      updates_[key] = std::nullopt;  // all fill_value: no file needed
      return Status::OK();
    }
    OCTAVO_ASSIGN_OR_RETURN(std::string enc, EncodeChunk(meta_, raw));
    return PutEncoded(key, enc);
  }
  // Put with the file write and fsync handed to `io` (the caller waits on it before
  // Finish / Discard).
  Status PutAsync(const std::string& key, const std::string& raw, BackgroundTasks* io) {
    if (raw == fill_) return Put(key, raw);
    OCTAVO_ASSIGN_OR_RETURN(std::string enc, EncodeChunk(meta_, raw));
    io->Submit([this, key, enc = std::move(enc)] { return PutEncoded(key, enc); });
    return Status::OK();
  }
  void Drop(const std::string& key) {
    std::lock_guard<std::mutex> g(mu_);
    updates_[key] = std::nullopt;
  }

  // Store already-encoded chunk bytes as they are.
  Status PutEncoded(const std::string& key, std::string_view enc) {
    ChunkFile cf;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!dir_made_) {
        OCTAVO_RETURN_NOT_OK(b_->env()->CreateDir(b_->AbsPath(kDataDir)));
        OCTAVO_RETURN_NOT_OK(b_->env()->CreateDir(b_->AbsPath(std::string(kDataDir) + "/" + st_.uid)));
        dir_made_ = true;
      }
      cf = ChunkFile{std::string(kDataDir) + "/" + st_.uid + "/" + RandomHex(12), static_cast<int64_t>(enc.size()),
                     Crc32(enc)};
      // Recorded before writing, so Discard() also removes a file whose write failed half-way.
      updates_[key] = cf;
      written_ = true;
    }
    OCTAVO_ASSIGN_OR_RETURN(auto f, b_->env()->NewWritableFile(b_->AbsPath(cf.file)));
    OCTAVO_RETURN_NOT_OK(f->Append(enc));
    OCTAVO_RETURN_NOT_OK(f->Sync());
    return f->Close();
  }

  // Remove the files this writer created (after a failure: nothing half-written stays).
  void Discard() {
    for (const auto& [k, v] : updates_)
      if (v) (void)b_->env()->RemoveFile(b_->AbsPath(v->file));
    updates_.clear();
  }

  // Durable directory entries for every new file.
  Status Finish() {
    if (!written_) return Status::OK();
    OCTAVO_RETURN_NOT_OK(b_->env()->SyncDir(b_->AbsPath(std::string(kDataDir) + "/" + st_.uid)));
    return b_->env()->SyncDir(b_->AbsPath(kDataDir));
  }

  const std::string& fill() const { return fill_; }
  const std::map<std::string, std::optional<ChunkFile>>& updates() const { return updates_; }

  static Result<std::string> ReadChunk(BundleImpl* b, const std::string& path, const ZarrArrayMeta& meta,
                                       const std::string& key, const ChunkFile& cf) {
    OCTAVO_ASSIGN_OR_RETURN(std::string data, ReadStoredChunk(b, path, key, cf));
    return DecodeChunk(meta, std::move(data), "array " + path + ": chunk " + key + " (" + b->AbsPath(cf.file) + ")");
  }

  // The chunk's stored (encoded) bytes through the bundle's Env, checked against the manifest's size and CRC.
  static Result<std::string> ReadStoredChunk(BundleImpl* b, const std::string& path, const std::string& key,
                                             const ChunkFile& cf) {
    const std::string abs = b->AbsPath(cf.file);
    const std::string where = "array " + path + ": chunk " + key + " (" + abs + ")";
    auto data = b->env()->ReadFile(abs);
    if (!data.ok())
      return Status::Corruption(where, " is missing or unreadable (", data.status().message(),
                                "); the bundle is damaged: restore the file or open an earlier commit");
    if (static_cast<int64_t>(data->size()) != cf.size)
      return Status::Corruption(where, " is ", data->size(), " bytes but the manifest recorded ", cf.size,
                                " (truncated or overwritten); restore it or open an earlier commit");
    OCTAVO_RETURN_NOT_OK(CheckChunkCrc(cf, *data, where));
    return std::move(*data);
  }

  // ReadChunk into reusable buffers (for large reads: no allocation per chunk): on success
  // `cur` holds the decoded chunk.
  static Status ReadChunkInto(BundleImpl* b, const std::string& path, const ZarrArrayMeta& meta, const std::string& key,
                              const ChunkFile& cf, std::string& cur, std::string& tmp) {
    const std::string abs = b->AbsPath(cf.file);
    auto where = [&]() { return "array " + path + ": chunk " + key + " (" + abs + ")"; };
    if (b->env()->IsObjectStore()) {  // no file descriptors there: one GET through the Env
      auto data = b->env()->ReadFile(abs);
      if (!data.ok())
        return Status::Corruption(where(), " is missing or unreadable (", data.status().message(),
                                  "); the bundle is damaged: restore the file or open an earlier commit");
      if (static_cast<int64_t>(data->size()) != cf.size)
        return Status::Corruption(where(), " is ", data->size(), " bytes but the manifest recorded ", cf.size,
                                  " (truncated or overwritten); restore it or open an earlier commit");
      cur = std::move(*data);
      OCTAVO_RETURN_NOT_OK(CheckChunkCrc(cf, cur, where()));
      return DecodeChunkInPlace(meta, cur, tmp, where());
    }
    int fd = ::open(abs.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return Status::Corruption(where(), " is missing or unreadable (", std::strerror(errno),
                                "); the bundle is damaged: restore the file or open an earlier commit");
    struct stat sb;
    int64_t size = ::fstat(fd, &sb) == 0 ? static_cast<int64_t>(sb.st_size) : -1;
    if (size != cf.size) {
      ::close(fd);
      return Status::Corruption(where(), " is ", size, " bytes but the manifest recorded ", cf.size,
                                " (truncated or overwritten); restore it or open an earlier commit");
    }
    cur.resize(static_cast<size_t>(size));
    int64_t got = 0;
    while (got < size) {
      ssize_t n = ::pread(fd, cur.data() + got, static_cast<size_t>(size - got), got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = errno;
        ::close(fd);
        return Status::Corruption(where(), " cannot be read (", n == 0 ? "unexpected end" : std::strerror(err), ")");
      }
      got += n;
    }
    ::close(fd);
    OCTAVO_RETURN_NOT_OK(CheckChunkCrc(cf, cur, where()));
    return DecodeChunkInPlace(meta, cur, tmp, where());
  }

  // ReadChunk through the process-wide cache of decoded chunks.
  static Result<ChunkCache::Buf> ReadChunkCached(BundleImpl* b, const std::string& path, const ZarrArrayMeta& meta,
                                                 const std::string& key, const ChunkFile& cf) {
    const std::string abs = b->AbsPath(cf.file);
    if (auto hit = ChunkCache::Get().Find(abs)) return hit;
    std::string raw, tmp;
    OCTAVO_RETURN_NOT_OK(ReadChunkInto(b, path, meta, key, cf, raw, tmp));
    auto buf = std::make_shared<const std::string>(std::move(raw));
    ChunkCache::Get().Put(abs, buf, static_cast<int64_t>(buf->size()));
    return buf;
  }

 private:
  BundleImpl* b_;
  std::string path_;
  const ArrayState& st_;
  const ZarrArrayMeta& meta_;
  std::string fill_;
  std::mutex mu_;
  bool dir_made_ = false;
  bool written_ = false;
  std::map<std::string, std::optional<ChunkFile>> updates_;
};

// On failure before the commit, remove the chunk files already written: nothing refers to
// them, so a failed write leaves no trace.
Status DiscardOnError(ChunkWriter& w, Status s) {
  if (!s.ok()) w.Discard();
  return s;
}

// Write `data` (C order over the ranges) into the chunks of an array with metadata `meta`.
Status WriteRegion(ChunkWriter& w, const ZarrArrayMeta& meta, const std::vector<ArrayRange>& ranges,
                   const uint8_t* data) {
  const int nd = meta.ndim();
  std::vector<std::vector<Seg>> segs(nd);
  for (int d = 0; d < nd; ++d) segs[d] = Segments(ranges[d], meta.chunks[d]);
  CopyPlan plan = MakePlan(meta, ranges);
  struct Task {
    std::string key;
    bool full;
    std::vector<const Seg*> segs;
  };
  std::vector<Task> tasks;
  OCTAVO_RETURN_NOT_OK(ForEachChunk(segs, [&](const std::vector<int64_t>& idx, const std::vector<const Seg*>& cur) {
    bool full = true;
    for (int d = 0; d < nd && full; ++d) {
      int64_t valid = std::min(meta.chunks[d], meta.shape[d] - idx[d] * meta.chunks[d]);
      full = std::abs(ranges[d].step) == 1 && cur[d]->count == valid;
    }
    tasks.push_back(Task{ChunkKey(idx), full, cur});
    return Status::OK();
  }));
  // Chunks are independent: encoded on the shared pool, written and fsynced on the I/O pool
  // (the fsync waits overlap the compression, which keeps its N threads).
  const int threads = GetNumThreads();
  BackgroundTasks io(std::max(4, 2 * threads));
  Status st = ParallelFor(tasks.size(), threads, [&](size_t i, int) -> Status {
    const Task& t = tasks[i];
    std::string buf;
    if (t.full) {
      buf = w.fill();
    } else {
      OCTAVO_ASSIGN_OR_RETURN(buf, w.Load(t.key));
    }
    if (nd == 0) std::memcpy(buf.data(), data, meta.itemsize);
    else CopyRec(plan, t.segs, 0, reinterpret_cast<uint8_t*>(buf.data()), const_cast<uint8_t*>(data), true);
    return w.PutAsync(t.key, buf, &io);
  });
  Status written = io.Wait();  // before returning: Discard must see every file
  return st.ok() ? written : st;
}

// Set the box [lo, hi) of a chunk buffer to fill_value.
void FillBox(const ZarrArrayMeta& meta, std::string& buf, const std::string& fill, const std::vector<int64_t>& lo,
             const std::vector<int64_t>& hi) {
  const int nd = meta.ndim();
  std::vector<ArrayRange> box(nd);
  std::vector<std::vector<Seg>> segs(nd);
  for (int d = 0; d < nd; ++d) {
    box[d] = ArrayRange{lo[d], hi[d], 1};
    if (hi[d] <= lo[d]) return;
    segs[d] = {Seg{0, lo[d], lo[d], hi[d] - lo[d]}};
  }
  CopyPlan p = MakePlan(meta, box);
  // Both sides are chunk-shaped buffers.
  p.ostride = p.cstride;
  std::vector<const Seg*> cur(nd);
  for (int d = 0; d < nd; ++d) cur[d] = &segs[d][0];
  CopyRec(p, cur, 0, reinterpret_cast<uint8_t*>(buf.data()),
          reinterpret_cast<uint8_t*>(const_cast<char*>(fill.data())), true);
}

std::shared_ptr<const ArrayEntry> MakeArrayEntry(const std::string& uid, const Json& zarr,
                                                 std::map<std::string, ChunkFile> chunks) {
  auto e = std::make_shared<ArrayEntry>();
  e->uid = uid;
  e->zarr = zarr;
  e->chunks = std::move(chunks);
  return e;
}

// Commit `w`'s chunks as the new array node `p` (its parent groups made if `create_parents`).
Status CommitNewArrayNode(BundleImpl* b, const std::string& p, const std::string& message, bool overwrite,
                          bool create_parents, const ArrayState& st, const ChunkWriter& w, const Json& attrs) {
  std::map<std::string, ChunkFile> chunks;
  for (const auto& [k, v] : w.updates())
    if (v) chunks[k] = *v;
  return b->CommitLocked(message, [&](Manifest& m) -> Status {
    std::string now = NowIso8601();
    if (overwrite) EraseSubtree(m, p);  // the old node goes in the commit that adds the new one
    else OCTAVO_RETURN_NOT_OK(CheckPathFree(m, p));
    OCTAVO_RETURN_NOT_OK(EnsureParentGroups(m, p, create_parents, now));
    NodeEntry n;
    n.kind = NodeKind::kArray;
    n.created_at = n.modified_at = now;
    n.attrs = attrs;
    n.array = MakeArrayEntry(st.uid, st.zarr, chunks);
    m.nodes.emplace(p, std::move(n));
    return Status::OK();
  });
}

class ArrayImpl final : public Array {
 public:
  ArrayImpl(std::shared_ptr<BundleImpl> b, std::string path) : b_(std::move(b)), path_(std::move(path)) {}

  const std::string& path() const override { return path_; }

  Result<ArrayInfo> Info() const override {
    auto m = b_->snapshot();  // needs the full chunk index
    OCTAVO_ASSIGN_OR_RETURN(ArrayState st, LoadState(*m, path_));
    ArrayInfo i;
    i.path = path_;
    i.shape = st.meta.shape;
    i.chunks = st.meta.chunks;
    i.dtype = st.meta.dtype;
    i.itemsize = st.meta.itemsize;
    i.fill_value = st.meta.fill_json.dump();
    i.fill_element = st.meta.fill_bytes;
    DescribeCodecs(st.meta, &i.compressor, &i.compression_level, &i.shuffle);
    for (const auto& c : st.meta.codecs)
      if (c.kind == ZarrBytesCodec::kBlosc && c.blosc_shuffle == 2) i.bitshuffle = true;
    i.codecs = CodecSummary(st.meta);
    i.logical_bytes = st.meta.itemsize;
    for (auto s : st.meta.shape) i.logical_bytes *= s;
    Json z = st.zarr;
    z["attributes"] = st.node->attrs;
    i.zarr_json = z.dump(2);
    i.num_chunks_stored = static_cast<int64_t>(st.chunks().size());
    for (const auto& [k, v] : st.chunks()) i.size_bytes += v.size;
    i.created_at = st.node->created_at;
    i.modified_at = st.node->modified_at;
    return i;
  }

  Result<std::vector<int64_t>> shape() const override {
    OCTAVO_ASSIGN_OR_RETURN(auto state, CachedState());
    const ArrayState& st = *state;
    return st.meta.shape;
  }

  Result<std::string> dtype() const override {
    OCTAVO_ASSIGN_OR_RETURN(auto state, CachedState());
    return state->meta.dtype;
  }

  Result<std::vector<ArrayChunkRef>> ChunkRefs() const override {
    auto m = b_->snapshot();  // needs the full chunk index
    OCTAVO_ASSIGN_OR_RETURN(ArrayState st, LoadState(*m, path_));
    std::vector<ArrayChunkRef> out;
    for (const auto& [k, v] : st.chunks()) out.push_back(ArrayChunkRef{k, b_->AbsPath(v.file), v.size, v.crc32 ? int64_t(*v.crc32) : -1});
    return out;
  }

  Result<std::string> ReadStoredChunk(const std::string& key) const override {
    OCTAVO_ASSIGN_OR_RETURN(auto state, CachedState());
    auto cf = FindChunk(*state, key);
    if (!cf) return Status::NotFound("array ", path_, " has no stored chunk '", key, "' (it reads as fill_value)");
    return ChunkWriter::ReadStoredChunk(b_.get(), path_, key, *cf);
  }

  Status Read(const std::vector<ArrayRange>& selection, void* out, int64_t out_bytes) const override {
    OCTAVO_ASSIGN_OR_RETURN(auto state, CachedState());
    const ArrayState& st = *state;
    const ZarrArrayMeta& meta = st.meta;
    OCTAVO_ASSIGN_OR_RETURN(auto ranges, CheckSelection(meta.shape, selection, path_));
    int64_t need = SelectionBytes(ranges, meta.itemsize);
    if (out_bytes != need)
      return Status::Invalid("array ", path_, ": output buffer is ", out_bytes, " bytes, the selection needs ", need);
    const int nd = meta.ndim();
    std::vector<std::vector<Seg>> segs(nd);
    for (int d = 0; d < nd; ++d) segs[d] = Segments(ranges[d], meta.chunks[d]);
    CopyPlan plan = MakePlan(meta, ranges);
    auto* dst = static_cast<uint8_t*>(out);
    // The chunks to visit; each fills its own part of `out`, so they can be decoded in parallel.
    struct Task {
      std::string key;
      std::optional<ChunkFile> file;  // none: not stored, reads as fill_value
      std::vector<const Seg*> segs;
      ChunkCache::Buf cached;  // a cache hit, found before decoding starts
    };
    std::vector<Task> tasks;
    const std::string where = "array " + path_;
    OCTAVO_RETURN_NOT_OK(ForEachChunk(segs, [&](const std::vector<int64_t>& idx, const std::vector<const Seg*>& cur) {
      Task t{ChunkKey(idx), std::nullopt, cur, nullptr};
      t.file = FindChunk(st, t.key);
      tasks.push_back(std::move(t));
      return Status::OK();
    }));
    ChunkCache::Buf fill;
    for (const auto& t : tasks)
      if (!t.file) {
        fill = std::make_shared<const std::string>(FillChunk(meta));
        break;
      }
    // Small reads go through the decoded-chunk cache (repeated small reads are cheap);
    // reads of more chunks than the cache holds decode into per-thread buffers instead.
    const bool use_cache =
        static_cast<int64_t>(tasks.size()) * meta.chunk_bytes() <= ArrayChunkCacheSize() / 2;
    int misses = 0;
    for (auto& t : tasks) {
      if (!t.file) continue;
      if (use_cache) t.cached = ChunkCache::Get().Find(b_->AbsPath(t.file->file));
      misses += !t.cached;
    }
    auto run = [&](const Task& t) -> Status {
      ChunkCache::Buf buf = fill;
      thread_local std::string cur, tmp;
      const char* data = buf ? buf->data() : nullptr;
      if (t.cached) {
        data = t.cached->data();
      } else if (t.file && use_cache) {
        OCTAVO_ASSIGN_OR_RETURN(buf, ChunkWriter::ReadChunkCached(b_.get(), path_, meta, t.key, *t.file));
        data = buf->data();
      } else if (t.file) {
        OCTAVO_RETURN_NOT_OK(ChunkWriter::ReadChunkInto(b_.get(), path_, meta, t.key, *t.file, cur, tmp));
        data = cur.data();
      }
      auto* src = reinterpret_cast<uint8_t*>(const_cast<char*>(data));
      if (nd == 0) std::memcpy(dst, src, meta.itemsize);
      else CopyRec(plan, t.segs, 0, src, dst, false);  // chunk -> selection: src is only read
      if (cur.capacity() > (size_t(64) << 20)) {  // do not keep huge chunk buffers per thread
        std::string().swap(cur);
        std::string().swap(tmp);
      }
      return Status::OK();
    };
    // Decode on the shared pool when at least two chunks need decoding.
    return ParallelFor(tasks.size(), misses >= 2 ? GetNumThreads() : 1,
                       [&](size_t i, int) { return run(tasks[i]); });
  }

  Status Write(const std::vector<ArrayRange>& selection, const void* data, int64_t nbytes) override {
    std::lock_guard<std::mutex> g(b_->writer_mutex());
    OCTAVO_RETURN_NOT_OK(b_->CheckWritable("write to array " + path_));
    auto m = b_->snapshot();
    OCTAVO_ASSIGN_OR_RETURN(ArrayState st, LoadState(*m, path_));
    OCTAVO_ASSIGN_OR_RETURN(auto ranges, CheckSelection(st.meta.shape, selection, path_));
    int64_t need = SelectionBytes(ranges, st.meta.itemsize);
    if (nbytes != need)
      return Status::Invalid("array ", path_, ": data is ", nbytes, " bytes but the selection needs ", need,
                             " (dtype ", st.meta.dtype, ")");
    ChunkWriter w(b_.get(), path_, st, st.meta);
    OCTAVO_RETURN_NOT_OK(DiscardOnError(w, WriteRegion(w, st.meta, ranges, static_cast<const uint8_t*>(data))));
    OCTAVO_RETURN_NOT_OK(DiscardOnError(w, w.Finish()));
    return CommitChange("write to array " + path_, st, st.meta.shape, w.updates());
  }

  Status Append(const void* data, int64_t nbytes, const std::vector<int64_t>& data_shape, int axis) override {
    std::lock_guard<std::mutex> g(b_->writer_mutex());
    OCTAVO_RETURN_NOT_OK(b_->CheckWritable("append to array " + path_));
    auto m = b_->snapshot();
    OCTAVO_ASSIGN_OR_RETURN(ArrayState st, LoadState(*m, path_));
    const int nd = st.meta.ndim();
    if (axis < 0) axis += nd;
    if (nd == 0) return Status::Invalid("array ", path_, " is 0-dimensional; nothing to append along");
    if (axis < 0 || axis >= nd) return Status::IndexError("array ", path_, " has no axis ", axis);
    if (static_cast<int>(data_shape.size()) != nd)
      return Status::Invalid("array ", path_, " has shape ", JoinShape(st.meta.shape), ": cannot append data of shape ",
                             JoinShape(data_shape), " (the number of dimensions differs)");
    for (int d = 0; d < nd; ++d)
      if (d != axis && data_shape[d] != st.meta.shape[d])
        return Status::Invalid("array ", path_, " has shape ", JoinShape(st.meta.shape),
                               ": cannot append data of shape ", JoinShape(data_shape), " along axis ", axis,
                               " (axis ", d, " differs)");
    int64_t n = data_shape[axis];
    if (n < 0) return Status::Invalid("negative shape");
    ZarrArrayMeta grown = st.meta;
    if (__builtin_add_overflow(grown.shape[axis], n, &grown.shape[axis]))
      return Status::Invalid("array ", path_, ": appending ", n, " along axis ", axis, " overflows the shape");
    OCTAVO_RETURN_NOT_OK(CheckGeometry(grown.shape, grown.chunks, grown.itemsize, "append to array " + path_,
                                       StatusCode::kInvalid));
    std::vector<ArrayRange> ranges;
    for (int d = 0; d < nd; ++d)
      ranges.push_back(d == axis ? ArrayRange{st.meta.shape[d], grown.shape[d], 1} : ArrayRange{0, grown.shape[d], 1});
    int64_t need = SelectionBytes(ranges, st.meta.itemsize);
    if (nbytes != need)
      return Status::Invalid("array ", path_, ": data is ", nbytes, " bytes but shape ", JoinShape(data_shape), " of ",
                             st.meta.dtype, " needs ", need);
    if (n == 0) return Status::OK();
    ChunkWriter w(b_.get(), path_, st, grown);
    OCTAVO_RETURN_NOT_OK(DiscardOnError(w, WriteRegion(w, grown, ranges, static_cast<const uint8_t*>(data))));
    OCTAVO_RETURN_NOT_OK(DiscardOnError(w, w.Finish()));
    return CommitChange("append " + std::to_string(n) + " along axis " + std::to_string(axis) + " of array " + path_,
                        st, grown.shape, w.updates());
  }

  Status Resize(const std::vector<int64_t>& new_shape) override {
    std::lock_guard<std::mutex> g(b_->writer_mutex());
    OCTAVO_RETURN_NOT_OK(b_->CheckWritable("resize array " + path_));
    auto m = b_->snapshot();
    OCTAVO_ASSIGN_OR_RETURN(ArrayState st, LoadState(*m, path_));
    const int nd = st.meta.ndim();
    if (static_cast<int>(new_shape.size()) != nd)
      return Status::Invalid("array ", path_, " has ", nd, " dimensions; resize to ", JoinShape(new_shape),
                             " would change that");
    OCTAVO_RETURN_NOT_OK(CheckGeometry(new_shape, st.meta.chunks, st.meta.itemsize, "resize array " + path_,
                                       StatusCode::kInvalid));
    ChunkWriter w(b_.get(), path_, st, st.meta);
    for (const auto& [key, cf] : st.chunks()) {
      OCTAVO_ASSIGN_OR_RETURN(auto idx, ParseChunkKey(key, nd));
      bool outside = false, cut = false;
      std::vector<int64_t> origin(nd);
      for (int d = 0; d < nd; ++d) {
        origin[d] = idx[d] * st.meta.chunks[d];
        if (origin[d] >= new_shape[d]) outside = true;
        else if (new_shape[d] < st.meta.shape[d] && origin[d] + st.meta.chunks[d] > new_shape[d]) cut = true;
      }
      if (outside) {
        w.Drop(key);
        continue;
      }
      if (!cut) continue;
      auto loaded = w.Load(key);
      if (!loaded.ok()) return DiscardOnError(w, loaded.status());
      std::string buf = std::move(*loaded);
      for (int d = 0; d < nd; ++d) {
        int64_t keep = new_shape[d] - origin[d];
        if (keep >= st.meta.chunks[d]) continue;
        std::vector<int64_t> lo(nd, 0), hi(st.meta.chunks.begin(), st.meta.chunks.end());
        lo[d] = keep;
        FillBox(st.meta, buf, w.fill(), lo, hi);
      }
      OCTAVO_RETURN_NOT_OK(DiscardOnError(w, w.Put(key, buf)));
    }
    OCTAVO_RETURN_NOT_OK(DiscardOnError(w, w.Finish()));
    return CommitChange("resize array " + path_ + " to " + JoinShape(new_shape), st, new_shape, w.updates());
  }

 private:
  // Caller holds the writer mutex.
  Status CommitChange(const std::string& message, const ArrayState& st, const std::vector<int64_t>& shape,
                      const std::map<std::string, std::optional<ChunkFile>>& updates) {
    return b_->CommitLocked(message, [&](Manifest& m) -> Status {
      auto it = m.nodes.find(path_);
      if (it == m.nodes.end() || it->second.kind != NodeKind::kArray || !it->second.array ||
          it->second.array->uid != st.uid)
        return Status::NotFound("array '", path_, "' was removed or replaced meanwhile");
      std::map<std::string, ChunkFile> chunks = st.chunks();
      for (const auto& [k, v] : updates) {
        if (v) chunks[k] = *v;
        else chunks.erase(k);
      }
      Json zarr = it->second.array->zarr;
      zarr["shape"] = shape;
      it->second.array = MakeArrayEntry(st.uid, zarr, std::move(chunks));
      it->second.modified_at = NowIso8601();
      return Status::OK();
    });
  }

  // The parsed array state of the current snapshot, parsed once per snapshot: reads of
  // the same commit do not re-parse the manifest's chunk index.
  Result<std::shared_ptr<const ArrayState>> CachedState() const {
    auto m = b_->snapshot();
    std::lock_guard<std::mutex> g(state_mu_);
    if (state_ && state_manifest_ == m) return state_;
    OCTAVO_ASSIGN_OR_RETURN(ArrayState st, LoadState(*m, path_, /*index=*/false));
    state_ = std::make_shared<const ArrayState>(std::move(st));
    state_manifest_ = m;  // keeps st.node valid
    return state_;
  }

  std::shared_ptr<BundleImpl> b_;
  std::string path_;
  mutable std::mutex state_mu_;
  mutable std::shared_ptr<const Manifest> state_manifest_;
  mutable std::shared_ptr<const ArrayState> state_;
};

}  // namespace

Result<std::shared_ptr<Array>> OpenArrayNode(const BundleImpl& b, const std::string& path) {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, b.ResolvePath(path));
  auto m = b.snapshot();
  OCTAVO_RETURN_NOT_OK(LoadState(*m, p, /*index=*/false).status());
  auto self = std::static_pointer_cast<BundleImpl>(std::const_pointer_cast<Bundle>(b.shared_from_this()));
  return std::shared_ptr<Array>(std::make_shared<ArrayImpl>(self, p));
}

Result<std::shared_ptr<Array>> CreateArrayNode(BundleImpl* b, const std::string& path, const std::vector<int64_t>& shape,
                                               const std::string& dtype, const ArrayOptions& options,
                                               const void* data, int64_t data_bytes, const CreateNodeOptions& node) {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  if (p == "/") return Status::Invalid("an array cannot be the root group");
  const std::string where = "array " + p;
  OCTAVO_ASSIGN_OR_RETURN(Json attrs, ParseNodeAttrs(node.attrs_json, "attributes of " + where));
  OCTAVO_ASSIGN_OR_RETURN(Json zarr, MakeZarrJson(shape, dtype, options, where));
  OCTAVO_ASSIGN_OR_RETURN(ZarrArrayMeta meta, ParseZarrJson(zarr, where));
  std::vector<ArrayRange> all;
  for (auto s : shape) all.push_back(ArrayRange{0, s, 1});
  if (data) {
    int64_t need = SelectionBytes(all, meta.itemsize);
    if (data_bytes != need)
      return Status::Invalid(where, ": data is ", data_bytes, " bytes but shape ", JoinShape(shape), " of ", dtype,
                             " needs ", need);
  }
  std::lock_guard<std::mutex> g(b->writer_mutex());
  OCTAVO_RETURN_NOT_OK(b->CheckWritable("create array " + p));
  if (!node.overwrite) OCTAVO_RETURN_NOT_OK(CheckPathFree(*b->snapshot(), p));
  ArrayState st;
  st.uid = RandomHex(8);
  st.zarr = zarr;
  st.meta = meta;
  ChunkWriter w(b, p, st, meta);
  if (data) {
    OCTAVO_RETURN_NOT_OK(DiscardOnError(w, WriteRegion(w, meta, all, static_cast<const uint8_t*>(data))));
    OCTAVO_RETURN_NOT_OK(DiscardOnError(w, w.Finish()));
  }
  const bool replaces = node.overwrite && b->snapshot()->nodes.count(p) > 0;
  OCTAVO_RETURN_NOT_OK(CommitNewArrayNode(b, p, (replaces ? "overwrite array " : "create array ") + p, node.overwrite,
                                          node.create_parents, st, w, attrs));
  return b->OpenArray(p);
}

}  // namespace octavo

namespace octavo {

void SetArrayChunkCacheSize(int64_t bytes) { ChunkCache::Get().SetCapacity(bytes); }
int64_t ArrayChunkCacheSize() { return ChunkCache::Get().capacity(); }

Result<std::shared_ptr<Array>> ImportZarrArray(Bundle& bundle, const std::string& zarr_dir, const std::string& path,
                                               bool create_parents) {
  auto* b = static_cast<BundleImpl*>(&bundle);
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  if (p == "/") return Status::Invalid("an array cannot be the root group");
  const std::string src = zarr_dir.size() > 1 && zarr_dir.back() == '/' ? zarr_dir.substr(0, zarr_dir.size() - 1)
                                                                         : zarr_dir;
  const std::string meta_file = src + "/zarr.json";
  auto text = b->env()->ReadFile(meta_file);
  if (!text.ok()) return Status::NotFound("no Zarr v3 array at ", src, " (cannot read ", meta_file, ")");
  auto parsed = ParseJson(*text, meta_file);
  if (!parsed.ok())
    return Status::Corruption(meta_file, " is not valid JSON (", parsed.status().message(), ")");
  Json zarr = *parsed;
  auto meta_r = ParseZarrJson(zarr, meta_file);
  if (!meta_r.ok()) {
    if (meta_r.status().code() == StatusCode::kInvalid) return Status::Corruption(meta_r.status().message());
    return meta_r.status();
  }
  ZarrArrayMeta meta = std::move(*meta_r);
  std::string sep = "/";
  if (zarr.contains("chunk_key_encoding")) {
    const Json& k = zarr["chunk_key_encoding"];
    if (k.is_object() && k.contains("configuration") && k["configuration"].is_object())
      sep = k["configuration"].value("separator", "/");
    if (sep != "/" && sep != ".") return Status::Corruption(meta_file, ": chunk key separator must be \"/\" or \".\"");
  }
  Json attrs = zarr.value("attributes", Json::object());
  if (!attrs.is_object()) return Status::Corruption(meta_file, ": attributes must be an object");
  zarr["attributes"] = Json::object();
  for (const char* drop : {"dimension_names"})
    if (zarr.contains(drop) && zarr[drop].is_null()) zarr.erase(drop);

  // Chunk files: "c" (0-d), c/<i>/<j>... or c.<i>.<j>...
  std::vector<std::pair<std::string, std::string>> files;  // (octavo key "i.j", file)
  {
    namespace fs = std::filesystem;
    std::error_code ec;
    auto grid = meta.grid();
    auto add = [&](const std::string& rel, const std::string& file) -> Status {
      std::string key = rel == "c" ? "" : rel.substr(2);
      if (sep == "/") std::replace(key.begin(), key.end(), '/', '.');
      auto idx = ParseChunkKey(key, meta.ndim());
      if (!idx.ok()) return Status::Corruption(src, ": '", rel, "' is not a chunk key of a ", meta.ndim(), "-d array");
      for (int d = 0; d < meta.ndim(); ++d)
        if ((*idx)[d] >= grid[d])
          return Status::Corruption(src, ": chunk '", rel, "' lies outside the array's shape");
      files.emplace_back(key, file);
      return Status::OK();
    };
    if (meta.ndim() == 0 || sep == "/") {
      fs::path base = fs::path(src) / "c";
      if (fs::is_regular_file(base, ec)) {
        OCTAVO_RETURN_NOT_OK(add("c", base.string()));
      } else if (fs::is_directory(base, ec)) {
        for (auto it = fs::recursive_directory_iterator(base, ec); !ec && it != fs::recursive_directory_iterator();
             it.increment(ec)) {
          if (!it->is_regular_file()) continue;
          std::string rel = "c/" + fs::relative(it->path(), base).generic_string();
          OCTAVO_RETURN_NOT_OK(add(rel, it->path().string()));
        }
      }
    } else {
      for (auto it = fs::directory_iterator(src, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
        std::string name = it->path().filename().string();
        if (it->is_regular_file() && name.rfind("c.", 0) == 0) OCTAVO_RETURN_NOT_OK(add(name, it->path().string()));
      }
    }
    if (ec) return Status::IOError("cannot list the chunks of ", src, ": ", ec.message());
  }

  std::lock_guard<std::mutex> g(b->writer_mutex());
  OCTAVO_RETURN_NOT_OK(b->CheckWritable("import Zarr array " + p));
  {
    OCTAVO_RETURN_NOT_OK(CheckPathFree(*b->snapshot(), p));
  }
  ArrayState st;
  st.uid = RandomHex(8);
  st.zarr = zarr;
  st.meta = meta;
  ChunkWriter w(b, p, st, meta);
  auto copy_all = [&]() -> Status {
    for (const auto& [key, file] : files) {
      OCTAVO_ASSIGN_OR_RETURN(std::string enc, b->env()->ReadFile(file));
      const std::string where = "Zarr chunk " + file;
      OCTAVO_ASSIGN_OR_RETURN(std::string raw, DecodeChunk(meta, std::string(enc), where));
      if (raw == w.fill()) continue;
      OCTAVO_RETURN_NOT_OK(w.PutEncoded(key, enc));
    }
    return w.Finish();
  };
  if (Status s = copy_all(); !s.ok()) {
    w.Discard();  // before the commit: nothing refers to these files
    return s;
  }
  // A failed commit may still have switched CURRENT (e.g. a failing directory sync), so
  // the files stay: at worst they are unreferenced.
  OCTAVO_RETURN_NOT_OK(CommitNewArrayNode(b, p, "import Zarr array " + src + " as " + p, /*overwrite=*/false,
                                          create_parents, st, w, attrs));
  return b->OpenArray(p);
}

Result<std::shared_ptr<Array>> CreateArray(Bundle& bundle, const std::string& path, const std::vector<int64_t>& shape,
                                           const std::string& dtype, const ArrayOptions& options, const void* data,
                                           int64_t data_bytes, const CreateNodeOptions& node_options) {
  auto* b = dynamic_cast<BundleImpl*>(&bundle);
  if (!b) return Status::NotImplemented("CreateArray with node options needs a bundle from Bundle::Open");
  return CreateArrayNode(b, path, shape, dtype, options, data, data_bytes, node_options);
}

}  // namespace octavo
