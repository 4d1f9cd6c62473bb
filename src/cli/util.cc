// Errors, exit codes, addresses and text helpers shared by the commands.
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <string_view>
#include <system_error>

#include "cli/cli.h"
#include "octavo/arrow_status.h"

namespace octavo::cli {

namespace fs = std::filesystem;

int ExitCodeFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOK: return kExitOK;
    case StatusCode::kNotFound: return kExitNotFound;
    case StatusCode::kTypeError: return kExitType;
    case StatusCode::kCorruption: return kExitCorruption;
    case StatusCode::kLocked: return kExitLocked;
    case StatusCode::kConflict: return kExitConflict;
    default: return kExitOther;
  }
}

void Fail(int code, const std::string& message) { throw CliError(code, message); }

void UsageError(const std::string& message) { throw CliError(kExitUsage, message); }

void Check(const Status& st, const std::string& context) {
  if (st.ok()) return;
  std::string msg = st.message();
  if (msg.empty()) msg = StatusCodeName(st.code());
  throw CliError(ExitCodeFor(st.code()), context.empty() ? msg : context + ": " + msg);
}

void CheckArrow(const arrow::Status& st, const std::string& context) { Check(FromArrow(st), context); }

// --- addresses ------------------------------------------------------------------------------

static bool IsDir(const std::string& p) {
  std::error_code ec;
  return fs::is_directory(p, ec);
}

static bool PathExists(const std::string& p) {
  std::error_code ec;
  return fs::exists(p, ec);
}

static bool IsUrl(const std::string& p) { return p.find("://") != std::string::npos && p.find("://") < p.find('/'); }

static std::map<std::string, std::string>& StorageOptions() {
  static std::map<std::string, std::string> options;
  return options;
}

void AddStorageOption(const std::string& kv) {
  const size_t eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) UsageError("--storage-option takes KEY=VALUE, got '" + kv + "'");
  StorageOptions()[kv.substr(0, eq)] = kv.substr(eq + 1);
}

static std::optional<std::string>& OpenAt() {
  static std::optional<std::string> ref;
  return ref;
}

void SetOpenAt(const std::string& ref) {
  if (ref.empty()) UsageError("--at takes a commit: N, snapshot:NAME, branch:NAME or a snapshot name");
  OpenAt() = ref;
}

// `options` with --at applied.
static OpenOptions WithOpenAt(const OpenOptions& options, OpenMode mode) {
  OpenOptions o = options;
  if (!OpenAt()) return o;
  const CommitRef ref = CommitRef::Parse(*OpenAt());
  if (ref.kind == CommitRef::Kind::kBranch) {
    if (!o.branch.empty() && o.branch != ref.name) UsageError("give --branch or --at branch:NAME, not both");
    o.branch = ref.name;
    return o;
  }
  if (mode != OpenMode::kRead)
    UsageError("--at " + *OpenAt() + " opens an old commit, read-only; this command writes (it takes --at branch:NAME)");
  if (!o.branch.empty()) UsageError("give --branch or --at, not both");
  if (ref.kind == CommitRef::Kind::kCommit) o.commit = ref.id;
  if (ref.kind == CommitRef::Kind::kSnapshot) o.snapshot = ref.name;
  return o;
}

Address ParseAddress(const std::string& text) {
  Address a;
  a.text = text;
  if (text.empty()) UsageError("empty address; expected BUNDLE or BUNDLE:/path");
  size_t split = std::string::npos;
  if (IsUrl(text)) {
    // s3://bucket/prefix:/node: the first ':' after the scheme (bucket names have none).
    split = text.find(':', text.find("://") + 3);
  } else if (!PathExists(text)) {
    // The bundle is the shortest prefix before a ':' that is an existing directory ...
    for (size_t pos = text.find(':'); pos != std::string::npos; pos = text.find(':', pos + 1)) {
      if (pos > 0 && IsDir(text.substr(0, pos))) {
        split = pos;
        break;
      }
    }
    // ... or, for a bundle that does not exist (yet), the first ":/", else the last ':'.
    if (split == std::string::npos) {
      split = text.find(":/");
      if (split == std::string::npos) split = text.rfind(':');
    }
  }
  if (split == std::string::npos) {
    a.bundle = text;
    return a;
  }
  a.bundle = text.substr(0, split);
  std::string node = text.substr(split + 1);
  if (a.bundle.empty()) UsageError("address '" + text + "' names no bundle; expected BUNDLE:/path");
  if (!node.empty() && node != "/") {
    a.node = node[0] == '/' ? node : "/" + node;
    a.has_node = true;
  }
  return a;
}

std::shared_ptr<Bundle> OpenBundle(const Address& a, OpenMode mode, const OpenOptions& given) {
  const OpenOptions options = WithOpenAt(given, mode);
  if (IsUrl(a.bundle)) {
    OpenOptions o = options;
    o.storage_options = StorageOptions();
    auto r = Bundle::Open(a.bundle, mode, o);
    Check(r.status(), r.status().message().find(a.bundle) != std::string::npos ? "" : "bundle " + a.bundle);
    return std::move(r).ValueOrDie();
  }
  if (mode == OpenMode::kRead) {
    if (PathExists(a.bundle) && !IsDir(a.bundle))
      Fail(kExitNotFound, "'" + a.bundle + "' is a file, not an octavo bundle (a bundle is a directory)");
  }
  // Absolute, so that part files and messages name real locations whatever the working directory.
  std::error_code ec;
  std::string path = a.bundle;
  fs::path abs = fs::absolute(a.bundle, ec);
  if (!ec) {
    path = abs.lexically_normal().string();
    while (path.size() > 1 && path.back() == '/') path.pop_back();
  }
  auto r = Bundle::Open(path, mode, options);
  if (!r.ok()) {
    // Name the bundle unless the engine already did (missing or foreign directories).
    const std::string& msg = r.status().message();
    bool named = msg.find(path) != std::string::npos || msg.find(a.bundle) != std::string::npos;
    Check(r.status(), named ? "" : "bundle " + a.bundle);
  }
  return std::move(r).ValueOrDie();
}

std::shared_ptr<Table> OpenTableAt(const std::shared_ptr<Bundle>& b, const Address& a) {
  auto r = b->OpenTable(a.node);
  if (!r.ok() && r.status().code() == StatusCode::kTypeError)
    Fail(kExitType, "bundle " + a.bundle + ": " + r.status().message() +
                        "; this command needs a table (use 'octavo tree' or 'octavo info' to look at other nodes)");
  return Unwrap(std::move(r), "bundle " + a.bundle);
}

// --- text ----------------------------------------------------------------------------------

std::string WithCommas(int64_t n) {
  const uint64_t mag = n < 0 ? uint64_t{0} - static_cast<uint64_t>(n) : static_cast<uint64_t>(n);
  const std::string digits = std::to_string(mag);
  std::string out;
  int count = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (count > 0 && count % 3 == 0) out.push_back(',');
    out.push_back(*it);
    ++count;
  }
  if (n < 0) out.push_back('-');
  return std::string(out.rbegin(), out.rend());
}

std::string HumanSize(int64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = -1;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof(buf), v < 10 ? "%.2f %s" : (v < 100 ? "%.1f %s" : "%.0f %s"), v, kUnits[u]);
  return buf;
}

std::string Plural(int64_t n, const std::string& one, const std::string& many) {
  return WithCommas(n) + " " + (n == 1 ? one : many);
}

std::string DumpJson(const Json& j, int indent) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

void PrintJson(const Json& j) { std::cout << DumpJson(j, 2) << "\n"; }

void WriteStdout(const std::string& text) {
  errno = 0;
  std::cout << text;
  if (!std::cout) StdoutFailed(errno);
}

void StdoutFailed(int err) {
  if (err == EPIPE) std::_Exit(128 + SIGPIPE);
  std::cout.clear();
  Fail(kExitOther, std::string("cannot write to stdout: ") + (err ? std::strerror(err) : "write error"));
}

std::string Printable(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\x%02x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out;
}

size_t DisplayWidth(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

std::string Truncate(const std::string& s, size_t width) {
  if (width == 0 || DisplayWidth(s) <= width) return s;
  if (width <= 3) return std::string(width, '.');
  // Cut at a code-point boundary, keeping width - 3 code points.
  size_t keep = width - 3, cps = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (cps == keep) break;
      ++cps;
    }
  }
  return s.substr(0, i) + "...";
}

Json ParseAttrs(const std::string& attrs_json, const std::string& node_path) {
  if (attrs_json.empty()) return Json::object();
  // Text the engine wrote and checked (bounded depth): a failure here means a bug, said as damage.
  Json parsed = Json::parse(attrs_json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) Fail(kExitCorruption, "the attributes of node " + node_path + " are not valid JSON");
  return parsed;
}

}  // namespace octavo::cli
