// File nodes: content-addressed blobs under data/files/, one node per path in the manifest.
//
// payload = {"digest": "blake2b-256:<hex>", "size": n, "blob": "data/files/ab/<hex>",
//            "block_size": 1048576, "block_crc32": [c0, c1, ...]}
// The digest checks whole reads; the per-block CRCs let a random read (seek + read) check
// every byte it returns without hashing the whole file first.
//
// Write path: bytes stream into data/files/tmp/<random> (buffered, hashed on the way),
// fsync, then rename to the content address unless that blob already exists (same digest
// = same bytes: the temporary is dropped), fsync the directory, then commit the node.
// A crash before the commit leaves at most an unreferenced blob; never a half node.
#include <arrow/io/file.h>
#include <blake2.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <mutex>
#include <vector>

#include "file/file_node.h"

#include "bundle/bundle_impl.h"
#include "format/filename.h"
#include "octavo/file.h"
#include "octavo/arrow_status.h"
#include "util/crc32.h"
#include "util/json_util.h"
#include "util/names.h"
#include "util/time_util.h"

namespace octavo {
namespace {

constexpr int kDigestBytes = 32;
constexpr size_t kBufferBytes = 1 << 20;
constexpr int64_t kBlockBytes = 1 << 20;  // one CRC-32 per MiB of content

// CRC-32 of each kBlockBytes block of a byte stream.
class BlockCrcs {
 public:
  void Update(const void* data, int64_t n) {
    const auto* p = static_cast<const uint8_t*>(data);
    while (n > 0) {
      const int64_t take = std::min(n, kBlockBytes - in_block_);
      crc_ = Crc32(crc_, p, static_cast<size_t>(take));
      in_block_ += take;
      p += take;
      n -= take;
      if (in_block_ == kBlockBytes) {
        crcs_.push_back(crc_);
        crc_ = 0;
        in_block_ = 0;
      }
    }
  }
  std::vector<uint32_t> Finish() {
    if (in_block_ > 0) crcs_.push_back(crc_);
    crc_ = 0;
    in_block_ = 0;
    return std::move(crcs_);
  }

 private:
  uint32_t crc_ = 0;
  int64_t in_block_ = 0;
  std::vector<uint32_t> crcs_;
};


std::string Hex(const uint8_t* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  return out;
}

class Hasher {
 public:
  Hasher() { blake2b_init(&state_, kDigestBytes); }
  void Update(const void* p, size_t n) { blake2b_update(&state_, static_cast<const uint8_t*>(p), n); }
  std::string Finish() {
    uint8_t out[kDigestBytes];
    blake2b_final(&state_, out, kDigestBytes);
    return kDigestPrefix + Hex(out, kDigestBytes);
  }

 private:
  blake2b_state state_;
};

// The file entry of a node (validated when the manifest was read).
Result<FileNodeInfo> InfoFromNode(const std::string& path, const NodeEntry& n) {
  if (n.kind != NodeKind::kFile)
    return Status::TypeError("'", path, "' is ", NodeKindWithArticle(n.kind), ", not a file node");
  if (!n.file) return Status::Corruption("file node '", path, "' has no file entry in the manifest");
  FileNodeInfo info;
  info.path = path;
  info.digest = n.file->digest;
  info.size = n.file->size;
  info.blob = BlobFileName(info.digest);  // derived, never taken from the manifest: no path escapes
  info.created_at = n.created_at;
  info.modified_at = n.modified_at;
  return info;
}

std::string TakenFix(NodeKind kind) {
  return kind == NodeKind::kFile ? "pass overwrite=True to replace it" : kPathTakenFix;
}

class FileWriterImpl final : public FileWriter {
 public:
  FileWriterImpl(std::shared_ptr<BundleImpl> b, std::string path, FileWriteOptions options, std::string tmp_rel,
                 std::unique_ptr<WritableFile> out)
      : b_(std::move(b)), path_(std::move(path)), options_(options), tmp_rel_(std::move(tmp_rel)),
        out_(std::move(out)) {
    buffer_.reserve(kBufferBytes);
    ++b_->active_file_writers();
  }
  ~FileWriterImpl() override {
    if (!closed_) (void)Abort();
  }

  Status Write(const void* data, int64_t size) override {
    if (closed_) return Status::Invalid("file node '", path_, "': write after close");
    if (!error_.ok()) return error_;
    if (size < 0) return Status::Invalid("negative write size");
    hasher_.Update(data, static_cast<size_t>(size));
    blocks_.Update(data, size);
    written_ += size;
    const char* p = static_cast<const char*>(data);
    if (buffer_.size() + static_cast<size_t>(size) < kBufferBytes) {
      buffer_.append(p, static_cast<size_t>(size));
      return Status::OK();
    }
    OCTAVO_RETURN_NOT_OK(Remember(Flush()));
    if (static_cast<size_t>(size) >= kBufferBytes) return Remember(out_->Append(std::string_view(p, size)));
    buffer_.append(p, static_cast<size_t>(size));
    return Status::OK();
  }

  int64_t bytes_written() const override { return written_; }
  bool closed() const override { return closed_; }

  Result<FileNodeInfo> Close() override {
    if (closed_) return Status::Invalid("file node '", path_, "' is already closed");
    if (!error_.ok()) {
      (void)Abort();
      return error_;
    }
    Status st = Publish();
    if (!st.ok()) {
      (void)Abort();
      return st;
    }
    closed_ = true;
    --b_->active_file_writers();
    return info_;
  }

  Status Abort() override {
    if (closed_) return Status::OK();
    closed_ = true;
    --b_->active_file_writers();
    if (out_) (void)out_->Close();
    Env* env = b_->env();
    if (env->FileExists(b_->AbsPath(tmp_rel_))) (void)env->RemoveFile(b_->AbsPath(tmp_rel_));
    return Status::OK();
  }

 private:
  Status Remember(Status st) {
    if (!st.ok()) error_ = st;
    return st;
  }
  Status Flush() {
    if (buffer_.empty()) return Status::OK();
    Status st = out_->Append(buffer_);
    buffer_.clear();
    return st;
  }

  Status Publish() {
    OCTAVO_RETURN_NOT_OK(Flush());
    OCTAVO_RETURN_NOT_OK(out_->Sync());
    OCTAVO_RETURN_NOT_OK(out_->Close());
    Env* env = b_->env();
    const std::string digest = hasher_.Finish();
    const std::vector<uint32_t> block_crcs = blocks_.Finish();
    const std::string blob = BlobFileName(digest);
    const std::string blob_abs = b_->AbsPath(blob);
    const std::string dir_abs = blob_abs.substr(0, blob_abs.rfind('/'));
    bool reuse = false;
    if (env->FileExists(blob_abs)) {
      // Same digest: the same bytes are already stored. A blob of the wrong size is a
      // damaged leftover, replaced below by the fresh copy.
      auto sz = env->FileSize(blob_abs);
      reuse = sz.ok() && *sz == written_;
    }
    if (reuse) {
      OCTAVO_RETURN_NOT_OK(env->RemoveFile(b_->AbsPath(tmp_rel_)));
    } else {
      OCTAVO_RETURN_NOT_OK(env->CreateDir(dir_abs));
      OCTAVO_RETURN_NOT_OK(env->RenameFile(b_->AbsPath(tmp_rel_), blob_abs));
      // Every directory entry on the way must be durable before a manifest names the blob.
      OCTAVO_RETURN_NOT_OK(env->SyncDir(dir_abs));
      OCTAVO_RETURN_NOT_OK(env->SyncDir(b_->AbsPath(kFilesDir)));
      OCTAVO_RETURN_NOT_OK(env->SyncDir(b_->AbsPath(kDataDir)));
    }
    std::lock_guard<std::mutex> g(b_->writer_mutex());
    OCTAVO_RETURN_NOT_OK(b_->CheckWritable("write file node " + path_));
    std::string now = NowIso8601();
    OCTAVO_RETURN_NOT_OK(b_->CommitLocked("write file " + path_, [&](Manifest& m) -> Status {
      std::string created = now;
      if (auto it = m.nodes.find(path_); it != m.nodes.end()) {
        if (!options_.overwrite || it->second.kind != NodeKind::kFile)
          return PathTaken(path_, it->second.kind, TakenFix(it->second.kind));
        created = it->second.created_at;
      }
      OCTAVO_RETURN_NOT_OK(EnsureParentGroups(m, path_, options_.create_parents, now));
      NodeEntry n;
      if (auto it = m.nodes.find(path_); it != m.nodes.end()) n.attrs = it->second.attrs;
      n.kind = NodeKind::kFile;
      n.created_at = created;
      n.modified_at = now;
      n.file = std::make_shared<const FileEntry>(FileEntry{digest, written_, kBlockBytes, block_crcs});
      m.nodes[path_] = std::move(n);
      return Status::OK();
    }));
    info_.path = path_;
    info_.size = written_;
    info_.digest = digest;
    info_.blob = blob;
    info_.created_at = info_.modified_at = now;
    return Status::OK();
  }

  std::shared_ptr<BundleImpl> b_;
  std::string path_;
  FileWriteOptions options_;
  std::string tmp_rel_;
  std::unique_ptr<WritableFile> out_;
  std::string buffer_;
  Hasher hasher_;
  BlockCrcs blocks_;
  int64_t written_ = 0;
  bool closed_ = false;
  Status error_;
  FileNodeInfo info_;
};

class FileReaderImpl final : public FileReader {
 public:
  FileReaderImpl(FileNodeInfo info, std::shared_ptr<arrow::io::RandomAccessFile> file, std::vector<uint32_t> block_crcs)
      : info_(std::move(info)), file_(std::move(file)), block_crcs_(std::move(block_crcs)) {}
  const FileNodeInfo& info() const override { return info_; }

  // Every byte returned is checked: against its block's CRC, or, for a node written before
  // block CRCs, against the digest of the whole content (hashed once, at the first read).
  Result<int64_t> ReadAt(int64_t offset, int64_t size, void* out) const override {
    if (offset < 0 || size < 0) return Status::Invalid("file node '", info_.path, "': negative offset or size");
    if (offset >= info_.size || size == 0) return 0;
    const int64_t n = std::min(size, info_.size - offset);
    std::lock_guard<std::mutex> g(mu_);
    if (block_crcs_.empty()) {
      if (!whole_checked_) {
        OCTAVO_RETURN_NOT_OK(CheckWholeDigest());
        whole_checked_ = true;
      }
      return ReadRaw(offset, n, out);
    }
    auto* dst = static_cast<uint8_t*>(out);
    for (int64_t done = 0; done < n;) {
      const int64_t pos = offset + done;
      const int64_t block = pos / kBlockBytes;
      OCTAVO_RETURN_NOT_OK(LoadBlock(block));
      const int64_t in_block = pos - block * kBlockBytes;
      const int64_t take = std::min(n - done, static_cast<int64_t>(block_buf_.size()) - in_block);
      std::memcpy(dst + done, block_buf_.data() + in_block, static_cast<size_t>(take));
      done += take;
    }
    return n;
  }

  Status CopyTo(const std::function<Status(const void*, int64_t)>& sink) const override {
    Hasher h;
    std::string buf(kBufferBytes, '\0');
    for (int64_t off = 0; off < info_.size;) {
      OCTAVO_ASSIGN_OR_RETURN(int64_t n, ReadAt(off, static_cast<int64_t>(buf.size()), buf.data()));
      h.Update(buf.data(), static_cast<size_t>(n));
      OCTAVO_RETURN_NOT_OK(sink(buf.data(), n));
      off += n;
    }
    if (h.Finish() != info_.digest) return DigestMismatch();
    return Status::OK();
  }

 private:
  Status DigestMismatch() const {
    return Status::Corruption("file node '", info_.path, "': content file ", info_.blob,
                              " does not match its digest (the file was damaged or changed on disk)");
  }
  Result<int64_t> ReadRaw(int64_t offset, int64_t n, void* out) const {
    auto r = file_->ReadAt(offset, n, out);
    if (!r.ok()) return FromArrow(r.status()).WithContext("reading file node '" + info_.path + "'");
    if (*r != n)
      return Status::Corruption("file node '", info_.path, "': content file ", info_.blob, " is shorter than the ",
                                info_.size, " bytes recorded (truncated)");
    return *r;
  }
  // Reads block `block` into block_buf_ and checks its CRC (kept: sequential small reads
  // of one block read and check it once). Caller holds mu_.
  Status LoadBlock(int64_t block) const {
    if (block == cached_block_) return Status::OK();
    cached_block_ = -1;
    const int64_t start = block * kBlockBytes;
    block_buf_.resize(static_cast<size_t>(std::min(kBlockBytes, info_.size - start)));
    OCTAVO_RETURN_NOT_OK(ReadRaw(start, static_cast<int64_t>(block_buf_.size()), block_buf_.data()).status());
    if (Crc32(0, block_buf_.data(), block_buf_.size()) != block_crcs_[static_cast<size_t>(block)])
      return Status::Corruption("file node '", info_.path, "': content file ", info_.blob, " is damaged at bytes ",
                                start, "-", start + static_cast<int64_t>(block_buf_.size()) - 1,
                                " (block checksum mismatch); restore the file or open an earlier commit");
    cached_block_ = block;
    return Status::OK();
  }
  Status CheckWholeDigest() const {
    Hasher h;
    std::string buf(kBufferBytes, '\0');
    for (int64_t off = 0; off < info_.size;) {
      const int64_t want = std::min<int64_t>(static_cast<int64_t>(buf.size()), info_.size - off);
      OCTAVO_ASSIGN_OR_RETURN(int64_t n, ReadRaw(off, want, buf.data()));
      h.Update(buf.data(), static_cast<size_t>(n));
      off += n;
    }
    if (h.Finish() != info_.digest) return DigestMismatch();
    return Status::OK();
  }

  FileNodeInfo info_;
  std::shared_ptr<arrow::io::RandomAccessFile> file_;
  const std::vector<uint32_t> block_crcs_;
  mutable std::mutex mu_;
  mutable std::vector<uint8_t> block_buf_;
  mutable int64_t cached_block_ = -1;
  mutable bool whole_checked_ = false;
};

}  // namespace


Result<std::unique_ptr<FileWriter>> CreateFileNode(BundleImpl* b, const std::string& path,
                                                    const FileWriteOptions& options) {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, NormalizePath(path));
  if (p == "/") return Status::Invalid("a file node cannot be the root group");
  OCTAVO_RETURN_NOT_OK(b->CheckWritable("create file node " + p));
  {
    // Fail early on a taken name (checked again at commit: another writer may race).
    auto m = b->snapshot();
    if (auto it = m->nodes.find(p); it != m->nodes.end() && !(options.overwrite && it->second.kind == NodeKind::kFile))
      return PathTaken(p, it->second.kind, TakenFix(it->second.kind));
    OCTAVO_RETURN_NOT_OK(CheckParentGroups(*m, p, options.create_parents));
  }
  OCTAVO_RETURN_NOT_OK(b->env()->CreateDir(b->AbsPath(kFilesDir)));
  OCTAVO_RETURN_NOT_OK(b->env()->CreateDir(b->AbsPath(std::string(kFilesDir) + "/tmp")));
  std::string tmp = std::string(kFilesDir) + "/tmp/" + RandomHex(12);
  OCTAVO_ASSIGN_OR_RETURN(auto out, b->env()->NewWritableFile(b->AbsPath(tmp)));
  auto self = std::static_pointer_cast<BundleImpl>(b->shared_from_this());
  FileWriteOptions o = options;
  o.overwrite = o.overwrite || o.append;
  auto w = std::make_unique<FileWriterImpl>(self, p, o, tmp, std::move(out));
  if (o.append && b->Exists(p)) {
    // Content is immutable: appending writes old bytes + new bytes as a new content file.
    OCTAVO_ASSIGN_OR_RETURN(auto old, b->OpenFile(p));
    OCTAVO_RETURN_NOT_OK(old->CopyTo([&](const void* data, int64_t n) { return w->Write(data, n); }));
  }
  return std::unique_ptr<FileWriter>(std::move(w));
}

Result<FileNodeInfo> FileNodeInfoOf(const BundleImpl& b, const std::string& path) {
  OCTAVO_ASSIGN_OR_RETURN(std::string p, b.ResolvePath(path));
  auto m = b.snapshot();
  OCTAVO_ASSIGN_OR_RETURN(const NodeEntry* n, FindNode(*m, p));
  return InfoFromNode(p, *n);
}

Result<std::shared_ptr<FileReader>> OpenFileNode(const BundleImpl& b, const std::string& path) {
  OCTAVO_ASSIGN_OR_RETURN(FileNodeInfo info, FileNodeInfoOf(b, path));
  const std::string& p = info.path;
  const std::string abs = b.AbsPath(info.blob);
  auto f = b.env()->OpenRandomAccess(abs);
  if (!f.ok()) {
    if (!b.env()->FileExists(abs))
      return Status::Corruption("file node '", p, "': its content file ", info.blob,
                                " is missing from the bundle (deleted or not copied)");
    return f.status().WithContext("opening file node '" + p + "'");
  }
  auto size = (*f)->GetSize();
  if (!size.ok()) return FromArrow(size.status()).WithContext("opening file node '" + p + "'");
  if (*size != info.size)
    return Status::Corruption("file node '", p, "': content file ", info.blob, " is ", *size, " bytes but ",
                              info.size, " were recorded (truncated or damaged)");
  std::vector<uint32_t> block_crcs;
  {
    auto m = b.snapshot();
    OCTAVO_ASSIGN_OR_RETURN(const NodeEntry* n, FindNode(*m, p));
    if (n->file && n->file->block_size == kBlockBytes) block_crcs = n->file->block_crc32;
    else if (n->file && n->file->block_size != 0)
      return Status::NotImplemented("file node '", p, "' uses ", n->file->block_size,
                                    "-byte checksum blocks; this octavo reads ", kBlockBytes, "-byte blocks");
  }
  return std::shared_ptr<FileReader>(
      std::make_shared<FileReaderImpl>(std::move(info), std::move(*f), std::move(block_crcs)));
}

Result<FileNodeInfo> PutFile(Bundle& bundle, const std::string& local_path, const std::string& node_path,
                             const FileWriteOptions& options) {
  std::ifstream in(local_path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open local file '", local_path, "'");
  OCTAVO_ASSIGN_OR_RETURN(auto w, bundle.CreateFile(node_path, options));
  std::string buf(kBufferBytes, '\0');
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::streamsize n = in.gcount();
    if (n > 0) OCTAVO_RETURN_NOT_OK(w->Write(buf.data(), n));
  }
  if (in.bad()) {
    (void)w->Abort();
    return Status::IOError("cannot read local file '", local_path, "'");
  }
  return w->Close();
}

Status GetFile(const Bundle& bundle, const std::string& node_path, const std::string& local_path) {
  OCTAVO_ASSIGN_OR_RETURN(auto r, bundle.OpenFile(node_path));
  const std::string tmp = local_path + ".octavo-tmp-" + RandomHex(4);
  Env* env = Env::Default();
  OCTAVO_ASSIGN_OR_RETURN(auto out, env->NewWritableFile(tmp));
  Status st = r->CopyTo([&](const void* p, int64_t n) {
    return out->Append(std::string_view(static_cast<const char*>(p), static_cast<size_t>(n)));
  });
  if (st.ok()) st = out->Sync();
  if (st.ok()) st = out->Close();
  if (st.ok()) st = env->RenameFile(tmp, local_path);
  if (!st.ok()) {
    (void)out->Close();
    (void)env->RemoveFile(tmp);
  }
  return st;
}

}  // namespace octavo
