// HDF5 commands: h5ls (what octavo sees in an HDF5 file and what it would do with each
// object), import of an HDF5 file into a bundle (routed here by `import`), and migrate
// (pandas HDF5 files -> verified Parquet files beside them, or into a bundle).
#include <malloc.h>

#include <filesystem>
#include <iostream>

#include "cli/cli.h"
#include "octavo/hdf5.h"

namespace octavo::cli {

namespace fs = std::filesystem;

namespace {

Json ItemJson(const hdf5::ImportItem& it) {
  Json j{{"h5_path", it.h5_path}, {"kind", it.h5_kind}, {"action", it.action}};
  j["dest"] = it.dest.empty() ? Json(nullptr) : Json(it.dest);
  j["detail"] = it.detail;
  j["supported"] = it.supported;
  if (!it.supported) j["reason"] = it.reason;
  if (!it.note.empty()) j["note"] = it.note;
  return j;
}

void PrintItems(const std::vector<hdf5::ImportItem>& items) {
  size_t w = 4;
  for (const auto& it : items) w = std::max(w, DisplayWidth(it.h5_path));
  w = std::min<size_t>(w, 60);
  for (const auto& it : items) {
    std::string p = Truncate(Printable(it.h5_path), 60);
    std::cout << p << std::string(w + 2 - std::min(w, DisplayWidth(p)), ' ');
    std::string kind = it.h5_kind;
    kind.resize(std::max<size_t>(kind.size(), 16), ' ');
    std::cout << kind << " ";
    if (it.supported) {
      std::cout << "-> " << it.action << " " << it.dest;
      if (!it.detail.empty()) std::cout << "  [" << Printable(it.detail) << "]";
    } else {
      std::cout << "NOT IMPORTED: " << Printable(it.reason);
    }
    std::cout << "\n";
  }
}

}  // namespace

static hdf5::WorkerOptions Worker(const GlobalOptions& g) {
  hdf5::WorkerOptions w;
  w.executable = g.h5_worker;
  w.cpu_seconds_per_file = g.h5_cpu_limit;
  return w;
}

int RunH5ls(const H5lsArgs& args, const GlobalOptions& g) {
  auto rep = Unwrap(hdf5::InspectFile(args.file, Worker(g)));
  if (g.json) {
    Json items = Json::array();
    for (const auto& it : rep.items) items.push_back(ItemJson(it));
    PrintJson(Json{{"file", args.file}, {"items", items}, {"unsupported", rep.num_unsupported()}});
    return kExitOK;
  }
  PrintItems(rep.items);
  std::cout << Plural(static_cast<int64_t>(rep.items.size()), "object", "objects") << ", "
            << rep.num_unsupported() << " not importable\n";
  return kExitOK;
}

int RunImportHdf5(const ImportArgs& args, const GlobalOptions& g) {
  Address a = ParseAddress(args.address);
  std::error_code ec;
  if (!fs::exists(args.file, ec)) Fail(kExitNotFound, "no such file: '" + args.file + "'");
  if (args.append) UsageError("--append does not apply to HDF5 files (each import creates a new group)");
  if (!a.has_node) a.node = "/" + fs::path(args.file).stem().string();
  // Look at the file before the bundle, so a bad file never creates an empty bundle.
  Unwrap(hdf5::InspectFile(args.file, Worker(g)));
  auto bundle = OpenBundle(a, OpenMode::kAppend);
  const std::string ctx = "bundle " + a.bundle;
  if (a.node != "/" && bundle->Exists(a.node))
    Fail(kExitOther, ctx + ": '" + a.node + "' already exists; import into a new path");
  hdf5::ImportOptions io;
  io.table_compression = args.compression;
  io.worker = Worker(g);
  auto rep = Unwrap(hdf5::ImportFile(args.file, *bundle, a.node, io), ctx);
  const CommitInfo commit = bundle->commit();
  Check(bundle->Close(), ctx);
  int tables = 0, arrays = 0, groups = 0, files = 0, links = 0;
  for (const auto& it : rep.items) {
    if (!it.supported) continue;
    if (it.action == "table") ++tables;
    else if (it.action == "array") ++arrays;
    else if (it.action == "group") ++groups;
    else if (it.action == "file") ++files;
    else if (it.action == "link") ++links;
  }
  if (g.json) {
    Json items = Json::array();
    for (const auto& it : rep.items) items.push_back(ItemJson(it));
    PrintJson(Json{{"source", args.file},
                   {"format", "hdf5"},
                   {"bundle", bundle->path()},
                   {"path", a.node},
                   {"tables", tables},
                   {"arrays", arrays},
                   {"groups", groups},
                   {"files", files},
                   {"links", links},
                   {"rows", rep.rows},
                   {"bytes", rep.bytes},
                   {"unsupported", rep.num_unsupported()},
                   {"items", items},
                   {"commit", commit.id}});
  } else {
    std::cout << "imported " << args.file << " into " << bundle->path() << ":" << a.node << ": "
              << Plural(tables, "table", "tables") << " (" << Plural(rep.rows, "row", "rows") << "), "
              << Plural(arrays, "array", "arrays") << ", " << Plural(groups, "group", "groups") << ", "
              << Plural(files, "file node", "file nodes") << ", " << Plural(links, "link", "links") << ", commit "
              << commit.id << "\n";
    for (const auto& it : rep.items)
      if (!it.note.empty()) std::cout << "note: " << Printable(it.h5_path) << ": " << Printable(it.note) << "\n";
    if (rep.num_unsupported() > 0) {
      std::cout << rep.num_unsupported() << " not imported:\n";
      for (const auto& it : rep.items)
        if (!it.supported) std::cout << "  " << Printable(it.h5_path) << " (" << it.h5_kind << "): " << Printable(it.reason) << "\n";
    }
  }
  return kExitOK;
}

int RunMigrate(const MigrateArgs& args, const GlobalOptions& g) {
  // Thousands of files of a few MB each: keep freed buffers in the heap instead of
  // returning them to the kernel after every file (saves ~20% of the time in page faults).
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
  hdf5::MigrateOptions mo;
  mo.recursive = args.recursive;
  mo.remove_h5 = args.remove_h5;
  mo.dry_run = args.dry_run;
  mo.overwrite = args.overwrite;
  mo.jobs = args.jobs;
  mo.buffered_io = args.buffered_io;
  mo.worker = Worker(g);
  mo.compression = args.compression;
  mo.into = args.into;
  mo.progress = !args.quiet;
  std::error_code ec;
  mo.root = fs::is_directory(args.root, ec) ? args.root : fs::path(args.root).parent_path().string();
  if (!args.into.empty()) {
    fs::path abs = fs::absolute(args.into, ec);
    if (!ec) mo.into = abs.lexically_normal().string();
  }
  auto files = Unwrap(hdf5::FindHdf5Files(args.root, args.recursive));
  auto sum = Unwrap(hdf5::Migrate(files, mo));
  if (g.json) {
    Json list = Json::array();
    for (const auto& r : sum.files) {
      Json j{{"file", r.file}, {"status", r.status}, {"outputs", r.outputs}, {"keys", r.keys},
             {"rows", r.rows}, {"removed", r.removed}, {"seconds", r.seconds}};
      if (!r.message.empty()) j["message"] = r.message;
      if (r.status == "converted")
        j["timing"] = Json{{"read", r.read_seconds}, {"write", r.write_seconds}, {"verify", r.verify_seconds},
                           {"sync", r.sync_seconds}};
      list.push_back(j);
    }
    PrintJson(Json{{"root", args.root},
                   {"dry_run", args.dry_run},
                   {"files", list},
                   {"converted", sum.converted},
                   {"skipped", sum.skipped},
                   {"failed", sum.failed},
                   {"planned", sum.planned},
                   {"seconds", sum.seconds}});
  } else {
    if (args.dry_run) {
      for (const auto& r : sum.files) {
        std::cout << r.status << " " << r.file;
        for (const auto& o : r.outputs) std::cout << " -> " << o;
        if (!r.message.empty()) std::cout << " (" << r.message << ")";
        std::cout << "\n";
      }
    }
    for (const auto& r : sum.files)
      if (r.status == "failed") std::cout << "FAILED " << r.file << ": " << r.message << "\n";
    std::cout << (args.dry_run ? "dry run: " : "") << Plural(static_cast<int64_t>(sum.files.size()), "HDF5 file", "HDF5 files")
              << ": " << sum.converted << " converted, " << sum.skipped << " skipped (already done), " << sum.failed
              << " failed";
    if (args.dry_run) std::cout << ", " << sum.planned << " to convert";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", sum.seconds);
    std::cout << " in " << buf << " s\n";
  }
  return sum.failed > 0 ? kExitOther : kExitOK;
}

}  // namespace octavo::cli
