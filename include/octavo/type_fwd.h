// Forward declarations so public headers need no Arrow includes (builds are slow).
#pragma once

namespace arrow {
class Schema;
class Table;
class RecordBatch;
class RecordBatchReader;
class DataType;
}  // namespace arrow

namespace octavo {
class Bundle;
class Env;
class Table;
struct TableInfo;
struct TableOptions;
struct ReadOptions;
}  // namespace octavo
