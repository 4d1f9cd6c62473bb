#include "objstore/s3_env.h"

#include <arrow/buffer.h>
#include <arrow/filesystem/s3fs.h>
#include <arrow/io/interfaces.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "octavo/arrow_status.h"

namespace octavo {
namespace {

constexpr std::string_view kScheme = "s3://";

std::string EnvVar(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

// "s3://bucket/key" -> "bucket/key" (Arrow's S3 paths).
std::string ArrowPath(const std::string& path) {
  std::string p = path.rfind(kScheme, 0) == 0 ? path.substr(kScheme.size()) : path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// Arrow reports a missing object as an IOError; octavo callers tell kNotFound apart.
Status FromArrowS3(const arrow::Status& st, const std::string& what, const std::string& path) {
  if (st.ok()) return Status::OK();
  const std::string msg = what + " '" + path + "': " + st.message();
  if (st.IsIOError() && (st.message().find("does not exist") != std::string::npos ||
                         st.message().find("NoSuchKey") != std::string::npos ||
                         st.message().find("Not a regular file") != std::string::npos))
    return Status::NotFound(msg);
  if (st.IsIOError()) return Status::IOError(msg);
  return FromArrow(st).WithContext(what + " '" + path + "'");
}

uint64_t RandomU64() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

std::string RandomHex(int n) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < n; ++i) out.push_back(digits[RandomU64() & 15]);
  return out;
}

// --- the conditional PUT, through libcurl ---------------------------------------------------

// libcurl, loaded on first use with RTLD_DEEPBIND instead of linked: the pyarrow wheel's
// libparquet exports the OpenSSL symbols it carries, and the system libcrypto that libcurl
// pulls in would bind its own internals to them (and crash, e.g. when Python's hashlib is
// imported next). Deep binding keeps libcurl and its OpenSSL to themselves.
struct Curl {
  decltype(&::curl_global_init) global_init = nullptr;
  decltype(&::curl_easy_init) easy_init = nullptr;
  decltype(&::curl_easy_setopt) easy_setopt = nullptr;
  decltype(&::curl_easy_perform) easy_perform = nullptr;
  decltype(&::curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&::curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&::curl_easy_strerror) easy_strerror = nullptr;
  decltype(&::curl_easy_escape) easy_escape = nullptr;
  decltype(&::curl_free) free = nullptr;
  decltype(&::curl_slist_append) slist_append = nullptr;
  decltype(&::curl_slist_free_all) slist_free_all = nullptr;
};

Result<const Curl*> LoadCurl() {
  static Curl curl;
  static Status loaded = [] {
    void* h = ::dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (!h)
      return Status::IOError("committing to an object store needs libcurl (libcurl.so.4; Debian: apt install "
                             "libcurl4): ", ::dlerror());
    bool ok = true;
    auto sym = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(::dlsym(h, name));
      ok = ok && fn;
    };
    sym(curl.global_init, "curl_global_init");
    sym(curl.easy_init, "curl_easy_init");
    sym(curl.easy_setopt, "curl_easy_setopt");
    sym(curl.easy_perform, "curl_easy_perform");
    sym(curl.easy_cleanup, "curl_easy_cleanup");
    sym(curl.easy_getinfo, "curl_easy_getinfo");
    sym(curl.easy_strerror, "curl_easy_strerror");
    sym(curl.easy_escape, "curl_easy_escape");
    sym(curl.free, "curl_free");
    sym(curl.slist_append, "curl_slist_append");
    sym(curl.slist_free_all, "curl_slist_free_all");
    if (!ok) return Status::IOError("libcurl.so.4 lacks a function octavo needs (too old? CURLOPT_AWS_SIGV4 needs 7.75)");
    if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) return Status::IOError("curl_global_init failed");
    return Status::OK();
  }();
  OCTAVO_RETURN_NOT_OK(loaded);
  return &curl;
}

size_t CollectBody(char* data, size_t size, size_t n, void* out) {
  auto* s = static_cast<std::string*>(out);
  if (s->size() < 4096) s->append(data, std::min(size * n, 4096 - s->size()));
  return size * n;
}

struct PutBody {
  std::string_view data;
  size_t pos = 0;
};
size_t SendBody(char* buf, size_t size, size_t n, void* in) {
  auto* b = static_cast<PutBody*>(in);
  size_t k = std::min(size * n, b->data.size() - b->pos);
  std::memcpy(buf, b->data.data() + b->pos, k);
  b->pos += k;
  return k;
}

class S3Env final : public Env {
 public:
  S3Env(std::shared_ptr<arrow::fs::S3FileSystem> fs, S3Config config, std::string bucket)
      : fs_(std::move(fs)), config_(std::move(config)), bucket_(std::move(bucket)) {}

  bool IsObjectStore() const override { return true; }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    auto out = fs_->OpenOutputStream(ArrowPath(path));
    if (!out.ok()) return FromArrowS3(out.status(), "cannot create", path);
    return std::unique_ptr<WritableFile>(new S3WritableFile(path, std::move(*out)));
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    // Copy and delete: only data files are renamed (a file node's finished content); commits
    // never depend on a rename here.
    return FromArrowS3(fs_->Move(ArrowPath(from), ArrowPath(to)), "cannot rename to '" + to + "'", from);
  }
  Status SyncDir(const std::string&) override { return Status::OK(); }  // an uploaded object is durable
  Status CreateDir(const std::string&) override { return Status::OK(); }  // prefixes need no markers
  Status RemoveFile(const std::string& path) override {
    return FromArrowS3(fs_->DeleteFile(ArrowPath(path)), "cannot remove", path);
  }
  Result<std::string> ReadFile(const std::string& path) override {
    auto in = fs_->OpenInputFile(ArrowPath(path));
    if (!in.ok()) return FromArrowS3(in.status(), "cannot open", path);
    auto size = (*in)->GetSize();
    if (!size.ok()) return FromArrowS3(size.status(), "cannot read", path);
    auto buf = (*in)->ReadAt(0, *size);
    if (!buf.ok()) return FromArrowS3(buf.status(), "cannot read", path);
    return (*buf)->ToString();
  }
  bool FileExists(const std::string& path) override {
    auto info = fs_->GetFileInfo(ArrowPath(path));
    return info.ok() && info->type() != arrow::fs::FileType::NotFound;
  }
  Result<int64_t> FileSize(const std::string& path) override {
    auto info = fs_->GetFileInfo(ArrowPath(path));
    if (!info.ok()) return FromArrowS3(info.status(), "cannot stat", path);
    if (info->type() != arrow::fs::FileType::File) return Status::NotFound("cannot stat '", path, "': no such object");
    return info->size();
  }
  Result<int64_t> ModifiedTimeNanos(const std::string& path) override {
    auto info = fs_->GetFileInfo(ArrowPath(path));
    if (!info.ok()) return FromArrowS3(info.status(), "cannot stat", path);
    if (info->type() != arrow::fs::FileType::File) return Status::NotFound("cannot stat '", path, "': no such object");
    return static_cast<int64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(info->mtime().time_since_epoch()).count());
  }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    arrow::fs::FileSelector sel;
    sel.base_dir = ArrowPath(dir);
    sel.allow_not_found = false;
    sel.recursive = false;
    auto infos = fs_->GetFileInfo(sel);
    if (!infos.ok()) return FromArrowS3(infos.status(), "cannot list directory", dir);
    std::vector<std::string> out;
    for (const auto& i : *infos) out.push_back(i.base_name());
    return out;
  }
  Result<std::vector<std::string>> ListFilesUnder(const std::string& dir) override {
    arrow::fs::FileSelector sel;
    sel.base_dir = ArrowPath(dir);
    sel.allow_not_found = true;
    sel.recursive = true;
    auto infos = fs_->GetFileInfo(sel);
    if (!infos.ok()) return FromArrowS3(infos.status(), "cannot list", dir);
    std::vector<std::string> out;
    for (const auto& i : *infos)
      if (i.type() == arrow::fs::FileType::File && i.path().size() > sel.base_dir.size() + 1)
        out.push_back(i.path().substr(sel.base_dir.size() + 1));
    return out;
  }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string&, const std::string&) override {
    // No locks on an object store: commits are serialised by conditional writes instead.
    return std::unique_ptr<FileLock>(new FileLock());
  }
  Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenRandomAccess(const std::string& path) override {
    auto in = fs_->OpenInputFile(ArrowPath(path));
    if (!in.ok()) return FromArrowS3(in.status(), "cannot open", path);
    return std::shared_ptr<arrow::io::RandomAccessFile>(std::move(*in));
  }

  Status CreateIfAbsent(const std::string& path, std::string_view data) override {
    OCTAVO_RETURN_NOT_OK(CheckConditionalWrites(path));
    return ConditionalPutRetrying(path, data);
  }

 private:
  class S3WritableFile final : public WritableFile {
   public:
    S3WritableFile(std::string path, std::shared_ptr<arrow::io::OutputStream> out)
        : path_(std::move(path)), out_(std::move(out)) {}
    ~S3WritableFile() override {
      if (out_ && !out_->closed()) (void)out_->Abort();  // not closed: the upload never appears
    }
    Status Append(std::string_view data) override {
      return FromArrowS3(out_->Write(data.data(), static_cast<int64_t>(data.size())), "cannot write", path_);
    }
    Status Sync() override { return Status::OK(); }  // durable once Close completes the upload
    Status Close() override {
      if (out_->closed()) return Status::OK();
      return FromArrowS3(out_->Close(), "cannot upload", path_);
    }
    const std::string& path() const override { return path_; }

   private:
    std::string path_;
    std::shared_ptr<arrow::io::OutputStream> out_;
  };

  // The URL of an object for curl: path-style under an endpoint override, else AWS's
  // virtual-hosted style. Each key segment percent-encoded.
  std::string ObjectUrl(const Curl& c, const std::string& path) const {
    std::string p = ArrowPath(path);
    const size_t slash = p.find('/');
    const std::string bucket = p.substr(0, slash);
    const std::string key = slash == std::string::npos ? "" : p.substr(slash + 1);
    std::string enc;
    size_t start = 0;
    while (start <= key.size()) {
      size_t end = key.find('/', start);
      if (end == std::string::npos) end = key.size();
      char* e = c.easy_escape(nullptr, key.data() + start, static_cast<int>(end - start));
      enc += e ? e : "";
      c.free(e);
      if (end < key.size()) enc += '/';
      start = end + 1;
    }
    if (!config_.endpoint_url.empty()) {
      std::string base = config_.endpoint_url;
      while (!base.empty() && base.back() == '/') base.pop_back();
      return base + "/" + bucket + "/" + enc;
    }
    return "https://" + bucket + ".s3." + config_.region + ".amazonaws.com/" + enc;
  }

  // The conditional PUT, retried while the answer says nothing about the object: a 5xx or 429
  // (S3 asks clients to retry 500 and 503 SlowDown) or a broken connection. Such an attempt
  // may still have created the object, so "already exists" after one is checked: an object
  // holding exactly `data` is this writer's own commit (the text names its commit, parent and
  // new files), not a race lost to another writer, which would otherwise commit it twice.
  Status ConditionalPutRetrying(const std::string& path, std::string_view data) {
    constexpr int kAttempts = 8;
    bool ambiguous = false;  // an earlier attempt may have created the object
    Status st;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      if (attempt > 0) {
        // 50 ms doubling to 3.2 s, with jitter so that racing writers spread out.
        const int64_t base_ms = int64_t{50} << std::min(attempt - 1, 6);
        std::this_thread::sleep_for(std::chrono::milliseconds(base_ms + static_cast<int64_t>(RandomU64() % base_ms)));
      }
      bool transient = false;
      st = ConditionalPut(path, data, &transient);
      if (st.code() == StatusCode::kAlreadyExists && ambiguous) {
        auto have = ReadFile(path);
        if (have.ok() && *have == data) return Status::OK();
        if (have.ok() || have.status().code() != StatusCode::kNotFound) return st;
        transient = true;  // 409 while our own earlier write is still in progress: ask again
      }
      if (!transient) return st;
      ambiguous = true;
    }
    return st.WithContext("gave up after " + std::to_string(kAttempts) + " attempts" +
                          (ambiguous ? "; an earlier attempt may have created it, so the commit may stand: reopen "
                                       "the bundle to see"
                                     : ""));
  }

  // PUT with If-None-Match: * : kAlreadyExists when the object is there (412, or 409 when the
  // store saw a concurrent conditional write to the same key). *transient: the failure says
  // nothing about the object (retry).
  Status ConditionalPut(const std::string& path, std::string_view data, bool* transient = nullptr) {
    bool ignored = false;
    if (!transient) transient = &ignored;
    *transient = false;
    OCTAVO_ASSIGN_OR_RETURN(const Curl* loaded, LoadCurl());
    const Curl& c = *loaded;
    CURL* curl = c.easy_init();
    if (!curl) return Status::IOError("cannot start an HTTP request (curl_easy_init failed)");
    std::unique_ptr<CURL, void (*)(CURL*)> guard(curl, c.easy_cleanup);
    const std::string url = ObjectUrl(c, path);
    const std::string sigv4 = "aws:amz:" + config_.region + ":s3";
    const std::string userpwd = config_.access_key_id + ":" + config_.secret_access_key;
    curl_slist* headers = nullptr;
    headers = c.slist_append(headers, "If-None-Match: *");
    headers = c.slist_append(headers, "Content-Type: application/json");
    headers = c.slist_append(headers, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    headers = c.slist_append(headers, "Expect:");
    if (!config_.session_token.empty())
      headers = c.slist_append(headers, ("x-amz-security-token: " + config_.session_token).c_str());
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> hguard(headers, c.slist_free_all);
    PutBody body{data, 0};
    std::string response;
    c.easy_setopt(curl, CURLOPT_URL, url.c_str());
    c.easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    c.easy_setopt(curl, CURLOPT_READFUNCTION, SendBody);
    c.easy_setopt(curl, CURLOPT_READDATA, &body);
    c.easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(data.size()));
    c.easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    c.easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectBody);
    c.easy_setopt(curl, CURLOPT_WRITEDATA, &response);
    c.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    c.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
    c.easy_setopt(curl, CURLOPT_TIMEOUT, 300L);
    if (!config_.access_key_id.empty()) {
      c.easy_setopt(curl, CURLOPT_AWS_SIGV4, sigv4.c_str());
      c.easy_setopt(curl, CURLOPT_USERPWD, userpwd.c_str());
    }
    CURLcode rc = c.easy_perform(curl);
    if (rc != CURLE_OK) {
      *transient = rc != CURLE_UNSUPPORTED_PROTOCOL && rc != CURLE_URL_MALFORMAT && rc != CURLE_COULDNT_RESOLVE_HOST;
      return Status::IOError("cannot write '", path, "' (", url, "): ", c.easy_strerror(rc));
    }
    long code = 0;
    c.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 200 || code == 201) return Status::OK();
    *transient = code >= 500 || code == 429;
    if (code == 412 || code == 409) return Status::AlreadyExists("object '", path, "' already exists");
    if ((code == 401 || code == 403) && config_.access_key_id.empty())
      return Status::IOError("cannot write '", path, "': the store answered HTTP ", code,
                             " to an unsigned request; commits on an object store need explicit credentials "
                             "(storage options access_key_id and secret_access_key, or AWS_ACCESS_KEY_ID and "
                             "AWS_SECRET_ACCESS_KEY)");
    return Status::IOError("cannot write '", path, "': the store answered HTTP ", code, ": ",
                           response.substr(0, 500));
  }

  // A store that ignores If-None-Match would let two writers both "win" a commit: refused
  // before the first conditional write. Probed once per Env: the same new object created
  // twice, where the second must fail.
  Status CheckConditionalWrites(const std::string& path) {
    std::call_once(probe_once_, [&] {
      const size_t slash = path.rfind('/');
      const std::string probe = path.substr(0, slash) + "/.octavo-conditional-write-probe-" + RandomHex(16);
      probe_status_ = ConditionalPut(probe, "probe");
      if (probe_status_.ok()) {
        Status second = ConditionalPut(probe, "probe");
        if (second.ok())
          probe_status_ = Status::NotImplemented(
              "the object store at ", config_.endpoint_url.empty() ? "AWS S3" : config_.endpoint_url,
              " does not support conditional writes (a PUT with If-None-Match: * replaced an existing object); "
              "octavo commits to an object store only through them, so that two writers never both "
              "commit the same version: use a store that supports them (AWS S3, MinIO, recent Ceph) "
              "or copy the bundle to local disk");
        else if (second.code() != StatusCode::kAlreadyExists)
          probe_status_ = second;
      }
      (void)fs_->DeleteFile(ArrowPath(probe));
    });
    return probe_status_;
  }

  std::shared_ptr<arrow::fs::S3FileSystem> fs_;
  S3Config config_;
  std::string bucket_;
  std::once_flag probe_once_;
  Status probe_status_;
};

bool ParseBool(const std::string& v, bool* out) {
  if (v == "1" || v == "true" || v == "True" || v == "yes") return *out = true, true;
  if (v == "0" || v == "false" || v == "False" || v == "no" || v.empty()) return *out = false, true;
  return false;
}

Status InitS3() {
  static std::once_flag once;
  static arrow::Status st;
  std::call_once(once, [] {
    st = arrow::fs::EnsureS3Initialized();
  });
  return FromArrow(st);
}

}  // namespace

bool IsS3Address(const std::string& path) { return path.rfind(kScheme, 0) == 0; }

Result<S3Config> S3Config::FromOptions(const std::map<std::string, std::string>& options) {
  S3Config c;
  c.endpoint_url = EnvVar("AWS_ENDPOINT_URL");
  c.region = EnvVar("AWS_REGION");
  if (c.region.empty()) c.region = EnvVar("AWS_DEFAULT_REGION");
  c.access_key_id = EnvVar("AWS_ACCESS_KEY_ID");
  c.secret_access_key = EnvVar("AWS_SECRET_ACCESS_KEY");
  c.session_token = EnvVar("AWS_SESSION_TOKEN");
  for (const auto& [k, v] : options) {
    if (k == "endpoint_url") c.endpoint_url = v;
    else if (k == "region") c.region = v;
    else if (k == "access_key_id" || k == "aws_access_key_id") c.access_key_id = v;
    else if (k == "secret_access_key" || k == "aws_secret_access_key") c.secret_access_key = v;
    else if (k == "session_token" || k == "aws_session_token") c.session_token = v;
    else if (k == "allow_http") {
      if (!ParseBool(v, &c.allow_http))
        return Status::Invalid("storage option allow_http must be true or false, got '", v, "'");
    } else {
      return Status::Invalid("unknown storage option '", k,
                             "' (known: endpoint_url, region, access_key_id, secret_access_key, session_token, "
                             "allow_http)");
    }
  }
  if (c.region.empty()) c.region = "us-east-1";
  if (!c.endpoint_url.empty() && c.endpoint_url.rfind("http://", 0) != 0 && c.endpoint_url.rfind("https://", 0) != 0)
    return Status::Invalid("storage option endpoint_url must start with http:// or https://, got '", c.endpoint_url,
                           "'");
  if (c.endpoint_url.rfind("http://", 0) == 0 && !c.allow_http)
    return Status::Invalid("endpoint ", c.endpoint_url,
                           " is plain HTTP (credentials and data unencrypted): pass storage option allow_http=true "
                           "to use it anyway");
  if (c.access_key_id.empty() != c.secret_access_key.empty())
    return Status::Invalid("give both access_key_id and secret_access_key (storage options or AWS_* variables), "
                           "or neither");
  return c;
}

Result<Env*> S3EnvFor(const std::string& address, const S3Config& config) {
  if (!IsS3Address(address)) return Status::Invalid("'", address, "' is not an s3:// address");
  const std::string p = ArrowPath(address);
  const std::string bucket = p.substr(0, p.find('/'));
  if (bucket.empty()) return Status::Invalid("'", address, "' names no bucket (s3://BUCKET/PREFIX)");
  OCTAVO_RETURN_NOT_OK(InitS3());
  static std::mutex mu;
  static auto* envs = new std::map<std::string, S3Env*>();  // never destroyed (see header)
  const std::string key = config.endpoint_url + "\n" + config.region + "\n" + config.access_key_id + "\n" +
                          config.secret_access_key + "\n" + config.session_token + "\n" + bucket;
  std::lock_guard<std::mutex> g(mu);
  if (auto it = envs->find(key); it != envs->end()) return static_cast<Env*>(it->second);
  arrow::fs::S3Options o;
  o.region = config.region;
  o.allow_delayed_open = true;  // small objects (manifests, CURRENT, most chunks) in one PutObject
  if (!config.endpoint_url.empty()) {
    const bool http = config.endpoint_url.rfind("http://", 0) == 0;
    o.scheme = http ? "http" : "https";
    std::string host = config.endpoint_url.substr(http ? 7 : 8);
    while (!host.empty() && host.back() == '/') host.pop_back();
    o.endpoint_override = host;
  }
  if (!config.access_key_id.empty())
    o.ConfigureAccessKey(config.access_key_id, config.secret_access_key, config.session_token);
  else
    o.ConfigureDefaultCredentials();  // the AWS chain (profile, instance role); S3Options() leaves none set
  auto fs = arrow::fs::S3FileSystem::Make(o);
  if (!fs.ok()) return FromArrow(fs.status()).WithContext("connecting to the object store for " + address);
  // Arrow's S3 must be finalised before the process exits. Registered after the first client
  // exists: Arrow's own exit-time state is made with it, and must still be alive when this runs.
  static std::once_flag finalize_at_exit;
  std::call_once(finalize_at_exit, [] { std::atexit([] { (void)arrow::fs::EnsureS3Finalized(); }); });
  auto* env = new S3Env(std::move(*fs), config, bucket);
  envs->emplace(key, env);
  return static_cast<Env*>(env);
}

}  // namespace octavo
