#include "table/row_range.h"

#include <algorithm>

namespace octavo {

Result<std::vector<PartSlice>> ResolveRowRange(const TableEntry& table, int64_t start, int64_t stop) {
  const int64_t n = table.num_rows();
  if (start < 0) start = std::max<int64_t>(0, n + start);
  if (stop < 0 || stop > n) stop = n;
  start = std::min(start, n);
  std::vector<PartSlice> out;
  if (start >= stop) return out;
  int64_t part_first = 0;
  for (size_t pi = 0; pi < table.parts.size(); ++pi) {
    const PartEntry& p = table.parts[pi];
    const int64_t part_end = part_first + p.num_rows;
    if (part_end > start && part_first < stop) {
      const int64_t lo = std::max(start, part_first) - part_first;  // part-local range
      const int64_t hi = std::min(stop, part_end) - part_first;
      PartSlice s;
      s.part = pi;
      int64_t rg_first = 0;
      bool first = true;
      for (size_t g = 0; g < p.row_group_rows.size(); ++g) {
        const int64_t rg_end = rg_first + p.row_group_rows[g];
        if (rg_end > lo && rg_first < hi) {
          if (first) {
            s.first_row = part_first + rg_first;
            s.offset = lo - rg_first;
            first = false;
          }
          s.row_groups.push_back(static_cast<int>(g));
        }
        rg_first = rg_end;
      }
      s.length = hi - lo;
      out.push_back(std::move(s));
    }
    part_first = part_end;
    if (part_first >= stop) break;
  }
  return out;
}

}  // namespace octavo
