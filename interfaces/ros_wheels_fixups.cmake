# Injected with -DCMAKE_PROJECT_INCLUDE=... (runs right after project()).
# The ROS 2 PyPI wheels were built in a manylinux container: their exported
# <pkg>__rosidl_generator_py CMake targets carry that container's Python and numpy include
# directories (/opt/python/cp311-cp311/...), which do not exist here. CMake refuses to generate
# when a linked imported target names a missing include directory, so at the end of the
# configure step rewrite those paths to this interpreter's include dir and numpy's.
find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module)
execute_process(
  COMMAND "${Python3_EXECUTABLE}" -c "import numpy; print(numpy.get_include())"
  OUTPUT_VARIABLE _rwf_numpy_include OUTPUT_STRIP_TRAILING_WHITESPACE
  RESULT_VARIABLE _rwf_rc)
if(NOT _rwf_rc EQUAL 0)
  message(FATAL_ERROR "numpy is not importable by ${Python3_EXECUTABLE}")
endif()
set(ROS_WHEELS_PY_INCLUDE "${Python3_INCLUDE_DIRS}")
set(ROS_WHEELS_NUMPY_INCLUDE "${_rwf_numpy_include}")

function(_ros_wheels_fix_imported_includes)
  get_property(_targets DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  set(_n 0)
  foreach(_t IN LISTS _targets)
    get_target_property(_inc ${_t} INTERFACE_INCLUDE_DIRECTORIES)
    if(_inc AND _inc MATCHES "/opt/python/")
      set(_new "")
      foreach(_d IN LISTS _inc)
        if(_d MATCHES "^/opt/python/[^/]+/include/")
          list(APPEND _new "${ROS_WHEELS_PY_INCLUDE}")
        elseif(_d MATCHES "^/opt/python/.*/numpy/")
          list(APPEND _new "${ROS_WHEELS_NUMPY_INCLUDE}")
        elseif(_d MATCHES "^/opt/python/")
          # drop any other build-container path
        else()
          list(APPEND _new "${_d}")
        endif()
      endforeach()
      list(REMOVE_DUPLICATES _new)
      set_target_properties(${_t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_new}")
      math(EXPR _n "${_n} + 1")
    endif()
  endforeach()
  message(STATUS "ros_wheels_fixups: rewrote manylinux include dirs of ${_n} imported targets")
endfunction()
cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _ros_wheels_fix_imported_includes)
