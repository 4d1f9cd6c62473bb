// Reading pandas HDFStore / PyTables files (HDF5) without Python: the way out of HDF5.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "octavo/status.h"
#include "octavo/type_fwd.h"

namespace octavo::hdf5 {

// One object found in an HDF5 file.
struct H5Object {
  std::string key;          // "/df_with_missing"
  std::string pandas_type;  // "frame_table", "frame", "series", ...; empty if not pandas
  std::string kind;         // "pandas", "group", "table", "array", "other"
  bool supported = false;   // ReadPandas can read it
  std::string note;         // why not, when unsupported
};

// Every pandas object in the file, plus every HDF5 dataset that belongs to none (listed
// as unsupported, never silently dropped).
Result<std::vector<H5Object>> ListObjects(const std::string& path);

// Read one pandas HDFStore object (format "table" or "fixed") into an Arrow table whose
// schema metadata b"pandas" makes pyarrow's to_pandas() rebuild the DataFrame that
// pandas.read_hdf returns (index, MultiIndex rows and columns, dtypes). Metadata key
// b"octavo.h5" records the source (file, key, pandas_type; series name).
// key empty: the file must hold exactly one pandas object.
Result<std::shared_ptr<::arrow::Table>> ReadPandas(const std::string& path, const std::string& key = "");

}  // namespace octavo::hdf5
