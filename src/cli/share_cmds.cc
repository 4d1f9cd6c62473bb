// `octavo share`: list the shared table segments in a directory, or collect those whose
// publishing process has died (octavo/share.h).
#include <iostream>

#include "cli/cli.h"
#include "octavo/share.h"

namespace octavo::cli {

int RunShare(const ShareArgs& args, const GlobalOptions& g) {
  if (args.gc) {
    auto removed = Unwrap(CollectStaleSharedTables(args.directory), "shared table directory " + args.directory);
    if (g.json) {
      PrintJson(Json{{"directory", args.directory}, {"removed", removed}});
      return kExitOK;
    }
    for (const auto& p : removed) std::cout << "removed " << p << "\n";
    std::cout << "collected " << Plural(static_cast<int64_t>(removed.size()), "stale segment", "stale segments")
              << " in " << args.directory << "\n";
    return kExitOK;
  }
  auto list = Unwrap(ListSharedTables(args.directory), "shared table directory " + args.directory);
  if (g.json) {
    Json arr = Json::array();
    for (const auto& s : list)
      arr.push_back(Json{{"path", s.path}, {"size", s.size_bytes}, {"owner_pid", s.owner_pid},
                         {"owner_alive", s.owner_alive}});
    PrintJson(Json{{"directory", args.directory}, {"segments", arr}});
    return kExitOK;
  }
  for (const auto& s : list)
    std::cout << s.path << "  " << HumanSize(s.size_bytes) << "  pid " << s.owner_pid
              << (s.owner_alive ? "" : " (dead: 'octavo share --gc' removes it)") << "\n";
  std::cout << Plural(static_cast<int64_t>(list.size()), "segment", "segments") << " in " << args.directory << "\n";
  return kExitOK;
}

}  // namespace octavo::cli
