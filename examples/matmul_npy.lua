-- Multiplies two matrices stored as .npy files and saves the product.
--   bin/locus run examples/matmul_npy.lua A.npy B.npy OUT.npy
local a_path, b_path, out_path = arg[1], arg[2], arg[3]
if not (a_path and b_path and out_path) then
  io.stderr:write("usage: locus run examples/matmul_npy.lua A.npy B.npy OUT.npy\n")
  return 2
end
local a, b = locus.npy.load(a_path), locus.npy.load(b_path)
local product = a:matmul(b)
locus.npy.save(out_path, product)
print(("%s [%s] @ %s [%s] -> %s %s"):format(a_path, table.concat(a:shape(), "x"), b_path,
  table.concat(b:shape(), "x"), out_path, tostring(product):match("^[^\n]*")))
