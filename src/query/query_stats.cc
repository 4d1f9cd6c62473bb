#include "octavo/query.h"
#include "util/json_util.h"

namespace octavo {

std::string QueryStatsToJson(const QueryStats& s) {
  Json j{{"parts_total", s.parts_total},
                           {"parts_skipped", s.parts_skipped},
                           {"row_groups_total", s.row_groups_total},
                           {"row_groups_skipped", s.row_groups_skipped},
                           {"row_groups_matched", s.row_groups_matched},
                           {"rows_scanned", s.rows_scanned},
                           {"rows_selected", s.rows_selected},
                           {"bytes_read", s.bytes_read},
                           {"pages_total", s.pages_total},
                           {"pages_skipped", s.pages_skipped},
                           {"columns_read", s.columns_read},
                           {"parts_sorted", s.parts_sorted},
                           {"parts_indexed", s.parts_indexed},
                           {"parts_index_stale", s.parts_index_stale},
                           {"parts_index_too_wide", s.parts_index_too_wide},
                           {"index_column", s.index_column.empty() ? Json(nullptr)
                                                                   : Json(s.index_column)}};
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace octavo
