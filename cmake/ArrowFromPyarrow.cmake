# Locate Apache Arrow C++ inside the pinned `pyarrow` wheel and define IMPORTED targets.
# Arrow is never vendored or rebuilt: headers come from pyarrow.get_include(), the
# versioned shared libraries from the pyarrow package folder (RPATH points there).
if(NOT Python_EXECUTABLE)
  find_package(Python 3.9 REQUIRED COMPONENTS Interpreter)
endif()

execute_process(
  COMMAND "${Python_EXECUTABLE}" -c
    "import pyarrow as pa, os; print(pa.__version__); print(pa.get_include()); print(os.path.dirname(pa.__file__))"
  OUTPUT_VARIABLE _pa_out
  RESULT_VARIABLE _pa_rc
  OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _pa_rc EQUAL 0)
  message(FATAL_ERROR "octavo needs the pyarrow wheel (pip install 'pyarrow==26.0.*') for ${Python_EXECUTABLE}")
endif()
string(REPLACE "\n" ";" _pa_lines "${_pa_out}")
list(GET _pa_lines 0 OCTAVO_PYARROW_VERSION)
list(GET _pa_lines 1 OCTAVO_ARROW_INCLUDE_DIR)
list(GET _pa_lines 2 OCTAVO_ARROW_LIB_DIR)
if(NOT OCTAVO_PYARROW_VERSION MATCHES "^26\\.0\\.")
  message(FATAL_ERROR "octavo is pinned to pyarrow 26.0.x, found ${OCTAVO_PYARROW_VERSION}")
endif()
string(REGEX MATCH "^([0-9]+)" _pa_major "${OCTAVO_PYARROW_VERSION}")
set(_so_version "${_pa_major}00")
message(STATUS "octavo: Arrow C++ from pyarrow ${OCTAVO_PYARROW_VERSION} at ${OCTAVO_ARROW_LIB_DIR}")

function(_octavo_import_arrow_lib target libname)
  set(_lib "${OCTAVO_ARROW_LIB_DIR}/lib${libname}.so.${_so_version}")
  if(NOT EXISTS "${_lib}")
    message(FATAL_ERROR "missing ${_lib} in the pyarrow wheel")
  endif()
  add_library(${target} SHARED IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION "${_lib}"
    IMPORTED_NO_SONAME FALSE
    INTERFACE_INCLUDE_DIRECTORIES "${OCTAVO_ARROW_INCLUDE_DIR}")
  # The wheels are built with the default (new) libstdc++ ABI.
  target_compile_definitions(${target} INTERFACE _GLIBCXX_USE_CXX11_ABI=1)
endfunction()

_octavo_import_arrow_lib(Arrow::arrow arrow)
_octavo_import_arrow_lib(Arrow::arrow_compute arrow_compute)
_octavo_import_arrow_lib(Arrow::parquet parquet)
_octavo_import_arrow_lib(Arrow::arrow_acero arrow_acero)
_octavo_import_arrow_lib(Arrow::arrow_dataset arrow_dataset)
_octavo_import_arrow_lib(Arrow::arrow_s3 arrow_s3)  # Arrow's S3 filesystem (src/objstore)
set_property(TARGET Arrow::arrow_compute APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)
set_property(TARGET Arrow::parquet APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)
set_property(TARGET Arrow::arrow_acero APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow_compute)
set_property(TARGET Arrow::arrow_s3 APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow)
set_property(TARGET Arrow::arrow_dataset APPEND PROPERTY INTERFACE_LINK_LIBRARIES Arrow::arrow_acero Arrow::parquet)
