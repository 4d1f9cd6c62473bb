// The Delta Lake log of every table (docs/format.md section 12): each table directory
// data/<uid>/ carries a _delta_log/ (Delta protocol reader 1 / writer 2) written after each
// octavo commit that changes the table, so Spark, delta-rs, polars or DuckDB read the table,
// versions included, without octavo. The log is derived data: octavo never reads it to
// serve its own reads, and a failure writing it never fails the commit (the next commit
// touching the table, or RepairDeltaLogs, catches up).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "octavo/bundle.h"
#include "octavo/status.h"

namespace octavo {

// Turns the log on or off for the whole bundle (the manifest's settings.delta_log; one
// commit). Turning it on catches every table's log up to the current commit.
Status SetDeltaLog(Bundle& bundle, bool enabled);
// Whether the commit this handle sees writes Delta logs (the default: yes).
bool DeltaLogEnabled(const Bundle& bundle);

// The Delta table directory of a table: the absolute path of data/<uid>/ (what
// deltalake.DeltaTable or polars.scan_delta open).
Result<std::string> GetDeltaPath(const Bundle& bundle, const std::string& table_path);

// The Delta version that holds the table's rows as of octavo commit `commit` (-1: the
// commit this handle sees): the newest version whose commitInfo names a commit <= it.
// NotFound if the log has no such version (the table is newer, the log was off or truncated).
Result<int64_t> DeltaVersion(const Bundle& bundle, const std::string& table_path, int64_t commit = -1);

struct DeltaRepairReport {
  int64_t versions_written = 0;
  std::vector<std::string> errors;  // "<table path>: <why>" for each table whose log could not be brought up to date
};
// Brings every table's log up to the current commit, replaying commits it misses from their
// manifests. Needs a writable bundle.
Result<DeltaRepairReport> RepairDeltaLogs(Bundle& bundle);

}  // namespace octavo
