// The engine's table handle: the table layer's TableImpl plus conditions (where.cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "table/table_impl.h"

namespace octavo {

class QueryTable final : public TableImpl {
 public:
  using TableImpl::TableImpl;

  Result<std::shared_ptr<arrow::RecordBatchReader>> Where(const std::string& condition, const WhereOptions& options,
                                                          std::shared_ptr<const QueryStats>* stats) const override;
  Result<std::vector<int64_t>> GetWhereList(const std::string& condition, const WhereOptions& options,
                                            QueryStats* stats) const override;
};

}  // namespace octavo
