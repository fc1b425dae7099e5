# The ROS 2 PyPI wheels export CMake targets whose include directories point at the
# wheel builder's Python (/opt/python/...) and its numpy. At the end of configure, swap
# those for this interpreter's include dirs so the generated Python bindings compile.
# Passed with -DCMAKE_PROJECT_INCLUDE=...; a no-op on an apt ROS 2 install.
find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module NumPy)

function(nemuri_fix_wheel_includes)
  get_directory_property(_targets IMPORTED_TARGETS)
  foreach(_t IN LISTS _targets)
    get_target_property(_dirs ${_t} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_fixed "")
    foreach(_d IN LISTS _dirs)
      if(_d MATCHES "^/opt/python/.*numpy")
        list(APPEND _fixed "${Python3_NumPy_INCLUDE_DIRS}")
      elseif(_d MATCHES "^/opt/python/")
        list(APPEND _fixed "${Python3_INCLUDE_DIRS}")
      else()
        list(APPEND _fixed "${_d}")
      endif()
    endforeach()
    list(REMOVE_DUPLICATES _fixed)
    set_target_properties(${_t} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_fixed}")
  endforeach()
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL nemuri_fix_wheel_includes)
