
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/csrc/core/cpu.c" "CMakeFiles/lego.dir/csrc/core/cpu.c.o" "gcc" "CMakeFiles/lego.dir/csrc/core/cpu.c.o.d"
  "/work/main/csrc/core/dtype.c" "CMakeFiles/lego.dir/csrc/core/dtype.c.o" "gcc" "CMakeFiles/lego.dir/csrc/core/dtype.c.o.d"
  "/work/main/csrc/core/error.c" "CMakeFiles/lego.dir/csrc/core/error.c.o" "gcc" "CMakeFiles/lego.dir/csrc/core/error.c.o.d"
  "/work/main/csrc/core/storage.c" "CMakeFiles/lego.dir/csrc/core/storage.c.o" "gcc" "CMakeFiles/lego.dir/csrc/core/storage.c.o.d"
  "/work/main/csrc/core/tensor.c" "CMakeFiles/lego.dir/csrc/core/tensor.c.o" "gcc" "CMakeFiles/lego.dir/csrc/core/tensor.c.o.d"
  "/work/main/csrc/formats/npy.c" "CMakeFiles/lego.dir/csrc/formats/npy.c.o" "gcc" "CMakeFiles/lego.dir/csrc/formats/npy.c.o.d"
  "/work/main/csrc/kernels/vec_avx2.c" "CMakeFiles/lego.dir/csrc/kernels/vec_avx2.c.o" "gcc" "CMakeFiles/lego.dir/csrc/kernels/vec_avx2.c.o.d"
  "/work/main/csrc/kernels/vec_avx512.c" "CMakeFiles/lego.dir/csrc/kernels/vec_avx512.c.o" "gcc" "CMakeFiles/lego.dir/csrc/kernels/vec_avx512.c.o.d"
  "/work/main/csrc/kernels/vec_ref.c" "CMakeFiles/lego.dir/csrc/kernels/vec_ref.c.o" "gcc" "CMakeFiles/lego.dir/csrc/kernels/vec_ref.c.o.d"
  "/work/main/csrc/ops/conv2d.c" "CMakeFiles/lego.dir/csrc/ops/conv2d.c.o" "gcc" "CMakeFiles/lego.dir/csrc/ops/conv2d.c.o.d"
  "/work/main/csrc/ops/elementwise.c" "CMakeFiles/lego.dir/csrc/ops/elementwise.c.o" "gcc" "CMakeFiles/lego.dir/csrc/ops/elementwise.c.o.d"
  "/work/main/csrc/ops/gather.c" "CMakeFiles/lego.dir/csrc/ops/gather.c.o" "gcc" "CMakeFiles/lego.dir/csrc/ops/gather.c.o.d"
  "/work/main/csrc/ops/linear.c" "CMakeFiles/lego.dir/csrc/ops/linear.c.o" "gcc" "CMakeFiles/lego.dir/csrc/ops/linear.c.o.d"
  "/work/main/csrc/ops/norm.c" "CMakeFiles/lego.dir/csrc/ops/norm.c.o" "gcc" "CMakeFiles/lego.dir/csrc/ops/norm.c.o.d"
  "/work/main/csrc/ops/reduce.c" "CMakeFiles/lego.dir/csrc/ops/reduce.c.o" "gcc" "CMakeFiles/lego.dir/csrc/ops/reduce.c.o.d"
  "/work/main/csrc/ops/rope.c" "CMakeFiles/lego.dir/csrc/ops/rope.c.o" "gcc" "CMakeFiles/lego.dir/csrc/ops/rope.c.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
