# gramgan_kernel_library(<target> BACKEND sim|cuda SOURCES <kernel .cu files>)
#
# Builds one list of kernel sources for one backend. `sim`: compiled as C++ by the host compiler with the
# CUDA simulator force-included (cudasim/cudasim.h) and linked to the simulator runtime. `cuda`: compiled
# by nvcc, with ptxas refusing register spills (the spill guard, below). The sources wrap their
# code in `namespace gramgan::GG_BACKEND`, so both builds link into one binary.
#
# Call it from a directory of its own per backend: CMake's LANGUAGE source property is per directory, and the
# same .cu file is CUDA in one and C++ in the other.
function(gramgan_kernel_library target)
  cmake_parse_arguments(ARG "" "BACKEND" "SOURCES" ${ARGN})
  add_library(${target} STATIC ${ARG_SOURCES})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
  if(ARG_BACKEND STREQUAL "sim")
    set_source_files_properties(${ARG_SOURCES} PROPERTIES LANGUAGE CXX)
    target_compile_definitions(${target} PRIVATE GG_SIMULATOR=1 GG_BACKEND=sim)
    target_compile_options(${target} PRIVATE -include ${PROJECT_SOURCE_DIR}/cudasim/cudasim.h)
    target_link_libraries(${target} PUBLIC gramgan_cudasim)
  elseif(ARG_BACKEND STREQUAL "cuda")
    set_source_files_properties(${ARG_SOURCES} PROPERTIES LANGUAGE CUDA)
    target_compile_definitions(${target} PRIVATE GG_BACKEND=cuda)
    # Spill guard: a kernel that spills registers fails the build, for every architecture, instead of running
    # slowly. --warning-as-error applies to ptxas's own warnings only; host-compiler and front-end warnings stay
    # warnings. Local memory that is not a spill (a small array indexed at run time) is allowed: bench/occupancy.py
    # lists it in its `stack` column.
    target_compile_options(${target} PRIVATE
      "$<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-fmacro-prefix-map=${PROJECT_SOURCE_DIR}/=>"
      "$<$<COMPILE_LANGUAGE:CUDA>:-Xptxas=--warn-on-spills,--warning-as-error>")
    target_link_libraries(${target} PUBLIC CUDA::cudart)
  else()
    message(FATAL_ERROR "gramgan_kernel_library: BACKEND must be sim or cuda, got '${ARG_BACKEND}'")
  endif()
endfunction()
